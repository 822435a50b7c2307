#!/usr/bin/env bash
# scripts/toolchain.sh — make the Pulumi CLI and the plugins pgstack needs available, without
# downloading anything but Go modules.
#
#   pulumi (CLI and engine)        built from the Go module proxy at the version of the installed
#                                  @pulumi/pulumi, cached per version outside the repo
#   pulumi-resource-pulumi-nodejs  the dynamic-provider host, copied from node_modules/@pulumi/pulumi
#   pulumi-language-nodejs         next to `pulumi` (where the engine looks for bundled plugins)
#   pulumi-resource-postgresql     installed into $PULUMI_HOME/plugins with
#   pulumi-resource-command        `pulumi plugin install resource NAME VERSION --file …`
#
# The three plugin binaries come from a local folder (PGSTACK_PLUGIN_DIR, default
# ../shared/toolchain beside the project), as NAME or NAME.gz, and are installed only when their
# sha256 matches scripts/plugins.lock. A plugin already installed at the right version is used
# as it is, so on a machine with internet access `pulumi plugin install resource postgresql
# 3.18.0` (Pulumi's own resolution) does the same job.
#
# Usage:
#   BIN=$(bash scripts/toolchain.sh)                 # prints the bin dir (the only line on stdout)
#   eval "$(bash scripts/toolchain.sh --print-env)"  # PATH and the Pulumi variables, as exports
#   ACTIONLINT=$(bash scripts/toolchain.sh --actionlint)  # only actionlint (workflow linter): its path
#
# Environment:
#   PGSTACK_TOOLCHAIN_DIR  cache root (default ${XDG_CACHE_HOME:-~/.cache}/pgstack/toolchain)
#   PGSTACK_PLUGIN_DIR     folder holding the plugin binaries (default ../shared/toolchain)
#   PGSTACK_TOOLCHAIN_JOBS go build -p (default: CPUs, at most 4; each job can take ~1 GB)
#   PULUMI_HOME            where Pulumi keeps installed plugins (default ~/.pulumi)
set -euo pipefail

# One { } block: bash reads the whole script before running it, so a `git pull` during a long
# build cannot make this run execute half-old, half-new lines.
{
START=$SECONDS
log() { printf '[toolchain] %s (%ss)\n' "$*" "$((SECONDS - START))" >&2; }
die() { printf '[toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

PRINT_ENV=0
ACTIONLINT_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --print-env) PRINT_ENV=1 ;;
    --actionlint) ACTIONLINT_ONLY=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---------------------------------------------------------------------------------------------
# actionlint (checks .github/workflows): `go install` of its module at a pinned version, cached
# per version like the pulumi CLI. Only with --actionlint; prints the binary's path and exits.
# ---------------------------------------------------------------------------------------------
ACTIONLINT_VERSION=1.7.12
build_actionlint() {
  local dir="${PGSTACK_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgstack/toolchain}/actionlint-$ACTIONLINT_VERSION"
  local bin="$dir/bin/actionlint" logf="$dir/build.log"
  mkdir -p "$dir/bin"
  exec 8>"$dir/.lock"
  flock 8
  if [[ ! -x "$bin" ]]; then
    command -v go >/dev/null || die "actionlint $ACTIONLINT_VERSION is not built yet and there is no Go toolchain on PATH"
    log "building actionlint v$ACTIONLINT_VERSION from Go modules (log: $logf)"
    # GOBIN gets the binary under its own name; a temp dir first, so an interrupted build leaves nothing.
    rm -rf "$dir/tmp" && mkdir -p "$dir/tmp"
    GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOBIN="$dir/tmp" \
      go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION" >"$logf" 2>&1 ||
      { tail -n 20 "$logf" >&2; die "building actionlint v$ACTIONLINT_VERSION failed (full log: $logf)"; }
    mv -f "$dir/tmp/actionlint" "$bin" && rm -rf "$dir/tmp"
    log "actionlint v$ACTIONLINT_VERSION: built"
  else
    log "actionlint v$ACTIONLINT_VERSION: cached"
  fi
  printf '%s\n' "$bin"
}
if [[ $ACTIONLINT_ONLY == 1 ]]; then build_actionlint; exit 0; fi
NM="$REPO_ROOT/node_modules/@pulumi"
LOCK="$REPO_ROOT/scripts/plugins.lock"
PLUGIN_DIR="${PGSTACK_PLUGIN_DIR:-$REPO_ROOT/../shared/toolchain}"
[[ -d "$PLUGIN_DIR" ]] && PLUGIN_DIR=$(cd "$PLUGIN_DIR" && pwd) # a plain path in messages
PULUMI_HOME_DIR="${PULUMI_HOME:-$HOME/.pulumi}"

