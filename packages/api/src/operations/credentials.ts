import {
  DEFAULT_GIT_HOST,
  PROVIDER_KEY_ENV,
  SCHEMA_VERSION,
  SmithError,
  credentialUse,
  repoLocation,
  type AgentProvider,
  type CreateCredentialInput,
  type CreateLoopRequest,
  type CredentialMetadata,
  type CredentialUse,
  type GitCredential,
  type Loop,
  type ResolvedCredentials,
} from "@smith/core";
import type { CredentialKeyring, CredentialRecord, SmithStore } from "@smith/store";
import { createPrivateKey } from "node:crypto";
import { mintInstallationToken } from "../credentials/githubApp.ts";
import type { KubernetesCredentialBackend } from "../credentials/kubernetesBackend.ts";

export interface CredentialOperationsOptions {
  /** Seals and opens values; without it credentials can be listed and revoked, not stored or used. */
  keyring?: CredentialKeyring;
  /**
   * The kubernetes backend: new values go to Kubernetes Secrets the API manages instead of being
   * sealed in etcd. Values sealed earlier keep opening with `keyring`.
   */
  kubernetes?: KubernetesCredentialBackend;
  /** GitHub's REST base URL for minting App installation tokens (default https://api.github.com). */
  githubApiUrl?: string;
}

/** The provider key an agent provider reads; `command` takes whichever a loop names. */
function providerUse(provider: AgentProvider): "anthropic" | "openai" | undefined {
  if (provider === "claude") return "anthropic";
  if (provider === "codex") return "openai";
  return undefined;
}

/** The value is bound to its record: a sealed value moved to another name or type does not open. */
function aad(name: string, type: string): string {
  return `smith-credential:v1:${name}:${type}`;
}

function gitHost(record: Pick<CredentialMetadata, "scope">): string {
  return (record.scope.host ?? DEFAULT_GIT_HOST).toLowerCase();
}

/**
 * The write-only credentials lifecycle and the resolution of a loop's credentials. No method
 * returns a value except `resolveForLoop` / `gitCredential`, whose callers (the replica procedure,
 * GitHub calls made by the API) hand it on to git or the agent and nowhere else; every error names
 * the credential and the field, never the value.
 */
export class CredentialOperations {
  private readonly store: SmithStore;
  private readonly options: CredentialOperationsOptions;

  constructor(store: SmithStore, options: CredentialOperationsOptions = {}) {
    this.store = store;
    this.options = options;
  }

  private keyring(): CredentialKeyring {
    if (!this.options.keyring) {
      throw new SmithError(
        "unavailable",
        "this API has no credentials key (SMITH_CREDENTIALS_KEY or SMITH_CREDENTIALS_KEY_FILE): credentials cannot be stored or used",
        { field: "SMITH_CREDENTIALS_KEY" },
      );
    }
    return this.options.keyring;
  }

  async create(input: CreateCredentialInput, by: string): Promise<CredentialMetadata> {
    const kubernetes = this.options.kubernetes;
    const keyring = kubernetes ? undefined : this.keyring();
    const value = normalize(input.type, input.value);
    const meta: CredentialMetadata = {
      schemaVersion: SCHEMA_VERSION,
      name: input.name,
      type: input.type,
      scope: credentialUse(input.type) === "git" ? { ...input.scope, host: gitHost(input) } : { ...input.scope },
      ...(input.app ? { app: input.app } : {}),
      ...(input.description ? { description: input.description } : {}),
      createdAt: new Date().toISOString(),
      createdBy: by,
    };
    if (kubernetes) return kubernetes.create(meta, value);
    if (!keyring) throw new SmithError("internal", "no credentials backend");
    return this.store.credentials.create(meta, { sealed: keyring.seal(value, aad(meta.name, meta.type)) });
  }

  /** A credential keeps the backend it was created with: a Secret's value is rotated in its Secret. */
  async rotate(name: string, value: string, by: string): Promise<CredentialMetadata> {
    const current = await this.store.credentials.get(name);
    if (!current || current.record.revokedAt)
      throw new SmithError("not_found", `credential ${name} not found`, { field: "name" });
    const type = current.record.type;
    if (current.record.kubeSecret) return this.kubernetes(name).rotate(current, normalize(type, value), by);
    const keyring = this.keyring();
    return this.store.credentials.rotate(name, keyring.seal(normalize(type, value), aad(name, type)), by);
  }

