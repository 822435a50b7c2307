/**
 * The guard's check of the backup's pg_dump against a real server: on PostgreSQL 18 with the local
 * pg_dump 15 a backup that this run takes is refused in three lines, one that is not due is a
 * warning; with a client as new as the server (or newer) there is nothing to say.
 */
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { guard, type GuardInputs } from "../../infra/providers/guard.js";
import { adminConnection, serverMajor } from "../support/db.js";
import { captureProviderLogs } from "../support/logs.js";
import { DEBIAN_BIN } from "../support/postgres.js";
import { serverOfMajor, type MajorServer } from "../support/servers.js";

const logs = captureProviderLogs();
const PG_DUMP_15 = path.join(DEBIAN_BIN, "pg_dump");
const before = process.env["PGSTACK_PG_DUMP"];
afterEach(() => {
  if (before === undefined) delete process.env["PGSTACK_PG_DUMP"];
  else process.env["PGSTACK_PG_DUMP"] = before;
});

const inputs = (connection: ConnectionOptions, generation: number, enabled = true): GuardInputs => ({
  connection: { ...connection, database: "postgres" },
  stack: "clients",
  objects: [],
  backup: { enabled, configPath: "pgstack:databases[2]", generation, everyDeploy: false },
});

describe("the backup's pg_dump against PostgreSQL 18", () => {
  let server: MajorServer;
  beforeAll(async () => {
    server = await serverOfMajor(18);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("a backup this run takes (the first up, a new generation) is refused in three lines", async () => {
    process.env["PGSTACK_PG_DUMP"] = PG_DUMP_15;
    for (const olds of [undefined, inputs(server.admin, 1)]) {
      const { failures } = await guard.check(olds, inputs(server.admin, 2));
      expect(failures).toHaveLength(1);
      const lines = failures[0]!.reason.split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(new RegExp(`^the server ${server.admin.host}:${server.admin.port} runs PostgreSQL 18\\.\\d+$`));
      expect(lines[1]).toMatch(/^the backup's pg_dump 15\.\d+ \(\/usr\/lib\/postgresql\/15\/bin\/pg_dump\) dumps only PostgreSQL 15 and older, and refuses this server$/);
      expect(lines[2]).toContain("set PGSTACK_PG_DUMP to their pg_dump (pg_restore beside it), or set pgstack:databases[2].backup: false");
    }
  });

  it("no backup due (same generation): a warning, no failure; backups off: nothing", async () => {
    process.env["PGSTACK_PG_DUMP"] = PG_DUMP_15;
    expect((await guard.check(inputs(server.admin, 2), inputs(server.admin, 2))).failures).toEqual([]);
    expect(logs.filter((l) => l.startsWith("warn: pgstack:databases[2]: no backup is due now, but the next one (a reset) will be refused"))).toHaveLength(1);
    logs.length = 0;
    expect((await guard.check(undefined, inputs(server.admin, 1, false))).failures).toEqual([]);
    expect(logs).toEqual([]);
  });

  it("a pg_dump that is not there is refused too", async () => {
    process.env["PGSTACK_PG_DUMP"] = "/nonexistent/bin/pg_dump";
    const { failures } = await guard.check(undefined, inputs(server.admin, 1));
    expect(failures[0]?.reason.split("\n")[1]).toBe("the backup's pg_dump (/nonexistent/bin/pg_dump) does not run or does not say its version (`/nonexistent/bin/pg_dump --version`)");
  });
});

describe("the local pg_dump 15 against the suites' server", () => {
  it("is accepted exactly when the server is 15 or older", async () => {
    process.env["PGSTACK_PG_DUMP"] = PG_DUMP_15;
    const { failures } = await guard.check(undefined, inputs(adminConnection(), 1));
    expect(failures.length).toBe(serverMajor() <= 15 ? 0 : 1);
  });
});
