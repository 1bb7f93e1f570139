/**
 * Batch-1 act() latency of the one-step student against its teacher and
 * against the same student network in PyTorch, on this machine's CPU, in
 * one run. Prints ratios (student / teacher at 1, 4, 10 and 100 Euler
 * steps; ours / PyTorch with one thread), never a bare time as a pass mark.
 *
 * The teacher is the shipped preset's (policies/pusht-state/teacher.fpk: the
 * Push-T state teacher, 907k-parameter MLP, To 2, Tp 16) when present, else a freshly
 * initialised network of the same size (latency does not depend on the
 * weights). The student is its warm start (same trunk, one network call;
 * distilled weights time the same), on each real-time kernel: float32
 * WebAssembly SIMD (the default, and the ratios' student), int16 and plain
 * JavaScript; and the refined student (`flowpolicy refine` at t = 0.9: the
 * student, then one teacher Euler step, two network calls) and the
 * anchored student (`distill --anchors 16`: its gate, then one network
 * call) on both SIMD kernels. PyTorch is Debian's python3-torch; the
 * twin is loaded with our weights and must compute the same chunks before
 * it is timed.
 *
 *   node --import tsx bench/student.ts
 *   node --import tsx bench/student.ts --teacher runs/other/checkpoint.fpk --reps 500 --json
 *   node --import tsx bench/student.ts --backend wasm          # default: auto (native when built)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/core/backend.js';
import { float32ToLeBytes } from '../src/core/bytes.js';
import { Rng } from '../src/core/rng.js';
import { computeStats } from '../src/data/normalizer.js';
import { loadPolicy } from '../src/policy/checkpoint.js';
import { FlowPolicyConfig } from '../src/policy/config.js';
import { FlowPolicy } from '../src/policy/flow-policy.js';
import { RealtimeMlp } from '../src/policy/realtime-mlp.js';
import { refinedStudent } from '../src/policy/refine-student.js';
import { GATE_PREFIX, studentConfigFor } from '../src/policy/student-config.js';
import { StudentPolicy, studentNetOf } from '../src/policy/student-policy.js';
import { log, timeMs } from './lib/timing.js';
import { ensureTorch, PYTHON } from './lib/torch.js';

const DEFAULT_TEACHER = new URL('../policies/pusht-state/teacher.fpk', import.meta.url).pathname;
const { values: args } = parseArgs({
  options: {
    teacher: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    reps: { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
  },
});
const REPS = Number(args.reps);
const STEPS = [1, 4, 10, 100];


function pushtSizedTeacher(): FlowPolicy {
  const rng = new Rng(1);
  const stats = (dim: number) => computeStats(Float32Array.from({ length: 100 * dim }, () => 512 * rng.uniform()), dim);
  const config = FlowPolicyConfig.parse({
    kind: 'flow',
    observation: { features: [{ key: 'observation.environment_state', shape: [18] }, { key: 'observation.state', shape: [2] }], horizon: 2 },
    action: { key: 'action', dim: 2, horizon: 16, execute: 8 },
    normalization: { 'observation.environment_state': 'min_max', 'observation.state': 'min_max', action: 'min_max' },
    net: { kind: 'mlp' },
  });
  return FlowPolicy.initialize(config, { 'observation.environment_state': stats(18), 'observation.state': stats(2), action: stats(2) }, 0);
}


/** y = x * scale + offset of a normaliser, recovered by normalising zeros and ones. */
function affine(normalize: (v: Float32Array) => Float32Array, n: number): { scale: Float32Array; offset: Float32Array } {
  const offset = normalize(new Float32Array(n));
  const one = normalize(new Float32Array(n).fill(1));
  return { scale: one.map((v, i) => v - offset[i]), offset };
}

const backend = await useBackend(args.backend);
log(`backend: ${backend.detail}`);
const teacherPath = args.teacher ?? (existsSync(DEFAULT_TEACHER) ? DEFAULT_TEACHER : null);
const teacher = teacherPath ? loadPolicy(teacherPath, { kind: 'flow' }).policy : pushtSizedTeacher();
if (teacher.config.net.kind !== 'mlp') throw new Error('bench/student.ts times MLP students (the real-time path); this teacher is a U-Net');
log(`teacher: ${teacherPath ?? 'Push-T-sized MLP, fresh weights'} (${teacher.net.registry.count().toLocaleString('en-US')} parameters)`);

