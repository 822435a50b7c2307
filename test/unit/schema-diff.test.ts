import { describe, expect, it } from "vitest";
import {
  CHANGE_LABELS,
  diffSchemas,
  emptySnapshot,
  judgeDrift,
  KNOWN_SCHEMAS,
  knownObject,
  knownTable,
  withoutUndeclaredKnown,
  type ConstraintStructure,
  type SchemaSnapshot,
  type TableStructure,
} from "../../infra/lifecycle/index.js";
import { parseStackConfig } from "../../infra/config.js";
import { driftPolicy } from "../../infra/lifecycle/drift.js";
import { rawStackConfig } from "../support/stack-config.js";
import { sameJson } from "../../infra/lifecycle/schema/diff.js";

const check = (definition: string): ConstraintStructure => ({ kind: "check", definition, columns: [] });
const pkey: ConstraintStructure = { kind: "primary key", definition: "PRIMARY KEY (id)", columns: ["id"], index: "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)" };
const emailKey: ConstraintStructure = { kind: "unique", definition: "UNIQUE (email)", columns: ["email"], index: "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)" };
const users = (over: Partial<TableStructure> = {}): TableStructure => ({
  owner: "app_owner",
  columns: { id: { type: "text", nullable: false, default: null }, email: { type: "text", nullable: false, default: null } },
  constraints: { users_pkey: pkey, users_email_key: emailKey },
  indexes: { "public.users_created_idx": "CREATE INDEX users_created_idx ON public.users USING btree (id)" },
  grants: { app: "INSERT, SELECT" },
  ...over,
});
const snap = (tables: Record<string, TableStructure>, history: SchemaSnapshot["history"] = []): SchemaSnapshot => ({ ...emptySnapshot(), tables, history });

describe("diffSchemas", () => {
  it("compares by name, never by position: an extra table shifts nothing else", () => {
    const a = snap({ "public.b": users(), "public.users": users() });
    const b = snap({ "public.a_first": users(), "public.b": users(), "public.users": users() });
    expect(diffSchemas(a, b)).toEqual(["+ table public.a_first (not in migrations)"]);
    expect(diffSchemas(b, a)).toEqual(["- table public.a_first (missing)"]);
  });

  it("names each changed column, constraint, index, owner and grant of a table", () => {
    const live = users({
      owner: "postgres",
      columns: {
        nickname: { type: "text", nullable: true, default: null },
        id: { type: "text", nullable: false, default: null },
        email: { type: "character varying(255)", nullable: true, default: "'x'::character varying" },
      },
      constraints: { users_pkey: pkey, users_email_check: check("CHECK ((email <> ''::text))") },
      indexes: { "public.users_created_idx": "CREATE INDEX users_created_idx ON public.users USING hash (id)" },
      grants: { app: "SELECT", PUBLIC: "SELECT" },
    });
    expect(diffSchemas(snap({ 'public."bazaar-vid_user"': users() }), snap({ 'public."bazaar-vid_user"': live }))).toEqual([
      '~ public."bazaar-vid_user": owner app_owner → postgres',
      `~ public."bazaar-vid_user": ~ column email: type text → character varying(255), not null → nullable, default none → 'x'::character varying`,
      '~ public."bazaar-vid_user": + column nickname text (not in migrations)',
      '~ public."bazaar-vid_user": - constraint users_email_key UNIQUE (email) (missing)',
      `~ public."bazaar-vid_user": + constraint users_email_check CHECK ((email <> ''::text)) (not in migrations)`,
      '~ public."bazaar-vid_user": ~ grant app: INSERT, SELECT → SELECT',
      '~ public."bazaar-vid_user": + grant PUBLIC: SELECT (not declared)',
      "~ index public.users_created_idx: CREATE INDEX users_created_idx ON public.users USING btree (id) → CREATE INDEX users_created_idx ON public.users USING hash (id)",
    ]);
  });

  it("reports a history that differs from the files", () => {
    const files = [{ id: 1, name: "0001_a", checksum: "a".repeat(64) }, { id: 2, name: "0002_b", checksum: "b".repeat(64) }, { id: 3, name: "0003_c", checksum: "c".repeat(64) }];
    const live = [{ id: 1, name: "0001_a", checksum: "f".repeat(64) }, { id: 2, name: "0002_renamed", checksum: "b".repeat(64) }, { id: 9, name: "0009_by_hand", checksum: "9".repeat(64) }];
    expect(diffSchemas(snap({}, files), snap({}, live))).toEqual([
      "~ migration 0001_a: checksum aaaaaaaaaaaa… → ffffffffffff…",
      "~ migration version 2: 0002_b → 0002_renamed",
      "- migration 0003_c (not applied)",
      "+ migration 0009_by_hand (applied, but no migration file has this version)",
    ]);
    expect(diffSchemas(snap({}, files), snap({}, live), { history: false })).toEqual([]);
  });

  it("names the two sides with other labels (two stacks compared)", () => {
    const labels = { onlySecond: "only in prod", onlyFirst: "only in dev" };
    const dev = snap({ "public.users": users() });
    const prod = snap({ "public.users": users({ columns: { ...users().columns, nickname: { type: "text", nullable: true, default: null } }, grants: { app: "INSERT, SELECT", PUBLIC: "SELECT" } }) });
    expect(diffSchemas(dev, prod, { labels })).toEqual([
      "~ public.users: + column nickname text (only in prod)",
      "~ public.users: + grant PUBLIC: SELECT (only in prod)",
    ]);
  });
});