  revoke(name: string, by: string): Promise<CredentialMetadata> {
    if (this.options.kubernetes) return this.options.kubernetes.revoke(name, by);
    return this.store.credentials.revoke(name, by);
  }

  list(): Promise<CredentialMetadata[]> {
    if (this.options.kubernetes) return this.options.kubernetes.list();
    return this.store.credentials.list();
  }

  private kubernetes(name: string): KubernetesCredentialBackend {
    if (!this.options.kubernetes)
      throw new SmithError(
        "unavailable",
        `credential ${name} is kept in a Kubernetes Secret, and this API has no Kubernetes credentials backend (SMITH_CREDENTIALS_BACKEND=kubernetes)`,
        { field: "SMITH_CREDENTIALS_BACKEND" },
      );
    return this.options.kubernetes;
  }

  /**
   * Re-seals every value sealed with a key other than the primary (after SMITH_CREDENTIALS_KEY
   * was rotated). A record changed meanwhile is counted as skipped; run it again.
   */
  async reseal(): Promise<{ resealed: number; current: number; skipped: string[] }> {
    const keyring = this.keyring();
    let resealed = 0;
    let current = 0;
    const skipped: string[] = [];
    for (const meta of await this.store.credentials.list()) {
      const got = await this.store.credentials.get(meta.name);
      const sealed = got?.record.sealed;
      if (!got || !sealed) continue;
      if (sealed.keyId === keyring.primaryId) {
        current++;
        continue;
      }
      const value = keyring.open(sealed, aad(meta.name, meta.type), `credential ${meta.name}`);
      const ok = await this.store.credentials.reseal(
        meta.name,
        got.revision,
        keyring.seal(value, aad(meta.name, meta.type)),
      );
      if (ok) resealed++;
      else skipped.push(meta.name);
    }
    return { resealed, current, skipped };
  }

  /**
   * Refuses a loop that names a credential which does not exist, is revoked, serves another use,
   * or (for git) belongs to another host than the repository's: the token must never be sent to
   * a host it was not made for. `prefix` is the request's path (`items[3].` in a batch).
   */
  async checkReferences(request: CreateLoopRequest, prefix = ""): Promise<void> {
    const spec = request.spec;
    const repoName = spec?.repo?.credential;
    if (repoName) {
      const field = `${prefix}spec.repo.credential`;
      const record = await this.named(repoName, field);
      if (credentialUse(record.type) !== "git")
        throw invalid(field, `credential ${repoName} is a ${record.type} credential, not a git one`);
      const loc = spec.repo?.url ? repoLocation(spec.repo.url) : undefined;
      if (loc && loc.host !== gitHost(record))
        throw invalid(field, `credential ${repoName} is for ${gitHost(record)}; the repository is on ${loc.host}`);
    }
    const agentName = spec?.agent?.credential;
    if (agentName) {
      const field = `${prefix}spec.agent.credential`;
      const record = await this.named(agentName, field);
      const use = credentialUse(record.type);
      const wanted = providerUse(spec.agent?.provider ?? "claude");
      if (use === "git") throw invalid(field, `credential ${agentName} is a git credential, not a provider key`);
      if (wanted && use !== wanted)
        throw invalid(
          field,
          `credential ${agentName} is an ${use} key; provider ${spec.agent?.provider} needs ${wanted}`,
        );
    }
  }

  /** What the replica of this loop needs: its git token and its agent's provider key. */
  async resolveForLoop(loop: Loop): Promise<ResolvedCredentials> {
    const [git, agent] = await Promise.all([
      this.gitCredential(loop.spec.repo.url, loop.spec.repo.credential),
      this.agentCredential(loop),
    ]);
    return { ...(git ? { git } : {}), ...(agent ? { agent } : {}) };
  }

