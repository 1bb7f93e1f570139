import * as tf from '@tensorflow/tfjs';
import { activeBackend } from '../core/backend.js';
import { InputError } from '../core/errors.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';
import { meanRowDistance } from '../flow/imle.js';
import { readCheckpoint, saveCheckpoint } from '../policy/checkpoint.js';
import { blockCount, LfmPolicyConfig } from '../policy/lfm-config.js';
import { joinChainWeights, LocalFlowPolicy, splitChainWeights } from '../policy/local-flow-policy.js';
import { ParamStore, type WeightMap } from '../nets/params.js';
import { assertObjectiveUnset, assertStudentNetUnset, type DistillConfig } from './distill-config.js';
import { openDistillation, openDistillationCache, stoppedInCache, type DistillHooks, type DistillResult } from './distill-trainer.js';
import { blockBudget, blockLoop } from './lfm-trainer.js';
import { saveTrainState } from './train-state.js';
import { stepsPerSecond } from './optimization-loop.js';

/** The solver of a chain whose blocks were distilled: one Euler step each, N network calls in all. */
const ONE_STEP = { method: 'euler', steps: 1 } as const;

/**
 * Distil every block of a Local Flow Matching chain to one step
 * (config.target 'blocks'). The chain generates K samples per training
 * observation once, keeping every intermediate point (the cache holds
 * [noise, x_{N-1}, ..., x_0] per sample, LocalFlowPolicy.sampleStates), so
 * block n's map x_n -> x_{n-1} (its ODE from t = 0 to 1 with the cache's
 * solver) is known on the chain's own inputs. Block n's one-step copy
 * starts from the teacher's block and learns
 *
 *   min E || x_n + v_n(x_n, t = 0, c) - x_{n-1} ||_2     (un-squared, per chunk)
 *
 * so that one Euler step reproduces the block: a deterministic map, fitted
 * pair by pair, keeps the chain's modes where it sends them. Blocks train
 * one after another on train.steps split over them (lfm-trainer.ts's
 * split). The result is an 'lfm' checkpoint whose inference solver is one
 * Euler step per block; between blocks the checkpoint holds the distilled
 * blocks so far and the teacher's others, so it always runs. `resume`
 * continues at the block and step where a run stopped.
 */
