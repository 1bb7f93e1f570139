import * as tf from '@tensorflow/tfjs';
import { mkdirSync } from 'node:fs';
import { activeBackend } from '../core/backend.js';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { Rng } from '../core/rng.js';
import { parseInput } from '../core/schema.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';
import { loadDataset } from '../data/load-dataset.js';
import { computeStats, type FeatureStats, type NormMode } from '../data/normalizer.js';
import { splitEpisodes } from '../data/split.js';
import { WindowSampler } from '../data/windows.js';
import { otCoupling, permuteRows } from '../flow/coupling.js';
import { cfmLoss } from '../flow/loss.js';
import { linearPath } from '../flow/path.js';
import { sampleTimes } from '../flow/time-sampler.js';
import type { ParamStore } from '../nets/params.js';
import { saveCheckpoint } from '../policy/checkpoint.js';
import { FlowPolicyConfig } from '../policy/config.js';
import { FlowPolicy } from '../policy/flow-policy.js';
import type { RunConfig } from './config.js';
import { MetricsLog } from './metrics-log.js';
import { OptimizationLoop, runFolder, type RunHooks, type RunResult } from './optimization-loop.js';
import { loadTrainState, saveTrainState } from './train-state.js';

/** The files of a run folder. */
export const RUN_FILES = {
  config: 'config.json',
  checkpoint: 'checkpoint.fpk',
  state: 'train-state.fpk',
  metrics: 'metrics.jsonl',
  report: 'report.html',
} as const;

export interface TrainStartInfo {
  startStep: number;
  totalSteps: number;
  trainEpisodes: number;
  valEpisodes: number;
  trainWindows: number;
  valWindows: number;
  parameters: number;
  policyConfig: FlowPolicyConfig;
}

export interface TrainHooks extends RunHooks {
  onStart?(info: TrainStartInfo): void;
}

export interface TrainResult extends RunResult {
  valLoss: number | null;
  firstValLoss: number | null;
}

/** The run config as canonical JSON, ignoring train.steps (which a resume may extend). */
function runIdentity(config: RunConfig): string {
  return JSON.stringify({ ...config, train: { ...config.train, steps: undefined } });
}

/** Build the policy config a run implies, from the dataset's feature shapes. */
export function policyConfigFor(config: RunConfig, dataset: EpisodeDataset): FlowPolicyConfig {
  const { obsKeys, actionKey } = config.dataset;
  const names = Object.keys(dataset.features);
  obsKeys.forEach((key, i) => {
    if (!names.includes(key)) throw new InputError(`dataset.obsKeys[${i}]`, key, `a feature of ${dataset.info.source}: one of ${names.join(', ')}`);
  });
  if (!names.includes(actionKey)) throw new InputError('dataset.actionKey', actionKey, `a feature of ${dataset.info.source}: one of ${names.join(', ')}`);
  const p = config.policy;
  const normalization: Record<string, NormMode> = {};
  for (const key of [...obsKeys, actionKey]) normalization[key] = p.normalization[key] ?? 'min_max';
  return parseInput(
    FlowPolicyConfig,
    {
      kind: 'flow',
      observation: { features: obsKeys.map((key) => ({ key, shape: dataset.feature(key).shape })), horizon: p.obsHorizon },
      action: { key: actionKey, dim: dataset.featureSize(actionKey), horizon: p.predHorizon, execute: p.actionHorizon },
      normalization,
      net: p.net,
      flow: p.flow,
      inference: p.inference,
    },
    'policy',
  );
}

/**
 * Train a conditional flow-matching policy on a dataset. Writes into
 * `runDir`: config.json, metrics.jsonl, checkpoint.fpk (EMA weights, for
 * inference) and train-state.fpk (for --resume), each file atomically.
 */
