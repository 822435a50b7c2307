#!/usr/bin/env bash
# Installs what pgstack needs on a fresh machine, from the project's own files:
#   - PostgreSQL 15 from Debian (server for the tests' throwaway clusters; pg_dump/pg_restore
#     for the reset's backups), when missing;
#   - Chromium from Debian (the HTML review report's browser test), when missing;
#   - the npm dependencies, exactly as locked (npm ci).
# The Pulumi engine and plugins are built on first use by scripts/toolchain.sh (Go modules).
# The real migration tools of the adoption e2e test (golang-migrate, goose, dbmate) likewise, by
# scripts/migration-tools.sh; drizzle-kit is an npm devDependency.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

PG_BIN=/usr/lib/postgresql/15/bin
if [[ ! -x $PG_BIN/postgres || ! -x $PG_BIN/pg_dump || ! -x $PG_BIN/pg_restore ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing PostgreSQL 15 (server and client) from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null
  else
    log "PostgreSQL 15 is missing: install Debian's postgresql-15 and postgresql-client-15 (as root: apt-get install postgresql-15 postgresql-client-15)"
    exit 1
  fi
fi
# Headless Chromium for the review report's browser test (test/unit/review-html.test.ts).
if ! command -v chromium >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing Chromium (headless browser for the HTML review report test) from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    log "warning: chromium is missing and this is not root: the HTML review test will fail (as root: apt-get install chromium)"
  fi
fi
# An emoji font, so the report's ✅/⚠️/⛔ marks show in that test's screenshot (cosmetic: never fatal).
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null && ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  log "installing an emoji font for the review screenshot"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-color-emoji >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-color-emoji >/dev/null 2>&1; } \
    || log "warning: fonts-noto-color-emoji could not be installed; the screenshot shows boxes for emoji"
fi
command -v go >/dev/null || log "warning: no Go toolchain on PATH; the Pulumi engine is built from Go modules on first use (needs Go >= 1.24)"

log "installing npm dependencies (npm ci)"
npm ci --no-audit --no-fund
