/**
 * The one scratch database on a real server, as the non-superuser admin: always dropped (with its
 * throwaway role), on success, on failure and on SIGTERM; the leftover rule (the creator's session
 * is gone); migrations confined to the owner; server-wide objects they create removed; what
 * cannot be undone refused at file:line before anything runs.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, buildDeclaredSchema, connect, loadSqlParser, sha256, withScratchDatabase, ScratchRefusedError, SCRATCH_PREFIX, type Migration } from "../../infra/lifecycle/index.js";
import { readCreator, scratchName } from "../../infra/lifecycle/scratch-names.js";
import { adminConnection, closeClients, query, serverMajor, superuserConnection } from "../support/db.js";
import { fltrDatabase } from "../support/fixtures.js";
import { serverWide } from "../support/server-wide.js";
import { until } from "../support/until.js";

afterEach(closeClients);
beforeAll(loadSqlParser);

const m = (id: number, slug: string, sql: string): Migration => {
  const name = `${String(id).padStart(4, "0")}_${slug}`;
  return { id, name, file: `migrations/x/${name}.sql`, checksum: sha256(sql), sql, inTransaction: true };
};
/** This run's scratch objects (databases and roles) still on the server. */
const scratchObjects = async (names: readonly string[]) =>
  (await query<{ n: string }>(adminConnection(), "SELECT datname AS n FROM pg_database WHERE datname = ANY($1) UNION ALL SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", [names])).map((r) => r.n);