describe("diffSchemas as a change (before → after a migration, the rehearsal's lines)", () => {
  it("names added and dropped tables, columns, types, nullability, defaults, keys and indexes, without labels", () => {
    const col = (type: string, nullable = true, dflt: string | null = null) => ({ type, nullable, default: dflt });
    const before = snap({
      "public.users": users({ columns: { id: col("text", false), email: col("text"), legacy: col("text") }, constraints: { users_pkey: pkey }, indexes: {} }),
      "public.component_error": users({ columns: { id: col("bigint", false) }, constraints: {}, indexes: {} }),
    });
    const fk: ConstraintStructure = {
      kind: "foreign key",
      definition: "FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE",
      columns: ["user_id"],
      references: { table: "public.users", columns: ["id"], onDelete: "cascade" },
    };
    const after = snap({
      "public.users": users({
        columns: { id: col("text", false), email: col("character varying(320)", false), created: col("timestamp with time zone", false, "now()") },
        constraints: { users_pkey: pkey },
        indexes: { "public.users_email_idx": "CREATE UNIQUE INDEX users_email_idx ON public.users USING btree (email)" },
      }),
      'public."bazaar-vid_exports"': users({ columns: { id: col("bigint", false), user_id: col("bigint") }, constraints: { exports_user_fk: fk }, indexes: {} }),
    });
    expect(diffSchemas(before, after, { labels: CHANGE_LABELS, history: false, known: "compare" })).toEqual([
      '+ table public."bazaar-vid_exports"',
      "- table public.component_error",
      "~ public.users: ~ column email: type text → character varying(320), nullable → not null",
      "~ public.users: - column legacy text",
      "~ public.users: + column created timestamp with time zone not null default now()",
      "+ index public.users_email_idx",
    ]);
    expect(diffSchemas(after, before, { labels: CHANGE_LABELS, history: false })).toContain("~ public.users: + column legacy text");
    expect(diffSchemas(before, before, { labels: CHANGE_LABELS })).toEqual([]);
    // A foreign key that changes its action is one constraint line.
    const cascade = snap({ "public.x": users({ constraints: { x_fk: fk } }) });
    const restrict = snap({ "public.x": users({ constraints: { x_fk: { ...fk, definition: fk.definition.replace("CASCADE", "RESTRICT"), references: { ...fk.references!, onDelete: "restrict" } } } }) });
    expect(diffSchemas(cascade, restrict, { labels: CHANGE_LABELS })).toEqual([
      "~ public.x: ~ constraint x_fk: FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE → FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE RESTRICT",
    ]);
  });

  it("leaves owners and grants out with structureOnly", () => {
    const live = users({ owner: "postgres", grants: { PUBLIC: "SELECT" } });
    expect(diffSchemas(snap({ "public.users": users() }), snap({ "public.users": live }), { structureOnly: true })).toEqual([]);
    expect(diffSchemas(snap({ "public.users": users() }), snap({ "public.users": live })).length).toBe(3);
  });
});

