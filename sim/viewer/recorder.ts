/**
 * Keeps teleoperated episodes in memory until the user saves them.
 *
 * A recorded episode has one row per control step, in LeRobot's convention:
 * row t holds the observation the operator saw, the action taken from it,
 * and the simulator state at that moment (before the action), so
 * `env.reset({ state: states[0] })` and replaying `action` reproduces it.
 *   features['observation.state']             agent position (Push-T: 2)
 *   features['observation.environment_state'] block keypoints (Push-T: 18)
 *   features['action']                        the action (Push-T: target x, y)
 *   states                                    Env.state(), float64 (Push-T: 5)
 * Features are whatever the env observes, plus `action`. This is the
 * `Episode` shape of src/data/export/episode-writer.ts.
 */

import type { Episode } from '../../src/data/export/episode-writer.js';
import type { ObservationFrame } from '../../src/policy/policy.js';

/** A teleoperated episode: the dataset writer's `Episode`, always with the simulator state before each frame's action. */
export type TeleopEpisode = Required<Episode>;

export class TeleopRecorder {
  private current: TeleopEpisode | null = null;
  private done: TeleopEpisode[] = [];

  get recording(): boolean {
    return this.current !== null;
  }

  /** Frames of the episode in progress. */
  get frames(): number {
    return this.current?.states.length ?? 0;
  }

  /** Finished episodes waiting to be saved. */
  get episodes(): number {
    return this.done.length;
  }

  start(): void {
    this.current ??= { features: {}, states: [] };
  }

  /** Close the episode in progress (kept if it has a frame) and stop recording. */
  stop(): void {
    this.finish();
    this.current = null;
  }

  /** Close the episode in progress and, still recording, start the next one (on reset or done). */
  cut(): void {
    if (!this.current) return;
    this.finish();
    this.current = { features: {}, states: [] };
  }

  add(observation: ObservationFrame, action: ArrayLike<number>, state: Float64Array): void {
    const ep = this.current;
    if (!ep) return;
    for (const [key, value] of Object.entries(observation)) (ep.features[key] ??= []).push(Float32Array.from(value));
    (ep.features.action ??= []).push(Float32Array.from(action));
    ep.states.push(Float64Array.from(state));
  }

  /** Hand over the finished episodes (the one in progress stays). */
  take(): TeleopEpisode[] {
    const out = this.done;
    this.done = [];
    return out;
  }

  /** Put episodes back at the front (a save failed). */
  restore(episodes: TeleopEpisode[]): void {
    this.done = [...episodes, ...this.done];
  }

  private finish(): void {
    if (this.current && this.current.states.length > 0) this.done.push(this.current);
  }
}
