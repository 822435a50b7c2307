#!/usr/bin/env bash
# scripts/toolchain.sh — make the Pulumi engine and its plugins available
# without downloading anything but Go modules from the Go module proxy.
#
# Why: the usual installers (get.pulumi.com, GitHub release assets, `pulumi
# plugin install` downloads) are not reachable from our machines or CI. The
# Pulumi CLI is plain Go, so we build it from the Go module proxy at exactly the
# version of the installed @pulumi/pulumi, and cache the result per version set.
#
# Caveat: only what the module proxy serves can be built. Where it does not
# serve a plugin's source (or, for postgresql, never can), the plugin is taken
# from $PULUMI_HOME/plugins or PATH if present, else reported missing (a
# warning; --strict makes it an error). pulumi-language-nodejs is the exception:
# when it can be neither built nor found, our own implementation
# (scripts/langhost/) is linked in its place, so plain `pulumi up` works.
# Dynamic providers need only pulumi-resource-pulumi-nodejs.
#
# Usage:
#   BIN=$(bash scripts/toolchain.sh)                 # prints the bin dir (only line on stdout)
#   eval "$(bash scripts/toolchain.sh --print-env)"  # PATH + Pulumi env vars
#   bash scripts/toolchain.sh --install-plugins      # also register the plugins in $PULUMI_HOME
#
# Options:
#   --print-env        print `export ...` lines instead of the bin dir
#   --install-plugins  `pulumi plugin install --file` each available resource plugin into
#                      ${PULUMI_HOME:-~/.pulumi}/plugins, so the engine finds it by
#                      name+version; with --print-env also prints
#                      PULUMI_IGNORE_AMBIENT_PLUGINS=true, which silences the
#                      "using pulumi-resource-X from $PATH" warnings
#   --strict           fail if any plugin cannot be obtained (default: warn, continue)
#   --retry            retry plugins recorded as unobtainable less than a day ago
#
# Environment:
#   PGSTACK_TOOLCHAIN_DIR  cache root (default ${XDG_CACHE_HOME:-~/.cache}/pgstack/toolchain)
#   PGSTACK_TOOLCHAIN_JOBS go build -p value (default: number of CPUs, at most 4, to
#                          bound memory: each compile job can take ~1 GB)
#
# Binaries (all in one bin dir):
#   pulumi                         github.com/pulumi/pulumi/pkg/v3/cmd/pulumi @ v<pulumi>
#   pulumi-language-nodejs         github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
#                                  @ the commit of the same release (the module has no tags);
#                                  else a link to scripts/langhost/pulumi-language-nodejs (ours)
#   pulumi-resource-pulumi-nodejs  copied from node_modules/@pulumi/pulumi (dynamic providers)
#   pulumi-resource-command        github.com/pulumi/pulumi-command/provider @ commit of tag v<command>
#   pulumi-resource-postgresql     cannot be built from Go modules (see build_postgresql below);
#                                  only taken from PATH or $PULUMI_HOME/plugins

# SC2016: single-quoted $ is meant literally (inline JS, printed shell code).
# SC2317: the build_* functions are called indirectly, through $buildfn.
# shellcheck disable=SC2016,SC2317
set -euo pipefail

# The whole script is one { ... } block so bash parses it completely before
# running: editing or `git pull`ing this file during a long build cannot make
# the running instance execute a half-old, half-new script.
{
START=$SECONDS
log() { printf '[toolchain] %s (%ss)\n' "$*" "$((SECONDS - START))" >&2; }
die() { printf '[toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

PRINT_ENV=0 INSTALL_PLUGINS=0 STRICT=0 RETRY=0
for arg in "$@"; do
  case "$arg" in
    --print-env) PRINT_ENV=1 ;;
    --install-plugins) INSTALL_PLUGINS=1 ;;
    --strict) STRICT=1 ;;
    --retry) RETRY=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NM="$REPO_ROOT/node_modules/@pulumi"

# ---------------------------------------------------------------------------
# Versions: the engine and plugins must match the installed npm SDKs exactly
# (the SDK asks the engine for plugins by name+version).
# ---------------------------------------------------------------------------
for p in pulumi postgresql command; do
  [[ -f "$NM/$p/package.json" ]] || die "$NM/$p/package.json not found — run npm ci first"