describe("known objects (another tool's history table, pgstack's own schema)", () => {
  const history = users({ columns: { version: { type: "bigint", nullable: false, default: null }, dirty: { type: "boolean", nullable: false, default: null } }, constraints: {}, indexes: {} });

  it("are classified by kind and name, in any schema", () => {
    expect(knownObject("table", "public.schema_migrations")).toBe("golang-migrate or dbmate's history table");
    expect(knownObject("table", "drizzle.__drizzle_migrations")).toBe("drizzle's history table");
    expect(knownObject("table", "app.goose_db_version")).toBe("goose's history table");
    expect(knownObject("table", "public.flyway_schema_history")).toBeDefined();
    expect(knownObject("table", "public._prisma_migrations")).toBeDefined();
    expect(knownObject("table", "public.alembic_version")).toBeDefined();
    expect(knownObject("table", "pgstack.migrations")).toBe("in pgstack's own schema");
    expect(knownObject("table", "public.users")).toBeUndefined();
    expect(knownObject("table", 'public."schema_migrations_v2"')).toBeUndefined();
    expect(knownTable("public", "schema_migrations")).toBeDefined();
    expect(knownTable("public", "Schema_migrations")).toBeUndefined();
    // Schemas are no kind of the snapshot yet (issue 18); pgstack's and drizzle's are known for then.
    expect(KNOWN_SCHEMAS).toEqual({ pgstack: "pgstack's own schema", drizzle: "drizzle's schema" });
  });

  it("in the live database only: no line; created by a migration: compared as usual", () => {
    const declared = snap({ "public.users": users() });
    const live = snap({ "public.users": users(), "public.schema_migrations": history, "drizzle.__drizzle_migrations": history, "public.extra": history });
    expect(diffSchemas(declared, live)).toEqual(["+ table public.extra (not in migrations)"]);
    expect(withoutUndeclaredKnown(live, declared).tables).toEqual({ "public.users": users(), "public.extra": history });

    // A migration creates public.schema_migrations: a change to it is drift, its absence too.
    const declaring = snap({ "public.users": users(), "public.schema_migrations": history });
    const changed = snap({ "public.users": users(), "public.schema_migrations": { ...history, columns: { version: history.columns["version"]! } } });
    expect(diffSchemas(declaring, changed)).toEqual(["~ public.schema_migrations: - column dirty boolean not null (missing)"]);
    expect(diffSchemas(declaring, declared)).toEqual(["- table public.schema_migrations (missing)"]);

    // Before/after a run, a new one is the migration's.
    expect(diffSchemas(declared, live, { labels: CHANGE_LABELS, known: "compare" })).toEqual([
      "+ table drizzle.__drizzle_migrations",
      "+ table public.extra",
      "+ table public.schema_migrations",
    ]);
  });
});

describe("judgeDrift", () => {
  it("splits a report by the exact accepted lines and names accepted lines that no longer occur", () => {
    const report = ["+ table public.x (not in migrations)", "~ public.users: + column n text (not in migrations)"];
    expect(judgeDrift(report, [" + table public.x (not in migrations) ", "+ table public.gone (not in migrations)"])).toEqual({
      unaccepted: ["~ public.users: + column n text (not in migrations)"],
      accepted: ["+ table public.x (not in migrations)"],
      stale: ["+ table public.gone (not in migrations)"],
    });
  });
});

