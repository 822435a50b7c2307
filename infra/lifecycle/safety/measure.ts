/**
 * Counts the rows each planned check puts at risk on the live database. Every query is
 * read-only: one `READ ONLY` repeatable-read transaction (a single snapshot), each count in its
 * own savepoint, bounded by `statement_timeout`, and rolled back at the end. Identifiers are
 * quoted with `pg`'s escaping; the expressions re-run are the migration's own text.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { errorMessage } from "../errors.js";
import { qualified, quoteIdent, quoteLiteral } from "../identifiers.js";
import { displayTable, type Measurement, type PlannedCheck, type TableRef } from "./plan.js";
import type { Finding, RowCount } from "./types.js";

/** Settings of {@link measureChecks}. */
export interface MeasureOptions {
  /** Tables estimated below this many rows are counted exactly; larger ones are sampled (`~`). */
  exactCountBelow: number;
  /** `statement_timeout` of each query, a Postgres duration. */
  statementTimeout: string;
}

/** A table on the live database. */
interface LiveTable {
  sql: string;
  /** `reltuples`, or -1 when never analyzed. */
  estimate: number;
}

/** The count of one measurement, or why there is none. */
type Counted = { rows: RowCount; groupRows?: number } | { note: string };

/**
 * Counts on the live database as checks arrive, in one read-only transaction. Counting runs while
 * the caller goes on parsing the next files: {@link add} only queues the queries.
 */
export class LiveCounter {
  private chain: Promise<void> = Promise.resolve();
  private begun = false;
  private failure: unknown;
  private readonly counts = new Map<PlannedCheck, Counted>();
  private readonly tables = new Map<string, Promise<LiveTable | undefined>>();

  constructor(
    private readonly client: pg.ClientBase,
    private readonly opts: MeasureOptions,
  ) {}

  /** Queues the count of one check (no-op for checks that need none). */
  add(c: PlannedCheck): void {
    if (!c.measure) return;
    this.chain = this.chain.then(async () => {
      if (this.failure) return;
      try {
        if (!this.begun) await this.begin();
        this.counts.set(c, await this.countOne(c.measure!));
      } catch (err) {
        this.failure = err;
      }
    });
  }

  /** Waits for every queued count, ends the transaction (rolled back), and returns the counts. */
  async finish(): Promise<Map<PlannedCheck, Counted>> {
    await this.chain;
    if (this.begun) await this.client.query("ROLLBACK").catch(() => undefined);
    if (this.failure) throw this.failure;
    return this.counts;
  }

  private async begin(): Promise<void> {
    this.begun = true;
    await this.client.query(
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " +
        `SET LOCAL statement_timeout = ${quoteLiteral(this.opts.statementTimeout)}; ` +
        // Reading waits for no migration or DDL for long: a blocked count is reported, not waited on.
        "SET LOCAL lock_timeout = '5s'",
    );
  }

  private async countOne(m: Measurement): Promise<Counted> {
    try {
      return await count(this.client, m, (t) => this.lookup(t), this.opts);
    } catch (err) {
      // Every count runs inside the savepoint, so the rest of the measurements go on.
      await this.client.query("ROLLBACK TO SAVEPOINT pgstack_measure").catch(() => {
        throw err;
      });
      const code = (err as { code?: string }).code;
      return {
        note:
          code === "57014"
            ? `not counted: the count took longer than the statement timeout (${this.opts.statementTimeout})`
            : code === "55P03"
              ? "not counted: the table is locked by another session"
              : `not counted: ${errorMessage(err).split("\n")[0]}`,
      };
    }
  }

  /** The live table behind a name, looked up once per batch. */
  private lookup(t: TableRef): Promise<LiveTable | undefined> {
    const key = `${t.schema ?? ""}.${t.name}`;
    let found = this.tables.get(key);
    if (!found) {
      found = liveTable(this.client, t);
      this.tables.set(key, found);
    }
    return found;
  }
}

/**
 * Turns planned checks into findings with their rows. `client` null means the database does not
 * exist yet: every table is empty, so nothing can be lost.
 */
export async function measureChecks(client: pg.ClientBase | null, checks: readonly PlannedCheck[], opts: MeasureOptions): Promise<Finding[]> {
  if (!client) return findingsOf(checks, undefined);
  const counter = new LiveCounter(client, opts);
  for (const c of checks) counter.add(c);
  return findingsOf(checks, await counter.finish());
}

/** Findings from checks and their counts (`counts` undefined: there is no database yet). */
export function findingsOf(checks: readonly PlannedCheck[], counts: Map<PlannedCheck, Counted> | undefined): Finding[] {
  return checks.map((c) => toFinding(c, counts ? counts.get(c) : undefined));
}