export async function distillBlocks(
  config: DistillConfig,
  options: { runDir: string; resume?: boolean; hooks?: DistillHooks; signal?: AbortSignal; dataset?: EpisodeDataset },
): Promise<DistillResult> {
  const { hooks = {} } = options;
  if (config.target !== 'blocks') throw new InputError('target', config.target ?? 'student', "'blocks' (distillStudent distils one student)");
  assertObjectiveUnset(config, "each block is fitted to the chain's own pairs; the objective settings are the student's");
  assertStudentNetUnset(config, "each block keeps the chain's network and noise");
  const setup = await openDistillation(config, options);
  const { runDir, files, signal, teacherPath, teacherDigest, checkpoint: t0, teacher, identity, state, datasetPath, trainEpisodes, visitedWindows, jitteredWindows, conds, N: W, C, D } = setup;
  if (!(teacher instanceof LocalFlowPolicy)) {
    teacher.dispose();
    throw new InputError('config.kind', t0.config.kind, "'lfm' (target 'blocks' distils the blocks of an LFM chain; a flow teacher has none: use target 'student')", teacherPath);
  }
  if (state && state.block === undefined) throw new InputError('--resume', runDir, 'a per-block distillation run (its state names no block)');
  const chainConfig = LfmPolicyConfig.parse({ ...t0.config, inference: ONE_STEP });
  const N = blockCount(chainConfig.lfm.schedule);
  const t = config.train;
  const budget = blockBudget(t.steps, N);
  const offsets = budget.map((_, n) => budget.slice(0, n).reduce((a, b) => a + b, 0));
  const S = teacher.stateSize;

  const K = config.cache.k;
  const { cacheDir, cache } = await openDistillationCache(setup, config, hooks, { condSize: C, chunkSize: S, sampleNormalized: (c, z, b, s) => teacher.sampleStates(c, z, b, s) });
  const teacherBlocks = teacher.blocks.map((b) => b.toWeights());
  const net = teacher.net;
  teacher.dispose();
  const parameters = net.registry.count() * N;
  if (!cache) return stoppedInCache(setup, config, cacheDir, parameters);
  const states = cache.samples;

  // Blocks finished before a resume are the checkpoint's; the others start as the teacher's.
  const blocks: WeightMap[] = state ? splitChainWeights(readCheckpoint(files.checkpoint).weights, N) : [...teacherBlocks];
  let startBlock = state?.block ?? 1;
  if (state && state.step >= budget[startBlock - 1] && startBlock < N) startBlock++;
  const resumeState = state && state.block === startBlock ? state : null;
  const startStep = offsets[startBlock - 1] + (resumeState?.step ?? 0);

  hooks.onStart?.({ startStep, totalSteps: t.steps, teacherPath, trainEpisodes, windows: W, visitedWindows, jitteredWindows, parameters, blocks: N, cacheDir });

  const backend = activeBackend()?.name ?? tf.getBackend();
  const started = performance.now();
  const B = t.batchSize;
  const xIn = new Float32Array(B * D);
  const xOut = new Float32Array(B * D);
  const cond = new Float32Array(B * C);
  let step = startStep;
  let interrupted = false;
  let trainLoss: number | null = null;
  let elapsedMs = 0;
  let elapsedBefore = state && !resumeState ? state.elapsedMs : 0;

  for (let n = startBlock; n <= N && !interrupted; n++) {
    const resumeFrom = n === startBlock ? resumeState : null;
    const params = ParamStore.fromWeights(net.registry, teacherBlocks[n - 1], { kind: 'trainable' });
    const loop = blockLoop({ registry: net.registry, params, train: t, block: n, budget, metricsPath: files.metrics, resumeFrom, onRecord: hooks.onRecord, elapsedMsBefore: elapsedBefore });
    // Block n reads state N - n of a sample and must reach state N - n + 1.
    const inSlot = (N - n) * D;
    const outSlot = inSlot + D;
    const save = (s: number): void => {
      const chain = blocks.map((w, i) => (i === n - 1 ? loop.ema.toWeights() : w));
      saveCheckpoint(files.checkpoint, {
        config: chainConfig,
        stats: t0.stats,
        weights: joinChainWeights(chain),
        meta: { step: loop.runStep(s), block: n, blocks: N, distilled: 'blocks', backend, dataset: datasetPath, teacher: teacherPath, teacherSha256: teacherDigest, k: K, trainLoss: loop.lastTrainLoss },
      });
      saveTrainState(files.state, { ...loop.trainState(s, identity), block: n });
      hooks.onSave?.({ step: loop.runStep(s), checkpointPath: files.checkpoint });
    };
    const rng = loop.rng;
    const r = await loop.run({
      what: `distilling LFM block ${n} of ${N}`,
      runDir,
      signal,
      onStep: hooks.onStep,
      save,
      batch: () => {
        for (let b = 0; b < B; b++) {
          const row = rng.int(W * K);
          const w = Math.floor(row / K);
          xIn.set(states.subarray(row * S + inSlot, row * S + inSlot + D), b * D);
          xOut.set(states.subarray(row * S + outSlot, row * S + outSlot + D), b * D);
          cond.set(conds.subarray(w * C, (w + 1) * C), b * C);
        }
        const xT = tf.tensor2d(xIn, [B, D]);
        const yT = tf.tensor2d(xOut, [B, D]);
        const cT = tf.tensor2d(cond, [B, C]);
        const tT = tf.zeros([B]) as tf.Tensor1D;
        const loss = () => meanRowDistance(tf.add(xT, net.apply(params, xT, tT, cT)) as tf.Tensor2D, yT);
        return { loss, tensors: [xT, yT, cT, tT] };
      },
    });
    step = loop.runStep(r.step);
    interrupted = r.interrupted;
    trainLoss = loop.lastTrainLoss ?? trainLoss;
    elapsedMs = loop.elapsedMs();
    elapsedBefore = elapsedMs;
    blocks[n - 1] = loop.ema.toWeights();
    loop.dispose();
    params.dispose();
  }

  return {
    runDir,
    checkpointPath: files.checkpoint,
    step,
    totalSteps: t.steps,
    interrupted,
    trainLoss,
    elapsedMs,
    stepsPerSecond: stepsPerSecond({ steps: step - startStep, sessionMs: performance.now() - started, runSteps: step, runMs: elapsedMs }),
    parameters,
    cache: { dir: cacheDir, builtParts: cache.builtParts, reusedParts: cache.reusedParts },
  };
}