done
command -v node >/dev/null || die "node not found on PATH (needed to read node_modules versions)"
# One node call for all three (keeps warm runs fast). Some packages publish
# "v4.5.0"-style versions; strip the "v" so every version below is bare semver.
read -r PULUMI_VERSION POSTGRESQL_VERSION COMMAND_VERSION < <(
  node -e 'const nm = process.argv[1];
    console.log(["pulumi", "postgresql", "command"]
      .map((p) => require(`${nm}/${p}/package.json`).version.replace(/^v/, "")).join(" "));' "$NM"
)
[[ -n "${COMMAND_VERSION:-}" ]] || die "could not read versions from $NM/*/package.json"

KEY="pulumi-${PULUMI_VERSION}_postgresql-${POSTGRESQL_VERSION}_command-${COMMAND_VERSION}"
CACHE_ROOT="${PGSTACK_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgstack/toolchain}"
CACHE="$CACHE_ROOT/$KEY"
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
WORK="$CACHE/work"            # scratch Go modules; never inside the repo
UNAVAILABLE="$CACHE/unavailable" # negative cache: plugin sources the proxy refused
mkdir -p "$BIN" "$LOGS" "$WORK" "$UNAVAILABLE"
# Binaries are built as $BIN/.NAME.tmp.PID and renamed only when complete, so
# an interrupted build never leaves a broken NAME; drop our leftovers on exit.
trap 'rm -f "$BIN"/.*.tmp.$$' EXIT
case "$CACHE" in "$REPO_ROOT"/*) die "cache dir $CACHE is inside the repo; set PGSTACK_TOOLCHAIN_DIR elsewhere" ;; esac

# Serialise concurrent runs (tests, other shells) on the same version set, so
# two cold builds don't race and double the memory use.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "waiting for another toolchain run holding $CACHE/.lock"
  flock 9
fi
# Holding the lock, no other run is building here: any temp file is a leftover
# of a killed run (never used, but ~100 MB each).
rm -f "$BIN"/.*.tmp.*
# Links to binaries installed elsewhere (PATH, $PULUMI_HOME) whose target has
# gone away: forget them so the binary is looked up (or built) again below.
for f in "$BIN"/*; do
  if [[ -L "$f" && ! -x "$f" ]]; then
    rm -f "$f"
    printf '[toolchain] %s: linked binary is gone, looking again\n' "${f##*/}" >&2
  fi
done

# ---------------------------------------------------------------------------
# Go environment for every go command below.
# ---------------------------------------------------------------------------
export GOTOOLCHAIN=local # never let go download a toolchain (only the module proxy is reachable)
export CGO_ENABLED=0     # static binaries, no C toolchain needed (as Pulumi's release builds)
# -mod=mod: our scratch wrapper modules have no committed go.sum; let go record sums.
export GOFLAGS="-mod=mod -buildvcs=false"
# The checksum database reachable here (through the proxy) has no entries for
# recent github.com/pulumi releases (lookup → 404), which makes go refuse them.
# Skip the sumdb for Pulumi's own modules only; everything else stays verified.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/pulumi"
JOBS="${PGSTACK_TOOLCHAIN_JOBS:-$(n=$(nproc 2>/dev/null || echo 2); echo $((n > 4 ? 4 : n)))}"
GO_TAGS="osusergo,grpcnotrace" # as Pulumi's release build: pure-Go user lookup, no grpc tracing
SDK_VERSION_PKG="github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"

MISSING=() # plugins we could not provide: "name: reason"

# json_get FILE FIELD.PATH — print a field of a JSON file ("" if absent).
json_get() {
  node -e 'let v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const k of process.argv[2].split(".")) v = v == null ? undefined : v[k];
    process.stdout.write(v == null ? "" : String(v));' "$1" "$2"
}

# show_failure NAME LOGFILE COMMAND — which binary failed, the command, where
# the full log is, and its tail.
show_failure() {
  {
    printf '[toolchain] FAILED: %s\n' "$1"
    printf '[toolchain]   command: %s\n' "$3"
    printf '[toolchain]   full log: %s\n' "$2"
    printf '[toolchain]   --- last 25 lines ---\n'
    tail -n 25 "$2" | sed 's/^/[toolchain]   | /'
  } >&2
}

