// Shared by the integration tests of this package and of its consumers (as @smith/api/testSupport)
// and the benchmark. Not exported from index.
import { mintReplicaToken } from "@smith/auth";
import { createSmithClient, type SmithClient } from "@smith/client";
import type { CreateLoopRequest } from "@smith/core";
import { CredentialKeyring, SmithStore } from "@smith/store";
import { randomBytes } from "node:crypto";
import { silentLogger } from "@smith/logger";
import { ApiServer, type ApiServerOptions } from "./server.ts";

export const SIGNING_KEY = "test-signing-key-0123456789abcdef-0123456789";
export const ADMIN_TOKEN = "test-admin-token-0123456789";

export const TEST_PRD = JSON.stringify({
  project: "demo",
  qualityGates: ["npm test"],
  stories: [
    { id: "US-001", title: "One", status: "open", dependsOn: [], description: "first", acceptanceCriteria: ["works"] },
    {
      id: "US-002",
      title: "Two",
      status: "open",
      dependsOn: ["US-001"],
      description: "second",
      acceptanceCriteria: ["works too"],
    },
  ],
});

export function loopInput(overrides: Partial<CreateLoopRequest> = {}): CreateLoopRequest {
  return {
    spec: {
      repo: { url: "https://example.com/acme/app.git" },
      prd: { kind: "inline", content: TEST_PRD },
      agent: { provider: "replay" },
    },
    ...overrides,
  };
}

export interface TestApi {
  server: ApiServer;
  store: SmithStore;
  url: string;
  /** A client with the given token (or none). */
  client(token?: string): SmithClient;
  tokens: { admin: string; operator: string; viewer: string };
  /** A replica token for (loop, attempt). */
  replicaToken(loopId: string, attempt: number, ttlSeconds?: number): string;
  close(): Promise<void>;
}

export async function startTestApi(
  endpoint: string,
  prefix: string,
  options: Partial<ApiServerOptions> = {},
): Promise<TestApi> {
  const store = new SmithStore({ endpoints: [endpoint], prefix });
  const server = new ApiServer({
    store,
    signingKey: SIGNING_KEY,
    adminToken: ADMIN_TOKEN,
    logger: silentLogger,
    defaultMetrics: false,
    credentialsKeyring: new CredentialKeyring(randomBytes(32)),
    allowLocalRepos: true,
    ...options,
  });
  const { url } = await server.start();
  const admin = createSmithClient({ url, token: ADMIN_TOKEN });
  const operator = (await admin.tokens.create.mutate({ name: "op", role: "operator" })).token;
  const viewer = (await admin.tokens.create.mutate({ name: "viewer", role: "viewer" })).token;
  return {
    server,
    store,
    url,
    client: (token?: string) => createSmithClient({ url, token }),
    tokens: { admin: ADMIN_TOKEN, operator, viewer },
    replicaToken: (loopId, attempt, ttlSeconds = 600) => mintReplicaToken(SIGNING_KEY, { loopId, attempt, ttlSeconds }),
    close: async () => {
      await server.stop(200);
      store.close();
    },
  };
}

/** Claims a loop so that it is running on attempt 1, the state a replica sees. */
export async function runLoop(api: TestApi, loopId: string): Promise<number> {
  const session = await api.store.openSession({ ttlSeconds: 30 });
  for (;;) {
    const claimed = await api.store.claims.claimNext(session, { perKeyLimit: 1000 });
    if (!claimed) throw new Error(`loop ${loopId} could not be claimed`);
    if (claimed.loop.id === loopId) return claimed.loop.status.attempt;
  }
}

/** A loop running on attempt 1 whose replica holds the lock: `r` is that replica's client. */
export async function lockedReplica(
  api: TestApi,
  request: CreateLoopRequest = loopInput(),
): Promise<{ loopId: string; attempt: number; r: SmithClient }> {
  const { loop } = await api.client(api.tokens.operator).loops.create.mutate(request);
  const attempt = await runLoop(api, loop.id);
  const r = api.client(api.replicaToken(loop.id, attempt));
  await r.replica.acquireLock.mutate({ loopId: loop.id });
  return { loopId: loop.id, attempt, r };
}
