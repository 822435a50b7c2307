/**
 * The environment every pgstack command runs Pulumi with: the toolchain built from Go modules,
 * a local file backend, a per-machine passphrase, and no downloads.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import yaml from "js-yaml";

/** The project root. */
export const projectRoot = path.resolve(__dirname, "..");

/** Builds (or reuses) the toolchain and returns its bin dir. Progress goes to stderr. */
export function ensureToolchain(): string {
  const out = execFileSync("bash", [path.join(projectRoot, "scripts", "toolchain.sh")], {
    cwd: projectRoot,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  const bin = out.trim().split("\n").at(-1) ?? "";
  if (!bin || !fs.existsSync(path.join(bin, "pulumi"))) throw new Error(`scripts/toolchain.sh did not produce a pulumi binary (got "${bin}")`);
  return bin;
}

/**
 * A passphrase for this checkout's local state, generated once into `.pgstack/passphrase`
 * (git-ignored, mode 0600). It protects the secrets in the dev stack's state file.
 */
export function passphraseFile(stateRoot = path.join(projectRoot, ".pgstack")): string {
  const file = path.join(stateRoot, "passphrase");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(stateRoot, { recursive: true });
    fs.writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  }
  return file;
}

/** Environment variables for the Pulumi CLI and the Automation API. */
export function pulumiEnv(bin: string, opts: { backendDir: string; passphraseFile: string }): Record<string, string> {
  fs.mkdirSync(opts.backendDir, { recursive: true });
  return {
    PATH: `${bin}${path.delimiter}${process.env["PATH"] ?? ""}`,
    PULUMI_BACKEND_URL: `file://${opts.backendDir}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: opts.passphraseFile,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // A missing plugin is an error, never a download attempt.
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
  };
}

/**
 * Prepares a work folder for an inline run: Pulumi.yaml as committed minus `main` (the program
 * runs inline, and the CLI checks that `main` exists), plus copies of the given stack files.
 * Pulumi writes the passphrase's salt into the stack file it reads; working on copies keeps the
 * committed files unchanged (the salt is also kept in the state).
 */
export function inlineWorkDir(dir: string, stackFiles: string[] = []): string {
  fs.mkdirSync(dir, { recursive: true });
  const project = yaml.load(fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
  delete project["main"];
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), yaml.dump(project));
  for (const f of stackFiles) fs.copyFileSync(path.join(projectRoot, f), path.join(dir, f));
  return dir;
}
