/**
 * The reader's statements for every kind besides tables (schemas, extensions, collations, types,
 * sequences, views, functions, triggers, event triggers, policies, default privileges), and how
 * their rows become the snapshot's keyed maps. {@link readSchema} sends them in its one message.
 *
 * Objects an extension owns (`pg_depend.deptype = 'e'`) are the extension's, listed under it, not
 * as objects of their own. Every statement reads columns that PostgreSQL 14–18 all have; where the
 * catalogs differ (pg_collation's locale columns) the row is read whole and picked apart here.
 */
import type pg from "pg";
import type {
  CollationStructure,
  EventTriggerStructure,
  ExtensionStructure,
  FunctionStructure,
  PolicyStructure,
  SchemaSnapshot,
  SchemaStructure,
  SequenceStructure,
  TriggerStructure,
  TypeStructure,
  ViewStructure,
} from "./model.js";

/** `AND` not a member of an extension: `catalog` is the object's catalog, `oid` its oid column. */
export function notExtensionMember(catalog: string, oid: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
}

const qualifiedName = (nsp: string, name: string) => `quote_ident(${nsp}.nspname) || '.' || quote_ident(${name})`;
const grantsOf = (acl: string, owner: string) =>
  `(SELECT json_object_agg(g.grantee, g.privileges) FROM (
      SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS grantee,
             string_agg(x.privilege_type, ', ' ORDER BY x.privilege_type) AS privileges
        FROM aclexplode(${acl}) x WHERE x.grantee <> ${owner} GROUP BY x.grantee) g)`;

/** The statements, in the order {@link fillObjects} takes their results. */
export function objectQueries(schemaFilter: string): string[] {
  return [
    `SELECT quote_ident(n.nspname) AS key, pg_get_userbyid(n.nspowner) AS owner, obj_description(n.oid, 'pg_namespace') AS comment
       FROM pg_namespace n WHERE ${schemaFilter} AND ${notExtensionMember("pg_namespace", "n.oid")}`,
    `SELECT quote_ident(x.extname) AS key, x.extversion AS version, n.nspname AS schema
       FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE ${schemaFilter}`,
    `SELECT ${qualifiedName("n", "co.collname")} AS key, to_jsonb(co) AS row
       FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
      WHERE ${schemaFilter} AND ${notExtensionMember("pg_collation", "co.oid")}`,
    `SELECT ${qualifiedName("n", "t.typname")} AS key, t.typtype AS kind,
            CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT l.enumlabel::text FROM pg_enum l WHERE l.enumtypid = t.oid ORDER BY l.enumsortorder) END AS labels,
            CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
            NOT t.typnotnull AS nullable, pg_get_expr(t.typdefaultbin, 0) AS "default",
            CASE WHEN t.typtype = 'd' THEN (SELECT json_object_agg(quote_ident(dc.conname), pg_get_constraintdef(dc.oid) ORDER BY dc.conname)
                                              FROM pg_constraint dc WHERE dc.contypid = t.oid AND dc.contype <> 'n') END AS constraints,
            CASE WHEN t.typtype = 'c' THEN (SELECT json_object_agg(quote_ident(a.attname), format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                                              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS attributes,
            obj_description(t.oid, 'pg_type') AS comment
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE (t.typtype IN ('e', 'd') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class tc WHERE tc.oid = t.typrelid AND tc.relkind = 'c')))
        AND ${schemaFilter} AND ${notExtensionMember("pg_type", "t.oid")}`,
    // An identity column's sequence (deptype 'i') is part of the column, not an object of its own.
    `SELECT ${qualifiedName("n", "c.relname")} AS key, format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start,
            s.seqincrement::text AS increment, s.seqmin::text AS min, s.seqmax::text AS max, s.seqcycle AS cycle,
            (SELECT ${qualifiedName("tn", "tc.relname")} || '.' || quote_ident(a.attname)
               FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
               JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a' LIMIT 1) AS owned_by,
            obj_description(c.oid, 'pg_class') AS comment
       FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${schemaFilter} AND ${notExtensionMember("pg_class", "c.oid")}
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i')`,
    `SELECT c.oid::int8 AS oid, ${qualifiedName("n", "c.relname")} AS key, c.relkind = 'm' AS materialized, pg_get_viewdef(c.oid) AS definition,
            obj_description(c.oid, 'pg_class') AS comment
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${schemaFilter} AND ${notExtensionMember("pg_class", "c.oid")}`,
    // pg_get_function_sqlbody and prosqlbody exist from PostgreSQL 14 on, the oldest supported.
    `SELECT ${qualifiedName("n", "p.proname")} || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS key, p.prokind AS kind,
            CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END AS returns, l.lanname AS language, p.provolatile AS volatility,
            p.prosecdef AS security_definer, p.proisstrict AS strict, coalesce(p.proconfig, '{}') AS config,
            CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) ELSE p.prosrc END AS body,
            obj_description(p.oid, 'pg_proc') AS comment
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
      WHERE ${schemaFilter} AND ${notExtensionMember("pg_proc", "p.oid")}`,
    // Internal triggers (foreign keys') and the clones a partitioned table's trigger puts on its partitions are left out.
    `SELECT quote_ident(t.tgname) || ' on ' || ${qualifiedName("n", "c.relname")} AS key, pg_get_triggerdef(t.oid) AS definition, t.tgenabled AS enabled,
            obj_description(t.oid, 'pg_trigger') AS comment
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ${schemaFilter} AND ${notExtensionMember("pg_class", "c.oid")}`,
    // Event triggers belong to the database, not to a schema: the function they run says where they live.
    `SELECT quote_ident(et.evtname) AS key, et.evtevent AS event, ${qualifiedName("n", "p.proname")} AS function,
            ARRAY(SELECT x FROM unnest(coalesce(et.evttags, '{}')) x ORDER BY x) AS tags, et.evtenabled AS enabled
       FROM pg_event_trigger et JOIN pg_proc p ON p.oid = et.evtfoid JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${notExtensionMember("pg_event_trigger", "et.oid")}`,
    `SELECT quote_ident(pol.polname) || ' on ' || ${qualifiedName("n", "c.relname")} AS key, pol.polcmd AS command, pol.polpermissive AS permissive,
            ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END FROM unnest(pol.polroles) r ORDER BY 1) AS roles,
            pg_get_expr(pol.polqual, pol.polrelid) AS using, pg_get_expr(pol.polwithcheck, pol.polrelid) AS with_check
       FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${schemaFilter}`,
    `SELECT 'for role ' || quote_ident(pg_get_userbyid(d.defaclrole)) || CASE WHEN d.defaclnamespace = 0 THEN '' ELSE ' in schema ' || quote_ident(n.nspname) END
            || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types'
                                              WHEN 'n' THEN 'schemas' ELSE 'large objects' END AS key,
            ${grantsOf("d.defaclacl", "d.defaclrole")} AS grants
       FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
      WHERE d.defaclnamespace = 0 OR (${schemaFilter})`,
  ];
}

