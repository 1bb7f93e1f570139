/** Printing for commands: human text on stdout, or one JSON object with --json. Diagnostics go to stderr. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v) => (v instanceof Float32Array ? Array.from(v) : v), 2)}\n`);
}

export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Rows of label/value pairs, aligned. */
export function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** The "backend: ..." line long commands print first, with the faster backends that were passed over and why. */
export function backendLine(backend: { detail: string; skipped: { name: string; reason: string }[] }): string {
  return `backend: ${backend.detail}${backend.skipped.length ? ` (skipped ${backend.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : ''}`;
}
