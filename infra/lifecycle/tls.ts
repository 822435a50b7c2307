/**
 * TLS as libpq's `sslmode` means it, for node-postgres. A module of its own, without `pg`, so the
 * config schema (loaded by every preview) can name the modes without loading the driver.
 */
import type * as tls from "node:tls";

/**
 * libpq's `sslmode` values: `disable` (no TLS), `prefer` (TLS when the server offers it, no
 * verification), `require` (TLS, no verification; the chain is verified when `sslrootcert` is
 * given, as libpq does), `verify-ca` (the chain must lead to `sslrootcert`), `verify-full` (and the
 * certificate must name the host).
 */
export const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;
/** One of {@link SSL_MODES}. */
export type SslMode = (typeof SSL_MODES)[number];

/**
 * node-postgres' `ssl` option for a connection, matching what libpq (pg_dump) and the postgresql
 * provider do with the same `sslmode` and `sslrootcert`. `prefer` starts with TLS; `connect()`
 * falls back to plain text when the server has none.
 */
export function tlsOptions(c: { sslmode?: SslMode | undefined; sslrootcert?: string | undefined }): false | tls.ConnectionOptions {
  const mode = c.sslmode ?? "disable";
  if (mode === "disable") return false;
  const ca = c.sslrootcert ? { ca: c.sslrootcert } : {};
  // libpq: with a root certificate, require verifies the chain (as verify-ca).
  const verifyChain = mode === "verify-ca" || mode === "verify-full" || (mode === "require" && c.sslrootcert !== undefined);
  if (!verifyChain) return { rejectUnauthorized: false };
  // verify-ca checks the chain only; verify-full also the host name (Node's default check).
  return mode === "verify-full" ? { ...ca, rejectUnauthorized: true } : { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
}

