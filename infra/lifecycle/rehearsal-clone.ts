/**
 * The rehearsal's throwaway database: its name, its creation by `CREATE DATABASE … TEMPLATE`
 * when that is safe, and its removal (including copies a crashed run left behind).
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { errorMessage } from "./errors.js";
import { MAX_IDENTIFIER_BYTES, quoteIdent, quoteLiteral } from "./identifiers.js";

/**
 * Every copy's name starts with this, then the creating session's backend pid: a copy whose
 * creator session is gone is a leftover that the next rehearsal drops.
 */
export const REHEARSAL_PREFIX = "pgstack_rehearsal_";

/** `pgstack_rehearsal_<admin backend pid>_<random>_<source>`, cut to Postgres' 63 bytes. */
export function cloneName(creatorPid: number, source: string): string {
  const name = `${REHEARSAL_PREFIX}${creatorPid}_${randomBytes(4).toString("hex")}_${source}`;
  let out = "";
  for (const ch of name) {
    if (Buffer.byteLength(out + ch, "utf8") > MAX_IDENTIFIER_BYTES) break;
    out += ch;
  }
  return out;
}

/** The creator's backend pid encoded in a copy's name, or undefined for other names. */
export function creatorPidOf(name: string): number | undefined {
  const m = new RegExp(`^${REHEARSAL_PREFIX}(\\d+)_`).exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Drops a copy. `WITH (FORCE)` ends the sessions still on it: only the rehearsal's own (the
 * copy is never handed to anyone), e.g. one stuck in a long statement after an interrupt.
 */
export async function dropClone(maintenance: pg.Client, name: string): Promise<void> {
  await maintenance.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/**
 * Drops the copies earlier rehearsals left behind (a killed process cannot clean up): those
 * whose creator session no longer exists. A copy whose creator is still connected belongs to a
 * rehearsal running now (another `pulumi preview`) and is left alone. Returns what was dropped;
 * what could not be dropped (another admin's copy, say) is reported through `warn`.
 */
export async function dropLeftovers(maintenance: pg.Client, warn: (msg: string) => void): Promise<string[]> {
  const { rows } = await maintenance.query<{ datname: string; creator_alive: boolean }>(
    `SELECT d.datname,
            EXISTS (SELECT 1 FROM pg_stat_activity a
                     WHERE a.pid = NULLIF(substring(d.datname FROM '^${REHEARSAL_PREFIX}([0-9]+)_'), '')::int) AS creator_alive
       FROM pg_database d
      WHERE starts_with(d.datname, $1)
      ORDER BY d.datname`,
    [REHEARSAL_PREFIX],
  );
  const dropped: string[] = [];
  for (const r of rows) {
    if (r.creator_alive || creatorPidOf(r.datname) === undefined) continue;
    try {
      await dropClone(maintenance, r.datname);
      dropped.push(r.datname);
    } catch (err) {
      warn(`could not drop the leftover rehearsal copy "${r.datname}": ${errorMessage(err)}; drop it with DROP DATABASE ${quoteIdent(r.datname)} WITH (FORCE)`);
    }
  }
  return dropped;
}

/** What decides how the source can be copied. */
export interface SourceInfo {
  /** The source's owner, when the admin may act as it (the copy then gets the same owner). */
  owner?: string;
  /** Client sessions connected to the source, other than this one. */
  otherSessions: number;
  /** `ENCODING … LC_COLLATE … LC_CTYPE …` of the source, for an empty copy made from template0. */
  localeClause: string;
}

/** Reads the source's owner and who else is connected to it. */
export async function sourceInfo(maintenance: pg.Client, source: string): Promise<SourceInfo> {
  const { rows } = await maintenance.query<{ owner: string; member: boolean; others: string; encoding: string; collate: string; ctype: string }>(
    `SELECT pg_get_userbyid(d.datdba) AS owner, pg_has_role(d.datdba, 'MEMBER') AS member,
            pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
            (SELECT count(*) FROM pg_stat_activity a
              WHERE a.datid = d.oid AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend') AS others
       FROM pg_database d WHERE d.datname = $1`,
    [source],
  );
  const r = rows[0];
  if (!r) throw new Error(`database "${source}" does not exist`);
  const localeClause = ` ENCODING ${quoteLiteral(r.encoding)} LC_COLLATE ${quoteLiteral(r.collate)} LC_CTYPE ${quoteLiteral(r.ctype)}`;
  return { ...(r.member ? { owner: r.owner } : {}), otherSessions: Number(r.others), localeClause };
}

/**
 * `CREATE DATABASE clone TEMPLATE source`: a file-level copy, schema and all data. Postgres
 * refuses it (55006) while anyone else is connected to the source, and new connections to the
 * source wait while it runs; the caller only tries it when nobody else is connected, and
 * never ends anyone's session for it. Returns false when Postgres refused for that reason or
 * for want of rights on the source (the caller then falls back to dump and restore).
 */
export async function cloneByTemplate(maintenance: pg.Client, source: string, clone: string, owner: string | undefined): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await maintenance.query(`CREATE DATABASE ${quoteIdent(clone)} TEMPLATE ${quoteIdent(source)}${owner ? ` OWNER ${quoteIdent(owner)}` : ""}`);
    return { ok: true };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "55006" || code === "42501") return { ok: false, why: errorMessage(err) };
    throw err;
  }
}

/** An empty database (from template0, as pg_restore expects) for the dump-and-restore copy. */
export async function createEmptyClone(maintenance: pg.Client, clone: string, source: SourceInfo): Promise<void> {
  const owner = source.owner ? ` OWNER ${quoteIdent(source.owner)}` : "";
  await maintenance.query(`CREATE DATABASE ${quoteIdent(clone)} TEMPLATE template0${source.localeClause}${owner}`);
}
