/**
 * The Pulumi CLI side of `npm run review`: `pulumi preview --json`, the verified states in the
 * stack's state, and the admin password from the stack's secrets. The backend is the scripts'
 * one choice ({@link scriptBackend}): this checkout's file backend, or PULUMI_BACKEND_URL.
 */
import { spawnSync } from "node:child_process";
import type { VerifiedState } from "../../infra/review/plan.js";
import type { PreviewJson } from "../../infra/review/preview.js";
import { projectRoot, scriptBackend } from "../pulumi-env.js";
import { inventoryFromState } from "../../infra/lifecycle/inventory.js";

/** How to run the CLI for one stack. */
export interface PulumiRunner {
  env: Record<string, string>;
  /** The backend for messages (password masked). */
  backendLabel: string;
  stack: string;
  /** The stack file the run uses (`--config-file`). */
  configFile: string;
  /** Runs `pulumi ARGS --stack S [--config-file F]`; never throws. */
  run(args: string[], opts?: { configFile?: boolean }): { status: number; stdout: string; stderr: string };
}

/** The CLI for one stack, with the scripts' backend; runs with that backend's stack file. */
export function pulumiRunner(stack: string): PulumiRunner {
  const backend = scriptBackend();
  const env = backend.env;
  const configFile = backend.stackFile(stack);
  return {
    env,
    backendLabel: backend.label,
    stack,
    configFile,
    run(args, opts = {}) {
      const config = opts.configFile === false ? [] : ["--config-file", configFile];
      const r = spawnSync("pulumi", [...args, "--stack", stack, ...config, "--non-interactive", "--color", "never"], {
        cwd: projectRoot,
        env: { ...process.env, ...env },
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      });
      if (r.error) return { status: 127, stdout: "", stderr: `could not run pulumi: ${r.error.message}` };
      return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    },
  };
}

/** `pulumi preview --json`: the parsed document, and the error text when the preview failed. */
export function runPreview(p: PulumiRunner): { preview: PreviewJson; error?: string } {
  const r = p.run(["preview", "--json", "--diff"]);
  let preview: PreviewJson = {};
  try {
    preview = JSON.parse(r.stdout) as PreviewJson;
  } catch {
    // A failure before the engine ran (e.g. a config problem) prints no JSON.
  }
  if (r.status === 0) return { preview };
  const diagnostics = (preview.diagnostics ?? []).filter((d) => d.severity === "error" && d.message).map((d) => d.message!.trim());
  return { preview, error: (diagnostics.length ? diagnostics.join("\n") : r.stderr.trim() || r.stdout.trim()) || `pulumi preview exited ${r.status}` };
}

/** The SchemaVerification outputs per database, from `pulumi stack export` (no secret is decrypted). */
export function verifiedStates(p: PulumiRunner, databases: readonly string[]): Map<string, VerifiedState> {
  const r = p.run(["stack", "export"], { configFile: false });
  if (r.status !== 0) {
    throw new Error(
      `stack "${p.stack}" cannot be read from the Pulumi backend (pulumi stack export, exit ${r.status}):\n${r.stderr.trim()}\n` +
        `  → create it first: \`npm run up\` for the local dev stack, or \`pulumi stack init ${p.stack}\` and \`pulumi up\``,
    );
  }
  const doc = JSON.parse(r.stdout) as { deployment?: { resources?: { urn: string; outputs?: Record<string, unknown> }[] } };
  const out = new Map<string, VerifiedState>();
  for (const res of doc.deployment?.resources ?? []) {
    const db = databases.find((d) => res.urn.endsWith(`::${d}-verification`));
    const o = res.outputs;
    if (!db || !o || typeof o["inventory"] !== "object" || o["inventory"] === null || typeof o["verifiedFingerprint"] !== "string") continue;
    out.set(db, {
      // Each form a state may hold (JSON text per table, objects per table, a list).
      inventory: inventoryFromState(o["inventory"] as Parameters<typeof inventoryFromState>[0]),
      verifiedFingerprint: o["verifiedFingerprint"],
      grants: Array.isArray(o["grants"]) ? (o["grants"] as VerifiedState["grants"]) : undefined,
      ...(o["declared"] && typeof o["declared"] === "object" ? { declared: o["declared"] as VerifiedState["declared"] } : {}),
    });
  }
  return out;
}

/** A secret config value (`pgstack:<key>`), read through the CLI so it is decrypted, never printed. */
export function configSecret(p: PulumiRunner, key: string): string {
  const r = p.run(["config", "get", `pgstack:${key}`]);
  if (r.status !== 0) {
    throw new Error(`the secret "pgstack:${key}" could not be read (${r.stderr.trim()}); set it with \`pulumi config set --secret ${key} <value> -s ${p.stack}\``);
  }
  return r.stdout.replace(/\n$/, "");
}
