/**
 * Two stacks compared per database, the way the runbook diffs `pg_dump --schema-only` files, but
 * by object: the declared schemas (each stack's migrations applied to a shadow on its server)
 * and the live ones. Databases are paired by their migrations folder, so `fltr` in dev and
 * `fltr_p` in a prod-like stack are the same database.
 */
import * as path from "node:path";
import { migrationsDir, type DatabaseConfig } from "../../infra/config.js";
import {
  buildDeclaredSchema,
  diffSchemas,
  readSchema,
  loadMigrations,
  withClient,
  type Logger,
  type Migration,
  type SchemaSnapshot,
} from "../../infra/lifecycle/index.js";
import { describeAdoption, readDatabaseState, type DatabaseState } from "../../infra/lifecycle/state.js";
import { adoptionPlanner } from "../../infra/importers/adoption.js";
import { UsageError } from "../../infra/lifecycle/errors.js";
import { managedSchemas, type DiffStack } from "./stacks.js";

/** One database of both stacks. */
export interface DatabasePair {
  /** The migrations folder both use. */
  dir: string;
  a?: DatabaseConfig;
  b?: DatabaseConfig;
}

/** Pairs the stacks' databases by migrations folder; `only` keeps the pair whose database (on either side) has that name. */
export function pairDatabases(a: DiffStack, b: DiffStack, only?: string): DatabasePair[] {
  const pairs = new Map<string, DatabasePair>();
  for (const db of a.config.databases) pairs.set(migrationsDir(db), { dir: migrationsDir(db), a: db });
  for (const db of b.config.databases) {
    const dir = migrationsDir(db);
    pairs.set(dir, { ...(pairs.get(dir) ?? { dir }), b: db });
  }
  const all = [...pairs.values()];
  if (only === undefined) return all;
  const chosen = all.filter((p) => p.a?.name === only || p.b?.name === only);
  if (chosen.length === 0) {
    const names = [...new Set(all.flatMap((p) => [p.a?.name, p.b?.name]).filter((n): n is string => !!n))];
    throw new UsageError(`--db ${only}: neither stack "${a.name}" nor "${b.name}" has a database of that name (they have: ${names.join(", ")})`);
  }
  return chosen;
}

/** What one pair's comparison found. */
export interface PairResult {
  title: string;
  /** Lines to print, indented. */
  lines: string[];
  different: boolean;
}

/** Compares one pair: declared against declared, live against live. */
export async function comparePair(projectRoot: string, a: DiffStack, b: DiffStack, pair: DatabasePair, log: Logger): Promise<PairResult> {
  const title = `database ${pair.a?.name ?? pair.b?.name} (${a.name}: ${pair.a?.name ?? "—"}, ${b.name}: ${pair.b?.name ?? "—"}; ${pair.dir})`;
  if (!pair.a || !pair.b) {
    const missing = pair.a ? b.name : a.name;
    return { title, lines: [`only in stack "${pair.a ? a.name : b.name}": stack "${missing}" declares no database with ${pair.dir}`], different: true };
  }
  const root = projectRoot;
  const migrations = (await loadMigrations(path.join(root, pair.dir))).map((m): Migration => ({ ...m, file: path.relative(root, m.file) }));
  const cacheDir = path.join(root, ".pgstack", "cache", "declared");
  const labels = { onlyFirst: `only in ${a.name}`, onlySecond: `only in ${b.name}` };
  const side = async (s: DiffStack, db: DatabaseConfig): Promise<{ declared: SchemaSnapshot; live: SchemaSnapshot | undefined; state: DatabaseState | undefined }> => {
    const conn = s.connection(db.name);
    const index = s.config.databases.indexOf(db);
    const read = await withClient(conn, async (c) => ({
      live: await readSchema(c, { schemas: db.schemas }),
      // The migration state as `up` would see it (adoption planned, nothing recorded).
      state: await readDatabaseState(c, migrations, {
        generation: db.reset.generation,
        database: db.name,
        adoption: adoptionPlanner({ connection: conn, schemas: db.schemas, ...(db.baseline !== undefined ? { baseline: db.baseline } : {}), configPath: `pgstack:databases[${index}]`, migrations, logger: log }),
      }),
    })).catch((err: unknown) => {
      if ((err as { cause?: { code?: string } }).cause?.code === "3D000") return undefined; // not deployed
      throw err;
    });
    const live = read?.live;
    // The shadow is made from the server's `postgres` database when the live one does not exist yet.
    const declared = await buildDeclaredSchema(live ? conn : { ...conn, database: "postgres" }, migrations, { role: db.owner, schemas: managedSchemas(db), cacheDir, logger: log });
    return { declared, live, state: read?.state };
  };
  const [x, y] = [await side(a, pair.a), await side(b, pair.b)];
  const lines: string[] = [];
  const declared = diffSchemas(x.declared, y.declared, { labels });
  lines.push(declared.length ? `declared schemas: ${declared.length} difference(s)` : "declared schemas: equal", ...declared.map((l) => `  ${l}`));
  lines.push(`migrations: ${a.name} ${stateLine(x.state)}; ${b.name} ${stateLine(y.state)}`);
  let liveDiffers = false;
  if (!x.live || !y.live) {
    liveDiffers = x.live !== y.live;
    const gone = [!x.live ? `${a.name} (${pair.a.name})` : "", !y.live ? `${b.name} (${pair.b.name})` : ""].filter(Boolean);
    lines.push(`live schemas: the database does not exist in ${gone.join(" and ")}`);
  } else {
    const live = diffSchemas(x.live, y.live, { labels });
    liveDiffers = live.length > 0;
    lines.push(live.length ? `live schemas: ${live.length} difference(s)` : "live schemas: equal", ...live.map((l) => `  ${l}`));
  }
  return { title, lines, different: declared.length > 0 || liveDiffers };
}

/** `4 applied (head 0004_x), 1 pending`, with adoption, a reset or a history problem when there is one. */
function stateLine(state: DatabaseState | undefined): string {
  if (!state) return "not deployed";
  const head = state.applied.at(-1)?.name;
  const parts = [`${state.applied.length} applied${head ? ` (head ${head})` : ""}`, `${state.pending.length} pending`];
  if (state.afterReset) parts.push(`a reset (generation ${state.recordedGeneration} → new) runs first`);
  if (state.adoption) parts.push(describeAdoption(state.adoption));
  if (state.interrupted) parts.push(`interrupted: ${state.interrupted.migration}`);
  if (state.mismatches.length) parts.push(`${state.mismatches.length} history problem(s)`);
  return parts.join(", ");
}
