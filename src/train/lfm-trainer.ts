import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { activeBackend } from '../core/backend.js';
import { float32ToLeBytes, leBytesToFloat32 } from '../core/bytes.js';
import { decodeContainer, encodeContainer } from '../core/container.js';
import { digestOf } from '../core/digest.js';
import { CorruptFileError, InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { Rng } from '../core/rng.js';
import { parseInput } from '../core/schema.js';
import type { EpisodeDataset } from '../data/episode-dataset.js';
import { loadDataset } from '../data/load-dataset.js';
import type { Normalizer } from '../data/normalizer.js';
import type { WindowSampler } from '../data/windows.js';
import { lfmPath } from '../flow/lfm-interpolant.js';
import { pushPool } from '../flow/lfm.js';
import type { SolverConfig } from '../flow/ode.js';
import { ParamStore, type ParamRegistry, type WeightMap } from '../nets/params.js';
import { createVelocityNet, type VelocityNet } from '../nets/velocity-net.js';
import { decodeWeights, encodeWeights } from '../nets/weight-codec.js';
import { saveCheckpoint } from '../policy/checkpoint.js';
import { netDimsOf, normalizerFor, type FlowPolicyConfig } from '../policy/config.js';
import { blockCount, blockSteps, LfmPolicyConfig } from '../policy/lfm-config.js';
import { joinChainWeights } from '../policy/local-flow-policy.js';
import { netVelocityField } from '../policy/velocity-field.js';
import { LfmRunOptions, type RunConfig } from './config.js';
import { policyConfigFor, RUN_FILES, runData, type TrainResult } from './flow-trainer.js';
import { MetricsLog, type MetricRecord } from './metrics-log.js';
import { OptimizationLoop, runFolder, stepsPerSecond, type LoopOptions, type RunHooks } from './optimization-loop.js';
import { fixedPairs, PairBatcher, pairsLoss, poolPairSource, regressionStep, type PairRule } from './pair-batches.js';
import { datasetDigest, isSameRun, trainIdentity } from './run-identity.js';
import { loadTrainState, saveTrainState, type TrainState } from './train-state.js';

/**
 * Training a Local Flow Matching chain (policy/lfm-config.ts) block by
 * block, each with the shared optimisation loop.
 *
 * Pool P_0 = the normalised training chunks, each kept with its
 * observation window (the condition never changes). Block n regresses the
 * interpolant's velocity between pairs (a', a): a from P_{n-1} at t = 1,
 * a' = e^{-g_n} a + sqrt(1 - e^{-2 g_n}) z at t = 0 (pure noise for the
 * free block N). It starts from block n-1's final (EMA) weights; the pool
 * is then pushed through its ODE from t = 1 to 0 to give P_n. The
 * validation windows are pushed alongside, so each block is validated on
 * pairs of its own distribution.
 *
 * Budget: train.steps is split over the blocks (equal shares, the first
 * blocks taking the remainder), so a chain costs flow matching's optimizer
 * steps. Each block has its own learning-rate warm-up and schedule over
 * its share, its own EMA warm-up, and its own generator (seed t.seed for
 * block 1, as flow matching): with N = 1 and the linear interpolant the
 * run draws exactly flow matching's batches and reaches its weights.
 *
 * Run folder: the files of a flow run (config.json, metrics.jsonl with a
 * `block` field and run-wide steps, checkpoint.fpk, train-state.fpk with
 * the block being trained), plus lfm-blocks/block-NN.fpb for each finished
 * block before the last: its final weights and the pools it pushed, in a
 * checksummed container. Every file is written atomically; a resumed run
 * continues at the block and step where it stopped. While a block trains,
 * checkpoint.fpk holds the finished blocks, the current block's EMA
 * weights, and copies of those for the blocks still to come (their warm
 * start): a complete chain at every save, but a good policy only at the end.
 */
export const LFM_FILES = { ...RUN_FILES, blocks: 'lfm-blocks' } as const;

const BLOCK_FORMAT = 'flowpolicy-lfm-block';
const BLOCK_VERSION = 1;

export interface LfmTrainStartInfo {
  startStep: number;
  totalSteps: number;
  /** The block the run starts (or resumes) at, 1-based. */
  startBlock: number;
  blocks: number;
  /** Optimizer steps of each block. */
  blockSteps: number[];
  trainEpisodes: number;
  valEpisodes: number;
  trainWindows: number;
  valWindows: number;
  /** Parameters of the whole chain (N blocks). */
  parameters: number;
  policyConfig: LfmPolicyConfig;
}

export interface LfmTrainHooks extends RunHooks {
  onStart?(info: LfmTrainStartInfo): void;
  /** When a block starts training, and when its pools start being pushed. */
  onBlock?(info: { block: number; blocks: number; phase: 'train' | 'push'; steps: number; poolRows: number }): void;
}

/** valLoss and firstValLoss are those of the latest block trained (each block's losses are on its own pairs). */
export interface LfmTrainResult extends TrainResult {
  blocks: number;
  /** Validation loss of each block, before its first step and after its last (null without validation windows or before it ran). */
  blockValLoss: { first: number | null; last: number | null }[];
}

/** The optimizer steps of each block: train.steps split as equally as it goes, the first blocks taking the remainder. */
export function blockBudget(steps: number, blocks: number): number[] {
  if (!(Number.isInteger(steps) && steps >= blocks)) throw new InputError('train.steps', steps, `at least the number of LFM blocks (${blocks}): the steps are split over them`);
  const base = Math.floor(steps / blocks);
  return Array.from({ length: blocks }, (_, i) => base + (i < steps % blocks ? 1 : 0));
}

/**
 * Block n's generator seed: t.seed for block 1 (as flow matching), then
 * distinct high words, so no two blocks draw the same stream.
 */
function blockSeed(seed: number, block: number): number {
  return seed + (block - 1) * 2 ** 32;
}

/**
 * The optimisation loop of block n (1-based) of a run whose train.steps are
 * split over its blocks (`budget`): the block's share of the steps, its own
 * generator seed, run-wide step numbers and records tagged with the block.
 */
export function blockLoop(o: {
  registry: ParamRegistry;
  params: ParamStore;
  train: LoopOptions;
  block: number;
  budget: readonly number[];
  metricsPath: string;
  resumeFrom: TrainState | null;
  onRecord?: (record: MetricRecord) => void;
  elapsedMsBefore: number;
}): OptimizationLoop {
  const n = o.block;
  return new OptimizationLoop({
    registry: o.registry,
    params: o.params,
    options: { ...o.train, steps: o.budget[n - 1], seed: blockSeed(o.train.seed, n) },
    metricsPath: o.metricsPath,
    resumeFrom: o.resumeFrom,
    onRecord: o.onRecord,
    placement: { stepOffset: o.budget.slice(0, n - 1).reduce((a, b) => a + b, 0), totalSteps: o.train.steps, tags: { block: n }, elapsedMsBefore: o.elapsedMsBefore },
  });
}

/** The run config with its LFM section written out (defaults filled), as config.json keeps it. */
function materialise(config: RunConfig): RunConfig {
  return { ...config, policy: { ...config.policy, kind: 'lfm', lfm: config.policy.lfm ?? LfmRunOptions.parse({}) } };
}

/** The LFM policy config a run implies (the flow policy's fields, the run's schedule and interpolant). */
export function lfmPolicyConfigFor(config: RunConfig, dataset: EpisodeDataset): LfmPolicyConfig {
  const flow: FlowPolicyConfig = policyConfigFor(config, dataset);
  const lfm = config.policy.lfm ?? LfmRunOptions.parse({});
  const { path: _path, ...flowSpec } = flow.flow;
  return parseInput(
    LfmPolicyConfig,
    {
      kind: 'lfm',
      observation: flow.observation,
      action: flow.action,
      normalization: flow.normalization,
      net: flow.net,
      flow: flowSpec,
      lfm: { schedule: lfm.schedule, interpolant: lfm.interpolant },
      inference: flow.inference,
    },
    'policy',
  );
}

/** A pool: normalised chunks [rows, D] and their conditions [rows, C] (which every block keeps). */
interface Pool {
  cond: Float32Array;
  chunks: Float32Array;
}

function windowPool(windows: WindowSampler, normalizer: Normalizer, condDim: number, dim: number): Pool {
  const n = windows.length;
  const cond = new Float32Array(n * condDim);
  const chunks = new Float32Array(n * dim);
  windows.fill(Int32Array.from({ length: n }, (_, i) => i), cond, chunks, normalizer);
  return { cond, chunks };
}

/**
 * Push a pool through one trained block (its ODE from t = 1 to 0), `batch`
 * rows per network call. Returns null when `signal` aborts between batches.
 */
async function pushThroughBlock(net: VelocityNet, weights: WeightMap, pool: Pool, options: { solver: SolverConfig; batch: number; signal?: AbortSignal }): Promise<Float32Array | null> {
  const { condDim, horizon, actionDim } = net.dims;
  const D = horizon * actionDim;
  const rows = pool.chunks.length / D;
  const out = new Float32Array(pool.chunks.length);
  const params = ParamStore.fromWeights(net.registry, weights, { kind: 'constant' });
  try {
    for (let s = 0; s < rows; s += options.batch) {
      if (options.signal?.aborted) return null;
      const e = Math.min(rows, s + options.batch);
      const field = netVelocityField(net, params, pool.cond.subarray(s * condDim, e * condDim), e - s);
      try {
        out.set(pushPool(field.velocity, pool.chunks.subarray(s * D, e * D), options.solver).x, s * D);
      } finally {
        field.dispose();
      }
      // Let signal handlers (Ctrl-C) run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    params.dispose();
  }
  return out;
}

/** What a finished block leaves for the next: its final weights and the pools it pushed. */
interface BlockResult {
  weights: WeightMap;
  train: Float32Array;
  val: Float32Array;
  /** Training time of the run up to the end of this block. */
  elapsedMs: number;
}

function blockPath(dir: string, block: number): string {
  return join(dir, `block-${String(block).padStart(2, '0')}.fpb`);
}

/** Which run a block file belongs to. */
function runDigest(identity: string): string {
  return digestOf(new TextEncoder().encode(identity));
}

function writeBlockResult(path: string, identity: string, block: number, r: BlockResult): void {
  writeFileAtomic(
    path,
    encodeContainer(
      { format: BLOCK_FORMAT, version: BLOCK_VERSION },
      { run: runDigest(identity), block, weights: encodeWeights(r.weights), train: float32ToLeBytes(r.train), val: float32ToLeBytes(r.val), elapsedMs: r.elapsedMs },
    ),
  );
}

function readBlockResult(path: string, identity: string, block: number, sizes: { train: number; val: number }): BlockResult {
  if (!existsSync(path)) throw new CorruptFileError(path, `missing: the run's state is past block ${block}, whose result this file holds; start the run again in a new folder`);
  const { body } = decodeContainer(readFileSync(path), path, BLOCK_FORMAT, [BLOCK_VERSION], 'LFM block result');
  const b = (body ?? {}) as Record<string, unknown>;
  if (b.run !== runDigest(identity)) throw new InputError(path, 'another run', 'the result of a block of this run (same config)');
  if (b.block !== block) throw new CorruptFileError(path, `holds block ${String(b.block)}, expected ${block}`);
  const bytes = (v: unknown, n: number, what: string): Float32Array => {
    if (!(v instanceof Uint8Array) || v.length !== n * 4) throw new CorruptFileError(path, `${what} pool is not ${n} float32 values`);
    return leBytesToFloat32(v);
  };
  if (typeof b.elapsedMs !== 'number') throw new CorruptFileError(path, 'no elapsedMs');
  return {
    weights: decodeWeights(b.weights as Parameters<typeof decodeWeights>[0], path),
    train: bytes(b.train, sizes.train, 'training'),
    val: bytes(b.val, sizes.val, 'validation'),
    elapsedMs: b.elapsedMs,
  };
}

/**
 * Train a Local Flow Matching policy on a dataset (config.policy.kind
 * 'lfm'). Writes the run folder described above; `resume` continues an
 * interrupted run (same config, train.steps included: the steps are split
 * over the blocks) at the block and step where it stopped.
 */
export async function trainLocalFlowPolicy(
  config: RunConfig,
  options: { runDir: string; resume?: boolean; hooks?: LfmTrainHooks; dataset?: EpisodeDataset },
): Promise<LfmTrainResult> {
  const { runDir, hooks = {} } = options;
  if (config.policy.kind !== 'lfm') throw new InputError('policy.kind', config.policy.kind ?? 'flow', "'lfm' (trainFlowPolicy trains flow-matching policies)");
  const files = runFolder(runDir, LFM_FILES, options.resume === true, ['state']);
  const run = materialise(config);
  const state = options.resume ? loadTrainState(files.state) : null;
  const dataset = options.dataset ?? (await loadDataset(config.dataset.path));
  const current = trainIdentity(run, datasetDigest(dataset, [...run.dataset.obsKeys, run.dataset.actionKey]));
  if (state && (!isSameRun(state.config, current, JSON.stringify(run)) || state.block === undefined)) {
    throw new InputError('--resume', runDir, 'the same LFM run config and dataset contents as the run being resumed (train.steps included: it is split over the blocks; a moved dataset may be given at its new path)');
  }
  // The saved block results are keyed to the identity, so a resumed run keeps the form its state recorded.
  const identity = state?.config ?? current;
  const policyConfig = lfmPolicyConfigFor(run, dataset);
  const t = run.train;
  const lfm = run.policy.lfm!;
  const { split, trainWindows, valWindows, stats } = runData(run, dataset, policyConfig);
  const N = blockCount(policyConfig.lfm.schedule);
  const g = blockSteps(policyConfig.lfm.schedule, 'policy.lfm.schedule');
  const budget = blockBudget(t.steps, N);
  const offsets = budget.map((_, n) => budget.slice(0, n).reduce((a, b) => a + b, 0));
  const path = lfmPath(policyConfig.lfm.interpolant);
  const net = createVelocityNet(policyConfig.net, netDimsOf(policyConfig));
  const C = net.dims.condDim;
  const D = policyConfig.action.horizon * policyConfig.action.dim;
  const normalizer = normalizerFor(policyConfig, stats);
  const trainPool0 = windowPool(trainWindows, normalizer, C, D);
  const valPool0 = windowPool(valWindows, normalizer, C, D);
  const sizes = { train: trainPool0.chunks.length, val: valPool0.chunks.length };

  mkdirSync(runDir, { recursive: true });
  mkdirSync(files.blocks, { recursive: true });
  // Temporary files of a write cut short by a crash: never renamed, never read.
  for (const f of readdirSync(files.blocks)) if (f.includes('.tmp-')) rmSync(join(files.blocks, f), { force: true });
  writeFileAtomic(files.config, `${JSON.stringify(run, null, 2)}\n`);

  // Finished blocks of a resumed run: weights and the pools they pushed.
  const done: WeightMap[] = [];
  let trainPool = trainPool0.chunks;
  let valPool = valPool0.chunks;
  let elapsedBefore = 0;
  let startBlock = state?.block ?? 1;
  if (state && state.step >= budget[startBlock - 1] && startBlock < N && existsSync(blockPath(files.blocks, startBlock))) startBlock++;
  for (let n = 1; n < startBlock; n++) {
    const r = readBlockResult(blockPath(files.blocks, n), identity, n, sizes);
    done.push(r.weights);
    trainPool = r.train;
    valPool = r.val;
    elapsedBefore = r.elapsedMs;
  }
  const resumeState = state && state.block === startBlock ? state : null;
  const startStep = offsets[startBlock - 1] + (resumeState?.step ?? 0);
  const parameters = net.registry.count() * N;

  hooks.onStart?.({
    startStep,
    totalSteps: t.steps,
    startBlock,
    blocks: N,
    blockSteps: budget,
    trainEpisodes: split.train.length,
    valEpisodes: split.val.length,
    trainWindows: trainWindows.length,
    valWindows: valWindows.length,
    parameters,
    policyConfig,
  });

  const started = performance.now();
  let step = startStep;
  let interrupted = false;
  let trainLoss: number | null = null;
  let elapsedMs = elapsedBefore;
  const backend = activeBackend()?.name ?? tf.getBackend();

  for (let n = startBlock; n <= N && !interrupted; n++) {
    const resumeFrom = n === startBlock ? resumeState : null;
    const init = n === 1 ? net.registry.initialize(new Rng(t.seed)) : done[n - 2];
    const params = ParamStore.fromWeights(net.registry, init, { kind: 'trainable' });
    const loop = blockLoop({ registry: net.registry, params, train: t, block: n, budget, metricsPath: files.metrics, resumeFrom, onRecord: hooks.onRecord, elapsedMsBefore: elapsedBefore });
    const rule: PairRule = { g: g[n - 1], path, timeSampler: policyConfig.flow.timeSampler, otCoupling: policyConfig.flow.otCoupling };
    const source = poolPairSource(trainPool0.cond, trainPool, C, D);
    const batcher = new PairBatcher(t.batchSize, C, D);
    const val = fixedPairs(poolPairSource(valPool0.cond, valPool, C, D), rule, new Rng(blockSeed(t.seed, n) + 2), C, D);
    let lastVal: number | null = null;
    const validate = (): number | null => (val ? pairsLoss(net, loop.ema, val, t.batchSize) : null);

    const save = (s: number): void => {
      const current = loop.ema.toWeights();
      const chain = [...done, current, ...Array.from({ length: N - n }, () => current)];
      saveCheckpoint(files.checkpoint, {
        config: policyConfig,
        stats,
        weights: joinChainWeights(chain),
        meta: { step: loop.runStep(s), block: n, blocks: N, backend, dataset: run.dataset.path, trainLoss: loop.lastTrainLoss, valLoss: lastVal },
      });
      saveTrainState(files.state, { ...loop.trainState(s, identity), block: n });
      hooks.onSave?.({ step: loop.runStep(s), checkpointPath: files.checkpoint });
    };

    hooks.onBlock?.({ block: n, blocks: N, phase: 'train', steps: budget[n - 1], poolRows: source.rows });
    if (!resumeFrom && val) loop.record({ step: offsets[n - 1], valLoss: validate() });
    const r = await loop.run({
      what: `training LFM block ${n} of ${N}`,
      runDir,
      signal: hooks.signal,
      onStep: hooks.onStep,
      save,
      batch: () => regressionStep(net, params, batcher.draw(source, rule, loop.rng)),
      afterStep: (s) => {
        if (val && (s % t.evalEvery === 0 || s === budget[n - 1])) {
          lastVal = validate();
          loop.record({ step: loop.runStep(s), valLoss: lastVal });
        }
      },
    });
    step = loop.runStep(r.step);
    interrupted = r.interrupted;
    trainLoss = loop.lastTrainLoss ?? trainLoss;
    elapsedMs = loop.elapsedMs();
    const weights = loop.ema.toWeights();
    loop.dispose();
    params.dispose();
    if (interrupted || n === N) break;

    done.push(weights);
    hooks.onBlock?.({ block: n, blocks: N, phase: 'push', steps: budget[n - 1], poolRows: source.rows + valWindows.length });
    const pushStarted = performance.now();
    const pushOpts = { solver: lfm.push.solver, batch: lfm.push.batch, signal: hooks.signal };
    const nextTrain = await pushThroughBlock(net, weights, { cond: trainPool0.cond, chunks: trainPool }, pushOpts);
    const nextVal = nextTrain && (await pushThroughBlock(net, weights, { cond: valPool0.cond, chunks: valPool }, pushOpts));
    if (!nextTrain || !nextVal) {
      // Stopped mid-push: the state says this block is finished, so a resume pushes again.
      interrupted = true;
      break;
    }
    trainPool = nextTrain;
    valPool = nextVal;
    elapsedMs += performance.now() - pushStarted;
    writeBlockResult(blockPath(files.blocks, n), identity, n, { weights, train: trainPool, val: valPool, elapsedMs });
    elapsedBefore = elapsedMs;
  }

  // Per-block validation losses from the log, which a resumed run keeps from its earlier sessions.
  const records = MetricsLog.read(files.metrics);
  const blockValLoss = Array.from({ length: N }, (_, i) => {
    const v = records.filter((x) => x.block === i + 1 && typeof x.valLoss === 'number').map((x) => x.valLoss as number);
    return { first: v.length ? v[0] : null, last: v.length > 1 ? v[v.length - 1] : null };
  });
  // The run-level pair is the latest block's: losses of different blocks are on different pairs, not comparable.
  const latest = blockValLoss.reduce((k, b, i) => (b.first !== null ? i : k), 0);
  return {
    runDir,
    checkpointPath: files.checkpoint,
    step,
    totalSteps: t.steps,
    interrupted,
    trainLoss,
    valLoss: blockValLoss[latest].last,
    firstValLoss: blockValLoss[latest].first,
    elapsedMs,
    stepsPerSecond: stepsPerSecond({ steps: step - startStep, sessionMs: performance.now() - started, runSteps: step, runMs: elapsedMs }),
    parameters,
    blocks: N,
    blockValLoss,
  };
}
