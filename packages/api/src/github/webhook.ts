import {
  CheckRunEvent,
  IssueCommentEvent,
  IssuesEvent,
  PullRequestReviewEvent,
  eventTime,
  verifyWebhookSignature,
} from "@smith/github";
import type { SmithStore } from "@smith/store";
import type { Logger } from "@smith/logger";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuditRecorder } from "../audit.ts";
import { describeOutcome, type GitHubIngress, type IngressOutcome } from "./ingress.ts";

/** A webhook refusal: the HTTP status, a code, and the field and limit when there is one. */
class WebhookRefusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly limit: number | undefined;
  constructor(status: number, code: string, message: string, extra: { field?: string; limit?: number } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.limit = extra.limit;
  }
}

const DELIVERY_ID = /^[A-Za-z0-9-]{1,128}$/;

/** Reads at most `limit` bytes; a longer body is refused without reading the rest into memory. */
function readBounded(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.reject(
      new WebhookRefusal(413, "too_large", `body is ${declared} bytes; the limit is ${limit} bytes`, {
        field: "body",
        limit,
      }),
    );
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        reject(
          new WebhookRefusal(413, "too_large", `body is over ${limit} bytes; the limit is ${limit} bytes`, {
            field: "body",
            limit,
          }),
        );
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" ? v : undefined;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

/**
 * `POST /webhooks/github`. Order matters: the size bound first (nothing unbounded in memory), the
 * signature second (nothing from an unsigned body is believed or stored; a refusal is audited),
 * then JSON, then the delivery id (a delivery seen before does nothing), then the event.
 */
export async function handleGitHubWebhook(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { ingress: GitHubIngress; store: SmithStore; audit: AuditRecorder; log: Logger },
): Promise<void> {
  const { ingress, store, audit, log } = deps;
  const secret = ingress.options.webhookSecret;
  const correlationId = randomUUID();
  const event = header(req, "x-github-event") ?? "";
  const deliveryId = header(req, "x-github-delivery") ?? "";
  try {
    if (!secret)
      throw new WebhookRefusal(404, "not_found", "GitHub webhooks are not configured (SMITH_GITHUB_WEBHOOK_SECRET)");
    if (req.method !== "POST") throw new WebhookRefusal(405, "method_not_allowed", "webhooks are POSTed");
    const body = await readBounded(req, ingress.options.maxWebhookBytes);
    if (!verifyWebhookSignature(secret, body, header(req, "x-hub-signature-256"))) {
      await audit.record({
        actor: { type: "api", id: "github-webhook" },
        action: "webhooks.github",
        outcome: "denied",
        error: "unauthenticated",
        reason: header(req, "x-hub-signature-256") ? "the signature does not match" : "no X-Hub-Signature-256",
        correlationId,
        // Header values from an unauthenticated request: bounded, and only what helps an operator.
        details: {
          event: event.slice(0, 64),
          delivery: deliveryId.slice(0, 128),
          remote: req.socket.remoteAddress ?? "",
        },
      });
      throw new WebhookRefusal(401, "unauthenticated", "the X-Hub-Signature-256 signature is missing or wrong");
    }
    if (!DELIVERY_ID.test(deliveryId))
      throw new WebhookRefusal(400, "invalid_argument", "X-GitHub-Delivery must be GitHub's delivery id", {
        field: "x-github-delivery",
      });
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch (err) {
      throw new WebhookRefusal(400, "invalid_argument", `body: not JSON (${(err as Error).message})`, {
        field: "body",
      });
    }
    if (event === "ping") return reply(res, 200, { ok: true, delivery: deliveryId, outcome: "pong" });
    const parsed =
      event === "issues"
        ? IssuesEvent.safeParse(payload)
        : event === "issue_comment"
          ? IssueCommentEvent.safeParse(payload)
          : event === "pull_request_review"
            ? PullRequestReviewEvent.safeParse(payload)
            : event === "check_run"
              ? CheckRunEvent.safeParse(payload)
              : undefined;
    if (!parsed)
      return reply(res, 202, { ok: true, delivery: deliveryId, outcome: `ignored: event ${event.slice(0, 64)}` });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue ? issue.path.map(String).join(".") : "body";
      throw new WebhookRefusal(400, "invalid_argument", `${field}: ${issue?.message ?? "invalid"}`, { field });
    }
    // Past the replay window the delivery record may be gone: an event that old is refused by its age.
    const happened = eventTime(parsed.data as IssuesEvent);
    if (happened && Date.now() - happened.getTime() > store.webhooks.retentionMs)
      return reply(res, 202, {
        ok: true,
        delivery: deliveryId,
        outcome: `ignored: the event is from ${happened.toISOString()}, older than the replay window of ${Math.round(store.webhooks.retentionMs / 3600_000)} h`,
      });
    if (!(await store.webhooks.claim(deliveryId, "github", event)))
      return reply(res, 200, { ok: true, delivery: deliveryId, outcome: "duplicate delivery: nothing done" });
    let outcome: IngressOutcome;
    try {
      outcome =
        event === "issues"
          ? await ingress.onIssues(parsed.data as IssuesEvent, correlationId)
          : event === "issue_comment"
            ? await ingress.onIssueComment(parsed.data as IssueCommentEvent, correlationId, deliveryId)
            : event === "pull_request_review"
              ? await ingress.onPullRequestReview(parsed.data as PullRequestReviewEvent, correlationId, deliveryId)
              : await ingress.onCheckRun(parsed.data as CheckRunEvent, correlationId, deliveryId);
    } catch (err) {
      // Handling failed (etcd or GitHub away): forget the delivery so that GitHub's redelivery is handled.
      await store.webhooks.release(deliveryId).catch(() => undefined);
      throw err;
    }
    const text = describeOutcome(outcome);
    await store.webhooks.complete(deliveryId, text);
    if (outcome.kind !== "ignored")
      await audit.record({
        actor: { type: "api", id: "github-webhook" },
        action: "webhooks.github",
        loopId: "loopId" in outcome ? outcome.loopId : undefined,
        outcome: outcome.kind === "denied" ? "denied" : "ok",
        correlationId,
        details: { event, delivery: deliveryId, outcome: text },
      });
    reply(res, 202, { ok: true, delivery: deliveryId, outcome: text });
  } catch (err) {
    if (err instanceof WebhookRefusal) {
      // Drain what is left so the client reads the answer rather than a reset connection.
      req.resume();
      return reply(res, err.status, {
        error: {
          code: err.code,
          message: err.message,
          ...(err.field ? { field: err.field } : {}),
          ...(err.limit ? { limit: err.limit } : {}),
        },
      });
    }
    log.error({ delivery: deliveryId, event, err }, "github webhook failed");
    reply(res, 503, {
      error: { code: "unavailable", message: "the webhook could not be handled; GitHub may redeliver it" },
    });
  }
}
