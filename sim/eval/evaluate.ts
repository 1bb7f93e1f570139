import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FlowpolicyError, InputError } from '../../src/core/errors.js';
import { quantile } from '../../src/core/stats.js';
import '../tasks.js';
import { createEnv } from '../registry.js';
import type { EvalWorkerJob, EvalWorkerMessage } from './eval-worker.js';
import { checkKernelOption, isScriptedSpec, policyIoOf, resolvePolicySource } from '../../src/policy/policy-source.js';
import { checkPolicyFitsTask } from './policy-fit.js';
import type { EpisodeResult } from './run-episode.js';

export interface EvalOptions {
  /** `scripted:<name>`, a checkpoint file, or a run / preset folder. */
  policy: string;
  task: string;
  episodes: number;
  /** First seed; episode i runs seed + i (the paper evaluates from 100000). */
  seed: number;
  /**
   * Draws of the policy's noise per episode seed (default 1): draw d
   * reseeds the policy with seed + d * DRAW_STRIDE, draw 0 being the
   * standard protocol. The 50-seed mean moves between draws by several
   * hundredths on Push-T; more draws measure it, and its spread.
   */
  draws?: number;
  /** Solver steps per act() (per block for an LFM chain) instead of the checkpoint's; flow and LFM policies only. */
  solverSteps?: number;
  /** Worker threads (default: one per core, at most one per episode). */
  workers?: number;
  /** Record the states of the first N episodes (for videos). */
  recordEpisodes?: number;
  maxSteps?: number;
  backend?: string;
  /** The kernel of a student's real-time path (default: float32 WebAssembly SIMD). */
  kernel?: string;
  onEpisode?: (r: EpisodeResult, done: number) => void;
  signal?: AbortSignal;
}

export interface EvalSummary {
  task: string;
  policy: string;
  policyKind: string;
  backend: string;
  /** The student's real-time kernel, when one was asked for. */
  kernel?: string;
  episodes: number;
  firstSeed: number;
  /** Mean over episodes of the max reward (the Diffusion Policy paper's number). */
  meanMaxReward: number;
  meanMaxCoverage: number;
  meanFinalCoverage: number;
  /** Fraction of episodes whose coverage passed the success bar (LeRobot's number). */
  successRate: number;
  meanEpisodeLength: number;
  latencyMsP50: number;
  latencyMsP99: number;
  policyCalls: number;
  workers: number;
  wallSeconds: number;
  /** The task's control rate (videos play at it, so a second of GIF is a second of simulated time). */
  controlHz: number;
  /** Noise draws per seed; the means above are over every (seed, draw). */
  draws: number;
  /** Per draw, over its episodes: the spread of the figures a single run reports. */
  byDraw: { meanMaxReward: number; successRate: number }[];
  /** Sample standard deviation of byDraw's mean max rewards (0 with one draw). */
  meanMaxRewardSd: number;
}

/**
 * Evaluate a policy on seeded episodes of a task, in parallel worker
 * threads. Each episode reseeds the policy with its env seed, so the
 * results do not depend on how episodes are spread over workers.
 */
export async function evaluate(options: EvalOptions): Promise<{ summary: EvalSummary; results: EpisodeResult[] }> {
  const t0 = performance.now();
  if (!Number.isInteger(options.episodes) || options.episodes < 1) throw new InputError('episodes', options.episodes, 'a positive integer');
  if (!Number.isInteger(options.seed) || options.seed < 0) throw new InputError('seed', options.seed, 'a non-negative integer');
  const draws = options.draws ?? 1;
  if (!Number.isInteger(draws) || draws < 1) throw new InputError('draws', options.draws, 'a positive integer');
  const source = resolvePolicySource(options.policy);

  // Check the policy against the task here, once, before any worker starts
  // (from its config alone: the workers are the ones that build it).
  const io = policyIoOf(source);
  const env = await createEnv(options.task);
  const controlHz = env.controlHz;
  try {
    checkPolicyFitsTask(io, env, options.policy);
  } finally {
    env.close();
  }
  if (options.solverSteps !== undefined) {
    if (!Number.isInteger(options.solverSteps) || options.solverSteps < 1) throw new InputError('steps', options.solverSteps, 'a positive integer');
    if (io.kind !== 'flow' && io.kind !== 'lfm') throw new InputError('steps', options.solverSteps, `no solver steps for a ${io.kind} policy (they set the ODE steps of flow and LFM policies)`, options.policy);
  }
  const kernel = checkKernelOption(options.policy, options.kernel);
  let backend = isScriptedSpec(source) ? 'none' : '';

  const seeds = Array.from({ length: options.episodes }, (_, i) => options.seed + i);
  const recordSeeds = seeds.slice(0, options.recordEpisodes ?? 0);
  const workers = Math.max(1, Math.min(options.workers ?? availableParallelism(), seeds.length));
  if (!Number.isInteger(workers)) throw new InputError('workers', options.workers, 'a positive integer');
  const shares: number[][] = Array.from({ length: workers }, () => []);
  seeds.forEach((s, i) => shares[i % workers].push(s));

  const results: EpisodeResult[] = [];
  await Promise.all(
    shares.map((share) =>
      runWorker(
        { source, task: options.task, seeds: share, draws, solverSteps: options.solverSteps, recordSeeds: recordSeeds.filter((s) => share.includes(s)), maxSteps: options.maxSteps, backend: options.backend, kernel },
        (r) => {
          results.push(r);
          options.onEpisode?.(r, results.length);
        },
        (name) => {
          backend ||= name;
        },
        options.signal,
      ),
    ),
  );
  results.sort((a, b) => (a.draw ?? 0) - (b.draw ?? 0) || a.seed - b.seed);
  return { summary: summarize(results, draws, { task: options.task, policy: options.policy, policyKind: io.kind, backend, kernel, firstSeed: options.seed, workers, wallSeconds: (performance.now() - t0) / 1000, controlHz }), results };
}

