// Markdown for BENCH.md and the console: raw tables for every server, and Facteur's figures as
// ratios against OpenSMTPD and Postfix measured in the same run. Used by run.mjs.

export const f = (x, d = 1) =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(d);
const ratio = (a, b) => (a != null && b ? a / b : null);
const PEERS = ["OpenSMTPD", "Postfix"];

function mdTable(head, rows) {
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---|").join("")}`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

const key = (r) => `${r.size}/${r.concurrency}`;
const byServer = (rows, name) =>
  new Map(rows.filter((r) => r.server === name).map((r) => [key(r), r]));

const ORDER = ["OpenSMTPD", "Postfix", "Facteur"];
const sorted = (rows) =>
  [...rows].sort(
    (a, b) =>
      ORDER.indexOf(a.server) - ORDER.indexOf(b.server) ||
      a.size - b.size ||
      a.concurrency - b.concurrency,
  );

export function intakeTable(results) {
  const head = [
    "server",
    "body",
    "sessions",
    "msgs/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "delivered",
    "CPU s",
    "CPU ms/msg",
    "peak RSS MB",
    "peak PSS MB",
    "procs",
  ];
  const rows = sorted(results).map((r) => [
    r.server,
    `${r.size / 1024} KB`,
    r.concurrency,
    f(r.msgsPerSec),
    f(r.p50Ms, 2),
    f(r.p99Ms, 2),
    r.errors,
    `${r.delivered}/${r.accepted}`,
    f(r.cpuSec, 2),
    f(r.cpuMsPerMsg, 2),
    f(r.peakRssMB),
    f(r.peakPssMB),
    r.peakProcs,
  ]);
  return mdTable(head, rows);
}

/** Facteur ÷ each peer, per configuration (msgs/s: higher is better; the rest: lower is). */
export function intakeRatios(results) {
  const fa = byServer(sorted(results), "Facteur");
  const peers = PEERS.map((p) => [p, byServer(results, p)]);
  const fields = [
    ["msgs/s", "msgsPerSec"],
    ["p50", "p50Ms"],
    ["p99", "p99Ms"],
    ["CPU/msg", "cpuMsPerMsg"],
    ["peak PSS", "peakPssMB"],
  ];
  const head = ["body", "sessions", "vs"];
  for (const [label] of fields) head.push(`${label} ×`);
  const rows = [];
  for (const [k, r] of fa) {
    for (const [pn, pm] of peers) {
      const p = pm.get(k);
      if (!p) continue;
      rows.push([
        `${r.size / 1024} KB`,
        r.concurrency,
        pn,
        ...fields.map(([, fld]) => f(ratio(r[fld], p[fld]), 2)),
      ]);
    }
  }
  return rows.length ? mdTable(head, rows) : "";
}

export function deliveryTable(rows) {
  const head = [
    "server",
    "messages",
    "delivered",
    "errors",
    "intake s",
    "first connect → last file s",
    "delivered msgs/s",
    "×OpenSMTPD",
    "×Postfix",
    "CPU s",
    "CPU ms/msg",
    "peak PSS MB",
  ];
  const get = (n) => rows.find((r) => r.server === n);
  return mdTable(
    head,
    rows.map((r) => [
      r.server,
      r.accepted,
      r.delivered,
      r.errors,
      f(r.intakeSec, 2),
      f(r.seconds, 2),
      f(r.msgsPerSec),
      f(ratio(r.msgsPerSec, get("OpenSMTPD")?.msgsPerSec), 2),
      f(ratio(r.msgsPerSec, get("Postfix")?.msgsPerSec), 2),
      f(r.cpuSec, 2),
      f(r.cpuMsPerMsg, 2),
      f(r.peakPssMB),
    ]),
  );
}

export function memoryTable({ fresh, afterLoad, idle }) {
  const head = [
    "server",
    "idle PSS fresh MB",
    "procs",
    "idle PSS after load MB",
    "procs",
    "idle sessions",
    "failed",
    "Σ PSS MB at 0, … sessions",
    "RSS with sessions MB",
    "procs without→with",
    "KB PSS / session (slope)",
    "(with − without) ÷ sessions",
  ];
  const names = [...new Set([...fresh, ...afterLoad, ...idle].map((r) => r.server))];
  const pick = (list, n) => list.find((r) => r.server === n);
  return mdTable(
    head,
    names.map((n) => {
      const a = pick(fresh, n);
      const l = pick(afterLoad, n);
      const b = pick(idle, n);
      return [
        n,
        f(a?.pssMB),
        a?.procs ?? "–",
        f(l?.pssMB),
        l?.procs ?? "–",
        b?.sessions ?? "–",
        b?.failed ?? "–",
        b ? b.points.map(([, mb]) => mb).join(", ") : "–",
        f(b?.rssAfterMB),
        b ? `${b.procsBefore}→${b.procsAfter}` : "–",
        f(b?.kbPerSession),
        f(b?.kbPerSessionDelta),
      ];
    }),
  );
}

/** Σ PSS per process name, fresh and after load: where an idle server's memory is. */
export function memoryByProcess({ fresh, afterLoad }) {
  const fmt = (r) =>
    r?.byName
      ?.slice(0, 8)
      .map((e) => `${e.name}${e.n > 1 ? ` ×${e.n}` : ""} ${f(e.kb / 1024)}`)
      .join(", ") ?? "–";
  const names = [...new Set([...fresh, ...afterLoad].map((r) => r.server))];
  return mdTable(
    ["server", "fresh: Σ PSS MB per process name", "after load: Σ PSS MB per process name"],
    names.map((n) => [
      n,
      fmt(fresh.find((r) => r.server === n)),
      fmt(afterLoad.find((r) => r.server === n)),
    ]),
  );
}

/** The headline: Facteur against its targets and against each peer. */
export function summaryTable({ results, deliveries, fresh, afterLoad, idle }) {
  const val = (list, n, fld, pred = () => true) =>
    list.find((r) => r.server === n && pred(r))?.[fld] ?? null;
  const rows = [];
  const add = (label, list, fld, target, pred, d = 1) => {
    const fa = val(list, "Facteur", fld, pred);
    const os = val(list, "OpenSMTPD", fld, pred);
    const pf = val(list, "Postfix", fld, pred);
    const t = target ? target(fa, { os, pf }) : null;
    rows.push([
      label,
      f(fa, d),
      f(os, d),
      f(pf, d),
      f(ratio(fa, os), 2),
      f(ratio(fa, pf), 2),
      t ? t.text : "",
      t ? (t.ok === null ? "–" : t.ok ? "yes" : "**no**") : "",
    ]);
  };
  const under = (limit, unit) => (v) => ({
    text: `< ${limit} ${unit}`,
    ok: v == null ? null : v < limit,
  });
  add("idle PSS, all processes, fresh (MB)", fresh, "pssMB", under(100, "MB"));
  add("idle PSS, all processes, after the load runs (MB)", afterLoad, "pssMB", under(100, "MB"));
  add("PSS per idle session after EHLO (KB)", idle, "kbPerSession", under(64, "KB"));
  add("delivered to Maildir (msgs/s)", deliveries, "msgsPerSec", (v, { pf }) => ({
    text: "≥ 1.5 × Postfix",
    ok: v == null || !pf ? null : v >= 1.5 * pf,
  }));
  for (const r of results.filter((x) => x.server === "Facteur")) {
    const pred = (x) => x.size === r.size && x.concurrency === r.concurrency;
    const cfg = `${r.size / 1024} KB × ${r.concurrency}`;
    add(`intake msgs/s, ${cfg}`, results, "msgsPerSec", null, pred);
    add(`p99 ms after DATA, ${cfg}`, results, "p99Ms", null, pred, 2);
    add(`CPU ms/msg, ${cfg}`, results, "cpuMsPerMsg", null, pred, 2);
  }
  const head = [
    "figure",
    "Facteur",
    "OpenSMTPD",
    "Postfix",
    "÷OpenSMTPD",
    "÷Postfix",
    "target",
    "met",
  ];
  return mdTable(head, rows);
}

export function profileSection(p, topN = 15) {
  const s = p.summary;
  const pct = (x) => `${f(x * 100)}%`;
  const l = p.load;
  const cpu = Object.entries(l.cpuByRole || {}).sort((a, b) => b[1] - a[1]);
  const cpuTotal = cpu.reduce((a, [, v]) => a + v, 0);
  const prof = new Map(s.byRole.map((r) => [r.role, r.share]));
  return [
    `Facteur under \`node --cpu-prof\` with ${l.size / 1024} KB × ${l.concurrency} sessions for ${f(l.elapsedSec)} s (its own instance, after the others: not comparable with the tables above): ${f(l.msgsPerSec)} msgs/s, p50 ${f(l.p50Ms, 2)} ms, p99 ${f(l.p99Ms, 2)} ms, ${l.delivered}/${l.accepted} delivered; ${p.files} profiles; only samples taken during the load and its drain count: ${f(s.totalMs / 1000, 2)} s busy, ${f(s.idleMs / 1000, 2)} s idle, over all processes.`,
    "",
    "V8 samples each process's JS thread by wall clock: a call that blocks the thread (spawnSync, a synchronous fs call) counts for as long as it blocks, whether or not it uses the CPU meanwhile. Shares below are of all busy (non-idle) samples of all processes; the /proc column is CPU time (getent children spawned by the parent count in its cutime).",
    "",
    mdTable(
      ["process", "CPU s (/proc, user+sys)", "share of CPU", "share of busy samples"],
      cpu.map(([role, sec]) => [role, f(sec, 2), pct(sec / cpuTotal), pct(prof.get(role) ?? 0)]),
    ),
    "",
    `Top ${topN} functions by self time:`,
    "",
    mdTable(
      ["share", "module", "function", "processes"],
      s.top
        .slice(0, topN)
        .map((e) => [pct(e.share), `\`${e.module}\``, `\`${e.fn}\``, e.roles.join(", ")]),
    ),
    "",
    `Top ${topN} by the nearest Facteur function on the stack (its self time plus the Node internals and natives it called), with the nearest caller in another Facteur file; "(no Facteur frame)" is GC, IPC decoding and the event loop:`,
    "",
    mdTable(
      ["share", "Facteur function", "called from", "processes", "mostly in"],
      s.byOwner
        .slice(0, topN)
        .map((e) => [
          pct(e.share),
          `\`${e.module}:${e.fn}\``,
          e.via ? `\`${e.via}\`` : "",
          e.roles.join(", "),
          e.leaves.map((x) => `${x.leaf} ${pct(x.share)}`).join("; "),
        ]),
    ),
    "",
    `By source file (self time): ${s.byModule
      .slice(0, 12)
      .map((m) => `\`${m.module}\` ${pct(m.share)}`)
      .join(", ")}.`,
  ].join("\n");
}
