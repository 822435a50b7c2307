/**
 * Role attributes: the ones a stack may set (LOGIN, CREATEROLE, CREATEDB, INHERIT, BYPASSRLS,
 * CONNECTION LIMIT, VALID UNTIL), read from `pg_roles` (readable by any role, no superuser), and
 * what adopting a role will change, one line per role, for the preview. Taking a role over keeps
 * every attribute the config does not set; the lines name each one it does change.
 */
import type pg from "pg";
import { displayIdent } from "./identifiers.js";

/** A role's attributes, by their config names. */
export interface RoleAttributes {
  login: boolean;
  createRole: boolean;
  createDb: boolean;
  inherit: boolean;
  bypassRls: boolean;
  /** -1: no limit. */
  connectionLimit: number;
  /** `infinity` or Postgres' UTC spelling (`2030-01-01 00:00:00+00`), see {@link normalizeValidUntil}. */
  validUntil: string;
}

/** One attribute's config name. */
export type RoleAttribute = keyof RoleAttributes;

/** The attributes, in the order Postgres' `CREATE ROLE` lists them, with their SQL keyword. */
export const ROLE_ATTRIBUTE_KEYWORDS: Readonly<Record<RoleAttribute, string>> = {
  login: "LOGIN",
  createRole: "CREATEROLE",
  createDb: "CREATEDB",
  inherit: "INHERIT",
  bypassRls: "BYPASSRLS",
  connectionLimit: "CONNECTION LIMIT",
  validUntil: "VALID UNTIL",
};

/** Every attribute a stack may set. */
export const ROLE_ATTRIBUTES = Object.keys(ROLE_ATTRIBUTE_KEYWORDS) as readonly RoleAttribute[];

/**
 * `validUntil` as Postgres prints it in a UTC session (`2030-01-01 12:00:00+00`), which is what
 * the postgresql provider reads back, or undefined when `value` is not `infinity`, a date
 * (`2030-01-01`, midnight UTC) or a date and time with its zone (`2030-01-01T12:00:00Z`,
 * `2030-01-01 12:00+02:00`). Another spelling of the same instant would show as a change in
 * every preview.
 */
