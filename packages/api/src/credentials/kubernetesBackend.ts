import { SmithError, type CredentialMetadata } from "@smith/core";
import { metadataOf, type CredentialRecord, type CredentialSecretRef, type SmithStore } from "@smith/store";
import { randomBytes } from "node:crypto";

/** A credential's Secret as read (see `KubernetesCredentialSecrets` in @smith/executor/kubernetes). */
export interface CredentialSecretValue {
  value: string;
  version: string | undefined;
  resourceVersion: string;
}

/**
 * The Kubernetes Secrets holding credential values: `KubernetesCredentialSecrets` of
 * `@smith/executor/kubernetes`, which apps/api builds from its kubeconfig. Errors are SmithErrors
 * that never carry a value (RBAC denial: `forbidden`; a lost resourceVersion race: `conflict`).
 */
export interface CredentialSecretStore {
  readonly namespace: string;
  secretName(credential: string): string;
  read(credential: string): Promise<CredentialSecretValue | undefined>;
  create(credential: string, value: string, version: string): Promise<string>;
  replace(credential: string, value: string, version: string, resourceVersion: string): Promise<string>;
  delete(credential: string, resourceVersion?: string): Promise<void>;
}

export interface KubernetesCredentialBackendOptions {
  /**
   * How old a write left pending must be before a read rolls it back (the write's API process is
   * taken for dead). Longer than any credentials call takes. Default 120 000 ms.
   */
  pendingGraceMs?: number;
  now?: () => Date;
}

type Got = { record: CredentialRecord; revision: string };

/**
 * Credential values as Kubernetes Secrets, metadata in etcd. Every write is ordered so that a
 * crash at any point loses no value and leaves none behind:
 *
 * - create: the etcd record first, naming the write's version as `pending` (this reserves the
 *   name and default scope, so refusals happen before Kubernetes is touched), then the Secret
 *   (annotated with that version), then the record commits the version.
 * - rotate: the record marks the new version pending, the Secret is replaced with a
 *   resourceVersion precondition, then the record commits it. Until then the old value serves.
 * - revoke: the record is revoked first (it keeps the Secret's name), then the Secret is
 *   deleted, then the name is dropped from the record.
 *
 * Reads reconcile what a crash left: a pending version found on the Secret is committed (the
 * value got there, so it is the credential's value now); one not found after the grace is rolled
 * back (a create's record is deleted, freeing the name; a rotation's mark is dropped); a revoked
 * record still naming its Secret has it deleted. A value is only ever used when the Secret
 * carries the version the record vouches for.
 */
export class KubernetesCredentialBackend {
  private readonly store: SmithStore;
  private readonly secrets: CredentialSecretStore;
  private readonly graceMs: number;
  private readonly now: () => Date;

  constructor(store: SmithStore, secrets: CredentialSecretStore, options: KubernetesCredentialBackendOptions = {}) {
    this.store = store;
    this.secrets = secrets;
    this.graceMs = options.pendingGraceMs ?? 120_000;
    this.now = options.now ?? (() => new Date());
  }

  async create(meta: CredentialMetadata, value: string): Promise<CredentialMetadata> {
    const version = newVersion();
    const ref: CredentialSecretRef = {
      namespace: this.secrets.namespace,
      name: this.secrets.secretName(meta.name),
      pending: { version, op: "create", at: this.now().toISOString(), by: meta.createdBy },
    };
    await this.store.credentials.create(meta, { kubeSecret: ref });
    let resourceVersion: string;
    try {
      resourceVersion = await this.putSecret(meta.name, value, version);
    } catch (err) {
      // Nothing vouches for a value now: give the name back (a crash here is rolled back by a
      // later read once the grace has passed). A refusal (RBAC, validation) wrote no Secret; an
      // unanswered call may have, so then the Secret is looked for too.
      await this.rollBack(meta.name, version, refused(err)).catch(() => undefined);
      throw err;
    }
    return this.commit(meta.name, version, resourceVersion);
  }

  async rotate(current: Got, value: string, by: string): Promise<CredentialMetadata> {
    const name = current.record.name;
    const settled = await this.reconcile(current);
    if (!settled || settled.record.revokedAt) throw notFound(name);
    const ref = settled.record.kubeSecret;
    if (!ref) throw new SmithError("internal", `credential ${name} has no Secret`, { field: "name" });
    if (ref.pending) throw busy(name);
    const secret = await this.secrets.read(name);
    const version = newVersion();
    const marked: CredentialRecord = {
      ...settled.record,
      kubeSecret: { ...ref, pending: { version, op: "rotate", at: this.now().toISOString(), by } },
    };
    if (!(await this.store.credentials.replace(name, settled.revision, marked))) throw busy(name);
    let resourceVersion: string;
    try {
      resourceVersion = secret
        ? await this.secrets.replace(name, value, version, secret.resourceVersion)
        : await this.secrets.create(name, value, version);
    } catch (err) {
      // A refusal changed nothing: the mark goes now. An unanswered call may have replaced the
      // Secret: the mark stays, and the next read commits it or, after the grace, drops it.
      if (refused(err)) await this.rollBack(name, version).catch(() => undefined);
      throw err;
    }
    return this.commit(name, version, resourceVersion);
  }

  async revoke(name: string, by: string): Promise<CredentialMetadata> {
    const meta = await this.store.credentials.revoke(name, by);
    const got = await this.store.credentials.get(name);
    if (got) await this.finishRevoke(got);
    return meta;
  }

