/**
 * Where a training step's time goes: every tfjs kernel of the backend is
 * timed one by one over 30 steps of the Push-T teacher's training (after 10
 * warm-up steps), and the rest (JavaScript, autodiff tape, batches) is what
 * the kernels do not account for. Prints each kernel's share of the step.
 *
 *   npm run bench:profile                                # auto backend, MLP
 *   npm run bench:profile -- --backend wasm --net unet1d
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { useBackend } from '../src/core/backend.js';
import { RunConfig } from '../src/train/config.js';
import { trainFlowPolicy } from '../src/train/flow-trainer.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    net: { type: 'string', default: 'mlp' },
    dataset: { type: 'string', default: new URL('../../shared/datasets/pusht_cchi_v7_replay.zarr', import.meta.url).pathname },
  },
});

const info = await useBackend(args.backend);
const tfName = tf.getBackend();
const times = new Map<string, { ms: number; calls: number }>();
let timing = false;
for (const k of tf.getKernelsForBackend(tfName)) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, tfName);
  tf.registerKernel({
    ...k,
    kernelFunc: (a) => {
      if (!timing) return f(a);
      const t0 = performance.now();
      const r = f(a);
      const e = times.get(k.kernelName) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t0;
      e.calls++;
      times.set(k.kernelName, e);
      return r;
    },
  });
}

const WARMUP = 10;
const STEPS = 30;
const unet = args.net === 'unet1d';
const config = RunConfig.parse({
  dataset: { path: args.dataset },
  policy: { net: unet ? { kind: 'unet1d' } : { kind: 'mlp' } },
  train: { steps: WARMUP + STEPS, batchSize: unet ? 64 : 256, evalEvery: 100_000, logEvery: 10 },
});
const dir = mkdtempSync(join(tmpdir(), 'flowpolicy-profile-'));
let started = 0;
try {
  await trainFlowPolicy(config, {
    runDir: dir,
    hooks: {
      onStep: ({ step }) => {
        if (step === WARMUP) {
          timing = true;
          started = performance.now();
        }
      },
    },
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
timing = false;
const total = (performance.now() - started) / STEPS;
const rows = [...times].sort((a, b) => b[1].ms - a[1].ms);
const kernels = rows.reduce((s, [, v]) => s + v.ms, 0) / STEPS;
console.log(`${args.net}, ${info.detail}: ${total.toFixed(1)} ms per step (batch ${config.train.batchSize})`);
console.log(`${'kernel'.padEnd(24)}${'share'.padStart(8)}${'calls/step'.padStart(12)}`);
for (const [name, v] of rows.slice(0, 12)) console.log(`${name.padEnd(24)}${`${((100 * v.ms) / STEPS / total).toFixed(1)}%`.padStart(8)}${String(Math.round(v.calls / STEPS)).padStart(12)}`);
console.log(`${'(not in a kernel)'.padEnd(24)}${`${((100 * (total - kernels)) / total).toFixed(1)}%`.padStart(8)}`);