const VOLATILITY: Record<string, FunctionStructure["volatility"]> = { i: "immutable", s: "stable", v: "volatile" };
const FUNCTION_KIND: Record<string, FunctionStructure["kind"]> = { f: "function", p: "procedure", a: "aggregate", w: "window function" };
const TYPE_KIND: Record<string, TypeStructure["kind"]> = { e: "enum", d: "domain", c: "composite" };
const ENABLED: Record<string, string> = { O: "enabled", D: "disabled", R: "replica", A: "always" };
const COMMAND: Record<string, PolicyStructure["command"]> = { "*": "all", r: "select", a: "insert", w: "update", d: "delete" };
const PROVIDER: Record<string, string> = { c: "libc", i: "icu", d: "default", b: "builtin" };

type Row = Record<string, unknown>;
const text = (v: unknown) => (v === null || v === undefined ? "" : String(v));
/** Optional parts are set only when present, so equal objects have equal JSON. */
const withComment = <T extends object>(o: T, comment: unknown): T => (typeof comment === "string" ? { ...o, comment } : o);

/** Fills the snapshot's maps from the results of {@link objectQueries}, in that order. */
export function fillObjects(
  results: readonly pg.QueryResult[],
  views: Map<string, { key: string; view: ViewStructure }>,
): Omit<SchemaSnapshot, "tables" | "history" | "views"> {
  const [schemas, extensions, collations, types, sequences, viewRows, functions, triggers, eventTriggers, policies, defaults] = results.map((r) => r.rows as Row[]);
  const keyed = <T>(rows: Row[] | undefined, f: (r: Row) => T): Record<string, T> => sorted(Object.fromEntries((rows ?? []).map((r) => [text(r["key"]), f(r)])));
  for (const r of viewRows ?? []) {
    const view = withComment<ViewStructure>({ materialized: r["materialized"] === true, definition: text(r["definition"]) }, r["comment"]);
    views.set(text(r["oid"]), { key: text(r["key"]), view });
  }
  return {
    schemas: keyed(schemas, (r): SchemaStructure => withComment({ owner: text(r["owner"]) }, r["comment"])),
    extensions: keyed(extensions, (r): ExtensionStructure => ({ version: text(r["version"]), schema: text(r["schema"]) })),
    collations: keyed(collations, (r) => collation(r["row"] as Row)),
    types: keyed(types, (r): TypeStructure => {
      const kind = TYPE_KIND[text(r["kind"])] ?? "composite";
      const t: TypeStructure =
        kind === "enum"
          ? { kind, labels: r["labels"] as string[] }
          : kind === "domain"
            ? { kind, base: text(r["base"]), nullable: r["nullable"] === true, default: (r["default"] as string | null) ?? null, constraints: (r["constraints"] as Record<string, string> | null) ?? {} }
            : { kind, attributes: (r["attributes"] as Record<string, string> | null) ?? {} };
      return withComment(t, r["comment"]);
    }),
    sequences: keyed(sequences, (r): SequenceStructure =>
      withComment(
        { type: text(r["type"]), start: text(r["start"]), increment: text(r["increment"]), min: text(r["min"]), max: text(r["max"]), cycle: r["cycle"] === true, ownedBy: (r["owned_by"] as string | null) ?? null },
        r["comment"],
      ),
    ),
    functions: keyed(functions, (r): FunctionStructure =>
      withComment(
        {
          kind: FUNCTION_KIND[text(r["kind"])] ?? "function",
          returns: (r["returns"] as string | null) ?? null,
          language: text(r["language"]),
          volatility: VOLATILITY[text(r["volatility"])] ?? "volatile",
          securityDefiner: r["security_definer"] === true,
          strict: r["strict"] === true,
          config: [...(r["config"] as string[])].sort(),
          body: text(r["body"]),
        },
        r["comment"],
      ),
    ),
    triggers: keyed(triggers, (r): TriggerStructure => withComment({ definition: text(r["definition"]), enabled: ENABLED[text(r["enabled"])] ?? text(r["enabled"]) }, r["comment"])),
    eventTriggers: keyed(eventTriggers, (r): EventTriggerStructure => ({
      event: text(r["event"]),
      function: text(r["function"]),
      tags: r["tags"] as string[],
      enabled: ENABLED[text(r["enabled"])] ?? text(r["enabled"]),
    })),
    policies: keyed(policies, (r): PolicyStructure => ({
      command: COMMAND[text(r["command"])] ?? "all",
      permissive: r["permissive"] === true,
      roles: r["roles"] as string[],
      using: (r["using"] as string | null) ?? null,
      withCheck: (r["with_check"] as string | null) ?? null,
    })),
    // A default ACL whose grants were all revoked again says nothing: left out.
    defaultPrivileges: Object.fromEntries(
      Object.entries(keyed(defaults, (r) => sorted((r["grants"] as Record<string, string> | null) ?? {}))).filter(([, g]) => Object.keys(g).length > 0),
    ),
  };
}

/** pg_collation's locale columns differ by version (colliculocale 15–16, colllocale 17+, collicurules 16+): whichever are set. */
function collation(row: Row): CollationStructure {
  const parts = ["collcollate", "collctype", "colliculocale", "colllocale", "collicurules"].map((k) => row[k]).filter((v): v is string => typeof v === "string" && v !== "");
  return { provider: PROVIDER[text(row["collprovider"])] ?? text(row["collprovider"]), locale: [...new Set(parts)].join(", "), deterministic: row["collisdeterministic"] !== false };
}

/** Keys in code-unit order, so the same on every machine. */
export function sorted<T>(r: Record<string, T>): Record<string, T> {
  // Most records (a table's grants, indexes, constraints) have a key or two, or are in order
  // already: returned as they are, as a copy would be equal (they are built fresh by the reader).
  const keys = Object.keys(r);
  let inOrder = true;
  for (let i = 1; inOrder && i < keys.length; i++) inOrder = (keys[i - 1] as string) < (keys[i] as string);
  if (inOrder) return r;
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