  /** Metadata of every credential, after reconciling the records a crash left mid-write. */
  async list(): Promise<CredentialMetadata[]> {
    for (const got of await this.store.credentials.records()) {
      const ref = got.record.kubeSecret;
      if (ref && (ref.pending || got.record.revokedAt)) await this.reconcile(got);
    }
    return this.store.credentials.list();
  }

  /**
   * The value of a live credential: the Secret's, when it carries the version the record vouches
   * for. Anything else is a typed error naming the credential and the Secret, never a value.
   */
  async open(current: Got): Promise<string> {
    const name = current.record.name;
    const settled = await this.reconcile(current);
    const ref = settled?.record.kubeSecret;
    if (!settled || settled.record.revokedAt || !ref) throw notFound(name);
    if (!ref.version) throw busy(name);
    const secret = await this.secrets.read(name);
    if (!secret || secret.version !== ref.version)
      throw new SmithError(
        "unavailable",
        `credential ${name}: its Secret ${ref.namespace}/${ref.name} is ${secret ? "not the version Smith wrote" : "missing"}; set its value again with credentials rotate`,
        { field: "name", secret: `${ref.namespace}/${ref.name}` },
      );
    return secret.value;
  }

  /** Finishes or undoes what a crash left on this record; the record as it is afterwards. */
  async reconcile(got: Got): Promise<Got | undefined> {
    const ref = got.record.kubeSecret;
    if (!ref) return got;
    if (got.record.revokedAt) {
      await this.finishRevoke(got);
      return this.store.credentials.get(got.record.name);
    }
    const pending = ref.pending;
    if (!pending) return got;
    const name = got.record.name;
    const secret = await this.secrets.read(name);
    if (secret?.version === pending.version) {
      await this.commit(name, pending.version, secret.resourceVersion).catch(() => undefined);
    } else if (this.now().getTime() - Date.parse(pending.at) >= this.graceMs) {
      await this.rollBack(name, pending.version);
    }
    return this.store.credentials.get(name);
  }

  /** The record commits `version` if it still names it pending. Idempotent across processes. */
  private async commit(name: string, version: string, resourceVersion: string): Promise<CredentialMetadata> {
    for (let i = 0; i < 3; i++) {
      const got = await this.store.credentials.get(name);
      const ref = got?.record.kubeSecret;
      if (got && ref?.version === version && !ref.pending) return metadataOf(got.record);
      if (!got || !ref || got.record.revokedAt || ref.pending?.version !== version) break;
      const { pending } = ref;
      const record: CredentialRecord = {
        ...got.record,
        kubeSecret: { namespace: ref.namespace, name: ref.name, version },
        ...(pending.op === "rotate" ? { rotatedAt: this.now().toISOString(), rotatedBy: pending.by } : {}),
      };
      // A value moved from etcd to a Secret by a rotation is no longer sealed in etcd.
      delete record.sealed;
      delete record.keyId;
      if (await this.store.credentials.replace(name, got.revision, record)) return metadataOf(record);
    }
    // The record moved on without this write (rolled back after the grace, or revoked): the value
    // written is vouched for by nothing, so it goes, unless someone rewrote the Secret since.
    await this.secrets.delete(name, resourceVersion).catch(() => undefined);
    throw new SmithError("conflict", `credential ${name} changed while its value was being written; try again`, {
      field: "name",
    });
  }

  /** Undoes a write whose value did not reach the Secret (or failed). */
  private async rollBack(name: string, version: string, secretUntouched = false): Promise<void> {
    const got = await this.store.credentials.get(name);
    const ref = got?.record.kubeSecret;
    if (!got || ref?.pending?.version !== version) return;
    if (ref.pending.op === "create") {
      // A Secret under this name is vouched for by no record (an earlier create's, or this one's
      // arriving late): it goes first, so that no value outlives the record.
      const secret = secretUntouched ? undefined : await this.secrets.read(name);
      if (secret) await this.secrets.delete(name, secret.resourceVersion);
      await this.store.credentials.remove(name, got.revision);
      return;
    }
    const { pending: _pending, ...settled } = ref;
    await this.store.credentials.replace(name, got.revision, { ...got.record, kubeSecret: settled });
  }

  private async finishRevoke(got: Got): Promise<void> {
    const ref = got.record.kubeSecret;
    if (!got.record.revokedAt || !ref) return;
    await this.secrets.delete(got.record.name);
    const { kubeSecret: _secret, ...rest } = got.record;
    await this.store.credentials.replace(got.record.name, got.revision, rest);
  }

  /** Creates the Secret, or replaces one a revoked or rolled-back credential of this name left. */
  private async putSecret(name: string, value: string, version: string): Promise<string> {
    try {
      return await this.secrets.create(name, value, version);
    } catch (err) {
      if (!(err instanceof SmithError && err.code === "already_exists")) throw err;
    }
    const old = await this.secrets.read(name);
    if (!old) return this.secrets.create(name, value, version);
    return this.secrets.replace(name, value, version, old.resourceVersion);
  }
}

/** A call Kubernetes answered with a refusal: it wrote nothing. */
function refused(err: unknown): boolean {
  return (
    err instanceof SmithError && ["forbidden", "invalid_argument", "conflict", "already_exists"].includes(err.code)
  );
}

function newVersion(): string {
  return randomBytes(12).toString("hex");
}

function notFound(name: string): SmithError {
  return new SmithError("not_found", `credential ${name} not found`, { field: "name" });
}

function busy(name: string): SmithError {
  return new SmithError("conflict", `credential ${name} is being written by another call; try again`, {
    field: "name",
  });
}