describe("the scratch database", () => {
  it("is dropped with its throwaway role on success and on failure; the owner session holds only the owner's privileges", async () => {
    const f = await fltrDatabase("scr");
    const seen: string[] = [];
    const result = await withScratchDatabase(adminConnection(), { purpose: "declared", owner: f.owner }, async (scratch) => {
      const session = await scratch.ownerSession();
      const who = (await session.query<{ s: string; c: string }>("RESET ROLE; SELECT session_user AS s, current_user AS c")) as unknown as { rows: { s: string; c: string }[] }[];
      const row = who[1]!.rows[0]!;
      seen.push(scratch.name, row.s);
      // No process on this machine has the role's name (or a password) on its command line.
      for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        const cmd = (() => {
          try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
          } catch {
            return "";
          }
        })();
        // Postgres' own backends show the user name in their title (never a password); no other process names it.
        if (!cmd.startsWith("postgres: ")) expect(cmd).not.toContain(row.s);
        expect(cmd).not.toContain("SCRAM-SHA-256");
      }
      // Its password reached the server only as a SCRAM verifier.
      const stored = await query<{ p: string }>(superuserConnection(), "SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1", [row.s]);
      expect(stored[0]!.p).toMatch(/^SCRAM-SHA-256\$4096:/);
      const attrs = await query(adminConnection(), "SELECT rolcreaterole, rolcreatedb, rolsuper FROM pg_roles WHERE rolname = $1", [row.s]);
      expect(attrs).toEqual([{ rolcreaterole: false, rolcreatedb: false, rolsuper: false }]);
      const memberOf = await query<{ r: string }>(adminConnection(), "SELECT roleid::regrole::text AS r FROM pg_auth_members WHERE member = $1::regrole", [row.s]);
      expect(memberOf.map((x) => x.r)).toEqual([f.owner]);
      await expect(session.query("CREATE ROLE scratch_should_not_exist")).rejects.toThrow(/permission denied to create role/);
      return row.s.startsWith(SCRATCH_PREFIX);
    });
    expect(result).toBe(true);
    expect(await scratchObjects(seen)).toEqual([]);

    const failing: string[] = [];
    const err = await withScratchDatabase(adminConnection(), { purpose: "review", owner: f.owner }, async (scratch) => {
      failing.push(scratch.name, (await (await scratch.ownerSession()).query<{ u: string }>("SELECT session_user AS u")).rows[0]!.u);
      throw new Error("boom");
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe("boom");
    expect(failing[0]).toMatch(new RegExp(`^${SCRATCH_PREFIX}\\d+_[0-9a-z]+_review_[0-9a-f]{8}$`));
    expect(await scratchObjects(failing)).toEqual([]);
  });

  it("drops a leftover whose creator session is gone, and keeps one whose creator still runs", async () => {
    const f = await fltrDatabase("scr");
    const alive = await connect(adminConnection());
    const dead = await connect(adminConnection());
    const kept = scratchName(await readCreator(alive), "rehearsal");
    const leftover = scratchName(await readCreator(dead), "review");
    const leftoverRole = scratchName(await readCreator(dead), "run");
    await alive.query(`CREATE DATABASE ${kept}`);
    await dead.query(`CREATE DATABASE ${leftover}`);
    await dead.query(`CREATE ROLE ${leftoverRole} LOGIN IN ROLE ${f.owner}`);
    await dead.end();
    try {
      const logs: string[] = [];
      // The server may take a moment to notice the closed session.
      await until(
        async () => {
          await withScratchDatabase(adminConnection(), { purpose: "declared", owner: f.owner, logger: { info: (x) => logs.push(x), warn: (x) => logs.push(x) } }, async () => undefined);
          return (await scratchObjects([leftover, leftoverRole])).length === 0;
        },
        15_000,
        "a scratch run to drop the leftovers of the killed session",
        100,
      );
      expect(await scratchObjects([leftover, leftoverRole, kept])).toEqual([kept]);
      expect(logs).toContain(`scratch: dropped the database ${leftover}, left over from a run that ended without cleaning up`);
      expect(logs).toContain(`scratch: dropped the role ${leftoverRole}, left over from a run that ended without cleaning up`);
    } finally {
      await alive.query(`DROP DATABASE ${kept}`);
      await alive.end();
    }
  });

  it("on SIGTERM in a child process: the database and the role are dropped, then the signal ends the process", async () => {
    const f = await fltrDatabase("scr");
    const child = spawn(process.execPath, ["--import", "tsx", path.resolve(__dirname, "../support/scratch-child.ts"), f.owner], {
      env: { ...process.env, PGSTACK_CHILD_CONNECTION: JSON.stringify(adminConnection()) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let names: string[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), 40_000);
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const ready = /ready (\S+) (\S+)/.exec(out);
      if (ready && names.length === 0) {
        names = [ready[1]!, ready[2]!];
        setTimeout(() => child.kill("SIGTERM"), 300);
      }
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    clearTimeout(timer);
    expect(out).toContain("SIGTERM: stopping the declared run and dropping its scratch database");
    expect(signal).toBe("SIGTERM");
    expect(names).toHaveLength(2);
    expect(await scratchObjects(names)).toEqual([]);
  });
});

describe("an admin that is not (yet) a member of the owner", () => {
  it("still builds as the owner (an adoption's first preview), and is no member afterwards", async () => {
    const f = await fltrDatabase("scr");
    const stranger = `${f.db.database}_stranger`;
    await query(adminConnection(), `CREATE ROLE ${stranger} NOLOGIN`);
    // The admin's memberships in it, and whether it holds its privileges. On 16+ the server itself
    // made the creating admin a member WITH ADMIN OPTION only (createrole_self_grant unset): that
    // grant is no membership pgstack made, holds no privileges, and must stay as it was.
    const membership = async () =>
      query<{ admin: boolean; privileges: boolean; rows: string }>(
        adminConnection(),
        `SELECT pg_has_role(current_user, $1, 'MEMBER WITH ADMIN OPTION') AS admin, pg_has_role(current_user, $1, 'USAGE') AS privileges,
                (SELECT coalesce(string_agg(to_jsonb(m)::text, ',' ORDER BY to_jsonb(m)::text), '') FROM pg_auth_members m WHERE m.roleid = $1::regrole AND m.member = current_user::regrole) AS rows`,
        [stranger],
      );
    const before = await membership();
    expect(before).toEqual([{ admin: serverMajor() >= 16, privileges: false, rows: expect.any(String) }]);
    const snapshot = await buildDeclaredSchema(adminConnection(), [m(1, "t", "CREATE TABLE t (id int PRIMARY KEY);\n")], { role: stranger, cacheDir: false });
    expect(snapshot.tables["public.t"]?.owner).toBe(stranger);
    expect(await membership()).toEqual(before);
  });
});

describe("server-wide objects", () => {
  it("roles, memberships and databases the migrations create are removed; the catalogs are as before", async () => {
    const f = await fltrDatabase("scr");
    await query(adminConnection(), `ALTER ROLE ${f.owner} CREATEROLE CREATEDB`);
    const reader = `${f.db.database}_reader`;
    const extra = `${f.db.database}_extra`;
    const migrations = [
      m(1, "reader", `CREATE ROLE ${reader} NOLOGIN;\nGRANT ${reader} TO ${f.app};\nCREATE TABLE t (id int);\nGRANT SELECT ON t TO ${reader};\n`),
      { ...m(2, "extra_db", `CREATE DATABASE ${extra};\n`), inTransaction: false },
    ];
    const before = await serverWide(f.db.database);
    const seen = await withScratchDatabase(adminConnection(), { purpose: "declared", owner: f.owner, migrations }, async (scratch) => {
      const res = await applyMigrations(await scratch.ownerSession(), migrations, { database: scratch.name, role: f.owner });
      expect(res.error).toBeUndefined();
      const during = await serverWide(f.db.database);
      return [during.roles.some((r) => r["rolname"] === reader), during.databases.some((d) => d["datname"] === extra), during.members.some((x) => x["r"] === reader)];
    });
    expect(seen).toEqual([true, true, true]); // they existed during the run
    expect(await serverWide(f.db.database)).toEqual(before);
  });

  it("what it cannot undo is refused at file:line before anything runs", async () => {
    const f = await fltrDatabase("scr");
    const migrations = [m(1, "ok", "CREATE TABLE a (id int);\n"), m(2, "alter_owner", `CREATE TABLE b (id int);\n\nALTER ROLE ${f.owner} CREATEDB;\n`)];
    const before = await serverWide(f.db.database);
    let ran = false;
    const err = await withScratchDatabase(adminConnection(), { purpose: "declared", owner: f.owner, migrations }, async () => {
      ran = true;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScratchRefusedError);
    expect((err as Error).message).toContain(`migrations/x/0002_alter_owner.sql:3:1: alters the role "${f.owner}", which existed before`);
    expect(ran).toBe(false);
    expect(await serverWide(f.db.database)).toEqual(before);
  });

  it("another run's scratch database changing meanwhile (its drop begins) is not this run's doing; any other database changing still is", async () => {
    const f = await fltrDatabase("scr");
    const migrations = [m(1, "t", "CREATE TABLE t (id int);\n")];
    // A scratch database of another pgstack run on the same server (four databases verified at
    // once), whose creator session is alive: not a leftover.
    const creator = await connect(adminConnection());
    const other = scratchName(await readCreator(creator), "declared");
    const plain = `${f.db.database}_plain`;
    await creator.query(`CREATE DATABASE ${other}`);
    await query(adminConnection(), `CREATE DATABASE ${plain}`);
    try {
      // The other run closes its database to new connections while this one runs, as its drop does.
      const run = (name: string) =>
        withScratchDatabase(adminConnection(), { purpose: "declared", owner: f.owner, migrations }, async () => {
          await query(adminConnection(), `ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        });
      await expect(run(other)).resolves.toBeUndefined();
      // The check still catches a change to anything else (dynamic SQL the parse cannot see).
      await expect(run(plain)).rejects.toThrow(`database "${plain}" (changed)`);
    } finally {
      await creator.query(`DROP DATABASE IF EXISTS ${other}`);
      await creator.end();
      await query(adminConnection(), `DROP DATABASE IF EXISTS ${plain}`);
    }
  });
});
