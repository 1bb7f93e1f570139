/**
 * The contract between a policy and whatever runs it (the simulator, the
 * ROS bridge, a script): observation in, chunk of future actions out.
 */

/** One observation frame: feature name -> values (e.g. `observation.state`: [x, y]). */
export type ObservationFrame = Readonly<Record<string, ArrayLike<number>>>;

export interface FeatureSpec {
  key: string;
  shape: number[];
}

/** What a policy consumes and produces; every policy config carries it. */
export interface PolicyIO {
  observation: { features: FeatureSpec[]; horizon: number };
  action: { key: string; dim: number; horizon: number; execute: number };
}

export interface ActionChunk {
  /** horizon x actionDim values, row-major, in the dataset's units. */
  actions: Float32Array;
  horizon: number;
  actionDim: number;
  /**
   * Index of the action for the current step. A chunk covers the To - 1
   * past steps of its observation window too (as Diffusion Policy's): rows
   * start..start+execute-1 are the ones to run now.
   */
  start: number;
  /** How many actions to execute before asking again (Ta). */
  execute: number;
  /** Wall-clock time of the call, milliseconds. */
  latencyMs: number;
  /** Network evaluations made. */
  nfe: number;
}

export interface ActOptions {
  /** Initial noise (horizon x actionDim values) instead of a draw from the policy's generator. */
  noise?: ArrayLike<number>;
}

export interface Policy {
  readonly config: PolicyIO & { kind: string };
  /**
   * Start a new episode: clears the observation history and, when a seed is
   * given, reseeds the policy's noise generator.
   */
  reset(options?: { seed?: number }): void;
  /**
   * Decide on a chunk of actions. Given one frame, the policy appends it to
   * its history of the last To frames (the first frame of an episode is
   * repeated to fill it); given an array of exactly To frames, oldest first,
   * it uses those.
   */
  act(observation: ObservationFrame | readonly ObservationFrame[], options?: ActOptions): ActionChunk;
  /** Release tensors held by the policy. */
  dispose(): void;
}
