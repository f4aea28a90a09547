import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { SmithError } from "@smith/core";
import { createHash } from "node:crypto";
import { kubeStatusCode } from "./errors.ts";
import { LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_NAME } from "./manifests.ts";

/** The label naming the credential a Secret holds (a credential name fits a label value: at most 63). */
export const LABEL_CREDENTIAL = "smith.dev/credential";
/** Which write of the API put the value there: the etcd record names the version it vouches for. */
export const ANNOTATION_CREDENTIAL_VERSION = "smith.dev/credential-version";
/** The Secret's data key holding the value. */
export const CREDENTIAL_VALUE_KEY = "value";

/**
 * The Secret of a credential: `smith-credential-<name>-<8 hex>`. A credential name may hold `_`,
 * which a Secret name may not; the hash of the exact name keeps `a_b` and `a-b` apart.
 */
export function credentialSecretName(credential: string): string {
  const hash = createHash("sha256").update(credential).digest("hex").slice(0, 8);
  return `smith-credential-${credential.replace(/_/g, "-")}-${hash}`;
}

/** A credential's Secret as read: its value, the version annotation and the resourceVersion to update it with. */
export interface CredentialSecret {
  value: string;
  version: string | undefined;
  resourceVersion: string;
}

export interface KubernetesCredentialSecretsOptions {
  kubeConfig: KubeConfig;
  /** The namespace of the Secrets (the API's own; its Role grants secrets there only). */
  namespace: string;
  /** Default `smith-api`. */
  fieldManager?: string;
}

/**
 * Credential values as Kubernetes Secrets (type Opaque, labelled as Smith's), for the API's
 * Kubernetes credentials backend. Nothing here logs, and no error carries a value or the
 * client's exception (whose fields may hold a response body): a failed call is a SmithError made
 * from the HTTP status and the server's Status message, which never quotes a Secret's data.
 */
export class KubernetesCredentialSecrets {
  readonly namespace: string;
  private readonly core: CoreV1Api;
  private readonly fieldManager: string;

  constructor(options: KubernetesCredentialSecretsOptions) {
    this.namespace = options.namespace;
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.fieldManager = options.fieldManager ?? "smith-api";
  }

  secretName(credential: string): string {
    return credentialSecretName(credential);
  }

  /** The credential's Secret, or undefined when there is none. */
  async read(credential: string): Promise<CredentialSecret | undefined> {
    const name = credentialSecretName(credential);
    let secret: V1Secret;
    try {
      secret = await this.core.readNamespacedSecret({ name, namespace: this.namespace });
    } catch (err) {
      if (kubeStatusCode(err) === 404) return undefined;
      throw this.error(err, "get", name);
    }
    const data = secret.data?.[CREDENTIAL_VALUE_KEY];
    return {
      value: data === undefined ? "" : Buffer.from(data, "base64").toString("utf8"),
      version: secret.metadata?.annotations?.[ANNOTATION_CREDENTIAL_VERSION],
      resourceVersion: secret.metadata?.resourceVersion ?? "",
    };
  }

  /** Creates the Secret; one that exists already is `already_exists`. Returns its resourceVersion. */
  async create(credential: string, value: string, version: string): Promise<string> {
    const body = this.build(credential, value, version);
    try {
      const made = await this.core.createNamespacedSecret({
        namespace: this.namespace,
        body,
        fieldManager: this.fieldManager,
      });
      return made.metadata?.resourceVersion ?? "";
    } catch (err) {
      throw this.error(err, "create", body.metadata?.name ?? "");
    }
  }

  /**
   * Replaces the Secret's value if its resourceVersion is still `resourceVersion` (the API
   * server's optimistic concurrency: a Secret changed meanwhile is `conflict`, changed nothing).
   */
  async replace(credential: string, value: string, version: string, resourceVersion: string): Promise<string> {
    const body = this.build(credential, value, version);
    if (body.metadata) body.metadata.resourceVersion = resourceVersion;
    try {
      const put = await this.core.replaceNamespacedSecret({
        name: credentialSecretName(credential),
        namespace: this.namespace,
        body,
        fieldManager: this.fieldManager,
      });
      return put.metadata?.resourceVersion ?? "";
    } catch (err) {
      throw this.error(err, "update", body.metadata?.name ?? "");
    }
  }

  /**
   * Deletes the Secret (one already gone is not an error). With `resourceVersion`, only that
   * version of it: a Secret rewritten meanwhile is `conflict` and stays.
   */
  async delete(credential: string, resourceVersion?: string): Promise<void> {
    const name = credentialSecretName(credential);
    try {
      await this.core.deleteNamespacedSecret({
        name,
        namespace: this.namespace,
        ...(resourceVersion ? { body: { preconditions: { resourceVersion } } } : {}),
      });
    } catch (err) {
      if (kubeStatusCode(err) === 404) return;
      throw this.error(err, "delete", name);
    }
  }

  private build(credential: string, value: string, version: string): V1Secret {
    return {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: credentialSecretName(credential),
        namespace: this.namespace,
        labels: {
          [LABEL_NAME]: "smith",
          [LABEL_COMPONENT]: "credential",
          [LABEL_MANAGED_BY]: "smith-api",
          [LABEL_CREDENTIAL]: credential,
        },
        annotations: { [ANNOTATION_CREDENTIAL_VERSION]: version },
      },
      data: { [CREDENTIAL_VALUE_KEY]: Buffer.from(value, "utf8").toString("base64") },
    };
  }

  private error(err: unknown, verb: string, name: string): SmithError {
    const status = kubeStatusCode(err);
    const what = `Secret ${this.namespace}/${name}`;
    const details = { field: "credentials", backend: "kubernetes", ...(status ? { status } : {}) };
    if (status === 403)
      return new SmithError(
        "forbidden",
        `Kubernetes RBAC does not let the API ${verb} ${what}: its ServiceAccount needs a Role granting get, create, update and delete on secrets in namespace ${this.namespace}`,
        details,
      );
    if (status === 404) return new SmithError("not_found", `${what} does not exist`, details);
    if (status === 409)
      return new SmithError(
        verb === "create" ? "already_exists" : "conflict",
        `${what} ${verb === "create" ? "already exists" : "changed meanwhile"}`,
        details,
      );
    if (status === 401)
      return new SmithError(
        "unavailable",
        `the Kubernetes API refused the API's credentials (${verb} ${what})`,
        details,
      );
    return new SmithError(
      "unavailable",
      `could not ${verb} ${what}: ${status ? `Kubernetes answered HTTP ${status}` : "the Kubernetes API did not answer"}`,
      details,
    );
  }
}
