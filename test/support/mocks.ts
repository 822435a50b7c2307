/**
 * Runs the real Pulumi program under `pulumi.runtime.setMocks`, recording every registration as
 * the engine would receive it (dependencies, protect, deletedWith, secret outputs).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { tempDir } from "./temp.js";
import { rawStackConfig } from "./stack-config.js";
import { inventoryForState, type InventoryTable } from "../../infra/lifecycle/inventory.js";

/** One resource registration, as sent to the engine's monitor. */
export interface Registration {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, unknown>;
  protect: boolean;
  dependencies: string[];
  deletedWith: string;
  additionalSecretOutputs: string[];
  /** Input properties the engine must not change (`ignoreChanges`). */
  ignoreChanges: string[];
  /** The id to import (`import` option), or "" when the resource is not imported. */
  importId: string;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  /** The aliases, as the engine gets them (alias specs, or alias URNs), as JSON text. */
  aliases: string[];
  /** ms since the run started: when registration was requested, and when the mock answered. */
  requestedAt: number;
  completedAt: number;
}

/** What a mocked run produced. */
export interface MockRun {
  registrations: Registration[];
  outputs: Record<string, unknown>;
  /** The registration named `name` (of `type`, when several share the name). */
  byName(name: string, type?: string): Registration;
}

/** The signature Pulumi puts on serialized secret values. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** True when `v` is a serialized secret. */
export function isSecret(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === SECRET_SIG;
}

/** The plain value of a serialized secret (or `v` itself). */
export function unwrapSecret(v: unknown): unknown {
  return isSecret(v) ? (v as { value: unknown }).value : v;
}

interface RawRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProtect(): boolean | undefined;
  getDependenciesList(): string[];
  getDeletedwith(): string;
  getAdditionalsecretoutputsList(): string[];
  getIgnorechangesList(): string[];
  getImportid(): string;
  getRetainondelete(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getAliasurnsList(): string[];
  getAliasesList(): { toObject(): unknown }[];
}

/** A value only the mocks supply, so tests can prove the mocks are active. */
export const mockId = (name: string) => `mock-id-${name}`;

/** The inventory the mocked SchemaVerification "finds": the expected tables and foreign keys. */
function mockInventory(inputs: Record<string, unknown>): InventoryTable[] {
  const e = inputs["expectations"] as { tables: { schema: string; table: string }[]; foreignKeys: { from: { schema: string; table: string; column: string }; to: { schema: string; table: string; column: string } }[] };
  return e.tables.map((t) => ({
    table: `${t.schema}.${t.table}`,
    owner: "mock-owner",
    rows: 0,
    rowsExact: true,
    columns: [],
    primaryKey: ["id"],
    foreignKeys: e.foreignKeys
      .filter((f) => f.from.table === t.table && f.from.schema === t.schema)
      .map((f) => `${f.from.column} -> ${f.to.schema}.${f.to.table}(${f.to.column}) on delete cascade`),
    grants: [],
  }));
}

/**
 * Runs `index.ts` (the program) for `stack` with its committed config (plus `secrets`; `databases`
 * replaces its `pgstack:databases`), under mocks.
 * Backups are answered slowly on purpose, so a missing `dependsOn` shows as a wrong order.
 */
export async function runProgram(stack: "dev" | "prod", secrets: Record<string, string> = {}, databases?: unknown): Promise<MockRun> {
  // The dev stack's embedded server password lives in the local state dir; point it at a temp one.
  // Removed after the test file even when the program throws (the config-error tests).
  const stateDir = tempDir("pgstack-mock-");
  fs.mkdirSync(path.join(stateDir, stack), { recursive: true });
  fs.writeFileSync(path.join(stateDir, stack, "admin-password"), "dev-admin-password-from-file");
  process.env["PGSTACK_STATE_DIR"] = stateDir;

  const started = Date.now();
  const registrations: Registration[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: async (args) => {
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:local:Command") {
          await new Promise((r) => setTimeout(r, 40));
          // The environment holds PGPASSWORD, so the whole map arrives as a secret.
          const env = unwrapSecret(args.inputs["environment"]) as Record<string, string>;
          state["stdout"] = `backups/${stack}/${env["PGDATABASE"]}/mock.dump`;
        }
        if (args.name.endsWith("-migrations")) state["head"] = `mock-head-${args.name}`;
        if (args.name.endsWith("-verification")) {
          // As the provider stores it: one JSON text per table.
          state["inventory"] = inventoryForState(mockInventory(args.inputs));
          state["fingerprint"] = `mock-fingerprint-${args.name}`;
          state["drift"] = "in sync";
        }
        if (args.name.endsWith("-password")) state["value"] = `mock-generated-${args.name}`;
        return { id: mockId(args.name), state };
      },
      call: (args) => {
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "pgstack",
    stack,
    false,
  );
  // Record what the program sends to the monitor, as the engine would receive it.
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: RawRequest, cb: (err: unknown, res: { getUrn(): string; getObject(): { toJavaScript(): Record<string, unknown> } }) => void): void };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    const requestedAt = Date.now() - started;
    original(req, (err, res) => {
      if (!err) {
        registrations.push({
          type: req.getType(),
          name: req.getName(),
          urn: res.getUrn(),
          inputs: res.getObject().toJavaScript(),
          protect: req.getProtect() ?? false,
          dependencies: req.getDependenciesList(),
          deletedWith: req.getDeletedwith(),
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
          ignoreChanges: req.getIgnorechangesList(),
          importId: req.getImportid(),
          retainOnDelete: req.getRetainondelete() ?? false,
          deleteBeforeReplace: req.getDeletebeforereplace(),
          aliases: [...req.getAliasurnsList(), ...req.getAliasesList().map((a) => JSON.stringify(a.toObject()))],
          requestedAt,
          completedAt: Date.now() - started,
        });
      }
      cb(err, res);
    });
  };

  const raw = rawStackConfig(stack);
  const config: Record<string, string> = {
    "pgstack:server": JSON.stringify(raw.server),
    "pgstack:databases": JSON.stringify(databases ?? raw.databases),
  };
  for (const [k, v] of Object.entries(secrets)) config[`pgstack:${k}`] = v;
  pulumi.runtime.setAllConfig(config, Object.keys(secrets).map((k) => `pgstack:${k}`));

  // A fresh copy of the program per run (the Pulumi SDK itself is external and keeps its state).
  vi.resetModules();
  const program = (await import("../../index.js")) as unknown as { default: Promise<Record<string, unknown>> };
  const exported = await program.default;
  const outputs: Record<string, unknown> = {};
  for (const [db, o] of Object.entries(exported)) {
    outputs[db] = await resolve(o as Record<string, pulumi.Output<unknown>>);
  }
  return {
    registrations,
    outputs,
    byName(name, type) {
      const r = registrations.find((x) => x.name === name && (type === undefined || x.type === type));
      if (!r) throw new Error(`no resource named ${name}; have: ${registrations.map((x) => x.name).join(", ")}`);
      return r;
    },
  };
}

async function resolve(o: Record<string, pulumi.Output<unknown>>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    out[k] = await new Promise((r) => {
      const o: pulumi.Output<unknown> = pulumi.output(v as pulumi.Input<unknown>);
      o.apply((x) => r(x));
    });
  }
  return out;
}
