import type { Logger } from "@smith/logger";
import type { SmithStore } from "@smith/store";
import { randomUUID } from "node:crypto";
import type { GitHubPublisher } from "./publisher.ts";

/**
 * Tells a loop's source issue when the loop flatlines, whoever ended it: the replica (max
 * iterations, no progress, budget, clone failed), the reconciler (replica lost, timed out, nobody
 * answered) or an operator. Every API process watches the loops; the notification key
 * `notifications/<loop>/github-flatline-<attempt>` (create-if-absent) makes one of them comment,
 * and the comment's marker keeps a retried call from commenting twice. A flatline that happens
 * while no API process runs is not commented on later.
 */
export class FlatlineCommenter {
  private readonly store: SmithStore;
  private readonly publisher: GitHubPublisher;
  private readonly log: Logger;
  private readonly id = `api-${randomUUID().slice(0, 8)}`;
  private watch: ReturnType<SmithStore["loops"]["watch"]> | undefined;
  private done: Promise<void> | undefined;

  constructor(deps: { store: SmithStore; publisher: GitHubPublisher; log: Logger }) {
    this.store = deps.store;
    this.publisher = deps.publisher;
    this.log = deps.log.child({ component: "github-flatline" });
  }

  start(): void {
    if (this.watch) return;
    const watch = this.store.loops.watch();
    this.watch = watch;
    this.done = (async () => {
      try {
        for await (const change of watch) {
          if (change.type !== "put") continue;
          const loop = change.loop;
          if (loop.status.state !== "flatline" || loop.source.type !== "github_issue") continue;
          const transition = `github-flatline-${loop.status.attempt}`;
          try {
            if (!(await this.store.notifications.take(loop.id, transition, "flatline", this.id))) continue;
            const commented = await this.publisher.commentFlatline(
              loop,
              loop.status.reason ?? "flatline",
              loop.status.message,
            );
            await this.store.notifications.complete(loop.id, transition, []);
            this.log.info({ loop: loop.id, commented }, "flatline told to the source issue");
          } catch (err) {
            this.log.warn({ loop: loop.id, err }, "could not tell the source issue of a flatline");
          }
        }
      } catch (err) {
        if (this.watch) this.log.warn({ err }, "the loop watch for flatline comments ended");
      }
    })();
  }

  async stop(): Promise<void> {
    const watch = this.watch;
    this.watch = undefined;
    watch?.close();
    await this.done;
  }
}
