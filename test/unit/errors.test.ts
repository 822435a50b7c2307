/**
 * The one error channel: every error a user can see is a PgstackError with a code, where it
 * happened and what to do; the providers' boundary converts anything else, and the engine gets
 * the message alone (no stack trace, and check failures name no property).
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../infra/config.js";
import { BUG_REPORT_HINT, inContext, PgstackError, toPgstackError, VerificationError } from "../../infra/lifecycle/errors.js";
import { acceptsDataLoss, resetVerdict } from "../../infra/lifecycle/reset-policy.js";
import { defineProvider, type Provider } from "../../infra/providers/common.js";

/** A pg server error as `pg` raises it. */
function serverError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code, severity: "ERROR" });
}

describe("toPgstackError", () => {
  it("passes a PgstackError through, code and hint intact", () => {
    const original = new VerificationError("app", ["public.users is missing"]);
    const converted = toPgstackError(original, "SchemaVerification.create");
    expect(converted).toBe(original);
    expect([converted.code, converted.hint]).toEqual(["VERIFICATION_FAILED", "add a migration that creates what is missing, or correct the expectations in the stack config"]);
  });

  it("turns an unexpected Error into an internal-error PgstackError: where, the message and 'report a bug', without a stack", () => {
    const converted = toPgstackError(new TypeError("Cannot read properties of undefined (reading 'x')"), 'MigrationSet.create on database "app"');
    expect(converted).toBeInstanceOf(PgstackError);
    expect(converted.code).toBe("INTERNAL");
    expect(converted.message).toBe(`internal error in MigrationSet.create on database "app": Cannot read properties of undefined (reading 'x')\n  → ${BUG_REPORT_HINT}`);
    expect(converted.message).not.toMatch(/\n\s+at /);
  });

  it("turns a thrown non-Error into an internal error too", () => {
    expect(toPgstackError("boom", "x").message).toBe(`internal error in x: boom\n  → ${BUG_REPORT_HINT}`);
  });

  it("turns a server error on pgstack's own query into DATABASE_ERROR with its SQLSTATE; a permission error says what to grant", () => {
    const denied = toPgstackError(serverError("permission denied for table schema_migrations", "42501"), 'MigrationSet.check on database "app"');
    expect(denied.code).toBe("DATABASE_ERROR");
    expect(denied.detail).toBe('MigrationSet.check on database "app": the server refused pgstack\'s query: permission denied for table schema_migrations (SQLSTATE 42501)');
    expect(denied.hint).toContain("grant the admin role");
    expect(toPgstackError(serverError("canceling statement due to statement timeout", "57014"), "x").hint).toContain("report it as a pgstack bug");
  });

  it("inContext prefixes the detail and keeps code and hint", () => {
    const cause = new PgstackError("CONNECTION_FAILED", "cannot connect to a@h:5432/app: password authentication failed", { hint: "check the secret" });
    const e = inContext('database "app": the safety check could not run', cause);
    expect([e.code, e.message]).toEqual(["CONNECTION_FAILED", 'database "app": the safety check could not run: cannot connect to a@h:5432/app: password authentication failed\n  → check the secret']);
  });

  it("a config error is a PgstackError with a code and the fix", () => {
    const e = new ConfigError("prod", ["pgstack:databases[0].name: required"]);
    expect(e).toBeInstanceOf(PgstackError);
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.message).toBe('stack "prod": the config has 1 problem(s):\n  - pgstack:databases[0].name: required\n  → fix them in Pulumi.prod.yaml (or with `pulumi config set --path`) and run again');
  });
});

