/**
 * Every kind of object outside drift, on the real server: the review's report lists each kind
 * the PR adds or changes (views, functions, triggers, policies, types…) and draws enum columns in
 * its ER diagram; adoption matches a database that holds every kind, and refuses one whose view
 * or function differs from every version.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig, safetyPolicyOf } from "../../infra/config.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { BaselineRefusedError, planBaseline } from "../../infra/lifecycle/baseline.js";
import { loadMigrations, type Migration } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { renderMarkdown } from "../../infra/review/markdown.js";
import { planDatabase } from "../../infra/review/plan.js";
import { computeVerdict } from "../../infra/review/verdict.js";
import { adminConnection, closeClients, connectTo, freshDatabase, query, superuserConnection } from "../support/db.js";
import { EVERY_KIND_FILES, EVERY_KIND_SCHEMAS } from "../support/every-kind.js";
import { tempDir } from "../support/temp.js";

beforeAll(loadSqlParser);
afterEach(closeClients);

/** A PR on top of the fixture: a view, a function, a trigger, a policy and a type changed. */
const PR_FILE = {
  "0003_pr.sql": `CREATE OR REPLACE VIEW active_accounts AS SELECT id, email, mood FROM accounts WHERE balance > 0;
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END
$$;
DROP TRIGGER accounts_touch ON accounts;
CREATE TRIGGER accounts_touch BEFORE INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
DROP POLICY own_rows ON accounts;
CREATE POLICY own_rows ON accounts FOR ALL TO PUBLIC USING (owner_name = current_user) WITH CHECK (owner_name = current_user);
ALTER TYPE mood ADD VALUE 'excited';
`,
};

async function folder(files: Record<string, string>): Promise<Migration[]> {
  const dir = tempDir("pgstack-kinds-review-");
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), sql);
  return loadMigrations(dir);
}

/** A database owned by its owner role, as the stack leaves it (public owned by the owner). */
async function ownedDatabase(prefix: string) {
  const db = await freshDatabase(prefix);
  const owner = `${db.database}_owner`;
  await query(db, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER DATABASE ${db.database} OWNER TO ${owner}; ALTER SCHEMA public OWNER TO ${owner}`);
  return { db, owner };
}

function stack(name: string, owner: string) {
  const parsed = parseStackConfig({ server: { host: "127.0.0.1" }, databases: [{ name, owner, roles: [{ name: owner }], schemas: [...EVERY_KIND_SCHEMAS], reset: { generation: 1, allowed: true } }] }, "test");
  return { db: parsed.databases[0]!, policy: safetyPolicyOf(parsed, parsed.databases[0]!) };
}

function markdownOf(p: Awaited<ReturnType<typeof planDatabase>>): string {
  const databases = [{ ...p, access: [] }];
  return renderMarkdown({ stack: "test", generatedAt: "now", changeSummary: {}, databases, verdict: computeVerdict(databases) });
}

describe("every kind of object, in the review and in adoption", () => {
  it("the review's Markdown lists every kind the PR creates, and draws the enum column", async () => {
    const { db, owner } = await ownedDatabase("kr");
    // The database the PR is for does not exist yet: everything is new.
    const name = `${db.database}_new`;
    const p = await planDatabase({ stack: "test", index: 0, ...stack(name, owner), admin: adminConnection(), migrations: await folder(EVERY_KIND_FILES) });
    expect(p.exists).toBe(false);
    const md = markdownOf(p);
    const expected = [
      "+ schema audit",
      "+ extension citext",
      "+ collation public.plain_c",
      "+ enum public.mood",
      "+ domain public.email",
      "+ type public.address",
      "+ sequence public.order_number_seq",
      "+ table public.accounts",
      "+ table public.events_2026",
      "+ view public.active_accounts",
      "+ materialized view public.account_moods",
      "+ function public.touch_updated_at()",
      "+ function public.account_count()",
      "+ procedure public.reset_balances()",
      "+ trigger accounts_touch on public.accounts",
      "+ policy own_rows on public.accounts",
    ];
    for (const line of expected) expect(p.schemaChanges).toContain(line);
    for (const line of expected) expect(md).toContain(`- \`${line}\``);
    expect(md).toContain("**Schema changes:** ");
    // The ER diagram: the enum column with its labels, next to the keys.
    const accounts = p.diagram!.tables.find((t) => t.id === "public.accounts")!;
    expect(accounts.columns).toContainEqual({ name: "mood", type: "public.mood", key: [], labels: ["sad", "ok", "happy"] });
    expect(p.diagram!.mermaid).toContain('mood mood "enum: sad, ok, happy"');
    expect(md).toContain('mood mood "enum: sad, ok, happy"');
  });

  it("the review lists a PR's view, function, trigger, policy and type changes, each in one line", async () => {
    const { db, owner } = await ownedDatabase("kc");
    const cl = await connectTo(db);
    const base = await folder(EVERY_KIND_FILES);
    expect((await applyMigrations(cl, base, { database: db.database, role: owner })).error).toBeUndefined();
    const p = await planDatabase({ stack: "test", index: 0, ...stack(db.database, owner), admin: adminConnection(), migrations: await folder({ ...EVERY_KIND_FILES, ...PR_FILE }) });
    expect(p.pending.map((m) => m.name)).toEqual(["0003_pr"]);
    expect(p.schemaChanges).toEqual([
      "~ enum public.mood: + label 'excited'",
      "~ view public.active_accounts: definition changed",
      "~ function public.touch_updated_at(): body changed",
      "~ trigger accounts_touch on public.accounts: definition changed",
      "~ policy own_rows on public.accounts: command select → all, with check added",
    ]);
    const md = markdownOf(p);
    for (const line of p.schemaChanges!) expect(md).toContain(`- \`${line}\``);
    // The rehearsal's own schema change names them too.
    const r = p.rehearsal!;
    // No client tools involved (a TEMPLATE copy, or a build plus COPY): the same on every major.
    expect("steps" in r && r.steps[0]!.schemaChange).toEqual(p.schemaChanges);
  });

  it("adoption matches a database that holds every kind, and refuses one whose function differs, naming it", async () => {
    const { db, owner } = await ownedDatabase("ka");
    // As a person (or another tool) made it: the same objects, as the superuser would run the files, no pgstack history.
    await query(db, `SET ROLE ${owner}; ${Object.values(EVERY_KIND_FILES).join("\n")}; RESET ROLE`);
    const cl = await connectTo(db);
    const migrations = await folder({ ...EVERY_KIND_FILES, ...PR_FILE });
    const options = { connection: db, schemas: [...EVERY_KIND_SCHEMAS], owner, configPath: "pgstack:databases[0].baseline" };
    const plan = await planBaseline(cl, migrations, db.database, options);
    expect(plan?.count).toBe(2);

    // A hand-edited function body: no version equals it, and the difference says which.
    await query({ ...superuserConnection(), database: db.database }, "CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$");
    const err = await planBaseline(cl, migrations, db.database, options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BaselineRefusedError);
    expect((err as BaselineRefusedError).differences).toContainEqual(expect.stringMatching(/^~ function public\.touch_updated_at\(\): body changed/));
  });
});
