import { median } from '../../src/core/stats.js';

/** Progress and diagnostics of a bench go to stderr; stdout carries the table or the JSON. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Median wall time of `reps` calls after `warmup` untimed ones (the median shrugs off a GC pause or a busy core). */
export function timeMs(fn: () => void, reps: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}
