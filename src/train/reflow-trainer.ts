import * as tf from '@tensorflow/tfjs';
import { activeBackend } from '../core/backend.js';
import { InputError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';
import { linearPath } from '../flow/path.js';
import { createVelocityNet } from '../nets/velocity-net.js';
import { saveCheckpoint } from '../policy/checkpoint.js';
import { netDimsOf } from '../policy/config.js';
import { FlowPolicy } from '../policy/flow-policy.js';
import { assertObjectiveUnset, assertStudentNetUnset, type DistillConfig } from './distill-config.js';
import { openDistillation, openDistillationCache, stoppedInCache, type DistillHooks, type DistillResult } from './distill-trainer.js';
import { OptimizationLoop } from './optimization-loop.js';
import { PairBatcher, regressionStep, type CoupledPairSource } from './pair-batches.js';
import { segmentedCacheNoise } from './teacher-cache.js';
import { saveTrainState } from './train-state.js';

/**
 * Reflow a flow-matching teacher (config.target 'reflow'; Liu et al. 2023,
 * rectified flow). The teacher's ODE couples each noise z with the sample
 * y = ODE(z | c) it reaches (the distillation cache: K per observation, its
 * noise regenerated from the cache seed). A flow of the same network is
 * then trained by conditional flow matching on the linear path between
 * each pair's own ends (flow/path.ts, flow/loss.ts):
 *
 *   min_v E_{(z, y, c), t} || (y - z) - v((1 - t) z + t y, t, c) ||^2
 *
 * with t from the teacher's own time sampler.
 *
 * Independent noise and data make crossing paths whose velocity field
 * averages them and bends; these paths come from one deterministic map,
 * so they cross less and the new flow is straighter: a few Euler steps
 * land where many did, with the teacher's distribution. The network starts
 * from the teacher's weights (student.warmStart; off: fresh weights). The
 * result is a 'flow' checkpoint, a teacher like any other (eval it with
 * --steps, distil a student from it). `resume` continues bit for bit.
 */
export async function reflowTeacher(
  config: DistillConfig,
  options: { runDir: string; resume?: boolean; hooks?: DistillHooks; signal?: AbortSignal; dataset?: EpisodeDataset },
): Promise<DistillResult> {
  const { hooks = {} } = options;
  if (config.target !== 'reflow') throw new InputError('target', config.target ?? 'student', "'reflow' (distillStudent distils one student)");
  assertObjectiveUnset(config, "the flow is fitted to the teacher's own pairs; the objective settings are the student's");
  assertStudentNetUnset(config, "the reflowed flow is the teacher's network retrained, on the teacher's noise");
  const setup = await openDistillation(config, options);
  const { runDir, files, signal, teacherPath, teacherDigest, checkpoint: t0, teacher, identity, state, datasetPath, trainEpisodes, visitedWindows, jitteredWindows, conds, N, C, D } = setup;
  if (!(teacher instanceof FlowPolicy)) {
    teacher.dispose();
    throw new InputError('config.kind', t0.config.kind, "'flow' (target 'reflow' retrains a flow teacher's network; an LFM chain has one per block: use target 'blocks' or 'student')", teacherPath);
  }
  const flowConfig = teacher.config;

  const K = config.cache.k;
  const { cacheDir, cache } = await openDistillationCache(setup, config, hooks, teacher);
  const t = config.train;
  const initial = config.student.warmStart ? teacher.params.toWeights() : createVelocityNet(flowConfig.net, netDimsOf(flowConfig)).registry.initialize(new Rng(t.seed));
  teacher.dispose();
  if (!cache) return stoppedInCache(setup, config, cacheDir);
  const samples = cache.samples;
  const noise = segmentedCacheNoise(cache.specs);
  // Row r = n * K + k is sample k of observation n: its noise, and where the teacher took it.
  const pairs: CoupledPairSource = {
    rows: N * K,
    fill: (idx, cond, x0, x1) => {
      for (let b = 0; b < idx.length; b++) {
        const r = idx[b];
        const n = Math.floor(r / K);
        cond.set(conds.subarray(n * C, (n + 1) * C), b * C);
        x0.set(noise.subarray(r * D, (r + 1) * D), b * D);
        x1.set(samples.subarray(r * D, (r + 1) * D), b * D);
      }
    },
  };

  const flow = new FlowPolicy(flowConfig, t0.stats, initial, { trainable: true });
  const net = flow.net;
  const loop = new OptimizationLoop({ registry: net.registry, params: flow.params, options: t, metricsPath: files.metrics, resumeFrom: state, onRecord: hooks.onRecord });
  const batcher = new PairBatcher(t.batchSize, C, D);
  const rule = { path: linearPath, timeSampler: flowConfig.flow.timeSampler };

  const save = (step: number): void => {
    saveCheckpoint(files.checkpoint, {
      config: flowConfig,
      stats: t0.stats,
      weights: loop.ema.toWeights(),
      meta: { step, distilled: 'reflow', backend: activeBackend()?.name ?? tf.getBackend(), dataset: datasetPath, teacher: teacherPath, teacherSha256: teacherDigest, k: K, trainLoss: loop.lastTrainLoss },
    });
    saveTrainState(files.state, loop.trainState(step, identity));
    hooks.onSave?.({ step, checkpointPath: files.checkpoint });
  };

  hooks.onStart?.({ startStep: loop.startStep, totalSteps: t.steps, teacherPath, trainEpisodes, windows: N, visitedWindows, jitteredWindows, parameters: net.registry.count(), reflowConfig: flowConfig, cacheDir });

  const { step, interrupted } = await loop.run({
    what: 'reflow',
    runDir,
    signal,
    onStep: hooks.onStep,
    save,
    batch: () => regressionStep(net, flow.params, batcher.drawCoupled(pairs, rule, loop.rng)),
  });

  const result: DistillResult = {
    ...loop.result({ runDir, checkpointPath: files.checkpoint, step, interrupted, parameters: net.registry.count() }),
    cache: { dir: cacheDir, builtParts: cache.builtParts, reusedParts: cache.reusedParts },
  };
  loop.dispose();
  flow.dispose();
  return result;
}
