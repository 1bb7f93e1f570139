/**
 * The simulation behind the viewer, independent of any transport: one env,
 * stepped once per control tick (Push-T: 10 Hz) by whoever is in charge:
 *
 * - teleop: the pointer. As in the original's demo, teleoperation engages
 *   when the pointer comes within 30 px of the agent (or on a drag) and then
 *   the pointer position is the action (Push-T: the absolute agent target);
 *   until it engages, the env does not step.
 * - policy: receding-horizon control as evaluation runs it (run-episode.ts):
 *   ask `policy.act` for a chunk on the last To observations (the first of
 *   the episode repeated at the start), execute rows start..start+execute-1,
 *   ask again. Every step's observation enters the history, executed or not
 *   by the policy, so switching from teleop to policy mid-episode works.
 *
 * An episode ends at `done` (success or the step cap): the env then holds
 * still until the next reset.
 */

import { InputError } from '../../src/core/errors.js';
import type { ObservationFrame, Policy } from '../../src/policy/policy.js';
import type { Env } from '../env.js';
import { checkPolicyFitsTask } from '../eval/policy-fit.js';
import type { ClientMessage, StateMessage, ViewerMode } from './protocol.js';
import { TeleopRecorder } from './recorder.js';

/** How a task is steered with the pointer. */
export interface PointerTeleop {
  /** Pointer (canvas fractions: u right, v down) -> action. */
  toAction(u: number, v: number): number[];
  /** Whether pointing at `action` takes over the agent (before any drag). */
  engages(action: readonly number[], state: Float64Array): boolean;
}

/** Tasks that can be teleoperated with the pointer. */
export const POINTER_TELEOP: Readonly<Record<string, PointerTeleop>> = {
  pusht: {
    // The camera shows the whole 512 x 512 workspace; the action is the absolute agent target.
    toAction: (u, v) => [u * 512, v * 512],
    // The original demo engages once the mouse is within 30 px of the agent.
    engages: (a, state) => Math.hypot(a[0] - state[0], a[1] - state[1]) < 30,
  },
};

export class ViewerSession {
  readonly recorder = new TeleopRecorder();
  mode: ViewerMode = 'teleop';
  private seed: number;
  private observation!: ObservationFrame;
  /** The policy's last To observations, oldest first. */
  private history: ObservationFrame[] = [];
  private step = 0;
  private coverage = 0;
  private reward = 0;
  private success = false;
  private done = false;
  private pointer: number[] | null = null;
  private engaged = false;
  private queue: Float32Array[] = [];
  private readonly teleop?: PointerTeleop;

  constructor(
    readonly env: Env,
    readonly policy?: Policy,
    seed = 0,
  ) {
    this.teleop = POINTER_TELEOP[env.task];
    if (policy) checkPolicyFitsTask(policy.config, env, `the ${policy.config.kind} policy`);
    this.seed = seed;
    this.reset(seed);
  }

  get canTeleop(): boolean {
    return this.teleop !== undefined;
  }

  reset(seed: number): void {
    const { observation, info } = this.env.reset({ seed });
    this.seed = seed;
    this.observation = observation;
    this.history = new Array(this.policy?.config.observation.horizon ?? 1).fill(observation);
    this.step = 0;
    this.coverage = info.coverage;
    this.success = info.success;
    this.reward = 0;
    this.done = false;
    this.engaged = false;
    this.queue = [];
    this.policy?.reset({ seed });
    this.recorder.cut();
  }

  /** Apply a message from the page. */
  handle(msg: ClientMessage): void {
    switch (msg.type) {
      case 'reset':
        if (!Number.isInteger(msg.seed) || msg.seed < 0) throw new InputError('seed', msg.seed, 'a non-negative integer');
        return this.reset(msg.seed);
      case 'mode':
        if (msg.mode === 'policy' && !this.policy) throw new InputError('mode', msg.mode, "'teleop' (no policy loaded: pass a checkpoint to `flowpolicy view`)");
        if (msg.mode !== 'policy' && msg.mode !== 'teleop') throw new InputError('mode', msg.mode, "'teleop' or 'policy'");
        this.mode = msg.mode;
        this.queue = [];
        this.engaged = false;
        return;
      case 'pointer': {
        if (!this.teleop || !Number.isFinite(msg.u) || !Number.isFinite(msg.v)) return;
        const u = Math.min(1, Math.max(0, msg.u));
        const v = Math.min(1, Math.max(0, msg.v));
        this.pointer = this.teleop.toAction(u, v);
        if (msg.down || this.teleop.engages(this.pointer, this.env.state())) this.engaged = true;
        return;
      }
      case 'record':
        if (msg.on) this.recorder.start();
        else this.recorder.stop();
        return;
      case 'save':
        return; // the server owns the save callback
      default:
        throw new InputError('message.type', (msg as { type?: unknown }).type, 'reset, mode, pointer, record or save');
    }
  }

  /** One control tick: step the env if someone is in charge. Returns whether it stepped. */
  tick(): boolean {
    if (this.done) return false;
    const action = this.mode === 'policy' ? this.policyAction() : this.teleopAction();
    if (!action) return false;
    const before = this.env.state();
    if (this.mode === 'teleop') this.recorder.add(this.observation, action, before);
    const result = this.env.step(action);
    this.observation = result.observation;
    this.history.push(result.observation);
    this.history.shift();
    this.step = result.info.step;
    this.coverage = result.info.coverage;
    this.success = result.info.success;
    this.reward = result.reward;
    if (result.done) {
      this.done = true;
      this.recorder.cut();
    }
    return true;
  }

  snapshot(): StateMessage {
    return {
      type: 'state',
      state: Array.from(this.env.state()),
      seed: this.seed,
      step: this.step,
      coverage: this.coverage,
      reward: this.reward,
      success: this.success,
      done: this.done,
      mode: this.mode,
      teleopActive: this.mode === 'teleop' && this.engaged,
      recording: this.recorder.recording,
      recordedEpisodes: this.recorder.episodes,
      recordingFrames: this.recorder.frames,
    };
  }

  private teleopAction(): number[] | null {
    return this.engaged && this.pointer ? this.pointer : null;
  }

  private policyAction(): Float32Array | null {
    const policy = this.policy;
    if (!policy) return null;
    if (this.queue.length === 0) {
      const chunk = policy.act(this.history);
      for (let r = chunk.start; r < Math.min(chunk.horizon, chunk.start + chunk.execute); r++) {
        this.queue.push(chunk.actions.slice(r * chunk.actionDim, (r + 1) * chunk.actionDim));
      }
    }
    return this.queue.shift() ?? null;
  }
}