describe("the drift config", () => {
  const withDrift = (stack: string, drift: unknown) => {
    const raw = rawStackConfig(stack) as { server: unknown; databases: Record<string, unknown>[] };
    raw.databases[1]!["drift"] = drift;
    return raw;
  };
  it("refuses drift by default where resets are not allowed (prod) and warns elsewhere; an explicit policy wins", () => {
    expect(parseStackConfig(rawStackConfig("prod"), "prod").databases.map(driftPolicy)).toEqual(["refuse", "refuse"]);
    expect(parseStackConfig(rawStackConfig("dev"), "dev").databases.map(driftPolicy)).toEqual(["warn", "warn"]);
    const cfg = parseStackConfig(withDrift("prod", { policy: "warn", accept: ["+ table public.api_usage_metric (not in migrations)"] }), "prod");
    expect(driftPolicy(cfg.databases[1]!)).toBe("warn");
    expect(cfg.databases[1]!.drift.accept).toEqual(["+ table public.api_usage_metric (not in migrations)"]);
  });
  it("rejects an accepted line that is no report line, and an unknown policy, naming the config path", () => {
    expect(() => parseStackConfig(withDrift("prod", { policy: "ignore", accept: ["table public.x"] }), "prod")).toThrow(
      /pgstack:databases\[1\]\.drift\.policy: [\s\S]*pgstack:databases\[1\]\.drift\.accept\[0\]: must be a line of the drift report, starting with "\+ ", "- " or "~ "/,
    );
  });
});

describe("grant lines of a grant this up removes", () => {
  it("are left out (Pulumi revokes them after the verification); other lines stay", async () => {
    const { withoutPendingRevokes } = await import("../../infra/providers/verification.js");
    const g = (role: string) => ({ role, schema: ["USAGE" as const], tables: ["SELECT" as const], sequences: [] });
    const before = [{ name: "public", owner: "o", grants: [g("app"), g("reader")] }];
    const after = [{ name: "public", owner: "o", grants: [g("app")] }];
    const report = [
      "~ public.datasets: + grant reader: SELECT (not declared)",
      "~ public.datasets: + grant PUBLIC: SELECT (not declared)",
      "~ public.datasets: + column x text (not in migrations)",
    ];
    expect(withoutPendingRevokes(report, before, after)).toEqual(report.slice(1));
    expect(withoutPendingRevokes(report, after, after)).toEqual(report);
  });
});

