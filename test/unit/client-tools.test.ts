/** The backup's client tools against the server: pg_dump's version rule, the three-line refusal, and when a backup is due. */
import { describe, expect, it } from "vitest";
import { backupClientProblem, clientVersion, locatePgDump, pgDumpCanDump, type BackupClients } from "../../infra/lifecycle/client-tools.js";
import { majorOf } from "../../infra/lifecycle/connection.js";
import { backupDue, type GuardInputs } from "../../infra/providers/guard.js";

const server = (version: string, num: number) => ({ version, num, major: majorOf(num) });
const where = { server: "db:5432", configPath: "pgstack:databases[1]" };
const dump = (version: string, major: number): BackupClients => ({ pgDumpFile: "/opt/pg/bin/pg_dump", pgDump: { file: "/opt/pg/bin/pg_dump", version, major } });

describe("pg_dump's version rule", () => {
  it("dumps its own major and older, never a newer one", () => {
    expect(pgDumpCanDump(15, 150_014)).toBe(true);
    expect(pgDumpCanDump(15, 140_011)).toBe(true);
    expect(pgDumpCanDump(18, 140_011)).toBe(true);
    expect(pgDumpCanDump(15, 160_000)).toBe(false);
    expect(pgDumpCanDump(15, 180_004)).toBe(false);
    expect(pgDumpCanDump(17, 180_000)).toBe(false);
  });

  it("back to 9.2 from pg_dump 15 on, back to 8.0 before", () => {
    expect(pgDumpCanDump(15, 90_200)).toBe(true);
    expect(pgDumpCanDump(15, 90_124)).toBe(false);
    expect(pgDumpCanDump(14, 90_124)).toBe(true);
    expect(pgDumpCanDump(14, 80_000)).toBe(true);
    expect(pgDumpCanDump(14, 70_400)).toBe(false);
  });

  it("majors of server_version_num: one number from 10 on, 9.6 before", () => {
    expect([majorOf(180_004), majorOf(100_023), majorOf(90_624)]).toEqual([18, 10, 9.6]);
  });
});

describe("the refusal", () => {
  it("three lines: the server's version, the client's, the fix naming PGSTACK_PG_DUMP and the database's backup key", () => {
    expect(backupClientProblem(where, server("18.4", 180_004), dump("15.18", 15))).toEqual([
      "the server db:5432 runs PostgreSQL 18.4",
      "the backup's pg_dump 15.18 (/opt/pg/bin/pg_dump) dumps only PostgreSQL 15 and older, and refuses this server",
      "→ install the PostgreSQL 18 client tools and set PGSTACK_PG_DUMP to their pg_dump (pg_restore beside it), or set pgstack:databases[1].backup: false to take no backup",
    ]);
  });

  it("none when the client is as new as the server or newer", () => {
    expect(backupClientProblem(where, server("15.4", 150_004), dump("15.18", 15))).toBeUndefined();
    expect(backupClientProblem(where, server("14.11", 140_011), dump("15.18", 15))).toBeUndefined();
  });

  it("no pg_dump at all, one that does not run, or an older pg_restore beside it", () => {
    expect(backupClientProblem(where, server("15.4", 150_004), { pgDumpFile: "" })?.[1]).toMatch(/^no pg_dump was found/);
    expect(backupClientProblem(where, server("15.4", 150_004), { pgDumpFile: "/x/pg_dump" })?.[1]).toMatch(/^the backup's pg_dump \(\/x\/pg_dump\) does not run/);
    const old = { ...dump("17.2", 17), pgRestore: { file: "/opt/pg/bin/pg_restore", version: "15.18", major: 15 } };
    expect(backupClientProblem(where, server("17.0", 170_000), old)?.[1]).toBe("the pg_restore 15.18 beside the backup's pg_dump 17.2 (/opt/pg/bin/pg_restore) cannot read its dumps");
  });
});

describe("the pg_dump the backup runs (the same shell lines)", () => {
  it("PGSTACK_PG_DUMP wins; its version is read from the binary", async () => {
    expect(await locatePgDump({ ...process.env, PGSTACK_PG_DUMP: "/usr/lib/postgresql/15/bin/pg_dump" })).toBe("/usr/lib/postgresql/15/bin/pg_dump");
    expect((await clientVersion("/usr/lib/postgresql/15/bin/pg_dump"))?.major).toBe(15);
    expect(await clientVersion("/nonexistent/pg_dump")).toBeUndefined();
  });

  it("else the newest of Debian's versioned binaries", async () => {
    expect(await locatePgDump({ PATH: "/usr/bin:/bin" })).toMatch(/^\/usr\/lib\/postgresql\/\d+\/bin\/pg_dump$/);
  });
});

describe("when a backup is due", () => {
  const news = (backup: GuardInputs["backup"]): GuardInputs => ({ connection: { host: "h", port: 5432, user: "u", database: "postgres" }, stack: "s", objects: [], ...(backup ? { backup } : {}) });
  const b = (generation: number, enabled = true, everyDeploy = false) => ({ enabled, configPath: "pgstack:databases[0]", generation, everyDeploy });

  it("on the first run, on a new generation, when backups are turned on, and on every deploy", () => {
    expect(backupDue(undefined, news(b(1)))).toBe(true);
    expect(backupDue({}, news(b(1)))).toBe(true);
    expect(backupDue(news(b(1)), news(b(2)))).toBe(true);
    expect(backupDue(news(b(1, false)), news(b(1)))).toBe(true);
    expect(backupDue(news(b(1, true, true)), news(b(1, true, true)))).toBe(true);
  });

  it("not when nothing that takes a dump changed, with backups off, or for a state written before the check", () => {
    expect(backupDue(news(b(1)), news(b(1)))).toBe(false);
    expect(backupDue(undefined, news(b(1, false)))).toBe(false);
    expect(backupDue(news(undefined), news(b(1)))).toBe(false);
  });
});
