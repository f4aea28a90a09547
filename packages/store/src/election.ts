import type { Campaign } from "etcd3";
import { EventEmitter } from "node:events";
import type { StoreContext } from "./context.ts";

export interface CampaignOptions {
  /** What the leader is known by (a scheduler id). */
  candidate: string;
  /**
   * TTL of the election's own lease in seconds (default 10): a dead leader is replaced this long
   * after it died.
   */
  ttlSeconds?: number;
}

/**
 * One candidacy in an etcd election, kept inside the installation's prefix
 * (`<prefix>/election/<name>/<lease>`), so two installations sharing an etcd elect apart.
 * `elected` fires once this candidate leads; `lost` when the candidacy failed (its lease was lost
 * or etcd refused it): the holder stops acting as leader and may campaign again. `lost` fires at
 * most once and ends the candidacy: etcd3's Campaign reports one failed lease grant twice (the
 * lease's loss, then the failed start), and a holder that campaigned again on each report doubled
 * its candidacies every round while etcd was away.
 */
export class Leadership extends EventEmitter<{ elected: []; lost: [Error] }> {
  private readonly campaign: Campaign;
  private resigned = false;
  private lost = false;

  constructor(ctx: StoreContext, name: string, options: CampaignOptions) {
    super();
    const election = ctx.client.namespace(ctx.keys.root + "/").election(name, options.ttlSeconds ?? 10);
    this.campaign = election.campaign(options.candidate);
    this.campaign.on("elected", () => {
      if (!this.resigned && !this.lost) this.emit("elected");
    });
    this.campaign.on("error", (err: Error) => {
      if (this.resigned || this.lost) return;
      this.lost = true;
      // The candidacy is over: its lease is given up (a no-op when it was never granted).
      this.campaign.resign().catch(() => undefined);
      this.emit("lost", err);
    });
  }

  /** Gives up the candidacy (and the leadership, if held): another candidate is elected at once. */
  async resign(): Promise<void> {
    if (this.resigned) return;
    this.resigned = true;
    await this.campaign.resign();
  }
}
