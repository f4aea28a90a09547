import {
  CreateLoopInput,
  LIMITS,
  LOOP_STATES,
  LoopId,
  LoopSourceType,
  LoopState,
  RETENTION_MAX_PER_PASS,
  Reason,
  RetentionWindowMs,
  SmithError,
  type ExecutorHandle,
  type ReplicaInspector,
} from "@smith/core";
import { tracked } from "@trpc/server";
import { z } from "zod";
import { subscriptionError } from "../subscriptions.ts";
import { adminProcedure, auditActor, operatorProcedure, router, viewerProcedure } from "../trpc.ts";

const IdInput = z.object({ id: LoopId });

/** Bounds of loops.exec: what one call may send, wait for and get back, and how often. */
export const EXEC_LIMITS = {
  commandBytes: 8192,
  args: 64,
  maxTimeoutMs: 60_000,
  defaultTimeoutMs: 30_000,
  outputBytes: 64 * 1024,
  perMinute: 10,
} as const;

/** The most of a replica's log one call returns. */
const REPLICA_LOG_MAX_BYTES = 1024 * 1024;

function inspectorFor(inspectors: readonly ReplicaInspector[], handle: ExecutorHandle): ReplicaInspector | undefined {
  return inspectors.find(
    (i) => i.kind === handle.kind && (handle.instance === undefined || i.instance === handle.instance),
  );
}

