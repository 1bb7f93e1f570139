import { parentPort, workerData } from 'node:worker_threads';
import { useBackend } from '../../src/core/backend.js';
import '../tasks.js';
import { createEnv } from '../registry.js';
import { isScriptedSpec, openPolicy } from '../../src/policy/policy-source.js';
import type { RealtimeKernel } from '../../src/policy/realtime-mlp.js';
import { runEpisode } from './run-episode.js';

/** What `evaluate` hands each worker: its share of the seeds. */
export interface EvalWorkerJob {
  source: string;
  task: string;
  seeds: number[];
  /** Noise draws per seed (draw 0 is the standard protocol). */
  draws: number;
  /** Solver steps per act() (per block for an LFM chain) instead of the checkpoint's. */
  solverSteps?: number;
  /** Seeds whose states are recorded for videos. */
  recordSeeds: number[];
  maxSteps?: number;
  backend?: string;
  /** A student's real-time kernel. */
  kernel?: RealtimeKernel;
}

export type EvalWorkerMessage =
  | { type: 'ready'; backend: string }
  | { type: 'episode'; result: import('./run-episode.js').EpisodeResult }
  | { type: 'error'; message: string; name: string }
  | { type: 'done' };

const job = workerData as EvalWorkerJob;
const post = (m: EvalWorkerMessage) => parentPort!.postMessage(m);

try {
  const backend = isScriptedSpec(job.source) ? 'none' : (await useBackend(job.backend, process.env)).name;
  post({ type: 'ready', backend });
  const env = await createEnv(job.task, job.maxSteps === undefined ? {} : { maxSteps: job.maxSteps });
  const policy = openPolicy(job.source, { kernel: job.kernel });
  const actOptions = job.solverSteps === undefined ? undefined : { solver: { steps: job.solverSteps } };
  for (let draw = 0; draw < job.draws; draw++) {
    for (const seed of job.seeds) post({ type: 'episode', result: runEpisode(env, policy, seed, { draw, actOptions, recordStates: draw === 0 && job.recordSeeds.includes(seed) }) });
  }
  policy.dispose();
  env.close();
  post({ type: 'done' });
} catch (err) {
  post({ type: 'error', message: (err as Error)?.message ?? String(err), name: (err as Error)?.name ?? 'Error' });
}