# run NAME LOGFILE CMD... — run a build step with its full output in LOGFILE;
# on failure show it (show_failure) and return non-zero.
run() {
  local name=$1 logf=$2 cmd
  shift 2
  printf -v cmd '(cd %q && %s)' "$PWD" "$(printf '%q ' "$@")" # copy-pasteable
  printf '\n$ %s\n' "$cmd" >>"$logf"
  "$@" >>"$logf" 2>&1 && return 0
  show_failure "$name" "$logf" "$cmd"
  return 1
}

# module_download LOGFILE OUTJSON MODULE@QUERY — `go mod download -json`; the
# JSON carries Dir, GoMod and (from the proxy's .info) Origin.Hash = git commit.
# Returns non-zero if the proxy cannot serve that module version.
module_download() {
  local logf=$1 out=$2 mq=$3
  printf '\n$ go mod download -json %s\n' "$mq" >>"$logf"
  (cd "$WORK" && go mod download -json "$mq") >"$out" 2>>"$logf" || true
  cat "$out" >>"$logf"
  [[ -s "$out" && -z "$(json_get "$out" Error)" && -n "$(json_get "$out" Dir)" ]]
}

# is_unobtainable NAME — true if a run in the last day found this plugin's
# source unobtainable (keeps warm runs offline and fast).
is_unobtainable() {
  local f="$UNAVAILABLE/$1"
  [[ $RETRY == 0 && -f "$f" && -n "$(find "$f" -mmin -1440 2>/dev/null)" ]]
}

# new_wrapper_module DIR MODPATH — a fresh scratch main module. Building a main
# package of a dependency from our own module (instead of `go install pkg@v`)
# is needed because pulumi's go.mod files carry replace directives, which
# `go install pkg@version` refuses.
new_wrapper_module() {
  rm -rf "$1" && mkdir -p "$1"
  (cd "$1" && go mod init "$2" >/dev/null 2>&1)
}

# copy_replaces GOMODFILE — copy the replace directives of a dependency's go.mod
# that point at other modules (not at ../ directories inside its own repo) into
# the current module, so we compile exactly what upstream compiles (e.g. pulumi
# replaces atotto/clipboard with a fork).
copy_replaces() {
  local r
  while IFS= read -r r; do
    [[ -n "$r" ]] && go mod edit -replace="$r"
  done < <(go mod edit -json "$1" | node -e '
    const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const r of m.Replace || []) {
      if (!r.New.Version) continue; // directory replace: the pieces we require ourselves
      const old = r.Old.Version ? `${r.Old.Path}@${r.Old.Version}` : r.Old.Path;
      console.log(`${old}=${r.New.Path}@${r.New.Version}`);
    }')
}

# install_built NAME TMPFILE — atomic install: an interrupted build never
# leaves a half-written binary under the final name.
install_built() { chmod +x "$2" && mv -f "$2" "$BIN/$1"; }

have() { [[ -x "$BIN/$1" && -f "$BIN/$1" ]]; }

# path_without_bin — PATH minus our own bin dir (callers usually have it on PATH).
path_without_bin() {
  local out="" d IFS=:
  for d in $PATH; do
    [[ -z "$d" || "$d" == "$BIN" ]] && continue
    out="${out:+$out:}$d"
  done
  printf '%s' "$out"
}
AMBIENT_PATH=$(path_without_bin)
ambient() { PATH="$AMBIENT_PATH" command -v "$1" 2>/dev/null || true; }

# plugin_from_pulumi_home KIND NAME VERSION — a plugin installed by `pulumi
# plugin install` lives in a directory whose name carries the exact version.
# (Never the case for language nodejs: pulumi refuses to install bundled plugins.)
plugin_from_pulumi_home() {
  local f="${PULUMI_HOME:-$HOME/.pulumi}/plugins/$1-$2-v$3/pulumi-$1-$2"
  [[ -x "$f" ]] && printf '%s' "$f"
}