function startWorker(job: EvalWorkerJob): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./eval-worker.js', self), { workerData: job });
  // Running from TypeScript sources (tests, tsx scripts): the worker registers tsx's loader, then imports itself.
  const worker = new URL('./eval-worker.ts', self).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(worker)}); });`;
  return new Worker(boot, { eval: true, workerData: job });
}

function runWorker(job: EvalWorkerJob, onEpisode: (r: EpisodeResult) => void, onReady: (backend: string) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(job);
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', abort);
      void worker.terminate();
      if (err) reject(err);
      else resolve();
    };
    const abort = () => finish(new FlowpolicyError('evaluation interrupted'));
    signal?.addEventListener('abort', abort);
    worker.on('message', (m: EvalWorkerMessage) => {
      if (m.type === 'episode') onEpisode(m.result);
      else if (m.type === 'ready') onReady(m.backend);
      else if (m.type === 'done') finish();
      else if (m.type === 'error') finish(m.name === 'InputError' ? new FlowpolicyError(m.message) : new Error(`evaluation worker: ${m.message}`));
    });
    worker.on('error', (err) => finish(new Error(`evaluation worker crashed: ${err.message}`)));
    worker.on('exit', (code) => finish(code === 0 ? new Error('evaluation worker exited before finishing its episodes') : new Error(`evaluation worker exited with code ${code}`)));
  });
}

function summarize(results: EpisodeResult[], draws: number, meta: Pick<EvalSummary, 'task' | 'policy' | 'policyKind' | 'backend' | 'kernel' | 'firstSeed' | 'workers' | 'wallSeconds' | 'controlHz'>): EvalSummary {
  const meanOf = (rs: EpisodeResult[], f: (r: EpisodeResult) => number) => rs.reduce((a, r) => a + f(r), 0) / rs.length;
  const mean = (f: (r: EpisodeResult) => number) => meanOf(results, f);
  const latencies = results.flatMap((r) => r.latenciesMs);
  const byDraw = Array.from({ length: draws }, (_, d) => {
    const rs = results.filter((r) => (r.draw ?? 0) === d);
    return { meanMaxReward: meanOf(rs, (r) => r.maxReward), successRate: meanOf(rs, (r) => (r.success ? 1 : 0)) };
  });
  const m = byDraw.reduce((a, b) => a + b.meanMaxReward, 0) / draws;
  const meanMaxRewardSd = draws > 1 ? Math.sqrt(byDraw.reduce((a, b) => a + (b.meanMaxReward - m) ** 2, 0) / (draws - 1)) : 0;
  return {
    task: meta.task,
    policy: meta.policy,
    policyKind: meta.policyKind,
    backend: meta.backend,
    ...(meta.kernel ? { kernel: meta.kernel } : {}),
    episodes: results.length / draws,
    firstSeed: meta.firstSeed,
    meanMaxReward: mean((r) => r.maxReward),
    meanMaxCoverage: mean((r) => r.maxCoverage),
    meanFinalCoverage: mean((r) => r.finalCoverage),
    successRate: mean((r) => (r.success ? 1 : 0)),
    meanEpisodeLength: mean((r) => r.steps),
    latencyMsP50: quantile(latencies, 0.5),
    latencyMsP99: quantile(latencies, 0.99),
    policyCalls: latencies.length,
    workers: meta.workers,
    wallSeconds: meta.wallSeconds,
    controlHz: meta.controlHz,
    draws,
    byDraw,
    meanMaxRewardSd,
  };
}