export function normalizeValidUntil(value: string): string | undefined {
  const v = value.trim();
  if (/^infinity$/i.test(v)) return "infinity";
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?))?$/i.exec(v);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  // Date.UTC rolls 2030-02-31 over to March and 24:00 to the next day: such values are refused.
  const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const same = local.getUTCFullYear() === year && local.getUTCMonth() === month - 1 && local.getUTCDate() === day && local.getUTCHours() === hour && local.getUTCMinutes() === minute;
  if (!same) return undefined;
  const zone = m[8] ?? "Z";
  const offsetMinutes = /^z$/i.test(zone) ? 0 : (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.replace(":", "").slice(3, 5) || 0));
  const iso = new Date(local.getTime() - offsetMinutes * 60_000).toISOString();
  const fraction = (m[7] ?? "").replace(/0+$/, "");
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ""}+00`;
}

/** The live attributes of the roles named, by name; a role that does not exist is absent. */
export async function readRoleAttributes(client: pg.ClientBase, names: readonly string[]): Promise<Map<string, RoleAttributes>> {
  if (names.length === 0) return new Map();
  // to_char in UTC: the same spelling normalizeValidUntil gives, whatever the session's TimeZone.
  const { rows } = await client.query<{ name: string; login: boolean; create_role: boolean; create_db: boolean; inherit: boolean; bypass_rls: boolean; connection_limit: number; valid_until: string | null }>(
    `SELECT rolname AS name, rolcanlogin AS login, rolcreaterole AS create_role, rolcreatedb AS create_db, rolinherit AS inherit,
            rolbypassrls AS bypass_rls, rolconnlimit AS connection_limit,
            CASE WHEN rolvaliduntil IS NULL OR rolvaliduntil = 'infinity' THEN NULL
                 ELSE to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END AS valid_until
       FROM pg_roles WHERE rolname = ANY($1::text[])`,
    [names],
  );
  return new Map(
    rows.map((r) => [
      r.name,
      {
        login: r.login,
        createRole: r.create_role,
        createDb: r.create_db,
        inherit: r.inherit,
        bypassRls: r.bypass_rls,
        connectionLimit: r.connection_limit,
        validUntil: r.valid_until === null ? "infinity" : (normalizeValidUntil(r.valid_until) ?? r.valid_until),
      },
    ]),
  );
}

/** `CREATEDB: no → yes`, `CONNECTION LIMIT: 5 → 20`, one per attribute `wanted` changes. */
export function roleAttributeChanges(live: RoleAttributes, wanted: Partial<RoleAttributes>): string[] {
  const show = (v: boolean | number | string, attribute: RoleAttribute) =>
    typeof v === "boolean" ? (v ? "yes" : "no") : attribute === "connectionLimit" && v === -1 ? "no limit" : String(v);
  return ROLE_ATTRIBUTES.flatMap((a) => {
    const w = wanted[a];
    return w === undefined || w === live[a] ? [] : [`${ROLE_ATTRIBUTE_KEYWORDS[a]}: ${show(live[a], a)} → ${show(w, a)}`];
  });
}

/** A role the stack takes over, as the preview checks it. */
export interface AdoptedRole {
  name: string;
  /** Where it is declared, e.g. `pgstack:databases[0].roles[1]`. */
  configPath: string;
  /** The attributes the config sets; every other one is kept. */
  set: Partial<RoleAttributes>;
  /** The config key of its password secret, when the config gives one (it replaces the role's own). */
  passwordSecret?: string;
}

/** What adopting roles will do: one line per role that changes, and the problems that stop it. */
export interface AdoptedRolesPlan {
  lines: string[];
  problems: string[];
}

/**
 * Plans the adoption of `roles` against the live server, read-only: a role that does not exist
 * is a problem (there is nothing to adopt), as is a BYPASSRLS change by an admin that is not a
 * superuser (only a superuser may make it). Every other change is a line naming the attribute,
 * its value now and after; a password from `passwordSecret` replaces the role's own (on the
 * first adoption only: `firstTime`).
 */
export async function planAdoptedRoles(client: pg.ClientBase, roles: readonly AdoptedRole[], firstTime: (name: string) => boolean): Promise<AdoptedRolesPlan> {
  if (roles.length === 0) return { lines: [], problems: [] };
  const live = await readRoleAttributes(client, roles.map((r) => r.name));
  const { rows } = await client.query<{ superuser: boolean; admin: string }>("SELECT rolsuper AS superuser, current_user AS admin FROM pg_roles WHERE rolname = current_user");
  const admin = rows[0];
  const lines: string[] = [];
  const problems: string[] = [];
  for (const r of roles) {
    const now = live.get(r.name);
    if (!now) {
      problems.push(`role ${displayIdent(r.name)} (${r.configPath}) has adopt: true but does not exist on the server\n  → remove ${r.configPath}.adopt to let the stack create it, or correct the name`);
      continue;
    }
    if (r.set.bypassRls !== undefined && r.set.bypassRls !== now.bypassRls && !admin?.superuser) {
      problems.push(
        `role ${displayIdent(r.name)} (${r.configPath}.bypassRls): only a superuser may change BYPASSRLS, and the admin "${admin?.admin ?? "?"}" is not one\n  → remove bypassRls (the role keeps ${now.bypassRls ? "BYPASSRLS" : "NOBYPASSRLS"}), or change it by hand as a superuser`,
      );
      continue;
    }
    const changes = roleAttributeChanges(now, r.set);
    if (r.passwordSecret && firstTime(r.name)) changes.push(`password: replaced by the secret ${r.passwordSecret} (the role's own password stops working)`);
    if (changes.length > 0) lines.push(`role ${displayIdent(r.name)} (adopted, ${r.configPath}): ${changes.join("; ")}; every other attribute is kept`);
  }
  return { lines, problems };
}