export const loopsRouter = router({
  create: operatorProcedure.input(CreateLoopInput).mutation(async ({ ctx, input, path }) => {
    // The audit event goes into the create txn: one write instead of three.
    const r = await ctx.services.loops.create(input, ctx.principal, ctx.correlationId, {
      actor: auditActor(ctx.principal),
      action: path,
      outcome: "ok",
      correlationId: ctx.correlationId,
    });
    if (r.created && ctx.auditWritten) ctx.auditWritten.done = true;
    return { loop: r.loop, created: r.created };
  }),

  /** Up to 100 loops: all validated first (one bad item rejects the batch), then per-item results. */
  createBatch: operatorProcedure
    .input(
      z.object({
        items: z.array(CreateLoopInput).min(1).max(LIMITS.batchLoops, `at most ${LIMITS.batchLoops} loops per batch`),
      }),
    )
    .mutation(async ({ ctx, input }) => ({
      results: await ctx.services.loops.createBatch(input.items, ctx.principal, ctx.correlationId),
    })),

  get: viewerProcedure
    .input(IdInput)
    .query(async ({ ctx, input }) => (await ctx.services.store.loops.getOrThrow(input.id)).loop),

  list: viewerProcedure
    .input(
      z
        .object({
          state: z.union([LoopState, z.array(LoopState).max(LOOP_STATES.length)]).optional(),
          repo: z.string().max(2048).optional(),
          source: LoopSourceType.optional(),
          cursor: LoopId.optional(),
          limit: z.number().int().min(1).max(LIMITS.pageSize).default(100),
          order: z.enum(["asc", "desc"]).default("desc"),
        })
        .default({ limit: 100, order: "desc" }),
    )
    .query(async ({ ctx, input }) => ctx.services.store.loops.list(input)),

  cancel: operatorProcedure
    .input(z.object({ id: LoopId, reason: Reason }))
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.cancel(input.id, input.reason, ctx.principal, ctx.correlationId)).loop,
    ),

  /** From flatline only, with a reason: the loop gets a fresh set of attempts. */
  retry: operatorProcedure
    .input(z.object({ id: LoopId, reason: Reason }))
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.retry(input.id, input.reason, ctx.principal, ctx.correlationId)).loop,
    ),

  /** A message delivered into the next iteration's prompt. */
  steer: operatorProcedure
    .input(
      z.object({
        id: LoopId,
        message: z
          .string()
          .min(1, "a message is required")
          .max(LIMITS.steerMessageBytes, `the message is limited to ${LIMITS.steerMessageBytes} bytes`),
      }),
    )
    .mutation(async ({ ctx, input }) =>
      ctx.services.loops.steer(input.id, input.message, ctx.principal, ctx.correlationId),
    ),

  /**
   * Answers a `waiting` loop: it goes back to the queue, and its next attempt resumes the work
   * branch with the answer (and the question it answers) in its prompt.
   */
  answer: operatorProcedure
    .input(
      z.object({
        id: LoopId,
        answer: z
          .string()
          .min(1, "an answer is required")
          .max(LIMITS.steerMessageBytes, `the answer is limited to ${LIMITS.steerMessageBytes} bytes`),
      }),
    )
    .mutation(
      async ({ ctx, input }) =>
        (await ctx.services.loops.answer(input.id, input.answer, ctx.principal, ctx.correlationId)).loop,
    ),

  /** Forces a state (only where the lifecycle allows it), with a reason. Admin only. */
  override: adminProcedure
    .input(z.object({ id: LoopId, to: LoopState, reason: Reason }))
    .mutation(async ({ ctx, input }) => {
      const { loop } = await ctx.services.loops.override(
        input.id,
        input.to,
        input.reason,
        ctx.principal,
        ctx.correlationId,
      );
      // Forced to flatline: the transition queued the source issue's comment; tell it now.
      if (loop.status.state === "flatline") await ctx.services.githubOutbox.kick(loop.id);
      return loop;
    }),

  /**
   * Deletes finished loops with everything stored for them (journal, handoffs, overrides). Active
   * loops are skipped and say why; each deletion and each skip is audited. Admin only.
   */
  delete: adminProcedure
    .input(
      z.object({
        ids: z
          .array(LoopId)
          .min(1, "at least one loop id")
          .max(LIMITS.batchLoops, `at most ${LIMITS.batchLoops} loops per call`),
        reason: Reason.optional(),
      }),
    )
    .mutation(async ({ ctx, input, path }) => ({
      results: await ctx.services.store.retention.deleteLoops(input.ids, {
        actor: auditActor(ctx.principal),
        action: path,
        correlationId: ctx.correlationId,
        ...(input.reason ? { reason: input.reason } : {}),
      }),
    })),

  /**
   * The retention rules on demand: loops of the given states older than `olderThanMs` (since they
   * finished) are deleted, at most `limit`; active loops are reported, never deleted. `dryRun`
   * reports and writes nothing. Admin only.
   */
  cleanup: adminProcedure
    .input(
      z.object({
        state: z.array(LoopState).min(1, "at least one state").max(LOOP_STATES.length),
        olderThanMs: RetentionWindowMs,
        dryRun: z.boolean().default(false),
        limit: z
          .number()
          .int()
          .min(1)
          .max(RETENTION_MAX_PER_PASS, `at most ${RETENTION_MAX_PER_PASS} loops per call`)
          .default(500),
      }),
    )
    .mutation(async ({ ctx, input, path }) =>
      ctx.services.store.retention.sweep(
        { windows: Object.fromEntries(input.state.map((s) => [s, input.olderThanMs])), maxPerPass: input.limit },
        { actor: auditActor(ctx.principal), action: path, correlationId: ctx.correlationId },
        { dryRun: input.dryRun },
      ),
    ),

  /**
   * Everything about one loop in one call: the loop, the newest journal entries (up to
   * `journalLimit`, oldest first; `journalMore` says older ones exist), its handoffs, overrides and
   * audit events (the first page; `auditNextCursor` continues through audit.list).
   */
  trace: viewerProcedure
    .input(
      z.object({
        id: LoopId,
        journalLimit: z.number().int().min(1).max(LIMITS.pageSize).default(LIMITS.pageSize),
      }),
    )
    .query(async ({ ctx, input }) => {
      const store = ctx.services.store;
      const { loop } = await store.loops.getOrThrow(input.id);
      const [journal, handoffs, overrides, audit] = await Promise.all([
        store.journal.list(input.id, { order: "desc", limit: input.journalLimit }),
        store.handoffs.list(input.id),
        store.overrides.list(input.id),
        store.audit.list({ loopId: input.id, limit: LIMITS.pageSize }),
      ]);
      return {
        loop,
        journal: journal.entries.reverse(),
        journalMore: journal.more,
        handoffs,
        overrides,
        audit: audit.items,
        ...(audit.nextCursor ? { auditNextCursor: audit.nextCursor } : {}),
      };
    }),

  /**
   * Where the loop's current replica runs: the executor handle and attempt (from the loop), the
   * replica lock's holder and heartbeat (from etcd), and, when this API process can inspect that
   * executor instance, the process itself (phase, node, pid, start time, exit code).
   */
  runtime: viewerProcedure.input(IdInput).query(async ({ ctx, input }) => {
    const { loop } = await ctx.services.store.loops.getOrThrow(input.id);
    const lock = await ctx.services.store.locks.inspect(loop.id);
    const handle = loop.status.executor;
    const inspector = handle ? inspectorFor(ctx.services.replicaInspectors, handle) : undefined;
    const replica = handle && inspector ? await inspector.inspect(handle) : undefined;
    return {
      loopId: loop.id,
      state: loop.status.state,
      attempt: loop.status.attempt,
      ...(loop.status.attemptStartedAt ? { attemptStartedAt: loop.status.attemptStartedAt } : {}),
      ...(handle ? { executor: handle } : {}),
      lock: {
        alive: lock.alive,
        ...(lock.lock
          ? { holder: lock.lock.holder, attempt: lock.lock.attempt, acquiredAt: lock.lock.acquiredAt }
          : {}),
        ...(lock.heartbeat ? { heartbeatAt: lock.heartbeat.at, expiresAt: lock.heartbeat.expiresAt } : {}),
      },
      ...(replica ? { replica } : {}),
      inspected: replica !== undefined,
    };
  }),

  /**
   * The end of the loop's current (or last) replica's own log: the local run dir's replica.log, or
   * the replica Pod's log (pods/log). Operator: a replica's log holds more than its journal.
   * NOT_IMPLEMENTED (`not_supported`) for a replica this API process cannot read (another host's
   * state dir; a Kubernetes namespace it was not configured for).
   */
  replicaLog: operatorProcedure
    .input(
      z.object({
        id: LoopId,
        maxBytes: z
          .number()
          .int()
          .min(1)
          .max(REPLICA_LOG_MAX_BYTES, `at most ${REPLICA_LOG_MAX_BYTES} bytes`)
          .default(64 * 1024),
      }),
    )
    .query(async ({ ctx, input }) => {
      const { loop } = await ctx.services.store.loops.getOrThrow(input.id);
      const handle = loop.status.executor;
      if (!handle)
        throw new SmithError("not_found", `loop ${loop.id} has no replica (it is ${loop.status.state})`, {
          field: "id",
        });
      const inspector = inspectorFor(ctx.services.replicaInspectors, handle);
      if (!inspector)
        throw new SmithError(
          "not_supported",
          handle.kind === "kubernetes"
            ? `this API process has no access to the Kubernetes replicas of ${handle.instance ?? "(unknown)"} (pods/log): ` +
                `an API with SMITH_EXECUTOR=kubernetes and SMITH_K8S_NAMESPACE of that namespace has (the chart's api.replicaAccess); ` +
                `or kubectl logs -l smith.dev/loop-id=${loop.id}`
            : `this API process cannot read the replicas of ${handle.kind} executor ${handle.instance ?? "(unknown)"}: only an API given that executor's state dir (as \`smith up\` does) can`,
          { field: "executor", kind: handle.kind },
        );
      return {
        loopId: loop.id,
        attempt: loop.status.attempt,
        executor: handle,
        ...(await inspector.readLog(handle, input.maxBytes)),
      };
    }),

  /**
   * Runs a command (argv, no shell) in the running replica's workspace, where this API process can
   * (a local executor it inspects, or a Kubernetes namespace through pods/exec): operator role, at most EXEC_LIMITS.perMinute calls a minute per
   * token, the command at most EXEC_LIMITS.commandBytes, audited with the command and its exit code.
   */
  exec: operatorProcedure
    .input(
      z.object({
        id: LoopId,
        command: z
          .array(z.string().max(EXEC_LIMITS.commandBytes))
          .min(1, "a command is required")
          .max(EXEC_LIMITS.args, `at most ${EXEC_LIMITS.args} arguments`)
          .refine(
            (argv) => argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) <= EXEC_LIMITS.commandBytes,
            `the command is limited to ${EXEC_LIMITS.commandBytes} bytes`,
          )
          .refine((argv) => (argv[0] ?? "").length > 0, "the command's first word is empty"),
        timeoutMs: z
          .number()
          .int()
          .min(100)
          .max(EXEC_LIMITS.maxTimeoutMs, `at most ${EXEC_LIMITS.maxTimeoutMs} ms`)
          .default(EXEC_LIMITS.defaultTimeoutMs),
      }),
    )
    .mutation(async ({ ctx, input, path }) => {
      ctx.services.execLimiter.take(auditActor(ctx.principal).id, "loops.exec");
      const { loop } = await ctx.services.store.loops.getOrThrow(input.id);
      const handle = loop.status.executor;
      if (!handle || loop.status.state !== "running")
        throw new SmithError(
          "invalid_transition",
          `loop ${loop.id} has no running replica (it is ${loop.status.state})`,
          {
            field: "id",
          },
        );
      const inspector = inspectorFor(ctx.services.replicaInspectors, handle);
      if (!inspector?.exec)
        throw new SmithError(
          "not_supported",
          handle.kind === "kubernetes"
            ? `this API process cannot exec in the Kubernetes replicas of ${handle.instance ?? "(unknown)"} (pods/exec): ` +
                `an API with SMITH_EXECUTOR=kubernetes, SMITH_K8S_NAMESPACE of that namespace and SMITH_REPLICA_ACCESS=exec can (the chart's api.replicaAccess: exec); ` +
                `or kubectl exec`
            : `this API process cannot reach the replicas of ${handle.kind} executor ${handle.instance ?? "(unknown)"}`,
          { field: "executor", kind: handle.kind },
        );
      const result = await inspector.exec(handle, input.command, {
        timeoutMs: input.timeoutMs,
        maxOutputBytes: EXEC_LIMITS.outputBytes,
      });
      await ctx.services.audit.record({
        actor: auditActor(ctx.principal),
        action: path,
        loopId: loop.id,
        outcome: "ok",
        correlationId: ctx.correlationId,
        details: {
          command: input.command.join(" ").slice(0, 1024),
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          durationMs: result.durationMs,
        },
      });
      if (ctx.auditWritten) ctx.auditWritten.done = true;
      return { loopId: loop.id, attempt: loop.status.attempt, ...result };
    }),

  /**
   * Loop changes, fed by an etcd watch (any API process serves any client). Event ids are etcd
   * revisions: reconnecting with lastEventId resumes right after the last change seen. With
   * `snapshot`, the current loops come first (all with the snapshot's revision as id).
   */
  /** Schedulers alive, queue depth and loops by state (what /metrics reports), cached 5 s. */
  stats: viewerProcedure.query(({ ctx }) => ctx.services.metrics.cluster()),

  watch: viewerProcedure
    .input(
      z
        .object({
          lastEventId: z.string().regex(/^\d+$/).nullish(),
          snapshot: z.boolean().default(false),
          state: z.array(LoopState).max(LOOP_STATES.length).optional(),
        })
        .default({ snapshot: false }),
    )
    .subscription(async function* ({ ctx, input, signal }) {
      const store = ctx.services.store;
      const wanted = input.state ? new Set(input.state) : undefined;
      let watch: ReturnType<typeof store.loops.watch> | undefined;
      try {
        let from: string;
        if (input.lastEventId) {
          from = String(BigInt(input.lastEventId) + 1n);
        } else {
          const head = await store.loops.list({ limit: 1 });
          from = String(BigInt(head.revision) + 1n);
          if (input.snapshot) {
            let cursor: string | undefined;
            do {
              const page = await store.loops.list({ cursor, limit: 500, order: "asc", state: input.state });
              for (const loop of page.items) yield tracked(head.revision, { type: "put" as const, loop });
              cursor = page.nextCursor;
            } while (cursor);
          }
        }
        watch = store.loops.watch({ fromRevision: from, maxBuffered: ctx.services.subscriptionBuffer });
        const w = watch;
        signal?.addEventListener("abort", () => w.close(), { once: true });
        for await (const change of w) {
          if (change.type === "put") {
            if (wanted && !wanted.has(change.loop.status.state)) continue;
            yield tracked(change.revision, { type: "put" as const, loop: change.loop });
          } else {
            yield tracked(change.revision, { type: "delete" as const, id: change.id });
          }
        }
      } catch (err) {
        throw subscriptionError(err);
      } finally {
        watch?.close();
      }
    }),
});