# link_ambient NAME PATH — reuse a binary that is already installed elsewhere.
link_ambient() { ln -sfn "$2" "$BIN/.$1.tmp.$$" && mv -f "$BIN/.$1.tmp.$$" "$BIN/$1"; }

# ---------------------------------------------------------------------------
# Ambient toolchain: if the pulumi on PATH is exactly the wanted version and
# every plugin is on PATH too, use those instead of building anything.
# ---------------------------------------------------------------------------
PLUGINS=(pulumi-language-nodejs pulumi-resource-postgresql pulumi-resource-command)
amb_pulumi=$(ambient pulumi)
if [[ -n "$amb_pulumi" ]] && ! have pulumi \
  && [[ "$("$amb_pulumi" version 2>/dev/null || true)" == "v$PULUMI_VERSION" ]]; then
  all=1
  for p in "${PLUGINS[@]}"; do [[ -n "$(ambient "$p")" ]] || all=0; done
  if [[ $all == 1 ]]; then
    log "using pulumi v$PULUMI_VERSION and plugins found on PATH ($(dirname "$amb_pulumi"))"
    link_ambient pulumi "$amb_pulumi"
    for p in "${PLUGINS[@]}"; do have "$p" || link_ambient "$p" "$(ambient "$p")"; done
  fi
fi

# ---------------------------------------------------------------------------
# pulumi (CLI + engine)
# ---------------------------------------------------------------------------
PKG_MOD="github.com/pulumi/pulumi/pkg/v3"
SDK_MOD="github.com/pulumi/pulumi/sdk/v3"
RELEASE_COMMIT="" # git commit of the pulumi release; filled in when needed

build_pulumi() {
  local name=pulumi logf="$LOGS/pulumi.log" dir="$WORK/pulumi" tmp="$BIN/.pulumi.tmp.$$"
  : >"$logf"
  log "building pulumi v$PULUMI_VERSION (cold build, ~5-10 min on 2 cores; log: $logf)…"
  if ! module_download "$logf" "$WORK/pkg.json" "$PKG_MOD@v$PULUMI_VERSION"; then
    show_failure pulumi "$logf" "go mod download -json $PKG_MOD@v$PULUMI_VERSION"
    die "pulumi: the Go module proxy cannot serve $PKG_MOD@v$PULUMI_VERSION"
  fi
  new_wrapper_module "$dir" pgstack.local/toolchain/pulumi
  # Subshell for the cd; explicit && because set -e is off inside `( ) ||`.
  (
    cd "$dir" \
      && go mod edit -require="$PKG_MOD@v$PULUMI_VERSION" -require="$SDK_MOD@v$PULUMI_VERSION" \
      && copy_replaces "$(json_get "$WORK/pkg.json" GoMod)" \
      && run "$name" "$logf" go build -p "$JOBS" -trimpath -tags "$GO_TAGS" \
        -ldflags "-s -w -X $SDK_VERSION_PKG=v$PULUMI_VERSION" -o "$tmp" "$PKG_MOD/cmd/pulumi"
  ) || { rm -f "$tmp"; die "building pulumi failed (log: $logf)"; }
  install_built pulumi "$tmp"
  log "pulumi v$PULUMI_VERSION: built"
}

if have pulumi; then log "pulumi v$PULUMI_VERSION: cached"; else build_pulumi; fi

# ---------------------------------------------------------------------------
# pulumi-resource-pulumi-nodejs: the dynamic-provider plugin is a tiny shell
# script shipped in the npm package. Copied (not symlinked) so the cache does
# not depend on which checkout created it; it resolves @pulumi/pulumi from the
# program's working directory at run time.
# ---------------------------------------------------------------------------
if have pulumi-resource-pulumi-nodejs; then
  log "pulumi-resource-pulumi-nodejs $PULUMI_VERSION: cached"
else
  cp "$NM/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/.pulumi-resource-pulumi-nodejs.tmp.$$"
  install_built pulumi-resource-pulumi-nodejs "$BIN/.pulumi-resource-pulumi-nodejs.tmp.$$"
  log "pulumi-resource-pulumi-nodejs $PULUMI_VERSION: copied from node_modules"
fi

