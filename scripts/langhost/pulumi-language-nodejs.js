#!/usr/bin/env node
// scripts/langhost/pulumi-language-nodejs.js — our own minimal Pulumi language host for Node.js.
//
// Why this exists: the Pulumi CLI needs a `pulumi-language-nodejs` plugin to run a Node.js program
// (`pulumi up/preview/refresh/destroy`, and the Automation API with a LocalWorkspace workDir). The
// official one is a Go program that our Go module proxy refuses to serve, and we do not commit
// fetched code. Its job is small, though: serve the `pulumirpc.LanguageRuntime` gRPC service, and for
// `Run` spawn `node <nodeargs> @pulumi/pulumi/cmd/run <flags> <main>` with the right argv and env.
// All the real work (talking to the resource monitor, running the program) is done by @pulumi/pulumi.
// So this file re-implements that service in plain JavaScript (CommonJS, no build step), on top of the
// gRPC runtime and generated protobuf code that ship in node_modules/@pulumi/pulumi.
//
// Behaviour follows the Go host of the same release (sdk/nodejs/cmd/pulumi-language-nodejs/main.go):
//   - startup: `pulumi-language-nodejs [flags] <engine-address>`; serve on 127.0.0.1:<random port>
//     and print only the port on stdout;
//   - Run: same argv and env for cmd/run; exit code 32 means "the program already reported its
//     error through the engine" → RunResponse{bail: true};
//   - GetRequiredPackages: walk node_modules for package.json files with `"pulumi": {"resource": true}`;
//   - GetRequiredPlugins: UNIMPLEMENTED, exactly like the Go host (the engine uses the former).
// Not supported (answer UNIMPLEMENTED, or an error for Run with attachDebugger): RunPlugin (Node.js
// component/policy plugins), codegen RPCs (GenerateProject/Program/Package, Pack, Link), debugging,
// the bun runtime. InstallDependencies installs nothing (run `npm ci` yourself).
//
// Differences that are on purpose: no monitor proxy and no "sync invoke" pipes — the Go host only
// forwards monitor calls unchanged and @pulumi/pulumi 3.x no longer uses the pipes, so the program
// gets the engine's monitor address directly.
"use strict";

const fs = require("fs");
const path = require("path");
const { spawn, execFile } = require("child_process");

const RUN_BAIL_EXIT_CODE = 32; // cmd/run exits with this after it has reported the error to the engine
const MAX_RPC_MESSAGE = 400 * 1024 * 1024; // as Pulumi's rpcutil: config/outputs can exceed gRPC's 4 MB
const KILL_GRACE_MS = 5000; // SIGINT first, SIGKILL after this (the engine's and Go host's grace)
const HEALTH_INTERVAL_MS = 5 * 60 * 1000; // as the Go host's rpcutil.Healthcheck

// ---------------------------------------------------------------------------------------------
// Command line. The engine runs `pulumi-language-nodejs [flags] <engine-address>` and may add flags
// (-tracing URL, -v=9, --logtostderr, -root=DIR, ...): accept `-x`, `--x`, `-x=v`; a few known flags
// take a separate value; anything unknown is ignored. The first positional argument is the engine.
// ---------------------------------------------------------------------------------------------
function parseArgs(argv) {
    const valueFlags = new Set(["tracing", "runtime", "root", "binary"]);
    const flags = {};
    const positional = [];
    for (let i = 0; i < argv.length; i++) {
        const m = /^--?([^=]+)(?:=(.*))?$/s.exec(argv[i]);
        if (!m || argv[i] === "-" || argv[i] === "--") {
            positional.push(argv[i]);
        } else if (m[2] !== undefined) {
            flags[m[1]] = m[2];
        } else if (valueFlags.has(m[1]) && i + 1 < argv.length) {
            flags[m[1]] = argv[++i];
        } else {
            flags[m[1]] = true;
        }
    }
    return { flags, positional };
}