for p in pulumi postgresql command; do
  [[ -f "$NM/$p/package.json" ]] || die "$NM/$p/package.json not found: run \`npm ci\` first"
done
command -v node >/dev/null || die "node not found on PATH"
# The engine asks for each plugin by name and exact version: the npm SDKs' versions.
read -r PULUMI_VERSION POSTGRESQL_VERSION COMMAND_VERSION < <(
  node -e 'const nm = process.argv[1];
    console.log(["pulumi", "postgresql", "command"].map((p) => require(`${nm}/${p}/package.json`).version.replace(/^v/, "")).join(" "));' "$NM"
)

CACHE="${PGSTACK_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgstack/toolchain}/pulumi-$PULUMI_VERSION"
case "$CACHE" in "$REPO_ROOT"/*) die "cache dir $CACHE is inside the repo; set PGSTACK_TOOLCHAIN_DIR elsewhere" ;; esac
BIN="$CACHE/bin"
LOGS="$CACHE/logs"
mkdir -p "$BIN" "$LOGS"
# Files are written as .NAME.tmp.PID and renamed when complete: an interrupted run never leaves
# a half-written binary under its real name.
trap 'rm -f "$BIN"/.*.tmp.$$' EXIT

# One run at a time per version: two cold builds would race and double the memory use.
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
  log "waiting for another toolchain run (lock: $CACHE/.lock)"
  flock 9
fi
rm -f "$BIN"/.*.tmp.* # leftovers of a killed run

have() { [[ -x "$BIN/$1" && -f "$BIN/$1" ]]; }

# ---------------------------------------------------------------------------------------------
# pulumi: built from github.com/pulumi/pulumi/pkg/v3 through a scratch wrapper module (pulumi's
# go.mod has replace directives, which `go install pkg@version` refuses).
# ---------------------------------------------------------------------------------------------
build_pulumi() {
  local logf="$LOGS/pulumi.log" work="$CACHE/work" tmp="$BIN/.pulumi.tmp.$$"
  local pkg="github.com/pulumi/pulumi/pkg/v3" sdk="github.com/pulumi/pulumi/sdk/v3"
  command -v go >/dev/null || die "pulumi v$PULUMI_VERSION is not built yet and there is no Go toolchain on PATH (needs Go >= 1.24)"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
  # The checksum database reachable here has no entries for recent pulumi releases (404).
  export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/pulumi"
  local jobs="${PGSTACK_TOOLCHAIN_JOBS:-$(n=$(nproc 2>/dev/null || echo 2); echo $((n > 4 ? 4 : n)))}"
  : >"$logf"
  log "building pulumi v$PULUMI_VERSION from Go modules (cold: ~5-10 min on 2 cores; log: $logf)"
  rm -rf "$work" && mkdir -p "$work"
  (
    cd "$work"
    go mod init pgstack.local/toolchain >>"$logf" 2>&1
    gomod=$(go mod download -json "$pkg@v$PULUMI_VERSION" 2>>"$logf" | node -e '
      const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
      if (m.Error || !m.GoMod) { console.error(m.Error || "no go.mod"); process.exit(1); }
      console.log(m.GoMod);') || exit 1
    go mod edit -require="$pkg@v$PULUMI_VERSION" -require="$sdk@v$PULUMI_VERSION"
    # Upstream's replace directives to other modules (e.g. a clipboard fork), so we compile
    # exactly what a release compiles.
    go mod edit -json "$gomod" | node -e '
      const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const r of m.Replace || []) if (r.New.Version)
        console.log(`${r.Old.Version ? `${r.Old.Path}@${r.Old.Version}` : r.Old.Path}=${r.New.Path}@${r.New.Version}`);' |
      while IFS= read -r r; do go mod edit -replace="$r"; done
    go build -p "$jobs" -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      -o "$tmp" "$pkg/cmd/pulumi" >>"$logf" 2>&1
  ) || { tail -n 25 "$logf" | sed 's/^/[toolchain]   | /' >&2; die "building pulumi v$PULUMI_VERSION failed (full log: $logf)"; }
  mv -f "$tmp" "$BIN/pulumi"
  rm -rf "$work"
  log "pulumi v$PULUMI_VERSION: built"
}

if have pulumi; then log "pulumi v$PULUMI_VERSION: cached"; else build_pulumi; fi
got=$("$BIN/pulumi" version 2>&1) || die "$BIN/pulumi does not run: $got"
[[ "$got" == "v$PULUMI_VERSION" ]] || die "$BIN/pulumi says it is '$got', expected v$PULUMI_VERSION; remove $BIN and run again"

# The dynamic-provider host is a small script inside the npm package; copied (not linked) so the
# cache does not depend on the checkout that made it.
if ! cmp -s "$NM/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"; then
  cp "$NM/pulumi/pulumi-resource-pulumi-nodejs" "$BIN/.pulumi-resource-pulumi-nodejs.tmp.$$"
  chmod +x "$BIN/.pulumi-resource-pulumi-nodejs.tmp.$$"
  mv -f "$BIN/.pulumi-resource-pulumi-nodejs.tmp.$$" "$BIN/pulumi-resource-pulumi-nodejs"
fi

# ---------------------------------------------------------------------------------------------
# Plugins from the local folder, checked against scripts/plugins.lock.
# ---------------------------------------------------------------------------------------------
# pinned_sha KIND NAME VERSION — the sha256 plugins.lock pins for that exact plugin, or nothing.
pinned_sha() { awk -v k="$1" -v n="$2" -v v="$3" '$1 == k && $2 == n && $3 == v { print $4 }' "$LOCK"; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# unpack_plugin KIND NAME VERSION DEST — writes the verified binary to DEST, or explains and fails.
unpack_plugin() {
  local kind=$1 name=$2 version=$3 dest=$4 file="pulumi-$1-$2" want got
  want=$(pinned_sha "$kind" "$name" "$version")
  [[ -n "$want" ]] || die "scripts/plugins.lock pins no $kind plugin $name $version (npm has @pulumi/$name at that version): add its line with the binary's sha256"
  local src="$PLUGIN_DIR/$file"
  if [[ -f "$src.gz" ]]; then
    src="$src.gz"
    gunzip -c "$src" >"$dest" || die "$src is not a valid gzip file; replace it"
  elif [[ -f "$src" ]]; then
    cp "$src" "$dest"
  else
    return 1
  fi
  got=$(sha_of "$dest")
  if [[ "$got" != "$want" ]]; then
    rm -f "$dest"
    die "$src unpacks to a binary with sha256 $got, but scripts/plugins.lock pins $kind $name $version at $want: it is not the binary built from the release tag; replace it"
  fi
  chmod +x "$dest"
}

missing_plugin() { # KIND NAME VERSION
  local online="pulumi plugin install $1 $2 $3"
  [[ $1 == language ]] && online="use the Pulumi CLI $3 release, which bundles it, or take the binary from it"
  die "the $1 plugin $2 $3 is not installed, and $PLUGIN_DIR has no pulumi-$1-$2(.gz).
  → with internet access: $online
  → without: put the binary built from the release tag in a folder and set PGSTACK_PLUGIN_DIR to it
    (its sha256 must match scripts/plugins.lock; see the README, \"The toolchain\")"
}

# The language host must sit next to `pulumi`: the engine finds bundled plugins there.
lang_sha=$(pinned_sha language nodejs "$PULUMI_VERSION")
if have pulumi-language-nodejs && [[ "$(sha_of "$BIN/pulumi-language-nodejs")" == "$lang_sha" ]]; then
  log "pulumi-language-nodejs $PULUMI_VERSION: cached"
else
  unpack_plugin language nodejs "$PULUMI_VERSION" "$BIN/.pulumi-language-nodejs.tmp.$$" || missing_plugin language nodejs "$PULUMI_VERSION"
  mv -f "$BIN/.pulumi-language-nodejs.tmp.$$" "$BIN/pulumi-language-nodejs"
  log "pulumi-language-nodejs $PULUMI_VERSION: installed from $PLUGIN_DIR (sha256 checked)"
fi

for spec in "postgresql $POSTGRESQL_VERSION" "command $COMMAND_VERSION"; do
  read -r name version <<<"$spec"
  installed="$PULUMI_HOME_DIR/plugins/resource-$name-v$version/pulumi-resource-$name"
  if [[ -x "$installed" ]]; then
    log "resource plugin $name $version: installed ($installed)"
    continue
  fi
  tmp="$BIN/.pulumi-resource-$name.tmp.$$"
  unpack_plugin resource "$name" "$version" "$tmp" || missing_plugin resource "$name" "$version"
  PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$PULUMI_HOME_DIR" \
    "$BIN/pulumi" plugin install resource "$name" "$version" --file "$tmp" >>"$LOGS/plugin-install.log" 2>&1 ||
    { tail -n 10 "$LOGS/plugin-install.log" >&2; die "pulumi plugin install resource $name $version failed (log: $LOGS/plugin-install.log)"; }
  rm -f "$tmp"
  log "resource plugin $name $version: installed into $PULUMI_HOME_DIR/plugins from $PLUGIN_DIR (sha256 checked)"
done
log "ready: $BIN"

if [[ $PRINT_ENV == 1 ]]; then
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
  printf 'export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
else
  printf '%s\n' "$BIN"
fi
exit 0
}
