#!/usr/bin/env node
// Bench: MX lookups/s at concurrency 50 against a local validating unbound (the DNS bed),
// packages/asr side by side with node:dns (Resolver.setServers to the same unbound), same run.
// Usage: node bench/mx.mjs [COUNT] (default 20000; each client is also capped at 20 s).
import { Resolver } from "node:dns/promises";
import { startBed } from "../dist/dns-bed.js";
import { ResolverContext, resolveMx, resQuery } from "../dist/index.js";

const COUNT = Number(process.argv[2] ?? 20000);
const CONCURRENCY = 50;
const CAP_MS = 20000;
const NAMES = [
  "signed.test",
  "unsigned.test",
  "nullmx.unsigned.test",
  "mx-dangling.unsigned.test",
  "implicit.unsigned.test",
  "mx-localhost.unsigned.test",
];

async function run(label, lookup) {
  let next = 0;
  let done = 0;
  let errors = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < COUNT && Date.now() - started < CAP_MS) {
      const name = NAMES[next++ % NAMES.length];
      try {
        await lookup(name);
      } catch {
        errors++;
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (Date.now() - started) / 1000;
  const rate = done / secs;
  console.log(
    `${label.padEnd(28)} ${String(done).padStart(6)} lookups in ${secs.toFixed(2)} s = ${rate.toFixed(0)}/s (${errors} errors)`,
  );
  return rate;
}

const bed = await startBed(
  async (rc) =>
    (
      await resQuery(
        new ResolverContext({ resolvConfText: rc, hostsText: "" }),
        "mx.signed.test",
        1,
      )
    ).ad,
);
try {
  const ctx = new ResolverContext({ resolvConfText: bed.resolvConf, hostsText: "" });
  const node = new Resolver({ timeout: 2000, tries: 2 });
  node.setServers([`127.0.0.1:${bed.unboundPort}`]);
  // Warm unbound's cache so both clients see the same cache state.
  for (const n of NAMES) await resolveMx(ctx, n);
  const nodeMx = async (n) => {
    try {
      await node.resolveMx(n);
    } catch (e) {
      if (e.code !== "ENODATA" && e.code !== "ENOTFOUND") throw e;
    }
  };
  const a1 = await run("asr resolveMx", (n) => resolveMx(ctx, n));
  const n1 = await run("node:dns resolveMx", nodeMx);
  const a2 = await run("asr resolveMx (again)", (n) => resolveMx(ctx, n));
  const n2 = await run("node:dns resolveMx (again)", nodeMx);
  const ratio = (a1 + a2) / (n1 + n2);
  console.log(
    `ratio asr/node:dns = ${ratio.toFixed(2)} (concurrency ${CONCURRENCY}, ${COUNT} lookups per run)`,
  );
} finally {
  await bed.stop();
}
