/**
 * Ours vs PyTorch on the same networks, on this machine's CPU, in one run:
 * one training step (forward, backward, gradient clipping, AdamW) and one
 * batch-1 act() (10 Euler steps), at the Push-T state-policy sizes
 * (chunk 16 x 2, observation 2 x 20). PyTorch is Debian's python3-torch,
 * installed here if absent (needs root and apt). The PyTorch twin is loaded
 * with our weights and must compute the same velocities before it is timed.
 *
 *   npm run bench:train                       # MLP and U-Net, native (when built) and wasm
 *   npm run bench:train -- --nets mlp --backends wasm,cpu --json
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/core/backend.js';
import { loadNativeBlas } from '../src/core/native-blas.js';
import { float32ToLeBytes } from '../src/core/bytes.js';
import { Rng } from '../src/core/rng.js';
import { computeStats } from '../src/data/normalizer.js';
import { cfmLoss } from '../src/flow/loss.js';
import { ParamStore } from '../src/nets/params.js';
import { createVelocityNet, NetConfig, type NetDims } from '../src/nets/velocity-net.js';
import { FlowPolicyConfig } from '../src/policy/config.js';
import { FlowPolicy } from '../src/policy/flow-policy.js';
import { AdamW } from '../src/train/adamw.js';
import { log, timeMs } from './lib/timing.js';
import { ensureTorch, PYTHON } from './lib/torch.js';

const { values: args } = parseArgs({
  options: {
    nets: { type: 'string', default: 'mlp,unet1d' },
    // Every fast backend this checkout has: native (where its addon built) and wasm.
    backends: { type: 'string', default: 'blas' in loadNativeBlas() ? 'native,wasm' : 'wasm' },
    json: { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
  },
});

const DIMS: NetDims = { horizon: 16, actionDim: 2, condDim: 40 };
const EULER_STEPS = 10;
const NETS: Record<string, { config: NetConfig; batch: number }> = {
  mlp: { config: NetConfig.parse({ kind: 'mlp' }), batch: 256 },
  unet1d: { config: NetConfig.parse({ kind: 'unet1d' }), batch: 64 },
};


interface Batch {
  xt: Float32Array;
  t: Float32Array;
  cond: Float32Array;
  ut: Float32Array;
}

function makeBatch(b: number, seed: number): Batch {
  const rng = new Rng(seed);
  const d = DIMS.horizon * DIMS.actionDim;
  return {
    xt: rng.fillNormal(new Float32Array(b * d)),
    t: Float32Array.from({ length: b }, () => rng.uniform()),
    cond: Float32Array.from({ length: b * DIMS.condDim }, () => 2 * rng.uniform() - 1),
    ut: rng.fillNormal(new Float32Array(b * d)),
  };
}

/** Our training step, exactly as the trainer runs it. */
function oursTrainStepMs(config: NetConfig, batch: Batch, b: number, reps: number): number {
  const net = createVelocityNet(config, DIMS);
  const params = ParamStore.fromWeights(net.registry, net.registry.initialize(new Rng(0)), { kind: 'trainable' });
  const vars = params.variables();
  const nameOf = new Map([...vars].map(([n, v]) => [v.name, n]));
  const adam = new AdamW(vars, { beta1: 0.95, beta2: 0.999, eps: 1e-8, weightDecay: 1e-6, gradClip: 1 });
  const d = DIMS.horizon * DIMS.actionDim;
  const step = () => {
    const xt = tf.tensor2d(batch.xt, [b, d]);
    const t = tf.tensor1d(batch.t);
    const c = tf.tensor2d(batch.cond, [b, DIMS.condDim]);
    const ut = tf.tensor2d(batch.ut, [b, d]);
    const { value, grads } = tf.variableGrads(() => cfmLoss(net.apply(params, xt, t, c), ut), [...vars.values()]);
    const norm = adam.apply(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g])), 1e-4);
    value.dataSync();
    tf.dispose([xt, t, c, ut, value, norm, ...Object.values(grads)]);
  };
  const ms = timeMs(step, reps, 2);
  adam.dispose();
  params.dispose();
  return ms;
}

/** Our batch-1 act(): observation in, 16 x 2 chunk out, 10 Euler steps. */
function oursActMs(config: NetConfig, reps: number): number {
  const rng = new Rng(1);
  const stats = (dim: number) => computeStats(Float32Array.from({ length: 100 * dim }, () => 512 * rng.uniform()), dim);
  const policyConfig = FlowPolicyConfig.parse({
    kind: 'flow',
    observation: { features: [{ key: 'observation.environment_state', shape: [18] }, { key: 'observation.state', shape: [2] }], horizon: 2 },
    action: { key: 'action', dim: 2, horizon: 16, execute: 8 },
    normalization: { 'observation.environment_state': 'min_max', 'observation.state': 'min_max', action: 'min_max' },
    net: config,
    inference: { method: 'euler', steps: EULER_STEPS },
  });
  const policy = FlowPolicy.initialize(policyConfig, { 'observation.environment_state': stats(18), 'observation.state': stats(2), action: stats(2) }, 0);
  const obs = { 'observation.environment_state': Array.from({ length: 18 }, (_, i) => 200 + i), 'observation.state': [100, 300] };
  const ms = timeMs(() => policy.act(obs), reps, 5);
  policy.dispose();
  return ms;
}