// ---------------------------------------------------------------------------------------------
// Load @pulumi/pulumi's gRPC runtime and protobuf messages. Resolve them from the project (the
// engine starts us with cwd = the project directory), so the protocol matches the SDK that will run
// the program; fall back to this repository's node_modules (scripts/langhost → ../../node_modules).
// ---------------------------------------------------------------------------------------------
function loadSdk() {
    const tried = [process.cwd(), path.resolve(__dirname, "..", "..")];
    for (const dir of tried) {
        let pkgJson;
        try {
            pkgJson = require.resolve("@pulumi/pulumi/package.json", { paths: [dir] });
        } catch {
            continue;
        }
        const root = path.dirname(pkgJson);
        const from = (m) => require(require.resolve(m, { paths: [root] }));
        return {
            root,
            version: require(pkgJson).version,
            grpc: from("@grpc/grpc-js"), // the same copy the generated *_grpc_pb.js files use
            langGrpc: require(path.join(root, "proto", "language_grpc_pb.js")),
            lang: require(path.join(root, "proto", "language_pb.js")),
            plugin: require(path.join(root, "proto", "plugin_pb.js")),
            empty: from("google-protobuf/google/protobuf/empty_pb.js"),
        };
    }
    throw new Error(`cannot find @pulumi/pulumi from ${tried.join(" or ")} — run npm ci`);
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// Runtime options of Pulumi.yaml (runtime.options), validated as the Go host does.
function parseOptions(info) {
    const raw = info && info.getOptions() ? info.getOptions().toJavaScript() : {};
    const opts = { typescript: true, tsconfig: "", nodeargs: "", packagemanager: "auto" };
    const check = (key, type, message) => {
        if (raw[key] === undefined) return;
        if (typeof raw[key] !== type) throw new Error(message);
        opts[key] = raw[key];
    };
    check("typescript", "boolean", "typescript option must be a boolean");
    check("tsconfig", "string", "tsconfigpath option must be a string");
    check("nodeargs", "string", "nodeargs option must be a string");
    check("packagemanager", "string", "packagemanager option must be a string");
    if (!["auto", "npm", "yarn", "pnpm", "bun"].includes(opts.packagemanager)) {
        throw new Error(`packagemanager option must be one of auto, npm, yarn, pnpm or bun, got "${opts.packagemanager}"`);
    }
    return opts;
}

// Split `nodeargs` like a POSIX shell (what the Go host's shlex does): whitespace separates,
// quotes group, backslash escapes. E.g. `--import tsx --max-old-space-size="4096"`.
function shellSplit(s) {
    const out = [];
    let cur = null;
    let quote = null;
    for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (quote === "'") {
            if (c === "'") quote = null;
            else cur += c;
        } else if (c === "\\" && i + 1 < s.length && quote !== "'") {
            cur = (cur ?? "") + s[++i];
        } else if (quote === '"') {
            if (c === '"') quote = null;
            else cur += c;
        } else if (c === "'" || c === '"') {
            quote = c;
            cur = cur ?? "";
        } else if (/\s/.test(c)) {
            if (cur !== null) out.push(cur);
            cur = null;
        } else {
            cur = (cur ?? "") + c;
        }
    }
    if (quote) throw new Error(`nodeargs: unterminated ${quote} quote in: ${s}`);
    if (cur !== null) out.push(cur);
    return out;
}

// PULUMI_CONFIG: the Go host rewrites `<ns>:<name>` (and `<ns>:config:<name>`) keys to the old
// `<ns>:config:<name>` form, which every @pulumi/pulumi version understands.
function configJson(configMap) {
    const out = {};
    for (const [key, value] of configMap.entries()) {
        const parts = key.split(":");
        if (parts.length === 2 || (parts.length === 3 && parts[1] === "config")) {
            out[`${parts[0]}:config:${parts[parts.length - 1]}`] = value;
        } else {
            throw new Error(`could not parse ${key} as a configuration key ` +
                "(configuration keys should be of the form `<namespace>:<name>`)");
        }
    }
    return JSON.stringify(out);
}

function readJson(file) {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
        return undefined;
    }
}

