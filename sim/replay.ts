import type { EpisodeDataset } from '../src/data/episode-dataset.js';
import { InputError } from '../src/core/errors.js';
import { median } from '../src/core/stats.js';
import { createEnv, getTask } from './registry.js';
import './tasks.js';

/** One recorded episode played open-loop from its first recorded state. */
export interface EpisodeReplay {
  episode: number;
  /** Actions applied (the episode's frames minus one: the last state has no successor). */
  steps: number;
  /** Distance between replayed and recorded tracked position (task's `replayPosition`), per step. */
  positionError: number[];
  /** Coverage of the replay's last state and of the recorded last state. */
  finalCoverage: number;
  recordedFinalCoverage: number;
  /** Highest coverage over the recorded states (the demonstrator's best). */
  recordedMaxCoverage: number;
}

export interface ReplayReport {
  task: string;
  /** What `positionError` measures, e.g. 'block position (px)'. */
  positionLabel: string;
  episodes: EpisodeReplay[];
  /** Median over all episodes' first `window` steps of the position error. */
  medianPositionErrorFirstSteps: number;
  window: number;
  /** Median over episodes of |replay final coverage - recorded final coverage|. */
  medianFinalCoverageDifference: number;
  meanFinalCoverage: number;
  meanRecordedFinalCoverage: number;
  meanRecordedMaxCoverage: number;
}

/**
 * Replay recorded episodes open-loop: reset to each episode's first
 * recorded state (`sim_state` feature), apply its actions in order, and
 * compare the state after action f with the recorded state of frame f + 1.
 * This measures how faithfully our simulator reproduces the one the
 * demonstrations were recorded in.
 */
export async function replayDataset(
  dataset: EpisodeDataset,
  options: { task: string; episodes?: number[]; window?: number; onEpisode?: (r: EpisodeReplay) => void },
): Promise<ReplayReport> {
  const task = getTask(options.task);
  const position = task.replayPosition;
  if (!position) throw new InputError('task', options.task, 'a task that declares which state entries to compare in a replay');
  const window = options.window ?? 20;
  const env = await createEnv(options.task, { maxSteps: Number.MAX_SAFE_INTEGER });
  try {
    if (!dataset.features.sim_state) {
      throw new InputError('dataset', dataset.info.source, `a dataset with recorded simulator states (feature 'sim_state'); it has ${Object.keys(dataset.features).join(', ')}`);
    }
    const stateSize = dataset.featureSize('sim_state');
    if (stateSize !== env.stateNames.length) {
      throw new InputError('sim_state', `${stateSize} values per frame`, `${env.stateNames.length} (${env.stateNames.join(', ')}) for task ${options.task}`, dataset.info.source);
    }
    const actionSize = dataset.featureSize('action');
    if (actionSize !== env.actionSpec.shape[0]) {
      throw new InputError('action', `${actionSize} values per frame`, `${env.actionSpec.shape[0]} for task ${options.task}`, dataset.info.source);
    }
    const wanted = options.episodes ?? Array.from({ length: dataset.numEpisodes }, (_, e) => e);
    const results: EpisodeReplay[] = [];
    for (const e of wanted) {
      if (!(Number.isInteger(e) && e >= 0 && e < dataset.numEpisodes)) throw new InputError('episodes', e, `episode indices in [0, ${dataset.numEpisodes})`);
      const [start, end] = dataset.episodeRange(e);
      env.reset({ state: dataset.frame('sim_state', start) });
      const positionError: number[] = [];
      let last = env.state();
      for (let f = start; f < end - 1; f++) {
        last = env.step(dataset.frame('action', f)).info.state;
        positionError.push(distance(last, dataset.frame('sim_state', f + 1), position.indices));
      }
      const finalCoverage = env.reset({ state: last }).info.coverage;
      let recordedMaxCoverage = 0;
      let recordedFinalCoverage = 0;
      for (let f = start; f < end; f++) {
        recordedFinalCoverage = env.reset({ state: dataset.frame('sim_state', f) }).info.coverage;
        recordedMaxCoverage = Math.max(recordedMaxCoverage, recordedFinalCoverage);
      }
      const r = { episode: e, steps: end - 1 - start, positionError, finalCoverage, recordedFinalCoverage, recordedMaxCoverage };
      results.push(r);
      options.onEpisode?.(r);
    }
    return {
      task: options.task,
      positionLabel: position.label,
      episodes: results,
      window,
      medianPositionErrorFirstSteps: median(results.flatMap((r) => r.positionError.slice(0, window))),
      medianFinalCoverageDifference: median(results.map((r) => Math.abs(r.finalCoverage - r.recordedFinalCoverage))),
      meanFinalCoverage: mean(results.map((r) => r.finalCoverage)),
      meanRecordedFinalCoverage: mean(results.map((r) => r.recordedFinalCoverage)),
      meanRecordedMaxCoverage: mean(results.map((r) => r.recordedMaxCoverage)),
    };
  } finally {
    env.close();
  }
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>, indices: readonly number[]): number {
  let s = 0;
  for (const i of indices) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}
