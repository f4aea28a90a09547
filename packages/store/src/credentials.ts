import {
  CredentialMetadata,
  DEFAULT_GIT_HOST,
  SmithError,
  credentialUse,
  type CredentialScope,
  type CredentialType,
  type CredentialUse,
} from "@smith/core";
import { decode, encode } from "./codec.ts";
import type { StoreContext } from "./context.ts";
import { SealedValue } from "./credentialKeys.ts";
import { etcdCall } from "./etcd.ts";
import { absent, modIs, txn, type Compare } from "./txn.ts";
import type { IOperation } from "etcd3";
import { z } from "zod";

/**
 * Where a credential's value lives with the Kubernetes backend: a Secret the API manages. etcd
 * holds only this reference, never the value. The Secret carries a version annotation; the
 * record vouches for `version` and, while a write is in flight (or was cut short by a crash),
 * names the write's own version in `pending`, so that a later read can tell whether the write
 * reached the Secret (roll forward) or not (roll back after `at` is old enough).
 */
export const CredentialSecretRef = z.object({
  namespace: z.string().min(1).max(63),
  name: z.string().min(1).max(253),
  /** The version of the Secret this record vouches for; absent until the first write completes. */
  version: z.string().min(1).max(64).optional(),
  pending: z
    .object({
      version: z.string().min(1).max(64),
      op: z.enum(["create", "rotate"]),
      at: z.string().datetime(),
      by: z.string().max(256),
    })
    .optional(),
});
export type CredentialSecretRef = z.infer<typeof CredentialSecretRef>;

/**
 * A credential as stored: its metadata and either its value sealed (etcd backend) or a reference
 * to the Kubernetes Secret holding it (kubernetes backend). Once revoked neither is left; a
 * revoked record still holding `kubeSecret` is a Secret whose deletion has not finished.
 */
export const CredentialRecord = CredentialMetadata.extend({
  sealed: SealedValue.optional(),
  kubeSecret: CredentialSecretRef.optional(),
});
export type CredentialRecord = z.infer<typeof CredentialRecord>;

/** Where a new credential's value goes. */
export type CredentialValueRef = { sealed: SealedValue } | { kubeSecret: CredentialSecretRef };

/** The key of the default index a scope occupies, as parts (use, host, owner). */
export function defaultSlot(type: CredentialType, scope: CredentialScope): [CredentialUse, string, string] {
  const use = credentialUse(type);
  const host = use === "git" ? (scope.host ?? DEFAULT_GIT_HOST).toLowerCase() : "-";
  return [use, host, scope.owner?.toLowerCase() ?? "*"];
}

export function metadataOf(record: CredentialRecord, lastUsedAt?: string): CredentialMetadata {
  const { sealed, kubeSecret, ...meta } = record;
  return {
    ...meta,
    ...(sealed ? { keyId: sealed.keyId } : {}),
    ...(kubeSecret && !record.revokedAt ? { secret: `${kubeSecret.namespace}/${kubeSecret.name}` } : {}),
    ...(lastUsedAt ? { lastUsedAt } : {}),
  };
}

/**
 * Credentials in etcd. The repository never sees a plain value: callers seal it with the API's
 * CredentialKeyring first. At most one credential is the default for a (use, host, owner)
 * scope; the `credential-defaults/...` key written in the same transaction enforces it.
 */
