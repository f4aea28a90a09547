import type { AuditEventRequest } from "@smith/core";
import type { SmithStore } from "@smith/store";
import type { Logger } from "@smith/logger";

/** Writes audit events; a failure to audit is logged, never hides the caller's own error. */
export class AuditRecorder {
  private readonly store: SmithStore;
  private readonly log: Logger;

  constructor(store: SmithStore, log: Logger) {
    this.store = store;
    this.log = log;
  }

  async record(event: AuditEventRequest): Promise<void> {
    try {
      await this.store.audit.append(event);
    } catch (err) {
      this.log.error({ action: event.action, err }, "audit write failed");
    }
  }
}
