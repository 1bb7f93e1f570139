import type { ObservationFrame, Policy } from '../../src/policy/policy.js';
import type { FlowActOptions } from '../../src/policy/sampled-policy.js';
import type { Env } from '../env.js';

export interface EpisodeResult {
  seed: number;
  /** Which draw of the policy's noise this was (0: the policy seeded with the episode seed, the standard protocol). */
  draw?: number;
  /** Max over the episode of the reward (the Diffusion Policy paper's per-episode number). */
  maxReward: number;
  maxCoverage: number;
  finalCoverage: number;
  /** Coverage passed the task's success bar at some step (LeRobot's success). */
  success: boolean;
  steps: number;
  /** Wall-clock milliseconds of every policy call. */
  latenciesMs: number[];
  /** Simulator state at reset and after every step, when asked for (videos). */
  states?: number[][];
}

/**
 * One evaluation episode, receding horizon as Diffusion Policy runs it: the
 * policy sees the last To observations (the first one repeated at the
 * start), returns a chunk, and the `execute` actions from row `start` run
 * before it is asked again. Ends on success or at the env's step cap.
 */
export interface EpisodeStep {
  /** The newest observation the action was chosen on. */
  observation: ObservationFrame;
  action: Float32Array;
  /** Simulator state before the action. */
  state: Float64Array;
}

/** Policy seeds of the noise draws of one episode seed: draw d reseeds the policy with seed + d * DRAW_STRIDE. */
export const DRAW_STRIDE = 1_000_003;

export function runEpisode(
  env: Env,
  policy: Policy,
  seed: number,
  options: { recordStates?: boolean; onStep?: (step: EpisodeStep) => void; draw?: number; actOptions?: FlowActOptions } = {},
): EpisodeResult {
  const draw = options.draw ?? 0;
  policy.reset({ seed: seed + draw * DRAW_STRIDE });
  const first = env.reset({ seed });
  const horizon = policy.config.observation.horizon;
  const history: ObservationFrame[] = new Array(horizon).fill(first.observation);
  const states = options.recordStates ? [Array.from(first.info.state)] : undefined;
  const latenciesMs: number[] = [];
  let maxReward = 0;
  let maxCoverage = first.info.coverage;
  let finalCoverage = first.info.coverage;
  let success = false;
  let steps = 0;
  let done = false;
  let state = first.info.state;
  while (!done) {
    const chunk = policy.act(history, options.actOptions);
    latenciesMs.push(chunk.latencyMs);
    const end = Math.min(chunk.start + chunk.execute, chunk.horizon);
    if (end <= chunk.start) throw new Error(`policy returned a chunk with nothing to execute (start ${chunk.start}, execute ${chunk.execute}, horizon ${chunk.horizon})`);
    for (let row = chunk.start; row < end && !done; row++) {
      const action = chunk.actions.subarray(row * chunk.actionDim, (row + 1) * chunk.actionDim);
      options.onStep?.({ observation: history[horizon - 1], action: action.slice(), state });
      const r = env.step(action);
      state = r.info.state;
      steps++;
      history.push(r.observation);
      history.shift();
      states?.push(Array.from(r.info.state));
      maxReward = Math.max(maxReward, r.reward);
      maxCoverage = Math.max(maxCoverage, r.info.coverage);
      finalCoverage = r.info.coverage;
      success ||= r.info.success;
      done = r.done;
    }
  }
  return { seed, ...(draw ? { draw } : {}), maxReward, maxCoverage, finalCoverage, success, steps, latenciesMs, states };
}
