/** Roles of people and programs, each including the one before it. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Who is calling: a person or program with a role, or a replica scoped to one loop attempt. */
export type Principal =
  { kind: "user"; tokenId: string; name: string; role: Role } | { kind: "replica"; loopId: string; attempt: number };

export function principalId(p: Principal): string {
  return p.kind === "user" ? `${p.name} (${p.tokenId})` : `replica:${p.loopId}/${p.attempt}`;
}