# ---------------------------------------------------------------------------
# Plugins. Build functions return 0 when the binary is installed, 1 when its
# source cannot be had (reason written to $UNAVAILABLE/NAME), and die when a
# build of obtained source fails (that is a bug to look at, not a fallback).
# ---------------------------------------------------------------------------

unobtainable() { printf '%s\n' "$2" >"$UNAVAILABLE/$1"; return 1; } # NAME REASON

# release_commit LOGFILE — git commit of the pulumi release, from the proxy's
# Origin info. sdk/vX and vX tag the same commit (what release binaries are
# built from); pkg/vX is tagged one "changelog and go.mod updates" commit later,
# so it is only the fallback for proxies whose sdk .info lacks Origin.
release_commit() {
  [[ -n "$RELEASE_COMMIT" ]] && return 0
  local m
  for m in "$SDK_MOD" "$PKG_MOD"; do
    module_download "$1" "$WORK/origin.json" "$m@v$PULUMI_VERSION" || continue
    RELEASE_COMMIT=$(json_get "$WORK/origin.json" Origin.Hash)
    [[ -n "$RELEASE_COMMIT" ]] && return 0
  done
  return 1
}

# proxy_error JSONFILE — short form of a failed `go mod download -json` error,
# e.g. "403 Forbidden: This module version is not available.", for messages.
proxy_error() {
  json_get "$1" Error | tr '\n\t' '  ' | sed -E 's/.*: ([0-9]{3} [A-Za-z ]+[a-z]) *server response: */\1: /; s/ +$//' | cut -c1-200
}

build_language_nodejs() {
  local name=pulumi-language-nodejs logf="$LOGS/pulumi-language-nodejs.log" dir="$WORK/language-nodejs"
  local mod="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3" tmp="$BIN/.pulumi-language-nodejs.tmp.$$"
  : >"$logf"
  release_commit "$logf" \
    || { unobtainable "$name" "the proxy gives no git commit (Origin.Hash) for pulumi v$PULUMI_VERSION; log: $logf"; return; }
  # The module is untagged: ask for the release commit; go resolves it to a pseudo-version.
  module_download "$logf" "$WORK/langhost.json" "$mod@$RELEASE_COMMIT" \
    || { unobtainable "$name" "the Go module proxy refused $mod@$RELEASE_COMMIT ($(proxy_error "$WORK/langhost.json")); log: $logf"; return; }
  local pseudo
  pseudo=$(json_get "$WORK/langhost.json" Version)
  log "building pulumi-language-nodejs $pseudo (commit $RELEASE_COMMIT)…"
  new_wrapper_module "$dir" pgstack.local/toolchain/language-nodejs
  (
    cd "$dir" \
      && go mod edit -require="$mod@$pseudo" -require="$PKG_MOD@v$PULUMI_VERSION" -require="$SDK_MOD@v$PULUMI_VERSION" \
      && copy_replaces "$(json_get "$WORK/langhost.json" GoMod)" \
      && run "$name" "$logf" go build -p "$JOBS" -trimpath -tags "$GO_TAGS" \
        -ldflags "-s -w -X $SDK_VERSION_PKG=v$PULUMI_VERSION" -o "$tmp" "$mod"
  ) || { rm -f "$tmp"; die "building $name failed (log: $logf)"; }
  install_built "$name" "$tmp"
  log "pulumi-language-nodejs: built ($pseudo)"
}

