/**
 * How closely one-step students reproduce their teacher's samples, in one
 * run: for observations of the teacher's held-out (or training) episodes,
 * S reference samples from the teacher with many Euler steps, then S
 * samples from each policy under test, from fresh noise. Prints, per
 * policy, in the teacher's normalised action units:
 * - precision: mean distance from a sample to the nearest reference sample;
 * - recall: mean distance from a reference sample to the nearest sample;
 * and each one's ratio to the teacher's own 10-step sampler (which runs
 * first, from other noise). A student that matched its teacher would sit
 * at 1.
 *
 *   npm run bench:student-fit                      # the preset's student, held-out episodes
 *   npm run bench:student-fit -- runs/a/checkpoint.fpk runs/b/checkpoint.fpk --split train --json
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/core/backend.js';
import { Rng } from '../src/core/rng.js';
import { parseInput } from '../src/core/schema.js';
import { loadDataset } from '../src/data/load-dataset.js';
import { loadPolicy } from '../src/policy/checkpoint.js';
import { RunConfig } from '../src/train/config.js';
import { runData } from '../src/train/flow-trainer.js';
import { log } from './lib/timing.js';

const PRESET = new URL('../policies/pusht-state/', import.meta.url).pathname;
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    teacher: { type: 'string', default: join(PRESET, 'teacher.fpk') },
    'run-config': { type: 'string', description: "the teacher's run config (dataset and split); default: train.json or config.json beside it" },
    split: { type: 'string', default: 'val' },
    observations: { type: 'string', default: '128' },
    samples: { type: 'string', default: '24' },
    'reference-steps': { type: 'string', default: '100' },
    backend: { type: 'string', default: 'auto' },
    json: { type: 'boolean', default: false },
  },
});
const students = positionals.length ? positionals : [join(PRESET, 'policy.fpk')];
if (args.split !== 'val' && args.split !== 'train') throw new Error(`--split = ${JSON.stringify(args.split)}, expected val or train`);
const B = Number(args.observations);
const S = Number(args.samples);
const refSteps = Number(args['reference-steps']);
for (const [flag, v] of [['--observations', B], ['--samples', S], ['--reference-steps', refSteps]] as const) if (!(Number.isInteger(v) && v > 0)) throw new Error(`${flag} = ${v}, expected a positive integer`);

const backend = await useBackend(args.backend);
const teacher = loadPolicy(String(args.teacher), { kind: 'flow' }).policy;
const besideTeacher = ['train.json', 'config.json'].map((f) => join(dirname(String(args.teacher)), f));
const runConfigPath = args['run-config'] ?? besideTeacher.find((p) => existsSync(p));
if (!runConfigPath) throw new Error(`--run-config: no train.json or config.json beside ${args.teacher}`);
const run = parseInput(RunConfig, JSON.parse(readFileSync(runConfigPath, 'utf8')), runConfigPath);
// A preset's run config names its dataset relative to the repository root.
const dataset = await loadDataset(run.dataset.path.startsWith('/') ? run.dataset.path : new URL(`../${run.dataset.path}`, import.meta.url).pathname);
const { trainWindows, valWindows } = runData(run, dataset, teacher.config);
const windows = args.split === 'val' ? valWindows : trainWindows;
const C = teacher.condSize;
const D = teacher.chunkSize;
const rng = new Rng(5);
const picks = Int32Array.from({ length: B }, () => rng.int(windows.length));
const cond1 = new Float32Array(B * C);
windows.fill(picks, cond1, new Float32Array(B * D), teacher.normalizer);
const cond = new Float32Array(B * S * C);
for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) cond.set(cond1.subarray(b * C, (b + 1) * C), (b * S + s) * C);
const noise = () => rng.fillNormal(new Float32Array(B * S * D));
const reference = teacher.sampleNormalized(cond, noise(), B * S, { method: 'euler', steps: refSteps }).chunks;

function distance(a: Float32Array, i: number, b: Float32Array, j: number): number {
  let ss = 0;
  for (let d = 0; d < D; d++) ss += (a[i * D + d] - b[j * D + d]) ** 2;
  return Math.sqrt(ss);
}

/** Mean nearest-neighbour distances within each observation's S samples: samples -> reference, reference -> samples. */
function fit(x: Float32Array): { precision: number; recall: number } {
  let precision = 0;
  let recall = 0;
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      let toRef = Infinity;
      let fromRef = Infinity;
      for (let t = 0; t < S; t++) {
        toRef = Math.min(toRef, distance(x, b * S + s, reference, b * S + t));
        fromRef = Math.min(fromRef, distance(reference, b * S + s, x, b * S + t));
      }
      precision += toRef;
      recall += fromRef;
    }
  }
  return { precision: precision / (B * S), recall: recall / (B * S) };
}

const own = fit(teacher.sampleNormalized(cond, noise(), B * S, { method: 'euler', steps: 10 }).chunks);
const rows = [{ policy: `${args.teacher} (10 Euler steps)`, ...own }];
for (const path of students) {
  const student = loadPolicy(path, { kind: 'student' }).policy;
  rows.push({ policy: path, ...fit(student.generateNormalized(cond, noise(), B * S)) });
  student.dispose();
}
teacher.dispose();
const results = rows.map((r) => ({ ...r, precisionRatio: r.precision / own.precision, recallRatio: r.recall / own.recall }));
if (args.json) process.stdout.write(`${JSON.stringify({ backend: backend.name, split: args.split, observations: B, samples: S, referenceSteps: refSteps, results }, null, 2)}\n`);
else {
  log(`backend ${backend.name}; ${B} ${args.split === 'val' ? 'held-out' : 'training'} observations x ${S} samples against the teacher's ${refSteps}-step samples`);
  const width = Math.max(...results.map((r) => r.policy.length));
  process.stdout.write(`${'policy'.padEnd(width)}  precision  / teacher  recall  / teacher\n`);
  for (const r of results) {
    process.stdout.write(`${r.policy.padEnd(width)}  ${r.precision.toFixed(3).padEnd(9)}  ${r.precisionRatio.toFixed(2).padEnd(9)}  ${r.recall.toFixed(3).padEnd(6)}  ${r.recallRatio.toFixed(2)}\n`);
  }
}
