#!/usr/bin/env node
// Bench: MX lookups/s at concurrency 50 against a local validating unbound (the DNS bed),
// packages/asr side by side with node:dns (Resolver.setServers to the same unbound), same run.
// Usage: node bench/mx.mjs [COUNT] [ROUNDS] (defaults 20000 and 3; each slice is also capped
// at 20 s). Both clients are first warmed up with COUNT lookups each (JIT, heap, sockets,
// unbound's cache); then each round gives each client COUNT lookups in slices that alternate
// between them, and one ratio of their rates; the result is the median ratio.
import { Resolver } from "node:dns/promises";
import { startBed } from "../dist/dns-bed.js";
import { ResolverContext, resolveMx, resQuery } from "../dist/index.js";

const COUNT = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 3);
const WARMUP = COUNT;
const SLICES = 4;
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

/** Runs `count` lookups at CONCURRENCY; returns the lookups done and the seconds taken. */
async function run(lookup, count) {
  let next = 0;
  let done = 0;
  let errors = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < count && Date.now() - started < CAP_MS) {
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
  return { done, secs: (Date.now() - started) / 1000, errors };
}

/**
 * One round: COUNT lookups per client, in SLICES slices that alternate between the clients
 * (the first client alternates too), so that both see the same load on a shared machine.
 */
async function round(r, clients) {
  const total = clients.map(() => ({ done: 0, secs: 0, errors: 0 }));
  for (let s = 0; s < SLICES; s++) {
    const order = (r + s) % 2 === 0 ? [0, 1] : [1, 0];
    for (const c of order) {
      const t = await run(clients[c].lookup, Math.ceil(COUNT / SLICES));
      total[c].done += t.done;
      total[c].secs += t.secs;
      total[c].errors += t.errors;
    }
  }
  const rates = total.map((t, c) => {
    const rate = t.done / t.secs;
    const label = `${clients[c].label} (round ${r})`.padEnd(30);
    console.log(
      `${label} ${String(t.done).padStart(6)} lookups in ${t.secs.toFixed(2)} s = ${rate.toFixed(0)}/s (${t.errors} errors)`,
    );
    return rate;
  });
  return rates;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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
  const nodeMx = async (n) => {
    try {
      await node.resolveMx(n);
    } catch (e) {
      if (e.code !== "ENODATA" && e.code !== "ENOTFOUND") throw e;
    }
  };
  // Both wrappers count failures the same way: a temporary failure is an error.
  const asrMx = async (n) => {
    const d = await resolveMx(ctx, n);
    if (d.result === "tempfail") throw new Error(d.reason);
  };
  const clients = [
    { label: "asr resolveMx", lookup: asrMx },
    { label: "node:dns resolveMx", lookup: nodeMx },
  ];
  // Warm-up, not measured: unbound's cache, and each client's code, heap and sockets.
  for (const c of clients) await run(c.lookup, WARMUP);
  const ratios = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const [a, n] = await round(r, clients);
    ratios.push(a / n);
    console.log(`round ${r}: ratio asr/node:dns = ${(a / n).toFixed(2)}`);
  }
  console.log(
    `median ratio asr/node:dns = ${median(ratios).toFixed(2)} over ${ROUNDS} rounds (concurrency ${CONCURRENCY}, ${COUNT} lookups per client per round in ${SLICES} alternating slices)`,
  );
} finally {
  await bed.stop();
}