describe("every kind besides tables (one line per object, in a person's words)", () => {
  const base = (): SchemaSnapshot => ({
    ...emptySnapshot(),
    types: { "public.mood": { kind: "enum", labels: ["sad", "ok", "happy"] } },
    functions: {
      "public.f(x integer)": { kind: "function", returns: "integer", language: "sql", volatility: "stable", securityDefiner: false, strict: false, config: [], body: "SELECT x" },
    },
    sequences: { "public.s": { type: "bigint", start: "1", increment: "1", min: "1", max: "9223372036854775807", cycle: false, ownedBy: null } },
    defaultPrivileges: { "for role o in schema public on tables": { app: "SELECT" } },
  });

  it("names label changes by their SQL spelling, and a new order as the whole list", () => {
    const added = base();
    added.types["public.mood"]!.labels = ["sad", "ok", "happy", "it's fine"];
    expect(diffSchemas(base(), added)).toEqual(["~ enum public.mood: + label 'it''s fine' (not in migrations)"]);
    const reordered = base();
    reordered.types["public.mood"]!.labels = ["ok", "sad", "happy"];
    expect(diffSchemas(base(), reordered)).toEqual(["~ enum public.mood: labels sad, ok, happy → ok, sad, happy"]);
  });

  it("puts every part of one changed object on its one line; a removed or added object is one line whatever its parts", () => {
    const changed = base();
    changed.functions["public.f(x integer)"] = { ...changed.functions["public.f(x integer)"]!, volatility: "volatile", body: "SELECT x + 1", config: ["search_path=public"] };
    expect(diffSchemas(base(), changed)).toEqual(["~ function public.f(x integer): volatility stable → volatile, set none → search_path=public, body changed"]);
    const gone = base();
    delete gone.sequences["public.s"];
    gone.views["public.v"] = { materialized: true, definition: " SELECT 1;", indexes: { "public.v_idx": "CREATE INDEX v_idx ON public.v USING btree (x)" } };
    expect(diffSchemas(base(), gone)).toEqual(["- sequence public.s (missing)", "+ materialized view public.v (not in migrations)"]);
  });

  it("compares default privileges as grants (not for adoption's structure-only comparison)", () => {
    const more = base();
    more.defaultPrivileges["for role o in schema public on tables"] = { app: "INSERT, SELECT", PUBLIC: "SELECT" };
    expect(diffSchemas(base(), more)).toEqual([
      "~ default privileges for role o in schema public on tables: ~ grant app: SELECT → INSERT, SELECT",
      "~ default privileges for role o in schema public on tables: + grant PUBLIC: SELECT (not declared)",
    ]);
    expect(diffSchemas(base(), more, { structureOnly: true })).toEqual([]);
  });

  it("gives a removed or added table's triggers, policies and serial sequence no line of their own", () => {
    const withTable = base();
    withTable.tables["public.t"] = users();
    withTable.sequences["public.t_id_seq"] = { ...withTable.sequences["public.s"]!, ownedBy: "public.t.id" };
    withTable.triggers["touch on public.t"] = { definition: "CREATE TRIGGER touch …", enabled: "enabled" };
    withTable.policies["mine on public.t"] = { command: "all", permissive: true, roles: ["PUBLIC"], using: "true", withCheck: null };
    expect(diffSchemas(withTable, base())).toEqual(["- table public.t (missing)"]);
    expect(diffSchemas(base(), withTable)).toEqual(["+ table public.t (not in migrations)"]);
    // A change report lists what a new table comes with.
    expect(diffSchemas(base(), withTable, { labels: CHANGE_LABELS, tableParts: "list" })).toEqual([
      "+ sequence public.t_id_seq",
      "+ table public.t",
      "+ trigger touch on public.t",
      "+ policy mine on public.t",
    ]);
    // With the table still there, each is a line of its own.
    const kept = structuredClone(withTable);
    delete kept.triggers["touch on public.t"];
    delete kept.sequences["public.t_id_seq"];
    expect(diffSchemas(withTable, kept)).toEqual(["- sequence public.t_id_seq (missing)", "- trigger touch on public.t (missing)"]);
  });

  it("reads a snapshot cached before a kind existed as having none of it", () => {
    const old = { tables: {}, history: [] } as unknown as SchemaSnapshot;
    expect(diffSchemas(old, { ...emptySnapshot(), functions: base().functions })).toEqual(["+ function public.f(x integer) (not in migrations)"]);
  });

  it("leaves out what belongs to a known object: a known table's sequence, anything in a known schema", () => {
    const live = base();
    live.sequences["public.goose_db_version_id_seq"] = { ...live.sequences["public.s"]!, ownedBy: "public.goose_db_version.id" };
    live.functions["drizzle.helper()"] = live.functions["public.f(x integer)"]!;
    live.schemas["drizzle"] = { owner: "o" };
    expect(knownObject("sequence", "public.goose_db_version_id_seq", live.sequences["public.goose_db_version_id_seq"])).toBe("goose's history table's sequence");
    expect(knownObject("function", "drizzle.helper()")).toBe("in drizzle's schema");
    expect(knownObject("trigger", "t on drizzle.__drizzle_migrations")).toBe("in drizzle's schema");
    expect(diffSchemas(base(), live)).toEqual([]);
  });
});

describe("sameJson (the differ's equality)", () => {
  it("agrees with comparing JSON.stringify's text, key order and left-out undefined properties included", () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1, b: [1, "x", null] }, { a: 1, b: [1, "x", null] }],
      [{ a: 1, b: 2 }, { b: 2, a: 1 }],
      [{ a: 1, c: undefined }, { a: 1 }],
      [{ a: [1, 2] }, { a: [2, 1] }],
      [{ a: [] }, { a: {} }],
      [{ a: null }, { a: {} }],
      [{ a: "1" }, { a: 1 }],
      [{ a: { b: { c: true } } }, { a: { b: { c: false } } }],
      [[1, 2], [1, 2, 3]],
      // As many keys on each side, but an undefined one in a different place: JSON writes the same.
      [{ a: 1, x: undefined, b: 2 }, { a: 1, b: 2, y: undefined }],
      [{ a: undefined, b: 1 }, { a: undefined, b: 2 }],
      [{ x: undefined }, { y: undefined }],
    ];
    for (const [a, b] of cases) expect(sameJson(a, b)).toBe(JSON.stringify(a) === JSON.stringify(b));
    expect(cases.filter(([a, b]) => sameJson(a, b)).length).toBe(4);
  });
});