// Walk `dir` (deeply, following symlinks once) and collect Pulumi resource packages from package.json
// files inside node_modules, as the Go host's getPackagesFromDir does. Also records every
// @pulumi/pulumi version seen, to warn about incompatible copies.
function findPulumiPackages(dir, pkg, found = [], sdkVersions = new Map(), seen = new Set(), inNodeModules = false) {
    let real;
    try {
        real = fs.realpathSync(dir);
    } catch {
        return { found, sdkVersions };
    }
    if (seen.has(real)) return { found, sdkVersions };
    seen.add(real);
    let entries;
    try {
        entries = fs.readdirSync(real, { withFileTypes: true });
    } catch {
        return { found, sdkVersions };
    }
    for (const e of entries) {
        const full = path.join(real, e.name);
        let isDir = e.isDirectory();
        if (e.isSymbolicLink()) {
            try {
                isDir = fs.statSync(full).isDirectory();
            } catch {
                continue; // dangling link
            }
        }
        // A nested policy pack's plugins are not dependencies of the program: do not descend into one.
        const isPolicyPack = () => ["PulumiPolicy.yaml", "PulumiPolicy.yml"].some((f) => fs.existsSync(path.join(full, f)));
        if (isDir && !isPolicyPack()) {
            findPulumiPackages(full, pkg, found, sdkVersions, seen, inNodeModules || path.basename(real) === "node_modules");
        } else if (inNodeModules && e.name === "package.json") {
            const info = readJson(full);
            if (!info) continue;
            if (info.name === "@pulumi/pulumi" && typeof info.version === "string") sdkVersions.set(full, info.version);
            const p = info.pulumi;
            if (!p || !p.resource) continue;
            let name = p.name;
            if (!name && typeof info.name === "string" && info.name.startsWith("@pulumi/")) name = info.name.slice(8);
            const version = p.version || info.version;
            if (!name || !version) {
                process.stderr.write(`warning: ignoring ${full}: a Pulumi plugin package needs "name" and "version"\n`);
                continue;
            }
            const dep = new pkg.PackageDependency();
            dep.setName(name);
            dep.setKind("resource");
            dep.setVersion(version.startsWith("v") ? version : `v${version}`);
            dep.setServer(p.server || "");
            if (p.parameterization) {
                const par = new pkg.PackageParameterization();
                par.setName(p.parameterization.name || "");
                par.setVersion(p.parameterization.version || "");
                par.setValue(p.parameterization.value || ""); // base64 in JSON, as protobuf bytes
                dep.setParameterization(par);
            }
            found.push(dep);
        }
    }
    return { found, sdkVersions };
}

// Same rule as the Go host's compatibleVersions, for semver strings (major ≥ 3 here in practice).
function sdkVersionWarning(sdkVersions) {
    const all = [...sdkVersions.entries()];
    const major = (v) => parseInt(v, 10);
    const minor = (v) => parseInt(v.split(".")[1], 10);
    for (const [p, v] of all.slice(1)) {
        const [p0, v0] = all[0];
        const a = major(v), b = major(v0);
        const bad = (a > 2 || b > 2) ? a !== b : (a === 0 && b === 0 ? minor(v) !== minor(v0) : false);
        if (bad) {
            return `Found incompatible versions of @pulumi/pulumi. Differing major versions are not supported.\n` +
                `  Version ${v0} referenced at ${p0}\n  Version ${v} referenced at ${p}\n`;
        }
    }
    return "";
}

// Package manager in use, as `pulumi about` reports it (auto: from the lock file).
function packageManager(dir, opts) {
    if (opts.packagemanager !== "auto") return opts.packagemanager;
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        if (fs.existsSync(path.join(d, "package-lock.json"))) return "npm";
        if (fs.existsSync(path.join(d, "yarn.lock"))) return "yarn";
        if (fs.existsSync(path.join(d, "pnpm-lock.yaml"))) return "pnpm";
        if (fs.existsSync(path.join(d, "bun.lockb")) || fs.existsSync(path.join(d, "bun.lock"))) return "bun";
        if (d === path.dirname(d)) return "npm";
    }
}

// The installed version of package `name` as Node would resolve it from `dir` (walking up node_modules).
function installedVersion(name, dir) {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        const info = readJson(path.join(d, "node_modules", name, "package.json"));
        if (info) return info.version || "";
        if (d === path.dirname(d)) return "";
    }
}

// Every package installed under dir/node_modules (nested ones included) — the transitive closure as
// far as it is installed.
function allInstalled(nodeModules, out = new Map(), seen = new Set()) {
    let real;
    try {
        real = fs.realpathSync(nodeModules);
    } catch {
        return out;
    }
    if (seen.has(real)) return out;
    seen.add(real);
    let names;
    try {
        names = fs.readdirSync(real);
    } catch {
        return out;
    }
    for (const n of names) {
        if (n.startsWith(".")) continue;
        const dirs = n.startsWith("@") ? safeReaddir(path.join(real, n)).map((s) => path.join(n, s)) : [n];
        for (const pkgName of dirs) {
            const info = readJson(path.join(real, pkgName, "package.json"));
            if (info && info.name) out.set(`${info.name}@${info.version}`, { name: info.name, version: info.version || "" });
            allInstalled(path.join(real, pkgName, "node_modules"), out, seen);
        }
    }
    return out;
}

