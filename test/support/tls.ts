/**
 * A CA and a server certificate made with openssl for a test (the server's names: DNS:localhost
 * only), and a TLS PostgreSQL started with them by the harness.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestServer, type TestServer } from "./postgres.js";

/** PEM texts, and the CA as a file (what sslrootcert and PGSSLROOTCERT name). */
export interface TestCerts {
  dir: string;
  caPem: string;
  caFile: string;
  /** Another CA, which did not sign the server's certificate. */
  otherCaFile: string;
  serverCert: string;
  serverKey: string;
}

/** Makes a CA, a second unrelated CA, and a server certificate for `localhost` signed by the first. */
export function makeCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-tls-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  for (const ca of ["ca", "other-ca"]) {
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=pgstack test ${ca}`, "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  }
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr");
  fs.writeFileSync(path.join(dir, "server.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt");
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return { dir, caPem: read("ca.crt"), caFile: path.join(dir, "ca.crt"), otherCaFile: path.join(dir, "other-ca.crt"), serverCert: read("server.crt"), serverKey: read("server.key") };
}

/** A PostgreSQL with `ssl = on` and the certificate of {@link makeCerts}. */
export function startTlsServer(certs: TestCerts, opts: { major?: number } = {}): Promise<TestServer> {
  return startTestServer({ ...opts, tls: { cert: certs.serverCert, key: certs.serverKey } });
}
