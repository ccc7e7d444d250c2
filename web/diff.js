// Tally web UI: a line diff of two prompt versions (longest common subsequence of lines).

/** Lines of a stored prompt version: the text, or each chat message as "role: content" (placeholders as
 *  "{{name}} placeholder"), then the config as indented JSON. */
export function promptLines(p) {
  const out = [];
  if (typeof p.prompt === "string") out.push(...p.prompt.split("\n"));
  else for (const m of p.prompt || []) {
    if (m.type === "placeholder") out.push(`[placeholder: ${m.name}]`);
    else String(m.content ?? "").split("\n").forEach((line, i) => out.push(i === 0 ? `${m.role}: ${line}` : `  ${line}`));
  }
  const config = JSON.stringify(p.config ?? {}, null, 2);
  if (config !== "{}") out.push("", "config:", ...config.split("\n"));
  return out;
}

/** Rows `{op, a, b}` aligning `a` and `b`: op "same", "changed" (a line replaced by another), "removed" or "added".
 *  Inputs longer than `max` lines are compared on their first `max` lines (the DP table is max² cells). */
export function diffLines(a, b, max = 1500) {
  a = a.slice(0, max); b = b.slice(0, max);
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { ops.push({ op: "same", a: a[i++], b: b[j++] }); }
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) { ops.push({ op: "removed", a: a[i++] }); }
    else { ops.push({ op: "added", b: b[j++] }); }
  }
  // A run of removals followed by additions reads as changed lines, side by side.
  const rows = [];
  for (let k = 0; k < ops.length;) {
    if (ops[k].op !== "removed") { rows.push(ops[k++]); continue; }
    const removed = [], added = [];
    while (k < ops.length && ops[k].op === "removed") removed.push(ops[k++].a);
    while (k < ops.length && ops[k].op === "added") added.push(ops[k++].b);
    for (let r = 0; r < Math.max(removed.length, added.length); r++) {
      const ra = removed[r], rb = added[r];
      rows.push({ op: ra !== undefined && rb !== undefined ? "changed" : ra !== undefined ? "removed" : "added", a: ra, b: rb });
    }
  }
  return rows;
}
