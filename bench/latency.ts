/**
 * Batch-1 act() latency of any policies, in one run on this machine, with
 * each one's ratio to the first: the latency column of a comparison table
 * (flow matching against an LFM chain, a teacher against its students).
 * Policies are anything `eval` takes (a checkpoint, a run or preset folder);
 * `@N` after one sets its solver steps (per block for an LFM chain), `#kernel`
 * a student's real-time kernel (`#wasm-int16`).
 * Policies are timed in turn, round after round, so that a change in the
 * machine's load falls on all of them; each reports the median over rounds
 * of its per-round median.
 *
 *   npm run bench:latency -- policies/pusht-state/teacher.fpk@10 policies/pusht-state
 *   npm run bench:latency -- policies/pusht-state/teacher.fpk@10 policies/pusht-state policies/pusht-state#wasm-int16
 *   npm run bench:latency -- runs/fm/checkpoint.fpk@8 runs/lfm@2 runs/lfm-blocks --reps 200 --json
 */
import { parseArgs } from 'node:util';
import { useBackend } from '../src/core/backend.js';
import { median } from '../src/core/stats.js';
import { checkKernelOption, openPolicy } from '../src/policy/policy-source.js';
import type { ObservationFrame, Policy } from '../src/policy/policy.js';
import type { FlowActOptions } from '../src/policy/sampled-policy.js';
import { log, timeMs } from './lib/timing.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    backend: { type: 'string', default: 'auto' },
    reps: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
});
if (positionals.length === 0) throw new Error('policies: expected at least one policy (checkpoint, run or preset folder, optionally @steps)');
const reps = Number(args.reps);
const rounds = Number(args.rounds);
for (const [flag, v] of [['--reps', reps], ['--rounds', rounds]] as const) if (!(Number.isInteger(v) && v > 0)) throw new Error(`${flag} = ${v}, expected a positive integer`);

const backend = await useBackend(args.backend);

interface Entry {
  name: string;
  policy: Policy;
  /** The solver override of `@N`, built once: act() is what is timed. */
  options: FlowActOptions | undefined;
  frames: ObservationFrame[];
  times: number[];
  nfe: number;
}

const entries: Entry[] = positionals.map((spec) => {
  const m = /^(.*?)(?:@(\d+))?(?:#([a-z0-9-]+))?$/.exec(spec)!;
  const source = m[1];
  const steps = m[2] === undefined ? undefined : Number(m[2]);
  const policy = openPolicy(source, { kernel: checkKernelOption(source, m[3]) });
  // A plausible observation of the policy's own features: the midpoint of each feature's range.
  const frame: Record<string, number[]> = {};
  for (const f of policy.config.observation.features) {
    const size = f.shape.reduce((a, b) => a * b, 1);
    const stats = (policy as unknown as { stats?: Record<string, { min?: number[]; max?: number[] }> }).stats?.[f.key];
    frame[f.key] = Array.from({ length: size }, (_, i) => (stats?.min && stats?.max ? (stats.min[i] + stats.max[i]) / 2 : 0));
  }
  const frames: ObservationFrame[] = Array.from({ length: policy.config.observation.horizon }, () => frame);
  return { name: spec, policy, options: steps === undefined ? undefined : { solver: { steps } }, frames, times: [], nfe: 0 };
});

const act = (e: Entry) => e.policy.act(e.frames, e.options);
for (const e of entries) {
  e.policy.reset({ seed: 0 });
  e.nfe = act(e).nfe;
}
for (let r = 0; r < rounds; r++) {
  for (const e of entries) e.times.push(timeMs(() => act(e), reps, Math.min(20, reps)));
}
const results = entries.map((e) => ({ policy: e.name, kind: e.policy.config.kind ?? 'flow', nfe: e.nfe, ms: median(e.times) }));
const first = results[0].ms;
for (const e of entries) e.policy.dispose();
if (args.json) process.stdout.write(`${JSON.stringify({ backend: backend.name, reps, rounds, results: results.map((r) => ({ ...r, ratioToFirst: r.ms / first })) }, null, 2)}\n`);
else {
  log(`backend ${backend.name}; batch-1 act(), median of ${rounds} rounds x ${reps} calls`);
  const width = Math.max(...results.map((r) => r.policy.length), 6);
  process.stdout.write(`${'policy'.padEnd(width)}  kind     calls  ms/act   / first\n`);
  for (const r of results) process.stdout.write(`${r.policy.padEnd(width)}  ${String(r.kind).padEnd(7)}  ${String(r.nfe).padEnd(5)}  ${r.ms.toFixed(3).padEnd(7)}  ${(r.ms / first).toFixed(3)}\n`);
}
