// Advice that does not make a config invalid (`smtpd -n`): relay URLs are only checked when
// mail is relayed, as OpenSMTPD does, but a wrong one is worth saying at check time.
import { parseRelayUrl } from "../smtp/relay-url.js";
import type { Config } from "./ast.js";
import type { Diagnostic } from "./errors.js";

export function configWarnings(config: Config): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const d of config.directives) {
    if (d.kind !== "action") continue;
    for (const o of d.options) {
      if (o.kind !== "host" || o.table.kind !== "inline") continue;
      const urls = o.table.entries.type === "list" ? o.table.entries.values : [];
      for (const u of urls) {
        const r = parseRelayUrl(u);
        if ("error" in r) {
          out.push({
            ...d.pos,
            kind: "warning",
            message: `action "${d.name}": relay host "${u}" will fail at delivery: ${r.error}`,
          });
        }
      }
    }
  }
  return out;
}
