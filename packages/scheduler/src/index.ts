export { Scheduler, type SchedulerOptions, type SchedulerState } from "./scheduler.ts";
export { Reconciler, type ReconcilerOptions, type ReconcileReport } from "./reconciler.ts";