export async function trainFlowPolicy(
  config: RunConfig,
  options: { runDir: string; resume?: boolean; hooks?: TrainHooks; dataset?: EpisodeDataset },
): Promise<TrainResult> {
  const { runDir, hooks = {} } = options;
  const files = runFolder(runDir, RUN_FILES, options.resume === true, ['state']);
  const dataset = options.dataset ?? (await loadDataset(config.dataset.path));
  const policyConfig = policyConfigFor(config, dataset);
  mkdirSync(runDir, { recursive: true });
  const { obsKeys, actionKey } = config.dataset;
  const t = config.train;

  const split = splitEpisodes(dataset.numEpisodes, { valRatio: config.dataset.valRatio, maxTrainEpisodes: config.dataset.maxTrainEpisodes, seed: config.dataset.splitSeed });
  const spec = {
    obsKeys,
    actionKey,
    obsHorizon: policyConfig.observation.horizon,
    predHorizon: policyConfig.action.horizon,
    padBefore: policyConfig.observation.horizon - 1,
    padAfter: policyConfig.action.execute - 1,
  };
  const trainWindows = new WindowSampler(dataset, spec, split.train);
  const valWindows = new WindowSampler(dataset, spec, split.val);
  if (trainWindows.length === 0) throw new InputError('dataset', config.dataset.path, `episodes of at least ${spec.predHorizon - spec.padAfter} frames`);

  // Statistics over every frame of the dataset, as Diffusion Policy and LeRobot compute them.
  const stats: Record<string, FeatureStats> = {};
  for (const key of [...obsKeys, actionKey]) stats[key] = computeStats(dataset.feature(key).data, dataset.featureSize(key));

  const identity = runIdentity(config);
  const state = options.resume ? loadTrainState(files.state) : null;
  if (state && state.config !== identity) {
    throw new InputError('--resume', runDir, 'the same run config as the run being resumed (only train.steps may change)');
  }
  const policy = FlowPolicy.initialize(policyConfig, stats, t.seed);
  const net = policy.net;
  const loop = new OptimizationLoop({ registry: net.registry, params: policy.params, options: t, metricsPath: files.metrics, resumeFrom: state, onRecord: hooks.onRecord });
  const { rng, ema } = loop;
  const startStep = loop.startStep;
  let firstVal: number | null = null;
  if (state) {
    const firstRecorded = MetricsLog.read(files.metrics).find((r) => typeof r.valLoss === 'number');
    firstVal = firstRecorded ? (firstRecorded.valLoss as number) : null;
  }
  writeFileAtomic(files.config, `${JSON.stringify(config, null, 2)}\n`);

  const B = t.batchSize;
  const condDim = net.dims.condDim;
  const D = policy.chunkSize;
  const cond = new Float32Array(B * condDim);
  const x1 = new Float32Array(B * D);
  const x0 = new Float32Array(B * D);
  const x0p = new Float32Array(B * D);
  const tt = new Float32Array(B);
  const xt = new Float32Array(B * D);
  const ut = new Float32Array(B * D);
  const idx = new Int32Array(B);

  // Validation draws are fixed once, so successive validation losses compare like with like.
  const val = (() => {
    const n = valWindows.length;
    if (n === 0) return null;
    const vRng = new Rng(t.seed + 2);
    const vc = new Float32Array(n * condDim);
    const v1 = new Float32Array(n * D);
    valWindows.fill(Int32Array.from({ length: n }, (_, i) => i), vc, v1, policy.normalizer);
    const v0 = vRng.fillNormal(new Float32Array(n * D));
    const vt = sampleTimes(policyConfig.flow.timeSampler, n, vRng);
    const vxt = new Float32Array(n * D);
    const vut = new Float32Array(n * D);
    linearPath.sample(v0, v1, vt, D, vxt, vut);
    return { n, vc, vt, vxt, vut };
  })();

  const validate = (store: ParamStore): number | null => {
    if (!val) return null;
    let sum = 0;
    for (let s = 0; s < val.n; s += B) {
      const e = Math.min(val.n, s + B);
      const b = e - s;
      const l = tf.tidy(() => {
        const v = net.apply(store, tf.tensor2d(val.vxt.subarray(s * D, e * D), [b, D]), tf.tensor1d(val.vt.subarray(s, e)), tf.tensor2d(val.vc.subarray(s * condDim, e * condDim), [b, condDim]));
        return tf.mul(cfmLoss(v, tf.tensor2d(val.vut.subarray(s * D, e * D), [b, D])), b);
      });
      sum += l.dataSync()[0];
      l.dispose();
    }
    return sum / val.n;
  };

  let lastVal: number | null = null;
  const save = (step: number): void => {
    saveCheckpoint(files.checkpoint, {
      config: policyConfig,
      stats,
      weights: ema.toWeights(),
      meta: { step, backend: activeBackend()?.name ?? tf.getBackend(), dataset: config.dataset.path, trainLoss: loop.lastTrainLoss, valLoss: lastVal },
    });
    saveTrainState(files.state, loop.trainState(step, identity));
    hooks.onSave?.({ step, checkpointPath: files.checkpoint });
  };

  hooks.onStart?.({
    startStep,
    totalSteps: t.steps,
    trainEpisodes: split.train.length,
    valEpisodes: split.val.length,
    trainWindows: trainWindows.length,
    valWindows: valWindows.length,
    parameters: net.registry.count(),
    policyConfig,
  });

  if (startStep === 0 && val) {
    firstVal = validate(ema);
    loop.record({ step: 0, valLoss: firstVal });
  }

  const { step, interrupted } = await loop.run({
    what: 'training',
    runDir,
    signal: hooks.signal,
    onStep: hooks.onStep,
    save,
    batch: () => {
      for (let i = 0; i < B; i++) idx[i] = rng.int(trainWindows.length);
      trainWindows.fill(idx, cond, x1, policy.normalizer);
      rng.fillNormal(x0);
      let noise: Float32Array = x0;
      if (policyConfig.flow.otCoupling) noise = permuteRows(x0, otCoupling(x0, x1, B, D), D, x0p);
      sampleTimes(policyConfig.flow.timeSampler, B, rng, tt);
      linearPath.sample(noise, x1, tt, D, xt, ut);
      const xtT = tf.tensor2d(xt, [B, D]);
      const tT = tf.tensor1d(tt);
      const condT = tf.tensor2d(cond, [B, condDim]);
      const utT = tf.tensor2d(ut, [B, D]);
      return { loss: () => cfmLoss(net.apply(policy.params, xtT, tT, condT), utT), tensors: [xtT, tT, condT, utT] };
    },
    afterStep: (s) => {
      if (val && (s % t.evalEvery === 0 || s === t.steps)) {
        lastVal = validate(ema);
        firstVal ??= lastVal;
        loop.record({ step: s, valLoss: lastVal });
      }
    },
  });

  const result: TrainResult = {
    runDir,
    checkpointPath: files.checkpoint,
    step,
    totalSteps: t.steps,
    interrupted,
    trainLoss: loop.lastTrainLoss,
    valLoss: lastVal,
    firstValLoss: firstVal,
    elapsedMs: loop.elapsedMs(),
    stepsPerSecond: loop.stepsPerSecond(step),
    parameters: net.registry.count(),
  };
  loop.dispose();
  policy.dispose();
  return result;
}