function safeReaddir(d) {
    try {
        return fs.readdirSync(d);
    } catch {
        return [];
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------
function main() {
    const { flags, positional } = parseArgs(process.argv.slice(2));
    // Output pipes can close under us when the engine exits; never crash on EPIPE.
    process.stdout.on("error", () => {});
    process.stderr.on("error", () => {});

    const sdk = loadSdk();
    const { grpc, lang, plugin } = sdk;
    if (flags.version) {
        process.stdout.write(`${sdk.version}\n`);
        return;
    }
    if (flags.runtime && flags.runtime !== "nodejs") {
        process.stderr.write(`error: unsupported runtime: ${flags.runtime} (this language host supports only nodejs)\n`);
        process.exit(1);
    }

    const host = {
        engineAddress: positional[0] || "",
        tracing: typeof flags.tracing === "string" ? flags.tracing : "",
        children: new Set(), // running program processes, to interrupt on Cancel/shutdown
        cancelled: false, // set by the Cancel RPC: like the Go host, no further program runs
    };
    let healthClient = null;
    let shuttingDown = false;

    // Stop a child: SIGINT (lets @pulumi/pulumi flush), then SIGKILL if it lingers.
    const interrupt = (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGINT");
        setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
    };

    // Wrap a unary handler: sync or async, any exception becomes a gRPC error, never a crash.
    const unary = (fn) => (call, callback) => {
        Promise.resolve()
            .then(() => fn(call))
            .then((res) => callback(null, res), (err) => {
                callback({ code: grpc.status.UNKNOWN, details: String((err && err.message) || err) });
            });
    };

    // Poll the engine's gRPC health service like the Go host; exit once the engine is gone
    // (UNIMPLEMENTED still proves it is alive).
    const startHealthCheck = () => {
        if (!host.engineAddress || healthClient) return;
        healthClient = new grpc.Client(host.engineAddress, grpc.credentials.createInsecure());
        const timer = setInterval(() => {
            healthClient.makeUnaryRequest("/grpc.health.v1.Health/Check", () => Buffer.alloc(0), (b) => b,
                {}, { deadline: Date.now() + 30000 }, (err) => {
                    if (err && err.code !== grpc.status.UNIMPLEMENTED) shutdown(`engine health check failed: ${err.message}`);
                });
        }, HEALTH_INTERVAL_MS);
        timer.unref();
    };

    const impl = {
        getPluginInfo: unary(() => new plugin.PluginInfo().setVersion(sdk.version)),

        handshake: unary((call) => {
            // Only used when the engine attaches to an already running host instead of starting it.
            host.engineAddress = call.request.getEngineAddress();
            startHealthCheck();
            return new lang.LanguageHandshakeResponse();
        }),

        getRequiredPackages: unary((call) => {
            const info = call.request.getInfo();
            const dir = info ? info.getProgramDirectory() : call.request.getPwd();
            const { found, sdkVersions } = findPulumiPackages(dir, plugin);
            const warning = sdkVersionWarning(sdkVersions);
            if (warning) process.stderr.write(warning);
            return new lang.GetRequiredPackagesResponse().setPackagesList(found);
        }),

        run: unary((call) => runProgram(call)),

        installDependencies: (call) => {
            // We deliberately do not install anything: this repo's dependencies come from `npm ci`.
            const res = new lang.InstallDependenciesResponse();
            res.setStdout(Buffer.from("pgstack language host: not installing dependencies (run `npm ci`).\n"));
            call.write(res);
            call.end();
        },

        runtimeOptionsPrompts: unary(() => new lang.RuntimeOptionsResponse()),

        template: unary(() => new lang.TemplateResponse()),

        about: unary(async (call) => {
            const info = call.request.getInfo();
            const dir = info ? info.getProgramDirectory() : process.cwd();
            const pm = packageManager(dir, parseOptions(info));
            const pmVersion = await new Promise((resolve) => {
                execFile(pm, ["--version"], { timeout: 10000, cwd: dir }, (err, out) => resolve(err ? "" : String(out).trim()));
            });
            const res = new lang.AboutResponse().setExecutable(process.execPath).setVersion(process.version);
            res.getMetadataMap().set("packagemanager", pm);
            if (pmVersion) res.getMetadataMap().set("packagemanagerVersion", pmVersion);
            return res;
        }),

        getProgramDependencies: unary((call) => {
            const req = call.request;
            const info = req.getInfo();
            const dir = info ? info.getProgramDirectory() : req.getPwd();
            let deps;
            if (req.getTransitivedependencies()) {
                deps = [...allInstalled(path.join(dir, "node_modules")).values()];
            } else {
                const pj = readJson(path.join(dir, "package.json")) || {};
                const names = Object.keys({ ...pj.dependencies, ...pj.devDependencies });
                deps = names.map((name) => ({ name, version: installedVersion(name, dir) }));
            }
            deps.sort((a, b) => a.name.localeCompare(b.name));
            return new lang.GetProgramDependenciesResponse().setDependenciesList(
                deps.map((d) => new lang.DependencyInfo().setName(d.name).setVersion(d.version)));
        }),

        cancel: unary(() => {
            host.cancelled = true;
            for (const child of host.children) interrupt(child);
            return new sdk.empty.Empty();
        }),
        // Everything else (RunPlugin, codegen, Pack, Link, GetRequiredPlugins) is left out:
        // grpc-js answers UNIMPLEMENTED for methods without a handler.
    };

    // Run: spawn `node <nodeargs> .../@pulumi/pulumi/cmd/run <flags> <entry point> <args>`, wait for it.
    // Failures of the program are reported in RunResponse (not as gRPC errors), like the Go host.
    function runProgram(call) {
        const req = call.request;
        const fail = (message, bail = false) => new lang.RunResponse().setError(message).setBail(bail);
        if (!host.engineAddress) throw new Error("when debugging or running explicitly, must call Handshake before Run");
        if (host.cancelled) return fail("the language host was cancelled");
        if (req.getAttachDebugger()) return fail("attaching a debugger is not supported by the pgstack language host");

        const info = req.getInfo();
        const programDir = info ? info.getProgramDirectory() : req.getPwd();
        const entryPoint = (info ? info.getEntryPoint() : req.getProgram()) || ".";
        let opts, nodeArgs, env;
        try {
            opts = parseOptions(info);
            nodeArgs = shellSplit(opts.nodeargs);
            env = {
                ...process.env,
                PULUMI_CONFIG: configJson(req.getConfigMap()),
                PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(req.getConfigsecretkeysList()),
            };
        } catch (err) {
            return fail(err.message);
        }
        if (opts.typescript) env.PULUMI_NODEJS_TYPESCRIPT = "true";
        if (opts.tsconfig) env.PULUMI_NODEJS_TSCONFIG_PATH = opts.tsconfig;

        // The SDK's runner, resolved from the program's directory (its own @pulumi/pulumi).
        const runModule = process.env.PULUMI_LANGUAGE_NODEJS_RUN_PATH || "@pulumi/pulumi/cmd/run";
        let runPath;
        try {
            runPath = require.resolve(runModule, { paths: [programDir] });
        } catch (err) {
            return fail(err.code === "MODULE_NOT_FOUND"
                ? "It looks like the Pulumi SDK has not been installed. Have you run pulumi install?"
                : err.message);
        }

        const args = [runPath];
        const add = (flag, value) => { if (value) args.push(`--${flag}`, String(value)); };
        add("monitor", req.getMonitorAddress());
        add("engine", host.engineAddress);
        add("organization", req.getOrganization());
        add("project", req.getProject());
        add("root-directory", info ? info.getRootDirectory() : "");
        add("stack", req.getStack());
        add("pwd", programDir);
        if (req.getDryrun()) args.push("--dry-run");
        add("parallel", String(req.getParallel()));
        add("tracing", host.tracing);
        args.push(entryPoint, ...req.getArgsList());

        return new Promise((resolve) => {
            // stdout is inherited: the engine shows our stdout as the program's output. stderr goes
            // through us only to spot Node's out-of-memory report (for a helpful message).
            const child = spawn(process.execPath, [...nodeArgs, ...args], { env, stdio: ["ignore", "inherit", "pipe"] });
            host.children.add(child);
            let oom = false;
            let tail = "";
            child.stderr.on("data", (chunk) => {
                process.stderr.write(chunk);
                tail = (tail + chunk.toString("utf8")).slice(-4096);
                if (tail.includes("<--- Last few GCs --->") ||
                    tail.includes("Check failed: needs_context && current_scope_ == closure_scope_")) oom = true;
            });
            // If the engine abandons the call, do not leave the program running.
            call.on("cancelled", () => interrupt(child));
            let settled = false;
            const done = (res) => {
                if (settled) return;
                settled = true;
                host.children.delete(child);
                resolve(res);
            };
            child.on("error", (err) => done(fail(`Problem executing program (could not run language executor): ${err.message}`)));
            child.on("close", (code, signal) => {
                if (code === 0) return done(new lang.RunResponse());
                if (code === RUN_BAIL_EXIT_CODE) return done(fail("", true));
                let msg = code !== null
                    ? `Program exited with non-zero exit code: ${code}`
                    : `Program exited with non-zero exit code: -1 (killed by ${signal})`;
                if (oom) {
                    msg += ". Detected a possible out of memory error. Consider increasing the memory available to the " +
                        "nodejs process by setting the `nodeargs` runtime option in Pulumi.yaml to " +
                        "`nodeargs: --max-old-space-size=<size>` where `<size>` is the maximum memory in megabytes " +
                        "that can be allocated to nodejs. See https://www.pulumi.com/docs/concepts/projects/project-file/#runtime-options";
                }
                done(fail(msg));
            });
        });
    }

    const server = new grpc.Server({
        "grpc.max_receive_message_length": MAX_RPC_MESSAGE,
        "grpc.max_send_message_length": MAX_RPC_MESSAGE,
    });
    server.addService(sdk.langGrpc.LanguageRuntimeService, impl);

    // Orderly exit: interrupt the programs we started and give them the grace period to finish
    // (their Run calls answer when they exit), then stop at once. No graceful gRPC shutdown: it
    // would wait for the engine to drop its connection, and the engine waits for us to exit first.
    function shutdown(reason) {
        if (shuttingDown) return;
        shuttingDown = true;
        if (process.env.PULUMI_LANGHOST_DEBUG) process.stderr.write(`pulumi-language-nodejs: shutting down (${reason})\n`);
        for (const child of host.children) interrupt(child);
        if (healthClient) healthClient.close();
        const deadline = Date.now() + KILL_GRACE_MS;
        const hadRuns = host.children.size > 0;
        const exitWhenIdle = () => {
            if (host.children.size && Date.now() < deadline) return setTimeout(exitWhenIdle, 20);
            // A Run that just ended still has its response in flight: give it a moment to leave.
            setTimeout(() => {
                server.forceShutdown();
                process.exit(0);
            }, hadRuns ? 200 : 0);
        };
        exitWhenIdle();
    }
    process.on("SIGINT", () => shutdown("SIGINT"));
    process.on("SIGTERM", () => shutdown("SIGTERM"));
    process.on("SIGHUP", () => shutdown("SIGHUP"));
    // The engine starts plugins with a stdin pipe it never writes to: EOF means the engine is gone
    // (even if it was SIGKILLed), long before the 5-minute health check would notice.
    try {
        if (fs.fstatSync(0).isFIFO()) {
            process.stdin.on("end", () => shutdown("stdin closed"));
            process.stdin.on("error", () => {});
            process.stdin.resume();
        }
    } catch {
        // no usable stdin: rely on signals and the health check
    }

    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
            process.stderr.write(`error: could not start language host RPC server: ${err.message}\n`);
            process.exit(1);
        }
        // The engine reads exactly this line to learn where we listen.
        process.stdout.write(`${port}\n`);
        startHealthCheck();
    });
}

// Last-resort guards: report and keep serving (a stray rejection must not kill a running update),
// but a synchronous crash leaves the process in an unknown state, so exit.
process.on("unhandledRejection", (err) => {
    process.stderr.write(`pulumi-language-nodejs: unhandled rejection: ${(err && err.stack) || err}\n`);
});
process.on("uncaughtException", (err) => {
    process.stderr.write(`pulumi-language-nodejs: fatal: ${(err && err.stack) || err}\n`);
    process.exit(1);
});

main();
