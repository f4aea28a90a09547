export { SmithStore, type StoreOptions } from "./store.ts";
export { createEtcdClient, plainTextEndpoints, toSmithError, type EtcdClientOptions, type EtcdTls } from "./etcd.ts";
export { DEFAULT_PREFIX, Keyspace, padSeq, utcDay } from "./keys.ts";
export {
  LoopRepository,
  DEFAULT_RETRY_BACKOFF_MS,
  type CreateBatchItemResult,
  type CreateLoopResult,
  type CreateOptions,
  type ListLoopsOptions,
  type ListLoopsResult,
  type LoopChange,
  type TransitionOptions,
  SpendRecord,
} from "./loops.ts";
export { JournalRepository, type AppendOptions, type TailBatchOptions, type TailOptions } from "./journal.ts";
export { LockRepository, DEFAULT_LOCK_TTL_MS, type LockState, type LockRecord } from "./locks.ts";
export {
  ClaimRepository,
  GLOBAL_SLOT_KEY,
  type BudgetExceeded,
  type ClaimOptions,
  type ClaimRecord,
} from "./claims.ts";
export { Claimer } from "./claimer.ts";
export { Leadership, type CampaignOptions } from "./election.ts";
export { Session, type SessionOptions, type SessionState } from "./session.ts";
export {
  HandoffRepository,
  OverrideRepository,
  AuditRepository,
  type AuditChange,
  type AuditListOptions,
} from "./records.ts";
export {
  RetentionRepository,
  type DeleteLoopResult,
  type DeletionAudit,
  type RetentionLoopItem,
  type RetentionReport,
} from "./retention.ts";
export { WatchStream, DEFAULT_MAX_BUFFERED, type WatchItem, type WatchOptions } from "./watch.ts";
export { TokenRepository, TokenRecord, TokenRole } from "./tokens.ts";
export { WebhookDeliveryRepository, WebhookDelivery } from "./webhooks.ts";
export { NotificationRepository, NotificationRecord, NotificationTarget } from "./notifications.ts";
export { OutboxRepository, OutboxRecord, type OutboxItem, flatlineItem } from "./outbox.ts";
export type { Compare } from "./txn.ts";
export {
  CredentialRepository,
  CredentialRecord,
  CredentialSecretRef,
  type CredentialValueRef,
  defaultSlot,
  metadataOf,
} from "./credentials.ts";
export {
  CredentialKeyring,
  SealedValue,
  credentialsKeyId,
  generateCredentialsKey,
  parseCredentialsKey,
} from "./credentialKeys.ts";
