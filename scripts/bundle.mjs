// Bundles compiled programs into one CommonJS file each (what native packages and the
// single binaries ship). Usage, from a package folder: node ../../scripts/bundle.mjs dist/x.js:name ...

import { chmodSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const entries = process.argv.slice(2);
if (entries.length === 0) {
  console.error("usage: bundle.mjs dist/entry.js:name ...");
  process.exit(2);
}
mkdirSync("bundle", { recursive: true });
for (const spec of entries) {
  const [entry, name] = spec.split(":");
  const outfile = `bundle/${name}.cjs`;
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: false,
    legalComments: "inline",
    banner: { js: "#!/usr/bin/env node" },
    logLevel: "warning",
  });
  chmodSync(outfile, 0o755);
}
