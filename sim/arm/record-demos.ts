/**
 * Demonstrations for `arm-reach`, recorded by running the scripted DLS
 * expert (see `recordEpisodes`): per control step the observation the
 * expert saw, the action it sent, and the simulator state before the action.
 * Episode e starts from `reset({ seed: seed + e })`, so the same options give
 * the same episodes, value for value.
 */

import { recordEpisodes, type RecordedEpisode } from '../record-episodes.js';
import { ArmReachEnv } from './arm-reach-env.js';
import { ArmReachExpert, type ArmExpertOptions } from './scripted-expert.js';

export interface RecordArmDemosOptions {
  episodes: number;
  /** Seed of the first episode; episode e uses seed + e. */
  seed: number;
  /** Episode cap in control steps (default: the task's, 100). */
  maxSteps?: number;
  expert?: ArmExpertOptions;
}

export function recordArmDemos(options: RecordArmDemosOptions): RecordedEpisode[] {
  const env = new ArmReachEnv({ maxSteps: options.maxSteps });
  try {
    return recordEpisodes(env, new ArmReachExpert(options.expert), options);
  } finally {
    env.close();
  }
}