export class CredentialRepository {
  private readonly ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.ctx = ctx;
  }

  async get(name: string): Promise<{ record: CredentialRecord; revision: string } | undefined> {
    const key = this.ctx.keys.credential(name);
    const res = await etcdCall(() => this.ctx.client.get(key).exec());
    const kv = res.kvs[0];
    return kv ? { record: decode(CredentialRecord, kv.value, key), revision: kv.mod_revision } : undefined;
  }

  /** Every credential record with its revision (for backends that reconcile what a crash left). */
  async records(): Promise<{ record: CredentialRecord; revision: string }[]> {
    const res = await etcdCall(() => this.ctx.client.getAll().prefix(this.ctx.keys.credentialsPrefix()).exec());
    return res.kvs.map((kv) => ({
      record: decode(CredentialRecord, kv.value, kv.key.toString()),
      revision: kv.mod_revision,
    }));
  }

  /** Metadata of every credential (revoked ones too), with when each was last used. */
  async list(): Promise<CredentialMetadata[]> {
    const { client, keys } = this.ctx;
    const [records, used] = await Promise.all([
      etcdCall(() => client.getAll().prefix(keys.credentialsPrefix()).exec()),
      etcdCall(() => client.getAll().prefix(keys.credentialUsedPrefix()).exec()),
    ]);
    const lastUsed = new Map(
      used.kvs.map((kv) => [kv.key.toString().slice(keys.credentialUsedPrefix().length), kv.value.toString()]),
    );
    return records.kvs.map((kv) => {
      const record = decode(CredentialRecord, kv.value, kv.key.toString());
      return metadataOf(record, lastUsed.get(encodeURIComponent(record.name)));
    });
  }

  /**
   * Stores a new credential, or replaces a revoked one of the same name. A live credential of
   * that name, or another default for the same scope, is `already_exists` and nothing is written.
   */
  async create(meta: CredentialMetadata, value: CredentialValueRef): Promise<CredentialMetadata> {
    const { client, keys } = this.ctx;
    const key = keys.credential(meta.name);
    const current = await this.get(meta.name);
    if (current && !current.record.revokedAt) throw exists(meta.name);
    const record: CredentialRecord =
      "sealed" in value
        ? { ...meta, keyId: value.sealed.keyId, sealed: value.sealed }
        : { ...meta, kubeSecret: value.kubeSecret };
    const compares: Compare[] = [current ? modIs(key, current.revision) : absent(key)];
    const ops: IOperation[] = [client.put(key).value(encode(record))];
    const slot = meta.scope.default ? keys.credentialDefault(...defaultSlot(meta.type, meta.scope)) : undefined;
    if (slot) {
      compares.push(absent(slot));
      ops.push(client.put(slot).value(meta.name));
    }
    const res = await txn(client, compares, ops);
    if (res.succeeded) return metadataOf(record);
    const again = await this.get(meta.name);
    if (again && !again.record.revokedAt) throw exists(meta.name);
    const holder = slot ? await etcdCall(() => client.get(slot).string()) : null;
    if (holder) {
      const [use, host, owner] = defaultSlot(meta.type, meta.scope);
      throw new SmithError(
        "already_exists",
        `scope: credential ${holder} already is the default ${use} credential for ${use === "git" ? `${host}/` : ""}${owner === "*" ? "every owner" : owner}; revoke it or create this one with scope.default false`,
        { field: "scope", holder },
      );
    }
    throw new SmithError("conflict", `credential ${meta.name} changed while it was being created; try again`, {
      field: "name",
    });
  }

  /** Replaces the sealed value of a live credential (revision-checked). */
  async rotate(name: string, sealed: SealedValue, by: string): Promise<CredentialMetadata> {
    const current = await this.live(name);
    const record: CredentialRecord = {
      ...current.record,
      keyId: sealed.keyId,
      sealed,
      rotatedAt: this.ctx.now().toISOString(),
      rotatedBy: by,
    };
    await this.write(name, current.revision, record);
    return metadataOf(record);
  }

  /** Re-seals a value under another key (credentials key rotation); false when the record moved on. */
  async reseal(name: string, revision: string, sealed: SealedValue): Promise<boolean> {
    const current = await this.get(name);
    if (!current || current.revision !== revision || !current.record.sealed) return false;
    const { client, keys } = this.ctx;
    const key = keys.credential(name);
    const res = await txn(
      client,
      [modIs(key, revision)],
      [client.put(key).value(encode({ ...current.record, keyId: sealed.keyId, sealed }))],
    );
    return res.succeeded;
  }

  /**
   * Drops the sealed value and the default slot; the metadata stays (revokedAt) so that `list`
   * and loops naming it explain what happened. A revoked name may be created again.
   */
  async revoke(name: string, by: string): Promise<CredentialMetadata> {
    const current = await this.live(name);
    const { client, keys } = this.ctx;
    const key = keys.credential(name);
    const { sealed: _sealed, ...rest } = current.record;
    const record: CredentialRecord = { ...rest, revokedAt: this.ctx.now().toISOString(), rotatedBy: by };
    const compares: Compare[] = [modIs(key, current.revision)];
    const ops: IOperation[] = [client.put(key).value(encode(record)), client.delete().key(keys.credentialUsed(name))];
    const slot = keys.credentialDefault(...defaultSlot(current.record.type, current.record.scope));
    if ((await etcdCall(() => client.get(slot).string())) === name) {
      compares.push({ key: slot, target: "Value", op: "==", value: name });
      ops.push(client.delete().key(slot));
    }
    const res = await txn(client, compares, ops);
    if (!res.succeeded)
      throw new SmithError("conflict", `credential ${name} changed while it was being revoked; try again`, {
        field: "name",
      });
    return metadataOf(record);
  }

  /** The name of the default credential for a use and scope, if one is set. */
  async findDefault(use: CredentialUse, host: string, owner: string): Promise<string | undefined> {
    const value = await etcdCall(() =>
      this.ctx.client.get(this.ctx.keys.credentialDefault(use, host.toLowerCase(), owner.toLowerCase())).string(),
    );
    return value ?? undefined;
  }

  async markUsed(name: string): Promise<void> {
    await etcdCall(() =>
      this.ctx.client.put(this.ctx.keys.credentialUsed(name)).value(this.ctx.now().toISOString()).exec(),
    );
  }

  private async live(name: string): Promise<{ record: CredentialRecord; revision: string }> {
    const current = await this.get(name);
    if (!current || current.record.revokedAt)
      throw new SmithError("not_found", `credential ${name} not found`, { field: "name" });
    return current;
  }

  /** Replaces a record if it is still at `revision`; false when it moved on (nothing written). */
  async replace(name: string, revision: string, record: CredentialRecord): Promise<boolean> {
    const { client, keys } = this.ctx;
    const key = keys.credential(name);
    const res = await txn(client, [modIs(key, revision)], [client.put(key).value(encode(record))]);
    return res.succeeded;
  }

  /**
   * Deletes a record still at `revision`, with its default slot and last-used mark: a create that
   * never completed (its value never reached its Secret) gives its name and scope back.
   */
  async remove(name: string, revision: string): Promise<boolean> {
    const current = await this.get(name);
    if (!current || current.revision !== revision) return false;
    const { client, keys } = this.ctx;
    const compares: Compare[] = [modIs(keys.credential(name), revision)];
    const ops: IOperation[] = [
      client.delete().key(keys.credential(name)),
      client.delete().key(keys.credentialUsed(name)),
    ];
    const slot = keys.credentialDefault(...defaultSlot(current.record.type, current.record.scope));
    if ((await etcdCall(() => client.get(slot).string())) === name) {
      compares.push({ key: slot, target: "Value", op: "==", value: name });
      ops.push(client.delete().key(slot));
    }
    return (await txn(client, compares, ops)).succeeded;
  }

  private async write(name: string, revision: string, record: CredentialRecord): Promise<void> {
    const { client, keys } = this.ctx;
    const key = keys.credential(name);
    const res = await txn(client, [modIs(key, revision)], [client.put(key).value(encode(record))]);
    if (!res.succeeded)
      throw new SmithError("conflict", `credential ${name} changed meanwhile; try again`, { field: "name" });
  }
}

function exists(name: string): SmithError {
  return new SmithError(
    "already_exists",
    `name: credential ${name} already exists; rotate its value with credentials rotate`,
    { field: "name" },
  );
}
