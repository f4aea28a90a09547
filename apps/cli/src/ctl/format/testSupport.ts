// Test data for the format tests: a loop as the API returns it, with the schema's defaults.
import { Loop, type LoopSpecInput } from "@smith/core";

export const SAMPLE_ID = "01jz0000000000000000000000";
export const SAMPLE_CREATED = "2025-01-01T12:00:00.000Z";

export function sampleLoop(
  overrides: {
    id?: string;
    spec?: Partial<LoopSpecInput>;
    status?: Partial<Loop["status"]>;
    cost?: Loop["cost"];
    priority?: number;
    steering?: Loop["steering"];
  } = {},
): Loop {
  return Loop.parse({
    schemaVersion: 1,
    id: overrides.id ?? SAMPLE_ID,
    source: { type: "direct" },
    spec: {
      repo: { url: "https://github.com/acme/app.git" },
      prd: { kind: "path" },
      agent: { provider: "replay" },
      ...overrides.spec,
    },
    priority: overrides.priority ?? 100,
    concurrencyKey: "github.com_acme_app",
    labels: {},
    status: {
      state: "unresolved",
      reason: "queued",
      attempt: 0,
      iteration: 0,
      progress: { done: 0, total: 0 },
      createdAt: SAMPLE_CREATED,
      updatedAt: SAMPLE_CREATED,
      ...overrides.status,
    },
    cost: overrides.cost ?? { inputTokens: 0, outputTokens: 0, usd: 0 },
    steering: overrides.steering ?? [],
  });
}
