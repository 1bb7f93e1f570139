import { InputError } from '../src/core/errors.js';
import type { Episode } from '../src/data/export/episode-writer.js';
import type { Policy } from '../src/policy/policy.js';
import type { Env } from './env.js';
import { runEpisode } from './eval/run-episode.js';

export interface RecordedEpisode extends Episode {
  states: Float64Array[];
  seed: number;
  success: boolean;
}

/**
 * Run a policy (a scripted expert, a trained policy) on seeded episodes and
 * keep every frame as a dataset episode: each observation feature, the
 * action taken on it, and the simulator state before the action, so any
 * frame can be replayed with `reset({ state })`. Episode e uses seed + e.
 * `writeEpisodes` turns the result into a dataset.
 */
export function recordEpisodes(env: Env, policy: Policy, options: { episodes: number; seed: number }): RecordedEpisode[] {
  if (!Number.isInteger(options.episodes) || options.episodes < 0) throw new InputError('episodes', options.episodes, 'a non-negative integer');
  if (!Number.isInteger(options.seed) || options.seed < 0) throw new InputError('seed', options.seed, 'a non-negative integer');
  const keys = Object.keys(env.observationSpec);
  const out: RecordedEpisode[] = [];
  for (let e = 0; e < options.episodes; e++) {
    const features: Record<string, Float32Array[]> = Object.fromEntries([...keys, 'action'].map((k) => [k, []]));
    const states: Float64Array[] = [];
    const result = runEpisode(env, policy, options.seed + e, {
      onStep: ({ observation, action, state }) => {
        for (const k of keys) features[k].push(Float32Array.from(observation[k]));
        features.action.push(action);
        states.push(state);
      },
    });
    out.push({ features, states, seed: options.seed + e, success: result.success });
  }
  return out;
}
