// Test helpers for the config package.
/** A deep copy without `pos` fields: trees equal but for where they were written. */
export function stripPos(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripPos);
  if (v !== null && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "pos") o[k] = stripPos(x);
    return o;
  }
  return v;
}