function toFinding(c: PlannedCheck, counted: Counted | undefined): Finding {
  let rows: RowCount | undefined = c.known;
  let note = c.note;
  let groupRows: number | undefined;
  if (counted && "rows" in counted) {
    rows = counted.rows;
    groupRows = counted.groupRows;
  } else if (counted) note = counted.note;
  else if (c.measure && !rows) {
    // No live database: it does not exist yet, so every table starts empty.
    rows = { count: 0, exact: true };
    note = "the database does not exist yet";
  }
  const rowsText = rows ? rowText(rows, c.class === "duplicates" ? "group" : "row") + (groupRows !== undefined ? ` (${groupRows} rows)` : "") : "rows not counted";
  return {
    rule: c.rule,
    class: c.class,
    file: c.migration.file,
    line: c.line,
    column: c.column,
    message: c.describe(rowsText),
    safeAlternative: c.safeAlternative,
    ...(c.table ? { table: displayTable(c.table) } : {}),
    ...(c.subject ? { subject: c.subject } : {}),
    ...(rows ? { rows } : {}),
    ...(note ? { note } : {}),
    ...(c.stale ? { stale: true } : {}),
  };
}

/** `621 rows`, `1 row`, `~1,200,000 rows`. */
export function rowText(r: RowCount, unit = "row"): string {
  return `${r.exact ? "" : "~"}${r.count.toLocaleString("en-US")} ${unit}${r.count === 1 ? "" : "s"}`;
}

async function liveTable(client: pg.ClientBase, t: TableRef): Promise<LiveTable | undefined> {
  const name = t.schema ? qualified(t.schema, t.name) : quoteIdent(t.name);
  const results = (await client.query(
    `SAVEPOINT pgstack_measure; SELECT n.nspname, c.relname, c.reltuples::float8 AS reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(${quoteLiteral(name)}); RELEASE SAVEPOINT pgstack_measure`,
  )) as unknown as pg.QueryResult<{ nspname: string; relname: string; reltuples: number }>[];
  const r = results[1]?.rows[0];
  return r ? { sql: qualified(r.nspname, r.relname), estimate: Number(r.reltuples) } : undefined;
}

type Lookup = (t: TableRef) => Promise<LiveTable | undefined>;

/** Whether to count exactly: small tables, and tables never analyzed (their estimate says nothing). */
function exactFor(t: LiveTable, opts: MeasureOptions): boolean {
  return t.estimate < 0 || t.estimate < opts.exactCountBelow;
}

/** A TABLESAMPLE clause reading about `exactCountBelow` rows, and the factor to scale counts by. */
function sample(t: LiveTable, opts: MeasureOptions): { clause: string; scale: number } {
  const pct = Math.max(0.01, Math.min(100, (opts.exactCountBelow / t.estimate) * 100));
  return { clause: ` TABLESAMPLE SYSTEM (${pct.toFixed(4)})`, scale: 100 / pct };
}

/**
 * One count, inside its own savepoint, in one round trip: `SAVEPOINT; SELECT …; RELEASE`. On an
 * error the savepoint is still open, and the caller rolls back to it.
 */
async function scalar(client: pg.ClientBase, sql: string): Promise<number> {
  const results = (await client.query(`SAVEPOINT pgstack_measure; ${sql}; RELEASE SAVEPOINT pgstack_measure`)) as unknown as pg.QueryResult<{ n: string }>[];
  return Number(results[1]?.rows[0]?.n ?? 0);
}

async function count(client: pg.ClientBase, m: Measurement, lookup: Lookup, opts: MeasureOptions): Promise<Counted> {
  const t = await lookup(m.table);
  if (!t) return { rows: { count: 0, exact: true } };
  const exact = exactFor(t, opts);
  const s = exact ? { clause: "", scale: 1 } : sample(t, opts);
  const scaled = (n: number): RowCount => ({ count: exact ? n : Math.round(n * s.scale), exact });
  switch (m.kind) {
    case "rows":
      if (!exact) return { rows: { count: Math.round(t.estimate), exact: false } };
      return { rows: { count: await scalar(client, `SELECT count(*) AS n FROM ${t.sql}`), exact: true } };
    case "nulls":
      return { rows: scaled(await scalar(client, `SELECT count(*) AS n FROM ${t.sql}${s.clause} WHERE ${quoteIdent(m.column)} IS NULL`)) };
    case "nonNull":
      return { rows: scaled(await scalar(client, `SELECT count(*) AS n FROM ${t.sql}${s.clause} WHERE ${quoteIdent(m.column)} IS NOT NULL`)) };
    case "orphans":
      return { rows: scaled(await orphans(client, m, t, s.clause, lookup)) };
    case "duplicates": {
      const notNull = m.nullsNotDistinct ? [] : m.keys.map((k) => `(${k}) IS NOT NULL`);
      const where = [...notNull, ...(m.where ? [`(${m.where})`] : [])];
      const results = (await client.query(
        `SAVEPOINT pgstack_measure; SELECT count(*) AS groups, coalesce(sum(n), 0) AS dup_rows FROM (SELECT count(*) AS n FROM ${t.sql}` +
          `${where.length ? ` WHERE ${where.join(" AND ")}` : ""} GROUP BY ${m.keys.map((k) => `(${k})`).join(", ")} HAVING count(*) > 1) d; RELEASE SAVEPOINT pgstack_measure`,
      )) as unknown as pg.QueryResult<{ groups: string; dup_rows: string }>[];
      const row = results[1]?.rows[0];
      return { rows: { count: Number(row?.groups ?? 0), exact: true }, groupRows: Number(row?.dup_rows ?? 0) };
    }
    case "castFailures": {
      await client.query("SAVEPOINT pgstack_measure");
      const n = await castFailures(client, m, t, exact ? "" : s.clause);
      await client.query("RELEASE SAVEPOINT pgstack_measure");
      return { rows: scaled(n) };
    }
  }
}

