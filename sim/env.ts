/**
 * The contract between a simulated task and whatever drives it (an
 * evaluation, the viewer, a demonstration recorder, the ROS bridge's
 * sim-in-the-loop test): the Gym-style reset/step loop, with fixed,
 * inspectable observation and action specs.
 *
 * Observations use the same feature names as datasets and policies
 * (`observation.state`, `observation.environment_state`, ...), so a frame
 * from `step()` can be handed to `Policy.act()` unchanged.
 */

import type { ObservationFrame } from '../src/policy/policy.js';

/** One named feature of an observation: its shape and, when bounded, its range. */
export interface FeatureSpace {
  shape: number[];
  low?: number[];
  high?: number[];
  /** What each entry is, e.g. ['agent x', 'agent y'] (for reports and error messages). */
  names?: string[];
}

/** A task's observation features by name (ordered as a policy config lists them). */
export type ObservationSpec = Readonly<Record<string, FeatureSpace>>;

/** The action a task accepts: a flat vector under the feature name `action`. */
export interface ActionSpec extends FeatureSpace {
  key: 'action';
}

export interface StepInfo {
  /** Task-specific progress in [0, 1] (Push-T: area(block ∩ goal) / area(goal)). */
  coverage: number;
  /** Whether the task counts as solved at this step. */
  success: boolean;
  /** The full simulator state after the step (enough to `reset({ state })` to it). */
  state: Float64Array;
  /** Steps taken since the last reset. */
  step: number;
}

export interface StepResult {
  observation: ObservationFrame;
  reward: number;
  /** The episode ended: success or the step cap. */
  done: boolean;
  info: StepInfo;
}

export type ResetOptions = { seed: number } | { state: ArrayLike<number> };

/** An RGB image, row-major from the top-left pixel, 3 bytes a pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface RenderOptions {
  width?: number;
  height?: number;
}

export interface Env {
  /** The registered task name, e.g. `pusht`. */
  readonly task: string;
  readonly observationSpec: ObservationSpec;
  readonly actionSpec: ActionSpec;
  /** Episode cap in control steps; `step()` reports done when it is reached. */
  readonly maxSteps: number;
  /** Control rate in Hz (one `step()` = 1 / controlHz seconds of simulated time). */
  readonly controlHz: number;
  /** Names of the entries of `state()`, e.g. ['agent x', 'agent y', 'block x', 'block y', 'block angle']. */
  readonly stateNames: readonly string[];
  /** Start an episode from a seed (the task's own reset distribution) or from an exact state. */
  reset(options: ResetOptions): { observation: ObservationFrame; info: StepInfo };
  /** Apply one action (validated against `actionSpec`: size and finiteness). */
  step(action: ArrayLike<number>): StepResult;
  /** The current simulator state (a copy). */
  state(): Float64Array;
  /**
   * Draw the current state with the task's Three.js scene (headless Chromium
   * in Node, started on first use). Default size: the task's image
   * observation size (Push-T: 96 x 96, as the original's).
   */
  render(options?: RenderOptions): Promise<RgbImage>;
  /** Release physics resources. */
  close(): void;
}

/** Options every task accepts; tasks document their own extra options. */
export interface EnvOptions {
  /** Override the episode cap. */
  maxSteps?: number;
}