build_command() {
  local name=pulumi-resource-command logf="$LOGS/pulumi-resource-command.log" dir="$WORK/command"
  local mod="github.com/pulumi/pulumi-command/provider" tmp="$BIN/.pulumi-resource-command.tmp.$$"
  local sdk="github.com/pulumi/pulumi-command/sdk" major=${COMMAND_VERSION%%.*}
  : >"$logf"
  [[ $major -ge 2 ]] && sdk="$sdk/v$major" # semantic import versioning
  # provider/ is untagged; the tagged sdk module of the same release gives the commit.
  module_download "$logf" "$WORK/command-sdk.json" "$sdk@v$COMMAND_VERSION" \
    || { unobtainable "$name" "the Go module proxy has no $sdk@v$COMMAND_VERSION ($(proxy_error "$WORK/command-sdk.json")) — is $COMMAND_VERSION a pulumi-command release?; log: $logf"; return; }
  local commit pseudo
  commit=$(json_get "$WORK/command-sdk.json" Origin.Hash)
  [[ -n "$commit" ]] || { unobtainable "$name" "no git commit (Origin.Hash) for $sdk@v$COMMAND_VERSION; log: $logf"; return; }
  module_download "$logf" "$WORK/command-provider.json" "$mod@$commit" \
    || { unobtainable "$name" "the Go module proxy refused $mod@$commit ($(proxy_error "$WORK/command-provider.json")); log: $logf"; return; }
  pseudo=$(json_get "$WORK/command-provider.json" Version)
  log "building pulumi-resource-command $COMMAND_VERSION ($mod@$pseudo)…"
  new_wrapper_module "$dir" pgstack.local/toolchain/command
  (
    cd "$dir" \
      && go mod edit -require="$mod@$pseudo" \
      && copy_replaces "$(json_get "$WORK/command-provider.json" GoMod)" \
      && run "$name" "$logf" go build -p "$JOBS" -trimpath \
        -ldflags "-s -w -X $mod/pkg/version.Version=$COMMAND_VERSION" -o "$tmp" "$mod/cmd/pulumi-resource-command"
  ) || { rm -f "$tmp"; die "building $name failed (log: $logf)"; }
  install_built "$name" "$tmp"
  log "pulumi-resource-command $COMMAND_VERSION: built"
}

# build_postgresql — never possible from Go modules: pulumi-resource-postgresql
# is a Terraform-bridge provider whose real code is the git submodule upstream/
# (cyrilgdn/terraform-provider-postgresql, patched by pulumi). The submodule pin
# is not part of any Go module zip, and the upstream go.mod declares another
# module path (github.com/terraform-providers/...), so neither the commit nor
# the code can be had from the Go module proxy.
build_postgresql() {
  unobtainable pulumi-resource-postgresql "cannot be built from Go modules (its code is an upstream git submodule, not a module); put pulumi-resource-postgresql $POSTGRESQL_VERSION on PATH or install it in \$PULUMI_HOME/plugins/resource-postgresql-v$POSTGRESQL_VERSION/"
}

# provide_plugin NAME KIND SHORT VERSION BUILDFN [FALLBACKFN] — in order: cached
# in $BIN; installed at that exact version in $PULUMI_HOME/plugins; built from
# the proxy; found on PATH (version unknown: last resort); provided by
# FALLBACKFN (returns 0 once installed); else reported missing.
provide_plugin() {
  local name=$1 kind=$2 short=$3 version=$4 buildfn=$5 fallbackfn=${6:-} found note=""
  if have "$name"; then log "$name $version: cached"; return 0; fi
  if found=$(plugin_from_pulumi_home "$kind" "$short" "$version"); then
    link_ambient "$name" "$found"
    log "$name $version: using $found"
    return 0
  fi
  if is_unobtainable "$name"; then
    note=" (as found $(date -r "$UNAVAILABLE/$name" '+%F %T'); --retry to try again)"
  elif "$buildfn"; then
    return 0
  fi
  if found=$(ambient "$name") && [[ -n "$found" ]]; then
    link_ambient "$name" "$found"
    log "$name $version: using $found from PATH (its version cannot be checked)"
    return 0
  fi
  if [[ -n "$fallbackfn" ]] && "$fallbackfn"; then return 0; fi
  MISSING+=("$name $version: $(cat "$UNAVAILABLE/$name")")
  log "$name $version: NOT AVAILABLE$note"
}