/** Write weights, a batch and our velocities on it for the PyTorch twin. */
function exportForTorch(dir: string, config: NetConfig, batch: Batch, b: number, reps: { train: number; act: number }): void {
  const net = createVelocityNet(config, DIMS);
  const weights = net.registry.initialize(new Rng(0));
  const files: Record<string, string> = {};
  const shapes: Record<string, number[]> = {};
  let i = 0;
  for (const [name, w] of weights) {
    files[name] = `w${i++}.f32`;
    shapes[name] = w.shape;
    writeFileSync(join(dir, files[name]), float32ToLeBytes(w.data));
  }
  const params = ParamStore.fromWeights(net.registry, weights, { kind: 'constant' });
  const d = DIMS.horizon * DIMS.actionDim;
  const v = tf.tidy(() => net.apply(params, tf.tensor2d(batch.xt, [b, d]), tf.tensor1d(batch.t), tf.tensor2d(batch.cond, [b, DIMS.condDim])));
  for (const [name, data] of Object.entries({ ...batch, v: v.dataSync() as Float32Array })) writeFileSync(join(dir, `${name}.f32`), float32ToLeBytes(data));
  v.dispose();
  params.dispose();
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ net: config, dims: DIMS, batch: b, weights: shapes, files, eulerSteps: EULER_STEPS, trainReps: reps.train, actReps: reps.act }));
}

interface TorchResult {
  torch: string;
  threads: number;
  maxAbsDiff: number;
  trainStepMs: number;
  actMs: number;
}

function runTorch(dir: string, threads: number): TorchResult {
  const r = spawnSync(PYTHON, [new URL('./torch_reference.py', import.meta.url).pathname, dir, String(threads)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torch_reference.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
}

const torchVersion = ensureTorch({ install: !args['no-install'] });
const rows: Record<string, unknown>[] = [];
const threadsAll = cpus().length;
for (const name of args.nets!.split(',')) {
  const spec = NETS[name];
  if (!spec) throw new Error(`--nets: unknown network '${name}', expected mlp or unet1d`);
  const batch = makeBatch(spec.batch, 2);
  const params = createVelocityNet(spec.config, DIMS).registry.count();
  let torch1: TorchResult | null = null;
  let torchN: TorchResult | null = null;
  if (torchVersion) {
    const dir = mkdtempSync(join(tmpdir(), 'flowpolicy-bench-'));
    await useBackend('cpu');
    exportForTorch(dir, spec.config, batch, spec.batch, { train: name === 'mlp' ? 20 : 5, act: 30 });
    log(`${name}: PyTorch ${torchVersion}, 1 and ${threadsAll} threads...`);
    torch1 = runTorch(dir, 1);
    torchN = runTorch(dir, threadsAll);
    rmSync(dir, { recursive: true, force: true });
  }
  for (const backend of args.backends!.split(',')) {
    const info = await useBackend(backend);
    const slow = backend === 'cpu';
    log(`${name}: ours on ${info.detail}...`);
    const train = oursTrainStepMs(spec.config, batch, spec.batch, slow ? 2 : name === 'mlp' ? 20 : 5);
    const act = oursActMs(spec.config, slow ? 3 : 30);
    rows.push({
      net: name,
      parameters: params,
      batch: spec.batch,
      backend: info.name,
      trainStepMs: train,
      torchTrainStepMs1: torch1?.trainStepMs ?? null,
      torchTrainStepMsAll: torchN?.trainStepMs ?? null,
      trainRatio1: torch1 ? train / torch1.trainStepMs : null,
      actMs: act,
      torchActMs1: torch1?.actMs ?? null,
      actRatio1: torch1 ? act / torch1.actMs : null,
      sameNetworkMaxAbsDiff: torch1?.maxAbsDiff ?? null,
    });
  }
}

if (args.json) {
  process.stdout.write(`${JSON.stringify({ machine: { cpus: threadsAll, node: process.version }, torch: torchVersion, eulerSteps: EULER_STEPS, rows }, null, 2)}\n`);
} else {
  const f = (v: unknown, digits = 1) => (typeof v === 'number' ? v.toFixed(digits) : '-');
  const header = ['net', 'params', 'batch', 'backend', 'train ms', 'torch 1t', `torch ${threadsAll}t`, 'ours/torch', 'act ms', 'torch 1t', 'ours/torch', '|dv| max'];
  const lines = rows.map((r) => [
    String(r.net),
    String(r.parameters),
    String(r.batch),
    String(r.backend),
    f(r.trainStepMs),
    f(r.torchTrainStepMs1),
    f(r.torchTrainStepMsAll),
    f(r.trainRatio1, 2),
    f(r.actMs, 2),
    f(r.torchActMs1, 2),
    f(r.actRatio1, 2),
    typeof r.sameNetworkMaxAbsDiff === 'number' ? r.sameNetworkMaxAbsDiff.toExponential(1) : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  process.stdout.write(`${fmt(header)}\n${lines.map(fmt).join('\n')}\n`);
  process.stdout.write(`train = one step (forward, backward, clip, AdamW); act = batch-1 observation -> 16x2 chunk, ${EULER_STEPS} Euler steps. Ratios are ours / PyTorch with 1 thread (ours runs 1 thread).\n`);
}
