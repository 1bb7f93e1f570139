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
import { linearPath } from '../flow/path.js';
import type { ParamStore } from '../nets/params.js';
import { saveCheckpoint } from '../policy/checkpoint.js';
import { FlowPolicyConfig } from '../policy/config.js';
import { FlowPolicy } from '../policy/flow-policy.js';
import type { RunConfig } from './config.js';
import { MetricsLog } from './metrics-log.js';
import { OptimizationLoop, runFolder, type RunHooks, type RunResult } from './optimization-loop.js';
import { fixedPairs, PairBatcher, pairsLoss, regressionStep, windowPairSource, type PairRule } from './pair-batches.js';
import { datasetDigest, isSameRun, trainIdentity } from './run-identity.js';
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

/** The run settings a resume must keep: the config without train.steps (which a resume may extend). */
function resumedSettings(config: RunConfig): Record<string, unknown> & Pick<RunConfig, 'dataset'> {
  return { ...config, train: { ...config.train, steps: undefined } };
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

/** What a run trains on: the episode split, its windows, and the normalisation statistics. */
export interface RunData {
  split: { train: number[]; val: number[] };
  trainWindows: WindowSampler;
  valWindows: WindowSampler;
  stats: Record<string, FeatureStats>;
}

/** The split, windows and statistics of a run, for a policy of the given observation/action spec. */
export function runData(config: RunConfig, dataset: EpisodeDataset, io: Pick<FlowPolicyConfig, 'observation' | 'action'>): RunData {
  const { obsKeys, actionKey } = config.dataset;
  const split = splitEpisodes(dataset.numEpisodes, { valRatio: config.dataset.valRatio, maxTrainEpisodes: config.dataset.maxTrainEpisodes, seed: config.dataset.splitSeed });
  const spec = {
    obsKeys,
    actionKey,
    obsHorizon: io.observation.horizon,
    predHorizon: io.action.horizon,
    padBefore: io.observation.horizon - 1,
    padAfter: io.action.execute - 1,
  };
  const trainWindows = new WindowSampler(dataset, spec, split.train);
  const valWindows = new WindowSampler(dataset, spec, split.val);
  if (trainWindows.length === 0) throw new InputError('dataset', config.dataset.path, `episodes of at least ${spec.predHorizon - spec.padAfter} frames`);

  // Statistics over every frame of the dataset, as Diffusion Policy and LeRobot compute them.
  const stats: Record<string, FeatureStats> = {};
  for (const key of [...obsKeys, actionKey]) stats[key] = computeStats(dataset.feature(key).data, dataset.featureSize(key));
  return { split, trainWindows, valWindows, stats };
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
  if (config.policy.kind === 'lfm') throw new InputError('policy.kind', config.policy.kind, "'flow' (trainLocalFlowPolicy trains LFM chains)");
  const files = runFolder(runDir, RUN_FILES, options.resume === true, ['state']);
  const dataset = options.dataset ?? (await loadDataset(config.dataset.path));
  const policyConfig = policyConfigFor(config, dataset);
  mkdirSync(runDir, { recursive: true });
  const t = config.train;
  const { split, trainWindows, valWindows, stats } = runData(config, dataset, policyConfig);

  const state = options.resume ? loadTrainState(files.state) : null;
  const settings = resumedSettings(config);
  const identity = trainIdentity(settings, datasetDigest(dataset, [...config.dataset.obsKeys, config.dataset.actionKey]));
  if (state && !isSameRun(state.config, identity, JSON.stringify(settings))) {
    throw new InputError('--resume', runDir, 'the same run config and dataset contents as the run being resumed (only train.steps may change; a moved dataset may be given at its new path)');
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

  const rule: PairRule = { g: Infinity, path: linearPath, timeSampler: policyConfig.flow.timeSampler, otCoupling: policyConfig.flow.otCoupling };
  const source = windowPairSource(trainWindows, policy.normalizer);
  const batcher = new PairBatcher(t.batchSize, net.dims.condDim, policy.chunkSize);
  const val = fixedPairs(windowPairSource(valWindows, policy.normalizer), rule, new Rng(t.seed + 2), net.dims.condDim, policy.chunkSize);
  const validate = (store: ParamStore): number | null => (val ? pairsLoss(net, store, val, t.batchSize) : null);

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
    batch: () => regressionStep(net, policy.params, batcher.draw(source, rule, rng)),
    afterStep: (s) => {
      if (val && (s % t.evalEvery === 0 || s === t.steps)) {
        lastVal = validate(ema);
        firstVal ??= lastVal;
        loop.record({ step: s, valLoss: lastVal });
      }
    },
  });

  const result: TrainResult = { ...loop.result({ runDir, checkpointPath: files.checkpoint, step, interrupted, parameters: net.registry.count() }), valLoss: lastVal, firstValLoss: firstVal };
  loop.dispose();
  policy.dispose();
  return result;
}
