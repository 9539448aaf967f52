// Test certificates made with the openssl CLI for the TLS end-to-end tests: a CA, server
// certificates for SNI, a client certificate the CA signed and a self-signed impostor.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const openssl = (args: string[]): void => {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 });
};

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

const load = (cert: string, key: string): KeyPair => ({
  cert,
  key,
  certPem: readFileSync(cert, "utf8"),
  keyPem: readFileSync(key, "utf8"),
});

/** A self-signed certificate for `cn` (also its DNS subjectAltName). */
export function selfSigned(dir: string, name: string, cn: string): KeyPair {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    "req",
    "-x509",
    ...EC,
    "-days",
    "2",
    "-subj",
    `/CN=${cn}`,
    "-addext",
    `subjectAltName=DNS:${cn}`,
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  return load(cert, key);
}

/** A client certificate for `cn` signed by `ca`. */
export function signedClient(dir: string, name: string, cn: string, ca: KeyPair): KeyPair {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
  openssl(["req", "-new", ...EC, "-subj", `/CN=${cn}`, "-keyout", key, "-out", csr]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  return load(cert, key);
}

export interface TestPki {
  readonly dir: string;
  /** Server certificates: CN mx-a.test and mx-b.test. */
  readonly a: KeyPair;
  readonly b: KeyPair;
  readonly ca: KeyPair;
  /** Signed by `ca`. */
  readonly client: KeyPair;
  /** Self-signed, same subject as `client`: must not be verified. */
  readonly impostor: KeyPair;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "facteur-pki-"));
  const ca = selfSigned(dir, "ca", "Facteur Test CA");
  return {
    dir,
    a: selfSigned(dir, "a", "mx-a.test"),
    b: selfSigned(dir, "b", "mx-b.test"),
    ca,
    client: signedClient(dir, "client", "client.test", ca),
    impostor: selfSigned(dir, "impostor", "client.test"),
  };
}
