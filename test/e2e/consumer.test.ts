/**
 * pgstack as a library, through the plain Pulumi CLI: a program of its own (test/consumer/), in a
 * folder outside the project, installs the packed tarball (`npm pack`, as a registry would ship
 * it), creates a PostgreSQL server with `@pulumi/command` (its port an output) and declares two
 * databases with roles, grants and migrations on it. The preview before the server exists shows
 * the plan without connecting; `up`, a no-op preview, refresh, a new migration, and, after the
 * folder is moved, refresh and a no-op preview again, then destroy.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { projectRoot } from "../../scripts/pulumi-env.js";
import { cliProject, resourceSummary, setSecret, stackOutputs, type CliProject } from "../support/cli.js";
import { query } from "../support/db.js";
import { freePort } from "../support/postgres.js";

const FIXTURE = path.join(projectRoot, "test", "consumer");
const made: string[] = [];
let dataRoot = "";

afterAll(() => {
  // A failed run may leave the program's server up: stop it (destroy does, when it runs).
  if (dataRoot && fs.existsSync(path.join(dataRoot, "data"))) {
    const as = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
    const [cmd, ...args] = [...as, "/usr/lib/postgresql/15/bin/pg_ctl", "-D", path.join(dataRoot, "data"), "-m", "immediate", "stop"];
    try {
      execFileSync(cmd!, args, { stdio: "ignore" });
    } catch {
      // already stopped
    }
  }
  for (const d of [...made, dataRoot].filter(Boolean)) fs.rmSync(d, { recursive: true, force: true });
});

/** The @pulumi/* versions the project pins: the consumer installs the same ones. */
function pinned(name: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
  return `${name}@${pkg.devDependencies[name]}`;
}