describe("defineProvider: the providers' one error boundary", () => {
  type In = { connection: { database: string }; n: number };
  const failing = (err: unknown): Provider<In, In, In> => {
    const fail = async (): Promise<never> => {
      throw err;
    };
    return { check: fail, diff: fail, create: fail, read: fail, update: fail, delete: fail };
  };
  const inputs: In = { connection: { database: "app" }, n: 1 };

  it("check: a throw becomes a failure without a property name, carrying the PgstackError's message", async () => {
    const p = defineProvider("Thing", failing(new PgstackError("X_REFUSED", "refused: reasons", { hint: "do this" })));
    expect(await p.check(undefined, inputs)).toEqual({ inputs, failures: [{ property: "", reason: "refused: reasons\n  → do this" }] });
  });

  it("check: an unexpected error becomes an internal error naming the provider, method and database", async () => {
    const p = defineProvider("Thing", failing(new RangeError("bad length")));
    const { failures } = await p.check(undefined, inputs);
    expect(failures).toEqual([{ property: "", reason: `internal error in Thing.check on database "app": bad length\n  → ${BUG_REPORT_HINT}` }]);
  });

  it("the other methods throw an error whose message is the PgstackError's, and whose host log line is no stack trace", async () => {
    const p = defineProvider("Thing", failing(new Error("socket hang up")));
    for (const call of [() => p.create(inputs), () => p.update("id", inputs, inputs), () => p.diff("id", inputs, inputs), () => p.read("id", inputs), () => p.delete("id", inputs)]) {
      const err = (await call().catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/^internal error in Thing\.(create|update|diff|read|delete) on database "app": socket hang up\n {2}→ /);
      // Pulumi's provider host logs `${err}: ${err.stack}` for diff, read and delete.
      const hostLine = `${err}: ${err.stack}`;
      expect(hostLine).toMatch(/^\[pgstack\] Thing\.\w+ on database "app": internal error in Thing\.\w+ on database "app": socket hang up$/);
      expect(hostLine).not.toMatch(/\n\s+at /);
      // The PgstackError itself (callers match on its class and code); the original error is its cause.
      expect(err).toBeInstanceOf(PgstackError);
      expect([(err as PgstackError).code, (err.cause as Error).message]).toEqual(["INTERNAL", "socket hang up"]);
    }
  });

  it("passes results through untouched when nothing throws", async () => {
    const p = defineProvider<In, In, In>("Thing", { ...failing(new Error("unused")), create: async (i) => ({ id: "x", outs: i }) });
    expect(await p.create(inputs)).toEqual({ id: "x", outs: inputs });
  });
});

describe("reset rules (one place, used by the provider, the program and the review)", () => {
  it("every-deploy accepts data loss whatever the generation; otherwise only the exact accepted generation", () => {
    expect(acceptsDataLoss({ mode: "every-deploy", generation: 3 })).toBe(true);
    expect(acceptsDataLoss({ mode: "every-deploy", generation: 3, acceptDataLoss: 1 })).toBe(true);
    expect(acceptsDataLoss({ mode: "generation", generation: 3, acceptDataLoss: 3 })).toBe(true);
    expect(acceptsDataLoss({ mode: "generation", generation: 3, acceptDataLoss: 2 })).toBe(false);
    expect(acceptsDataLoss({ generation: 3 })).toBe(false);
  });

  it("the review's verdict on an every-deploy database holding rows is what up does: allowed (it used to say refused)", () => {
    const base = { stack: "preview", database: "app", configPath: "pgstack:databases[0].reset", recorded: 1, generation: 2, allowed: true, tables: [{ table: "public.t", rows: 5 }] };
    const everyDeploy = { ...base, mode: "every-deploy" as const };
    expect(resetVerdict({ ...everyDeploy, acceptDataLoss: acceptsDataLoss({ mode: "every-deploy", generation: 2 }) })).toEqual({
      guard: "allowed",
      reason: "pgstack:databases[0].reset.allowed is true and pgstack:databases[0].reset.mode is every-deploy: the database is throwaway, its data loss accepted; a pg_dump backup is taken first",
    });
    const generation = { ...base, mode: "generation" as const };
    expect(resetVerdict({ ...generation, acceptDataLoss: acceptsDataLoss({ mode: "generation", generation: 2 }) })).toEqual({
      guard: "refused",
      reason: "up refuses before dropping anything: public.t holds 5 row(s); take a backup, then set pgstack:databases[0].reset.acceptDataLoss: 2 to accept losing them",
    });
  });

  it("the guard refuses a generation change where resets are not allowed, before the rows are even looked at", () => {
    const v = resetVerdict({ stack: "prod", database: "app", configPath: "c", recorded: 1, generation: 2, allowed: false, acceptDataLoss: true, tables: [] });
    expect(v.guard).toBe("refused");
    expect(v.reason).toContain('stack "prod" does not allow resetting database "app" (generation 1 → 2)');
  });
});
