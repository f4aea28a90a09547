export { Scheduler, type SchedulerOptions, type SchedulerState } from "./scheduler.ts";
export { Reconciler, type ReconcilerOptions, type ReconcileReport } from "./reconciler.ts";
export { Notifier, type NotifierOptions } from "./notifier.ts";
export { SIGNATURE_HEADER, TIMESTAMP_HEADER, signNotification, verifyNotification } from "./notifySignature.ts";
