/**
 * Connection failures against real servers: each error names host, port, database and user,
 * never the password, says what to check, and only connecting is retried, a bounded number of
 * times.
 */
import { describe, expect, it } from "vitest";
import { connect } from "../../infra/lifecycle/connection.js";
import { ConnectionError } from "../../infra/lifecycle/errors.js";
import { adminConnection } from "../support/db.js";
import { freePort } from "../support/postgres.js";

const admin = adminConnection();

/** The error `connect` throws for `c` (fails the test if it connects). */
async function failure(c: Parameters<typeof connect>[0], options?: Parameters<typeof connect>[1]): Promise<ConnectionError> {
  const err = await connect(c, options).then(
    (client) => {
      void client.end();
      return new Error("connected, but a failure was expected");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectionError);
  return err as ConnectionError;
}

describe("connecting", () => {
  it("an unreachable port: names the target, says what to check, and retries only a bounded number of times", async () => {
    const port = await freePort();
    const retries: string[] = [];
    const started = Date.now();
    const err = await failure({ ...admin, port, password: "not-the-password-xyz" }, { retryDelaysMs: [50, 50], onRetry: (m) => retries.push(m) });
    expect(err.message).toContain(`cannot connect to ${admin.user}@127.0.0.1:${port}/${admin.database}`);
    expect(err.message).toContain(`nothing accepts connections on 127.0.0.1:${port}`);
    expect(err.message).not.toContain("not-the-password-xyz");
    expect(retries).toHaveLength(2);
    expect(retries[1]).toContain("attempt 3 of 3");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a wrong password: no retry, the user named, the password never", async () => {
    const retries: string[] = [];
    const err = await failure({ ...admin, password: "wrong-password-123" }, { onRetry: (m) => retries.push(m) });
    expect(err.message).toContain(`password authentication failed for user "${admin.user}"`);
    expect(err.message).toContain("check the secret named by pgstack:server.adminPasswordSecret");
    expect(err.message).not.toContain("wrong-password-123");
    expect(err.message).not.toContain(admin.password ?? "-");
    expect(retries).toEqual([]);
  });

  it("a missing database: named, with what to do", async () => {
    const err = await failure({ ...admin, database: "no_such_db_here" });
    expect(err.message).toContain(`${admin.user}@${admin.host}:${admin.port}/no_such_db_here`);
    expect(err.message).toContain('the database "no_such_db_here" does not exist');
  });

  it("TLS required by the stack but not offered by the server: says which setting to change", async () => {
    const err = await failure({ ...admin, sslmode: "require" });
    expect(err.message).toMatch(/does not support SSL/i);
    expect(err.message).toContain("set pgstack:server.sslmode to disable for it, or enable ssl on the server");
  });
});

describe("query timeouts", () => {
  it("a connection's statement timeout stops a query of pgstack's own that would hang", async () => {
    const client = await connect({ ...admin, statementTimeoutMs: 200 });
    try {
      const started = Date.now();
      const err = (await client.query("SELECT pg_sleep(5)").catch((e: unknown) => e)) as { code?: string };
      expect(err.code).toBe("57014"); // query_canceled: statement timeout
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await client.end();
    }
  });
});
