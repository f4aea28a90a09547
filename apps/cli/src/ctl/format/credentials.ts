import { visibleLine, type CredentialMetadata } from "@smith/core";
import { formatAge, renderTable, truncate } from "./table.ts";

function scopeOf(c: CredentialMetadata): string {
  const where = [c.scope.host, c.scope.owner ?? "*"].filter(Boolean).join("/");
  return c.scope.default ? where : `${where} (named only)`;
}

function ago(at: string | undefined, now: Date): string {
  return at ? formatAge(now.getTime() - Date.parse(at)) : "-";
}

/** `smithctl credentials list`: metadata only (the API never returns a value). */
export function credentialsTable(items: readonly CredentialMetadata[], now: Date): string {
  return renderTable(
    ["NAME", "TYPE", "SCOPE", "STATUS", "CREATED", "ROTATED", "LAST USED", "KEY", "DESCRIPTION"],
    items.map((c) => [
      c.name,
      c.type,
      visibleLine(scopeOf(c)),
      c.revokedAt ? "revoked" : "active",
      ago(c.createdAt, now),
      ago(c.rotatedAt, now),
      ago(c.lastUsedAt, now),
      // Where the value is: the credentials key that seals it in etcd, or its Kubernetes Secret.
      c.keyId ?? (c.secret ? `secret ${visibleLine(c.secret)}` : "-"),
      truncate(visibleLine(c.description ?? "-"), 60),
    ]),
  );
}
