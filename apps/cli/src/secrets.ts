import { generateSigningKey } from "@smith/auth";
import { generateCredentialsKey } from "@smith/store";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface LocalSecrets {
  signingKey: string;
  adminToken: string;
  adminTokenFile: string;
  /** Seals credential values in etcd (what SMITH_CREDENTIALS_KEY is for the API process). */
  credentialsKey: string;
  /** Signs outbound notifications (what SMITH_NOTIFY_SECRET is for a scheduler); `notify-secret` in the secrets dir. */
  notifySecret: string;
}

/**
 * The local stack's signing key, credentials key, notification secret and bootstrap admin token: generated on the first `smith up`,
 * kept (mode 0600, in a 0700 directory) in the state directory so later runs and smithctl keep
 * working. Modes are set again on every load: a file copied in, restored from a backup or made by
 * an older version with the umask's mode is made private before it is used.
 */
export function loadOrCreateSecrets(stateDir: string): LocalSecrets {
  const dir = join(stateDir, "secrets");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, "signing-key");
  const tokenFile = join(dir, "admin-token");
  const credentialsKeyFile = join(dir, "credentials-key");
  const notifySecretFile = join(dir, "notify-secret");
  if (!existsSync(keyFile)) writeFileSync(keyFile, generateSigningKey() + "\n", { mode: 0o600 });
  if (!existsSync(credentialsKeyFile))
    writeFileSync(credentialsKeyFile, generateCredentialsKey() + "\n", { mode: 0o600 });
  if (!existsSync(notifySecretFile))
    writeFileSync(notifySecretFile, randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
  if (!existsSync(tokenFile))
    writeFileSync(tokenFile, `smith-admin-${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  chmodSync(dir, 0o700);
  for (const file of [keyFile, tokenFile, credentialsKeyFile, notifySecretFile]) chmodSync(file, 0o600);
  return {
    signingKey: readFileSync(keyFile, "utf8").trim(),
    adminToken: readFileSync(tokenFile, "utf8").trim(),
    adminTokenFile: tokenFile,
    credentialsKey: readFileSync(credentialsKeyFile, "utf8").trim(),
    notifySecret: readFileSync(notifySecretFile, "utf8").trim(),
  };
}
