import { InputError } from '../../src/core/errors.js';
import type { ObservationFrame } from '../../src/policy/policy.js';
import type { ActionSpec, Env, EnvOptions, ObservationSpec, RenderOptions, ResetOptions, RgbImage, StepInfo, StepResult } from '../env.js';
import { registerTask } from '../registry.js';
import { GOAL_POSE, SUCCESS_THRESHOLD, coverage, rewardFromCoverage } from './coverage.js';
import { keypointsAt } from './keypoints.js';
import { CONTROL_HZ, PushTPhysics, STATE_NAMES, initPhysics } from './physics.js';
import { pushtResetDraw } from './reset.js';

export const PUSHT_TASK = 'pusht';
/** The original's episode cap (Diffusion Policy's `max_steps`). */
export const PUSHT_MAX_STEPS = 300;
const WORKSPACE = 512;

const OBSERVATION_SPEC: ObservationSpec = {
  'observation.environment_state': {
    shape: [18],
    low: new Array(18).fill(0),
    high: new Array(18).fill(WORKSPACE),
    names: Array.from({ length: 18 }, (_, i) => `keypoint ${i >> 1} ${i % 2 ? 'y' : 'x'}`),
  },
  'observation.state': { shape: [2], low: [0, 0], high: [WORKSPACE, WORKSPACE], names: ['agent x', 'agent y'] },
};

const ACTION_SPEC: ActionSpec = { key: 'action', shape: [2], low: [0, 0], high: [WORKSPACE, WORKSPACE], names: ['target x', 'target y'] };

/**
 * Push-T as Diffusion Policy defines it (see DESIGN.md "Push-T"): push the
 * T block onto the goal pose with a circular agent that follows absolute
 * target positions. Observation: the block's 9 keypoints and the agent's
 * position (the state policy's 20 numbers); reward clip(coverage / 0.95);
 * done on success or after 300 steps.
 */
export class PushTEnv implements Env {
  readonly task = PUSHT_TASK;
  readonly observationSpec = OBSERVATION_SPEC;
  readonly actionSpec = ACTION_SPEC;
  readonly controlHz = CONTROL_HZ;
  readonly stateNames = STATE_NAMES;
  readonly maxSteps: number;
  private readonly physics = new PushTPhysics();
  private steps = 0;
  private started = false;

  /** Use `createPushTEnv` (or `createEnv('pusht')`), which loads the physics engine first. */
  constructor(options: EnvOptions = {}) {
    const maxSteps = options.maxSteps ?? PUSHT_MAX_STEPS;
    if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new InputError('maxSteps', maxSteps, 'a positive integer');
    this.maxSteps = maxSteps;
  }

  reset(options: ResetOptions): { observation: ObservationFrame; info: StepInfo } {
    if ('seed' in options) {
      const seed = options.seed;
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InputError('seed', seed, 'an integer in [0, 2^32 - 1] (numpy RandomState seeds)');
      this.physics.placeLegacy(pushtResetDraw(seed));
    } else if ('state' in options) {
      this.physics.placeExactly(checkVector('state', options.state, STATE_NAMES.length, 'agent x, agent y, block x, block y, block angle'));
    } else {
      throw new InputError('reset', options, '{ seed } or { state }');
    }
    this.steps = 0;
    this.started = true;
    const info = this.info();
    return { observation: this.observe(info.state), info };
  }

  step(action: ArrayLike<number>): StepResult {
    if (!this.started) throw new Error('pusht: step() before reset()');
    this.physics.step(checkVector('action', action, 2, 'target x, target y in pixels'));
    this.steps++;
    const info = this.info();
    return {
      observation: this.observe(info.state),
      reward: rewardFromCoverage(info.coverage),
      done: info.success || this.steps >= this.maxSteps,
      info,
    };
  }

  state(): Float64Array {
    return this.physics.state();
  }

  async render(options: RenderOptions = {}): Promise<RgbImage> {
    const { renderTaskState } = await import('../render/renderer.js');
    return renderTaskState(this.task, this.state(), { width: options.width ?? 96, height: options.height ?? 96 });
  }

  close(): void {
    this.physics.free();
  }

  private info(): StepInfo {
    const state = this.physics.state();
    const cov = coverage([state[2], state[3], state[4]], GOAL_POSE);
    return { coverage: cov, success: cov > SUCCESS_THRESHOLD, state, step: this.steps };
  }

  private observe(state: Float64Array): ObservationFrame {
    return {
      'observation.environment_state': keypointsAt([state[2], state[3], state[4]]),
      'observation.state': Float32Array.of(state[0], state[1]),
    };
  }
}

/** Check a numeric vector crossing the env boundary: its length and that every entry is finite. */
function checkVector(field: string, value: ArrayLike<number>, length: number, meaning: string): ArrayLike<number> {
  if (value == null || typeof value !== 'object' || typeof value.length !== 'number' || value.length !== length) {
    throw new InputError(field, value, `${length} finite numbers (${meaning})`);
  }
  for (let i = 0; i < length; i++) {
    if (typeof value[i] !== 'number' || !Number.isFinite(value[i])) throw new InputError(`${field}[${i}]`, value[i], `a finite number (${meaning})`);
  }
  return value;
}

export async function createPushTEnv(options: EnvOptions = {}): Promise<PushTEnv> {
  await initPhysics();
  return new PushTEnv(options);
}

registerTask({
  name: PUSHT_TASK,
  description: 'Push-T (Diffusion Policy): push a T block onto its goal pose with a circular agent',
  create: createPushTEnv,
  replayPosition: { label: 'block position (px)', indices: [2, 3] },
});