const features = teacher.config.observation.features;
const rng = new Rng(2);
const frame = (): Record<string, number[]> => Object.fromEntries(features.map((f) => [f.key, Array.from({ length: f.shape.reduce((a, b) => a * b, 1) }, () => 100 + 300 * rng.uniform())]));
const obs = Array.from({ length: teacher.config.observation.horizon }, frame);

const rows: { name: string; ms: number; nfe: number }[] = [];
for (const steps of STEPS) {
  const ms = timeMs(() => teacher.act(obs, { solver: { method: 'euler', steps } }), Math.max(20, Math.round(REPS / steps)), 5);
  rows.push({ name: `teacher, ${steps} Euler step${steps > 1 ? 's' : ''}`, ms, nfe: steps });
  log(`${rows[rows.length - 1].name}: ${ms.toFixed(3)} ms`);
}
const kernels = RealtimeMlp.simdAvailable() ? (['wasm-simd', 'wasm-int16', 'js'] as const) : (['js'] as const);
const students: Record<string, StudentPolicy> = {};
for (const kernel of kernels) students[`student, real-time (${kernel})`] = StudentPolicy.fromTeacher(teacher, { kernel });
students['student, tfjs'] = StudentPolicy.fromTeacher(teacher, { engine: 'tfjs' });
// The refined student (flowpolicy refine): the student, then one Euler step of the teacher from t = 0.9.
const plain = StudentPolicy.fromTeacher(teacher);
const refined = refinedStudent({ config: plain.config, stats: plain.stats, weights: plain.toWeights() }, { config: teacher.config, stats: teacher.stats, weights: teacher.params.toWeights() }, 0.9);
for (const kernel of kernels.filter((k) => k !== 'js')) students[`refined student, real-time (${kernel})`] = new StudentPolicy(refined.config, refined.stats, refined.weights, { kernel });
// The anchored student (distill --anchors 16): its gate (the default 2 x 256 ReLU MLP) picks the latent, then the one trunk call.
const anchoredConfig = studentConfigFor(teacher.config, { anchors: { count: 16 } });
const anchoredWeights = plain.toWeights();
const anchoredNet = studentNetOf(anchoredConfig);
for (const [name, w] of anchoredNet.gate!.initialWeights(rng.fillNormal(new Float32Array(16 * anchoredNet.trunkLatentDim)), rng)) anchoredWeights.set(GATE_PREFIX + name, w);
for (const kernel of kernels.filter((k) => k !== 'js')) students[`anchored student, real-time (${kernel})`] = new StudentPolicy(anchoredConfig, plain.stats, anchoredWeights, { kernel });
for (const [name, s] of Object.entries(students)) {
  const ms = timeMs(() => s.act(obs), name.includes('js)') || name.includes('tfjs') ? REPS : REPS * 10, 200);
  rows.push({ name, ms, nfe: s.config.refine ? 2 : 1 });
  log(`${name}: ${ms.toFixed(4)} ms`);
}
const student = students[`student, real-time (${kernels[0]})`];
const studentMs = rows.find((r) => r.name.startsWith(`student, real-time (${kernels[0]})`))!.ms;

