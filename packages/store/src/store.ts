import type { Etcd3 } from "etcd3";
import { ClaimRepository } from "./claims.ts";
import type { StoreContext } from "./context.ts";
import { createEtcdClient, etcdCall, type EtcdClientOptions } from "./etcd.ts";
import { Leadership, type CampaignOptions } from "./election.ts";
import { JournalRepository } from "./journal.ts";
import { DEFAULT_PREFIX, Keyspace } from "./keys.ts";
import { LockRepository } from "./locks.ts";
import { LoopRepository } from "./loops.ts";
import { AuditRepository, HandoffRepository, OverrideRepository } from "./records.ts";
import { RetentionRepository } from "./retention.ts";
import { Session, type SessionOptions } from "./session.ts";
import { TokenRepository } from "./tokens.ts";
import { CredentialRepository } from "./credentials.ts";
import { WebhookDeliveryRepository } from "./webhooks.ts";
import { NotificationRepository } from "./notifications.ts";
import { OutboxRepository } from "./outbox.ts";
import { PollSlotRepository } from "./polls.ts";
import { WatchHub } from "./watch.ts";

export interface StoreOptions extends EtcdClientOptions {
  /** Key prefix (default `/smith/v1`). */
  prefix?: string;
  /** Clock (default: the system clock). */
  now?: () => Date;
  /** How long webhook deliveries are remembered against replays (default 7 days). */
  webhookRetentionMs?: number;
}

/** Smith's etcd store: one client, one keyspace, a repository per noun. */
export class SmithStore {
  readonly client: Etcd3;
  readonly keys: Keyspace;
  readonly loops: LoopRepository;
  readonly journal: JournalRepository;
  readonly locks: LockRepository;
  readonly claims: ClaimRepository;
  readonly handoffs: HandoffRepository;
  readonly overrides: OverrideRepository;
  readonly audit: AuditRepository;
  readonly retention: RetentionRepository;
  readonly tokens: TokenRepository;
  readonly credentials: CredentialRepository;
  readonly webhooks: WebhookDeliveryRepository;
  readonly notifications: NotificationRepository;
  /** Things to tell outside Smith, queued in the txn of the transition that calls for them. */
  readonly outbox: OutboxRepository;
  readonly polls: PollSlotRepository;
  private readonly ctx: StoreContext;
  private readonly ownsClient: boolean;

  constructor(options: StoreOptions & { client?: Etcd3 }) {
    this.ownsClient = !options.client;
    this.client = options.client ?? createEtcdClient(options);
    this.keys = new Keyspace(options.prefix ?? DEFAULT_PREFIX);
    this.ctx = {
      client: this.client,
      keys: this.keys,
      now: options.now ?? (() => new Date()),
      watches: new WatchHub(this.client),
    };
    this.outbox = new OutboxRepository(this.ctx);
    this.loops = new LoopRepository(this.ctx, this.outbox);
    this.journal = new JournalRepository(this.ctx);
    this.locks = new LockRepository(this.ctx, this.loops);
    this.claims = new ClaimRepository(this.ctx, this.loops);
    this.handoffs = new HandoffRepository(this.ctx);
    this.overrides = new OverrideRepository(this.ctx, this.loops);
    this.audit = new AuditRepository(this.ctx);
    this.retention = new RetentionRepository(this.ctx, this.loops, this.audit);
    this.tokens = new TokenRepository(this.ctx);
    this.credentials = new CredentialRepository(this.ctx);
    this.webhooks = new WebhookDeliveryRepository(
      this.ctx,
      options.webhookRetentionMs !== undefined ? { retentionMs: options.webhookRetentionMs } : {},
    );
    this.notifications = new NotificationRepository(this.ctx);
    this.polls = new PollSlotRepository(this.ctx);
  }

  /** Opens this process's lease-backed session (see Session). */
  openSession(options?: SessionOptions): Promise<Session> {
    return Session.open(this.ctx, options);
  }

  /** Campaigns for the leadership of `name` (one etcd election per name, inside the prefix). */
  campaign(name: string, options: CampaignOptions): Leadership {
    return new Leadership(this.ctx, name, options);
  }

  /** True when etcd answers (for /readyz). */
  async ping(): Promise<boolean> {
    try {
      await etcdCall(() => this.client.get(this.keys.loop("ping")).exists());
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.ownsClient) this.client.close();
  }
}
