#!/usr/bin/env bash
# scripts/migration-tools.sh — build the real migration tools the adoption tests run, once per
# version, cached outside the repo (next to the Pulumi toolchain):
#
#   migrate  golang-migrate  github.com/golang-migrate/migrate/v4/cmd/migrate   (build tag postgres)
#   goose    pressly/goose   github.com/pressly/goose/v3/cmd/goose              (postgres driver only)
#   dbmate   amacneil/dbmate github.com/amacneil/dbmate/v2                      (`go mod download` of
#            the tag, then `go build` in a writable copy: the proxy refuses its @latest)
#
# drizzle-kit is an npm devDependency of the project (pinned in package.json), run from
# node_modules/.bin; this script only checks that it is installed.
#
# Usage:
#   BIN=$(bash scripts/migration-tools.sh)   # prints the bin dir holding migrate, goose, dbmate
#
# Environment:
#   PGSTACK_TOOLCHAIN_DIR  cache root (default ${XDG_CACHE_HOME:-~/.cache}/pgstack/toolchain)
set -euo pipefail

{
START=$SECONDS
log() { printf '[migration-tools] %s (%ss)\n' "$*" "$((SECONDS - START))" >&2; }
die() { printf '[migration-tools] ERROR: %s\n' "$*" >&2; exit 1; }

MIGRATE_VERSION=4.20.1
GOOSE_VERSION=3.30.0
DBMATE_VERSION=2.35.0

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT="${PGSTACK_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgstack/toolchain}/migration-tools"
case "$ROOT" in "$REPO_ROOT"/*) die "cache dir $ROOT is inside the repo; set PGSTACK_TOOLCHAIN_DIR elsewhere" ;; esac
BIN="$ROOT/bin"
mkdir -p "$BIN" "$ROOT/logs"

# One run at a time: two cold builds would race and double the memory use.
exec 9>"$ROOT/.lock"
if ! flock -n 9; then
  log "waiting for another run (lock: $ROOT/.lock)"
  flock 9
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"
JOBS="${PGSTACK_TOOLCHAIN_JOBS:-$(n=$(nproc 2>/dev/null || echo 2); echo $((n > 4 ? 4 : n)))}"

# Each binary is kept as NAME-VERSION (so a version bump rebuilds) and linked as NAME.
# build NAME VERSION COMMAND...: runs COMMAND with $OUT set to the temporary output path.
build() {
  local name=$1 version=$2; shift 2
  local target="$BIN/$name-$version" logf="$ROOT/logs/$name-$version.log"
  if [[ -x "$target" ]]; then
    log "$name v$version: cached"
  else
    command -v go >/dev/null || die "$name v$version is not built yet and there is no Go toolchain on PATH"
    log "building $name v$version from Go modules (log: $logf)"
    OUT="$BIN/.$name.tmp.$$"
    rm -f "$BIN"/."$name".tmp.*
    ("$@") >"$logf" 2>&1 || { tail -n 25 "$logf" | sed 's/^/[migration-tools]   | /' >&2; die "building $name v$version failed (full log: $logf)"; }
    mv -f "$OUT" "$target"
    log "$name v$version: built"
  fi
  ln -sfn "$name-$version" "$BIN/$name"
}

build_migrate() {
  local gobin="$ROOT/work/migrate" && rm -rf "$gobin" && mkdir -p "$gobin"
  GOBIN="$gobin" go install -p "$JOBS" -trimpath -tags postgres -ldflags "-s -w -X main.Version=v$MIGRATE_VERSION" \
    "github.com/golang-migrate/migrate/v4/cmd/migrate@v$MIGRATE_VERSION"
  mv "$gobin/migrate" "$OUT" && rm -rf "$gobin"
}

build_goose() {
  local gobin="$ROOT/work/goose" && rm -rf "$gobin" && mkdir -p "$gobin"
  # goose's documented build tags leave out the drivers a postgres-only binary does not need.
  GOBIN="$gobin" go install -p "$JOBS" -trimpath -ldflags "-s -w" \
    -tags "no_clickhouse no_libsql no_mssql no_mysql no_sqlite3 no_vertica no_ydb no_starrocks no_duckdb" \
    "github.com/pressly/goose/v3/cmd/goose@v$GOOSE_VERSION"
  mv "$gobin/goose" "$OUT" && rm -rf "$gobin"
}

build_dbmate() {
  local src dir="$ROOT/work/dbmate"
  src=$(go mod download -json "github.com/amacneil/dbmate/v2@v$DBMATE_VERSION" | node -e '
    const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (m.Error || !m.Dir) { console.error(m.Error || "no Dir"); process.exit(1); }
    console.log(m.Dir);')
  # The module cache is read-only: build in a writable copy.
  rm -rf "$dir" && mkdir -p "$dir" && cp -r "$src/." "$dir" && chmod -R u+w "$dir"
  (cd "$dir" && go build -p "$JOBS" -trimpath -ldflags "-s -w" -o "$OUT" .)
  rm -rf "$dir"
}

build migrate "$MIGRATE_VERSION" build_migrate
build goose "$GOOSE_VERSION" build_goose
build dbmate "$DBMATE_VERSION" build_dbmate

[[ -x "$REPO_ROOT/node_modules/.bin/drizzle-kit" ]] || die "drizzle-kit is not installed: run \`npm ci\` first"
printf '%s\n' "$BIN"
}
