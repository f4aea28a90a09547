import { visibleLine } from "@smith/core";
import { formatAge, renderTable } from "./table.ts";

interface TokenView {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
}

function status(t: TokenView, now: Date): string {
  if (t.revokedAt) return "revoked";
  if (t.expiresAt && Date.parse(t.expiresAt) <= now.getTime()) return "expired";
  return "active";
}

/** `smithctl tokens list`: what the API keeps of a token (never the token: only its hash is stored). */
export function tokensTable(items: readonly TokenView[], now: Date): string {
  return renderTable(
    ["ID", "NAME", "ROLE", "STATUS", "CREATED", "BY", "EXPIRES"],
    items.map((t) => [
      t.id,
      visibleLine(t.name),
      t.role,
      status(t, now),
      formatAge(now.getTime() - Date.parse(t.createdAt)),
      visibleLine(t.createdBy),
      t.expiresAt ?? "-",
    ]),
  );
}
