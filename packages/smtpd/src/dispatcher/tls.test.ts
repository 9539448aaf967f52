// SNI picks the pki whose certificate names the requested host; protocols map to versions.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, TLSSocket } from "node:tls";
import { buildTlsContexts, type PkiMaterial, protocolRange } from "./tls.js";

let dir = "";
const pkis: PkiMaterial[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), "facteur-tls-"));
  for (const name of ["mx.example.org", "mail.example.net"]) {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/CN=${name}`,
        "-addext",
        `subjectAltName=DNS:${name}`,
        "-keyout",
        join(dir, `${name}.key`),
        "-out",
        join(dir, `${name}.crt`),
      ],
      { stdio: "ignore" },
    );
    pkis.push({
      name,
      cert: readFileSync(join(dir, `${name}.crt`), "utf8"),
      key: readFileSync(join(dir, `${name}.key`), "utf8"),
    });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function subjectFor(servername: string | undefined): Promise<string> {
  const t = buildTlsContexts(pkis, { ciphers: null, protocols: null, caPem: null, verify: false });
  // As the dispatcher does: a plain socket upgraded in place (STARTTLS), SNI picking the pki.
  const server = createServer((raw) => {
    const s = new TLSSocket(raw, {
      isServer: true,
      secureContext: t.defaultContext,
      SNICallback: t.sniCallback,
    });
    s.on("secure", () => s.end());
    s.on("error", () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise((resolve, reject) => {
      const c = connect(
        {
          host: "127.0.0.1",
          port,
          rejectUnauthorized: false,
          ...(servername ? { servername } : {}),
        },
        () => {
          const cn = c.getPeerCertificate().subject.CN;
          c.end();
          resolve(String(cn));
        },
      );
      c.on("error", reject);
    });
  } finally {
    server.close();
  }
}

test("SNI chooses the certificate by its names, the first pki otherwise", async () => {
  assert.equal(await subjectFor("mail.example.net"), "mail.example.net");
  assert.equal(await subjectFor("mx.example.org"), "mx.example.org");
  assert.equal(await subjectFor("other.example"), "mx.example.org");
  assert.equal(await subjectFor(undefined), "mx.example.org");
});

test("libtls protocol strings map to TLS version ranges", () => {
  assert.deepEqual(protocolRange(null), { minVersion: "TLSv1.2", maxVersion: "TLSv1.3" });
  assert.deepEqual(protocolRange("tlsv1.3"), { minVersion: "TLSv1.3", maxVersion: "TLSv1.3" });
  assert.deepEqual(protocolRange("tlsv1.2,tlsv1.3"), {
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.3",
  });
  assert.deepEqual(protocolRange("all"), { minVersion: "TLSv1", maxVersion: "TLSv1.3" });
  assert.deepEqual(protocolRange("sslv3"), { error: 'unknown TLS protocol "sslv3"' });
});