  /**
   * The git token for a repository: the named credential, else the default for its host and
   * owner, else the default for its host. A GitHub App mints an installation token scoped to the
   * repository on every call. Undefined when no credential applies (local and public remotes).
   */
  async gitCredential(repoUrl: string, name?: string): Promise<GitCredential | undefined> {
    const loc = repoLocation(repoUrl);
    const chosen = name ?? (loc ? await this.defaultName("git", loc.host, loc.owner) : undefined);
    if (!chosen) return undefined;
    const got = await this.namedRecord(chosen, "spec.repo.credential");
    const record = got.record;
    const host = gitHost(record);
    if (loc && loc.host !== host)
      throw invalid("spec.repo.credential", `credential ${chosen} is for ${host}; the repository is on ${loc.host}`);
    const value = await this.open(got);
    await this.store.credentials.markUsed(chosen);
    if (record.type === "github-token")
      return { credential: chosen, type: "github-token", host, username: "x-access-token", token: value };
    if (record.type !== "github-app" || !record.app)
      throw invalid("spec.repo.credential", `credential ${chosen} is a ${record.type} credential, not a git one`);
    if (!loc) throw invalid("spec.repo.url", `a github-app credential needs an owner/repo URL`);
    const minted = await mintInstallationToken({
      credential: chosen,
      appId: record.app.appId,
      installationId: record.app.installationId,
      privateKey: value,
      owner: loc.owner,
      repo: loc.name,
      baseUrl: this.options.githubApiUrl,
    });
    return {
      credential: chosen,
      type: "github-app",
      host,
      username: "x-access-token",
      token: minted.token,
      expiresAt: new Date(minted.expiresAt).toISOString(),
    };
  }

  private async agentCredential(loop: Loop): Promise<ResolvedCredentials["agent"]> {
    const named = loop.spec.agent.credential;
    const use = providerUse(loop.spec.agent.provider);
    let chosen = named;
    if (!chosen && use) {
      const owner = repoLocation(loop.spec.repo.url)?.owner;
      chosen = await this.defaultName(use, "-", owner);
    }
    if (!chosen) return undefined;
    const got = await this.namedRecord(chosen, "spec.agent.credential");
    const recordUse = credentialUse(got.record.type);
    if (recordUse === "git")
      throw invalid("spec.agent.credential", `credential ${chosen} is a git credential, not a provider key`);
    const value = await this.open(got);
    await this.store.credentials.markUsed(chosen);
    return { credential: chosen, env: { [PROVIDER_KEY_ENV[recordUse]]: value } };
  }

  private async defaultName(use: CredentialUse, host: string, owner: string | undefined): Promise<string | undefined> {
    const specific = owner ? await this.store.credentials.findDefault(use, host, owner) : undefined;
    return specific ?? this.store.credentials.findDefault(use, host, "*");
  }

  private async named(name: string, field: string): Promise<CredentialRecord> {
    return (await this.namedRecord(name, field)).record;
  }

  private async namedRecord(name: string, field: string): Promise<{ record: CredentialRecord; revision: string }> {
    const got = await this.store.credentials.get(name);
    if (!got) throw new SmithError("not_found", `${field}: credential ${name} does not exist`, { field, name });
    if (got.record.revokedAt || (!got.record.sealed && !got.record.kubeSecret))
      throw new SmithError("not_found", `${field}: credential ${name} was revoked`, { field, name });
    return got;
  }

  private async open(got: { record: CredentialRecord; revision: string }): Promise<string> {
    const record = got.record;
    if (record.kubeSecret) return this.kubernetes(record.name).open(got);
    if (!record.sealed) throw new SmithError("not_found", `credential ${record.name} was revoked`, { field: "name" });
    return this.keyring().open(record.sealed, aad(record.name, record.type), `credential ${record.name}`);
  }
}

function invalid(field: string, message: string): SmithError {
  return new SmithError("invalid_argument", `${field}: ${message}`, { field });
}

/**
 * Tokens lose surrounding whitespace (a trailing newline from a file); a GitHub App key must
 * parse as a private key, checked here so that a bad key is refused at creation, not at the
 * first mint. The error never quotes the value.
 */
function normalize(type: CreateCredentialInput["type"], value: string): string {
  if (type !== "github-app") {
    const trimmed = value.trim();
    if (!trimmed) throw invalid("value", "the value is empty");
    return trimmed;
  }
  try {
    createPrivateKey(value);
  } catch {
    throw invalid("value", "the github-app value is not a PEM private key that node:crypto can read");
  }
  return value;
}