// The PyTorch twin: same weights, same normalisation, checked on a batch before timing.
let torch: { version: string; actMs: number; maxAbsDiff: number; threads: number } | null = null;
const version = ensureTorch({ install: !args['no-install'] });
if (version) {
  const dir = mkdtempSync(join(tmpdir(), 'flowpolicy-bench-student-'));
  try {
    const weights = student.params.toWeights();
    const shapes: Record<string, number[]> = {};
    [...weights].forEach(([name, w], i) => {
      shapes[name] = w.shape;
      writeFileSync(join(dir, `w${i}.f32`), float32ToLeBytes(w.data));
    });
    const n = 8;
    const C = student.condSize;
    const D = student.chunkSize;
    const L = student.latentDim;
    const cond = Float32Array.from({ length: n * C }, () => 2 * rng.uniform() - 1);
    const latent = rng.fillNormal(new Float32Array(n * L));
    const engine = student.realtime!;
    const out = new Float32Array(n * D);
    for (let i = 0; i < n; i++) {
      engine.cond.set(cond.subarray(i * C, (i + 1) * C));
      engine.latent.set(latent.subarray(i * L, (i + 1) * L));
      out.set(engine.forward(), i * D);
    }
    const frameNorm = features.map((f) => affine((v) => student.normalizer.normalize(f.key, v), f.shape.reduce((a, b) => a * b, 1)));
    const obsScale = Float32Array.from(obs.flatMap(() => frameNorm.flatMap((a) => Array.from(a.scale))));
    const obsOffset = Float32Array.from(obs.flatMap(() => frameNorm.flatMap((a) => Array.from(a.offset))));
    const actNorm = affine((v) => student.normalizer.normalize(student.config.action.key, v), D);
    const obsRaw = Float32Array.from(obs.flatMap((f) => features.flatMap((ft) => f[ft.key])));
    const files = { cond, latent, out, obs_scale: obsScale, obs_offset: obsOffset, act_scale: actNorm.scale, act_offset: actNorm.offset, obs: obsRaw };
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, `${name}.f32`), float32ToLeBytes(data));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ net: student.config.net, weights: shapes, chunk: D, condDim: C, latentDim: L, batch: n, reps: REPS * 5 }));
    log(`PyTorch ${version}, 1 thread...`);
    const r = spawnSync(PYTHON, [new URL('./student_reference.py', import.meta.url).pathname, dir, '1'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`student_reference.py failed:\n${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { actMs: number; maxAbsDiff: number; threads: number };
    if (!(res.maxAbsDiff < 1e-4)) throw new Error(`the PyTorch twin disagrees with ours (max |diff| ${res.maxAbsDiff}): not timing different networks`);
    torch = { version, ...res };
    rows.push({ name: 'student, PyTorch (1 thread)', ms: res.actMs, nfe: 1 });
    log(`student, PyTorch: ${res.actMs.toFixed(4)} ms (same chunks to ${res.maxAbsDiff.toExponential(1)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ratios: Record<string, number> = {};
for (const steps of STEPS) ratios[`student / teacher(${steps})`] = studentMs / rows.find((r) => r.name.startsWith(`teacher, ${steps} `))!.ms;
if (torch) ratios['student ours / PyTorch'] = studentMs / torch.actMs;
const int16Ms = rows.find((r) => r.name.startsWith('student, real-time (wasm-int16)'))?.ms;
const teacher10 = rows.find((r) => r.name.startsWith('teacher, 10 '))!.ms;
if (int16Ms !== undefined) {
  ratios['int16 student / teacher(10)'] = int16Ms / teacher10;
  ratios['int16 / float32 student'] = int16Ms / studentMs;
}
for (const kind of ['refined', 'anchored']) {
  for (const kernel of ['wasm-simd', 'wasm-int16']) {
    const r = rows.find((x) => x.name === `${kind} student, real-time (${kernel})`);
    if (r) ratios[`${kind} (${kernel}) / teacher(10)`] = r.ms / teacher10;
  }
}

if (args.json) {
  process.stdout.write(`${JSON.stringify({ teacher: teacherPath, parameters: teacher.net.registry.count(), kernel: kernels[0], torch: torch?.version ?? null, rows, ratios }, null, 2)}\n`);
} else {
  const w = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`${'act() at batch 1'.padEnd(w)}  ${'ms'.padStart(9)}  nfe  student/this\n`);
  for (const r of rows) process.stdout.write(`${r.name.padEnd(w)}  ${r.ms.toFixed(4).padStart(9)}  ${String(r.nfe).padStart(3)}  ${(studentMs / r.ms).toFixed(4).padStart(12)}\n`);
  process.stdout.write(`\nratios (measured in this run; student = real-time ${kernels[0]} path):\n`);
  for (const [k, v] of Object.entries(ratios)) process.stdout.write(`  ${k.padEnd(36)} ${v.toFixed(4)}  (1/${(1 / v).toFixed(1)})\n`);
}
teacher.dispose();