/** `npm pack` of the project (its `prepack` builds dist/), into a temporary folder; returns the tarball. */
function packProject(): string {
  const into = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-pack-"));
  made.push(into);
  execFileSync("npm", ["pack", "--pack-destination", into, "--silent"], { cwd: projectRoot, stdio: ["ignore", "pipe", "inherit"] });
  const [tarball] = fs.readdirSync(into).filter((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack wrote no tarball into ${into}`);
  return path.join(into, tarball);
}

/** The consumer program in a new folder outside the project, with the tarball and the pinned Pulumi packages installed. */
function consumerFolder(tarball: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-consumer-"));
  made.push(dir);
  fs.cpSync(FIXTURE, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "shop-infra", private: true, main: "index.js" }, null, 2));
  // --ignore-scripts: @pulumi/command's install script would download its plugin (the toolchain has it).
  execFileSync(
    "npm",
    ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--silent", tarball, pinned("@pulumi/pulumi"), pinned("@pulumi/command"), pinned("@pulumi/postgresql")],
    { cwd: dir, stdio: ["ignore", "pipe", "inherit"] },
  );
  fs.mkdirSync(path.join(dir, ".pgstack", "state"), { recursive: true });
  fs.writeFileSync(path.join(dir, ".pgstack", "passphrase"), "consumer-passphrase", { mode: 0o600 });
  return dir;
}

const secrets = { admin: "Adm1n-consumer-pw", app: "Sh0p-app-consumer-pw" };
const at = (port: number, database: string, user = "pgstack_admin", password = secrets.admin) => ({ host: "127.0.0.1", port, user, password, database });

describe("a Pulumi program of its own that uses the pgstack package", () => {
  it("creates its server and two databases in one up; no-op preview, refresh, a new migration; moved: refresh and preview; destroy", async () => {
    const started = Date.now();
    const tarball = packProject();
    const dir = consumerFolder(tarball);
    expect(fs.existsSync(path.join(dir, "node_modules", "pgstack", "dist", "infra", "library.d.ts"))).toBe(true);
    // What the package ships: compiled JavaScript and declarations, no TypeScript source, no tests.
    expect(fs.existsSync(path.join(dir, "node_modules", "pgstack", "infra"))).toBe(false);
    expect(fs.existsSync(path.join(dir, "node_modules", "pgstack", "test"))).toBe(false);
    // The program type-checks against the package's declarations (index.js is `// @ts-check`).
    execFileSync(
      process.execPath,
      [path.join(projectRoot, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "--allowJs", "--checkJs", "--strict", "--module", "nodenext", "--target", "es2022", "--skipLibCheck", "--typeRoots", path.join(projectRoot, "node_modules", "@types"), "--types", "node", "index.js"],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    const setupSeconds = (Date.now() - started) / 1000;

    const port = await freePort();
    dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-consumer-pg-"));
    fs.rmSync(dataRoot, { recursive: true }); // the program's server makes it (and gives it to the postgres user)
    let p: CliProject = cliProject(dir);
    p.ok(["stack", "init", "dev"]);
    p.ok(["config", "set", "--stack", "dev", "shop:dataRoot", dataRoot]);
    p.ok(["config", "set", "--stack", "dev", "shop:port", String(port)]);
    setSecret(p, "dev", "shop:adminPassword", secrets.admin);
    setSecret(p, "dev", "shop:shopAppPassword", secrets.app);

    // The server does not exist yet: its port is unknown, and the preview shows the whole plan
    // without connecting anywhere.
    const preview = p.ok(["preview", "--stack", "dev"]);
    expect(preview.output).toMatch(/\+\s+pgstack:index:PostgresDatabase\s+shop\s+create/);
    expect(preview.output).toMatch(/\+\s+pgstack:index:PostgresDatabase\s+billing\s+create/);
    expect(preview.output).toMatch(/\+\s+\S*MigrationSet\s+shop-migrations\s+create/);
    expect(preview.output).not.toMatch(/ECONNREFUSED|could not connect|error:/i);
    expect(fs.existsSync(dataRoot)).toBe(false);

    const up = p.ok(["up", "--stack", "dev", "--yes"]);
    console.log(`consumer up output (trimmed):\n${trimmedUp(up.output)}`);
    const created = resourceSummary(up.stdout)["created"] ?? 0;
    expect(created).toBeGreaterThan(30);
    expect(await query(at(port, "shop"), "SELECT name FROM pgstack.migrations ORDER BY id")).toEqual([{ name: "0001_customers" }, { name: "0002_orders" }]);
    expect(await query(at(port, "billing"), "SELECT name FROM pgstack.migrations ORDER BY id")).toEqual([{ name: "0001_invoices" }]);
    // The roles and grants: the app writes with the password the program gave it; the reader only reads.
    await query(at(port, "shop", "shop_app", secrets.app), "INSERT INTO customers (email) VALUES ('a@example.com')");
    await expect(query(at(port, "shop", "shop_app", secrets.app), "SELECT count(*)::int AS n FROM orders")).resolves.toEqual([{ n: 0 }]);
    const readerGrants = await query<{ privilege_type: string }>(
      at(port, "shop"),
      "SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = 'shop_reader' AND table_name = 'customers'",
    );
    expect(readerGrants.map((g) => g.privilege_type)).toEqual(["SELECT"]);
    const owner = await query(at(port, "postgres"), "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname IN ('shop', 'billing') ORDER BY 1");
    expect(owner).toEqual([{ datname: "billing", owner: "billing_owner" }, { datname: "shop", owner: "shop_owner" }]);
    const outputs = stackOutputs(p, "dev") as unknown as Record<string, unknown>;
    expect(outputs["port"]).toBe(port);
    expect(outputs["shopHead"]).toBe("0002_orders");
    expect(outputs["shopTables"]).toEqual({ public: ["customers", "orders"] });

    expect(resourceSummary(p.ok(["preview", "--stack", "dev", "--expect-no-changes"]).stdout)).toEqual({ unchanged: created });
    p.ok(["refresh", "--stack", "dev", "--yes"]);

    fs.writeFileSync(path.join(dir, "migrations", "shop", "0003_order_notes.sql"), "ALTER TABLE orders ADD COLUMN note text;\n");
    p.ok(["up", "--stack", "dev", "--yes"]);
    expect(await query(at(port, "shop"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 3 }]);
    expect(await query(at(port, "shop"), "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'")).toEqual([{ column_name: "note" }]);
    expect((stackOutputs(p, "dev") as unknown as Record<string, unknown>)["shopHead"]).toBe("0003_order_notes");

    // Moved: the providers stored in the state find their code in the installed package, from the new folder.
    const moved = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-consumer-moved-")), "shop infra");
    made.push(path.dirname(moved));
    fs.renameSync(dir, moved);
    p = cliProject(moved);
    const refresh = p.ok(["refresh", "--stack", "dev", "--yes"]);
    expect(refresh.output).not.toContain(dir);
    expect(resourceSummary(p.ok(["preview", "--stack", "dev", "--expect-no-changes"]).stdout)["unchanged"]).toBe(created);

    p.ok(["destroy", "--stack", "dev", "--yes"]);
    expect(fs.existsSync(dataRoot)).toBe(false);
    await expect(query(at(port, "postgres"), "SELECT 1")).rejects.toThrow();
    console.log(`consumer e2e: ${((Date.now() - started) / 1000).toFixed(0)} s wall (pack, install and typecheck ${setupSeconds.toFixed(0)} s)`);
  });
});

/** What `up` did, as a person reads it: each resource created, the outputs and the summary (no progress lines, no safety reports). */
function trimmedUp(output: string): string {
  const applied = output.slice(output.indexOf("Updating ("));
  return applied
    .split("\n")
    .filter((l) => / created \(|^Outputs:|^ {4,}\S|^Resources:|^Duration:/.test(l) && !l.includes("[pgstack]"))
    .join("\n");
}