async function orphans(client: pg.ClientBase, m: Extract<Measurement, { kind: "orphans" }>, t: LiveTable, clause: string, lookup: Lookup): Promise<number> {
  const child = "pgstack_child";
  const present = m.columns.map((c) => `${quoteIdent(child)}.${quoteIdent(c)} IS NOT NULL`).join(" AND ");
  const parent = m.parentEmpty ? undefined : await lookup(m.parent);
  // A parent created in this batch (or missing) is empty: every child row with a key is an orphan.
  if (!parent) return scalar(client, `SELECT count(*) AS n FROM ${t.sql} AS ${quoteIdent(child)}${clause} WHERE ${present}`);
  await client.query("SAVEPOINT pgstack_measure");
  const keys = m.parentColumns ?? (await primaryKey(client, parent.sql));
  if (keys.length !== m.columns.length) throw new Error(`the referenced columns of ${displayTable(m.parent)} could not be matched to (${m.columns.join(", ")})`);
  const match = m.columns.map((c, i) => `p.${quoteIdent(keys[i] ?? "")} = ${quoteIdent(child)}.${quoteIdent(c)}`).join(" AND ");
  await client.query("RELEASE SAVEPOINT pgstack_measure");
  return scalar(client, `SELECT count(*) AS n FROM ${t.sql} AS ${quoteIdent(child)}${clause} WHERE ${present} AND NOT EXISTS (SELECT 1 FROM ${parent.sql} AS p WHERE ${match})`);
}

async function primaryKey(client: pg.ClientBase, table: string): Promise<string[]> {
  const { rows } = await client.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [table],
  );
  return rows.map((r) => r.attname);
}

/**
 * Rows whose casts fail, evaluated with the migration's own expressions. First the whole set at
 * once: when it succeeds, no row fails (the common case, one query). Otherwise a PL/pgSQL loop
 * tries each row in a subtransaction and counts data exceptions (class 22: a text that is not a
 * uuid, a number out of range); any other error is reported, not counted. It runs as an
 * anonymous DO block inside the read-only transaction: it creates nothing and writes nothing,
 * and hands its count back as a NOTICE.
 */
async function castFailures(client: pg.ClientBase, m: Extract<Measurement, { kind: "castFailures" }>, t: LiveTable, clause: string): Promise<number> {
  const alias = quoteIdent(m.alias);
  const where = m.where ? ` WHERE ${m.where}` : "";
  if (!clause) {
    await client.query("SAVEPOINT pgstack_cast");
    try {
      // count(s.*) needs every column of s, so each cast is evaluated (unused ones would be pruned).
      await client.query(`SELECT count(s.*) FROM (SELECT ${m.targets} FROM ${t.sql} AS ${alias}${where} OFFSET 0) s`);
      await client.query("RELEASE SAVEPOINT pgstack_cast");
      return 0;
    } catch (err) {
      await client.query("ROLLBACK TO SAVEPOINT pgstack_cast");
      if (!String((err as { code?: string }).code ?? "").startsWith("22")) throw err;
    }
  }
  const tag = `$pgstack_${randomBytes(6).toString("hex")}$`;
  const marker = `pgstack-cast-failures:${randomBytes(4).toString("hex")}:`;
  const body = `DECLARE r ${t.sql}%ROWTYPE; n bigint := 0;
BEGIN
  FOR r IN SELECT * FROM ${t.sql} AS ${alias}${clause}${where} LOOP
    BEGIN
      PERFORM ${m.targets} FROM (SELECT (r).*) AS ${alias};
    EXCEPTION WHEN data_exception THEN n := n + 1;
    END;
  END LOOP;
  RAISE NOTICE '${marker}%', n;
END`;
  let found: number | undefined;
  const onNotice = (msg: { message?: string }) => {
    if (msg.message?.startsWith(marker)) found = Number(msg.message.slice(marker.length));
  };
  client.on("notice", onNotice);
  try {
    await client.query(`DO ${tag}${body}${tag}`);
  } finally {
    client.off("notice", onNotice);
  }
  if (found === undefined) throw new Error("the cast check returned no count");
  return found;
}