# --- our language host (scripts/langhost/) ---------------------------------
# Why: the Go module proxy refuses pulumi-language-nodejs (403), and without it
# `pulumi up/preview` of a Node.js project fails ("no language plugin
# 'pulumi-language-nodejs' found"). scripts/langhost/ is our own small
# implementation of the LanguageRuntime gRPC service (plain JS on the gRPC code
# in node_modules/@pulumi/pulumi). It is linked, not copied: the wrapper finds
# its .js through the link, and a link left dangling by a removed checkout is
# dropped at startup (above) and made again here.
OUR_LANGHOST="$REPO_ROOT/scripts/langhost/pulumi-language-nodejs"
install_our_language_nodejs() {
  [[ -x "$OUR_LANGHOST" && -f "$OUR_LANGHOST.js" ]] || return 1
  link_ambient pulumi-language-nodejs "$OUR_LANGHOST"
  log "pulumi-language-nodejs: using our own language host ($OUR_LANGHOST)"
}
# --retry: forget our stand-in so the real language host is looked for again.
if [[ $RETRY == 1 && -L "$BIN/pulumi-language-nodejs" \
  && "$(readlink "$BIN/pulumi-language-nodejs")" == */scripts/langhost/pulumi-language-nodejs ]]; then
  rm -f "$BIN/pulumi-language-nodejs"
fi
provide_plugin pulumi-language-nodejs language nodejs "$PULUMI_VERSION" build_language_nodejs install_our_language_nodejs
# --- end of our language host ----------------------------------------------
provide_plugin pulumi-resource-command resource command "$COMMAND_VERSION" build_command
provide_plugin pulumi-resource-postgresql resource postgresql "$POSTGRESQL_VERSION" build_postgresql

# ---------------------------------------------------------------------------
# Verify what we hand out.
# ---------------------------------------------------------------------------
got=$("$BIN/pulumi" version 2>&1) || die "$BIN/pulumi does not run: $got"
[[ "$got" == "v$PULUMI_VERSION" ]] || die "$BIN/pulumi version says '$got', expected v$PULUMI_VERSION"
for p in pulumi-resource-pulumi-nodejs "${PLUGINS[@]}"; do
  if [[ -e "$BIN/$p" || -L "$BIN/$p" ]] && ! have "$p"; then
    die "$BIN/$p exists but is not an executable file (dangling link?) — remove it and rerun"
  fi
done

# Why --install-plugins: the engine finds the bundled plugins (language host,
# pulumi-nodejs) silently because they sit next to the pulumi binary, but any
# resource plugin it finds on $PATH is "ambient" and warned about on every
# operation ("using pulumi-resource-command from $PATH at ..."). Installed in
# $PULUMI_HOME/plugins under its exact version, and with
# PULUMI_IGNORE_AMBIENT_PLUGINS=true (printed by --print-env), the engine uses
# it like a downloaded plugin: no warning and no download attempt.
if [[ $INSTALL_PLUGINS == 1 ]]; then
  ph="${PULUMI_HOME:-$HOME/.pulumi}"
  for spec in "command $COMMAND_VERSION" "postgresql $POSTGRESQL_VERSION"; do
    read -r short version <<<"$spec"
    f="$BIN/pulumi-resource-$short"
    have "pulumi-resource-$short" || continue
    # Already installed from this very file (e.g. linked from there): nothing to do.
    [[ -x "$ph/plugins/resource-$short-v$version/pulumi-resource-$short" ]] \
      && cmp -s "$f" "$ph/plugins/resource-$short-v$version/pulumi-resource-$short" && continue
    run "pulumi plugin install resource $short" "$LOGS/install-plugins.log" \
      env PULUMI_SKIP_UPDATE_CHECK=true "$BIN/pulumi" plugin install resource "$short" "$version" \
      --reinstall --file "$(readlink -f "$f")" \
      || die "could not install resource plugin $short $version into $ph"
    log "installed resource plugin $short v$version into $ph/plugins"
  done
fi

if ((${#MISSING[@]})); then
  log "WARNING: ${#MISSING[@]} plugin(s) unavailable — programs needing them will fail:"
  for m in "${MISSING[@]}"; do printf '[toolchain]   - %s\n' "$m" >&2; done
  [[ $STRICT == 1 ]] && die "--strict: missing plugins"
fi
log "ready: $BIN"

if [[ $PRINT_ENV == 1 ]]; then
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
  printf 'export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
  # Only safe once the resource plugins are in $PULUMI_HOME/plugins (see above).
  if [[ $INSTALL_PLUGINS == 1 ]]; then printf 'export PULUMI_IGNORE_AMBIENT_PLUGINS=true\n'; fi
else
  printf '%s\n' "$BIN"
fi
exit 0
}
