import type { ActionChunk, ActOptions, ObservationFrame, Policy, PolicyIO } from '../policy/policy.js';

/**
 * Where the action streamer's inference runs. `infer()` returns a promise,
 * so the control loop never waits for it: the chunk is merged into the
 * action queue when it arrives.
 */
export interface InferenceRunner {
  /** The policy's inputs and outputs. */
  readonly io: PolicyIO & { kind: string };
  /**
   * One chunk from exactly To frames, oldest first. `timeS` is the
   * observation's time on the control clock (seconds), for policies that
   * need it (scripted ones); others ignore it.
   */
  infer(frames: readonly ObservationFrame[], options?: { timeS?: number }): Promise<ActionChunk>;
  /** A new episode (clears the policy's history). */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Runs the policy on this thread, in a macrotask after the caller returns.
 * A policy that takes long blocks the event loop, control loop included:
 * use it for cheap policies; the Node worker runner is for real networks.
 */
export class InlineRunner implements InferenceRunner {
  constructor(readonly policy: Policy) {}

  get io(): PolicyIO & { kind: string } {
    return this.policy.config;
  }

  infer(frames: readonly ObservationFrame[], options: { timeS?: number } = {}): Promise<ActionChunk> {
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        try {
          resolve(this.policy.act(frames, options as ActOptions));
        } catch (err) {
          reject(err);
        }
      }, 0);
    });
  }

  reset(): void {
    this.policy.reset();
  }

  async close(): Promise<void> {
    this.policy.dispose();
  }
}
