/**
 * Task `arm-reach`: a Franka Panda in joint-space position control must
 * bring its flange to a target point. It is the sim twin of a ROS robot fed
 * `JointTrajectory` / joint position commands: an action is 7 absolute joint
 * position targets, as a real Panda's joint position interface takes them.
 *
 * Kinematic simulation — there are no contacts, no gravity and no link
 * dynamics in this task: each joint is a double integrator driven by a PD
 * law in joint space, with Franka's documented position, velocity and
 * acceleration limits enforced at every substep (see `integrateJoints`).
 * Physics at 100 Hz, control at 10 Hz (10 substeps per action), as Push-T.
 *
 * State (17): q1..q7 [rad], dq1..dq7 [rad/s], target x, y, z [m, base frame].
 * Observation: `observation.state` = q1..q7 (joint positions only: what a
 *   position-controlled policy needs, and what `sensor_msgs/JointState.position`
 *   gives on the robot; velocities stay in the simulator state),
 *   `observation.environment_state` = target x, y, z.
 * Reward: binary, 1 when the flange is within 0.02 m of the target, else 0
 *   (so an evaluation's "mean max reward" equals its success rate).
 * coverage = clip(1 - distance / ready_distance, 0, 1), where
 *   ready_distance is the target's distance from the flange at the ready
 *   pose (where every seeded episode starts): a function of the state alone,
 *   so a replayed or restored state reports the coverage it had.
 * Reset from a seed: ready pose at rest, target uniform in a box in front of
 *   the robot, redrawn until it is at least 0.1 m from the starting flange.
 */

import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { ObservationFrame } from '../../src/policy/policy.js';
import type { ActionSpec, Env, EnvOptions, ObservationSpec, RenderOptions, ResetOptions, RgbImage, StepInfo, StepResult } from '../env.js';
import { registerTask } from '../registry.js';
import { endEffectorPosition, PANDA_DOF, PANDA_LIMITS, PANDA_READY_POSE } from './panda-kinematics.js';

export const ARM_REACH_TASK = 'arm-reach';
/** Physics substep [s] (100 Hz). */
export const ARM_PHYSICS_DT = 0.01;
/** Physics substeps per control step (10 Hz control). */
export const ARM_SUBSTEPS = 10;
export const ARM_CONTROL_HZ = 1 / (ARM_PHYSICS_DT * ARM_SUBSTEPS);
/** PD gains of the joint servo: ddq = KP (target - q) - KD dq, critically damped (KD = 2 sqrt(KP)). */
export const ARM_KP = 100;
export const ARM_KD = 20;
/** Flange-to-target distance [m] under which the task is solved. */
export const ARM_SUCCESS_RADIUS = 0.02;
export const ARM_MAX_STEPS = 100;
/** Seeded targets are drawn uniformly in this box [m, base frame]: in front of the robot, above the table. */
export const ARM_TARGET_BOX = { min: [0.3, -0.3, 0.15], max: [0.6, 0.3, 0.6] } as const;
/** Seeded targets closer than this to the starting flange are redrawn [m]. */
export const ARM_MIN_TARGET_DISTANCE = 0.1;
export const ARM_STATE_SIZE = 2 * PANDA_DOF + 3;

const jointNames = Array.from({ length: PANDA_DOF }, (_, i) => `q${i + 1}`);
export const ARM_STATE_NAMES: readonly string[] = [
  ...jointNames.map((n) => `${n} [rad]`),
  ...jointNames.map((n) => `d${n} [rad/s]`),
  'target x [m]',
  'target y [m]',
  'target z [m]',
];

/**
 * Largest speed v towards a limit `dist` away from which the joint can
 * still stop in time, braking at `acc` with semi-implicit Euler steps of
 * `dt` (speeds v, v - u, v - 2u, ... with u = acc·dt, each moving speed·dt).
 * The distance covered from v in (m u, (m+1) u] is
 *   S(v) = dt ((m+1) v - u m(m+1)/2),   S(m u) = dt u m(m+1)/2,
 * so with m the largest integer with dt u m(m+1)/2 <= dist:
 *   v = (dist/dt + u m(m+1)/2) / (m+1).
 * Braking exactly at `acc` keeps the bound satisfied, so this bound and the
 * acceleration limit never conflict once a state satisfies it.
 */
export function brakingSpeed(dist: number, acc: number, dt: number): number {
  if (!(dist > 0)) return 0;
  const u = acc * dt;
  const h = u * dt;
  let m = Math.floor((Math.sqrt(1 + (8 * dist) / h) - 1) / 2);
  while (m > 0 && (h * m * (m + 1)) / 2 > dist) m--;
  while ((h * (m + 1) * (m + 2)) / 2 <= dist) m++;
  return (dist / dt + (u * m * (m + 1)) / 2) / (m + 1);
}

/**
 * One 100 Hz substep of every joint, in place on q and dq:
 *   a   = KP (target - q) - KD dq                    (PD toward the clamped target)
 *   dq' = clamp(dq + a dt, dq ± ddqMax dt)           (acceleration limit)
 *   dq' = clamp(dq', ±dqMax)                         (velocity limit)
 *   dq' = clamp(dq', [-brake(q - qMin), brake(qMax - q)])  (can stop before the limit)
 *   q'  = q + dq' dt                                 (semi-implicit Euler)
 * Targets outside the joint range are clamped into it (as a robot's safety
 * layer would). For a state that already violates the braking bound (only
 * possible through `reset({ state })`), the position limit wins over the
 * acceleration limit; q' is finally clamped into [qMin, qMax] against
 * rounding.
 */
export function integrateJoints(q: Float64Array, dq: Float64Array, target: ArrayLike<number>, dt = ARM_PHYSICS_DT): void {
  const { qMin, qMax, dqMax, ddqMax } = PANDA_LIMITS;
  for (let i = 0; i < PANDA_DOF; i++) {
    const goal = Math.min(Math.max(target[i], qMin[i]), qMax[i]);
    const acc = ARM_KP * (goal - q[i]) - ARM_KD * dq[i];
    const du = ddqMax[i] * dt;
    const lo = Math.max(dq[i] - du, -dqMax[i], -brakingSpeed(q[i] - qMin[i], ddqMax[i], dt));
    const hi = Math.min(dq[i] + du, dqMax[i], brakingSpeed(qMax[i] - q[i], ddqMax[i], dt));
    let v = Math.min(Math.max(dq[i] + acc * dt, lo), hi);
    if (lo > hi) v = Math.min(Math.max(v, -brakingSpeed(q[i] - qMin[i], ddqMax[i], dt)), brakingSpeed(qMax[i] - q[i], ddqMax[i], dt));
    dq[i] = v;
    q[i] = Math.min(Math.max(q[i] + v * dt, qMin[i]), qMax[i]);
  }
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Check a vector crossing the env boundary: right length, every entry finite. */
function checkVector(field: string, value: ArrayLike<number> | undefined, size: number, what: string): void {
  if (value === null || typeof value !== 'object' || typeof value.length !== 'number' || value.length !== size) {
    throw new InputError(field, value, `${size} finite numbers (${what})`);
  }
  for (let i = 0; i < size; i++) {
    if (typeof value[i] !== 'number' || !Number.isFinite(value[i])) throw new InputError(`${field}[${i}]`, value[i], `a finite number (${what})`);
  }
}

export interface ArmReachOptions extends EnvOptions {}

export class ArmReachEnv implements Env {
  readonly task = ARM_REACH_TASK;
  readonly controlHz = ARM_CONTROL_HZ;
  readonly stateNames = ARM_STATE_NAMES;
  readonly maxSteps: number;
  readonly observationSpec: ObservationSpec = {
    'observation.state': { shape: [PANDA_DOF], low: [...PANDA_LIMITS.qMin], high: [...PANDA_LIMITS.qMax], names: jointNames.map((n) => `${n} [rad]`) },
    'observation.environment_state': { shape: [3], low: [...ARM_TARGET_BOX.min], high: [...ARM_TARGET_BOX.max], names: ['target x [m]', 'target y [m]', 'target z [m]'] },
  };
  readonly actionSpec: ActionSpec = {
    key: 'action',
    shape: [PANDA_DOF],
    low: [...PANDA_LIMITS.qMin],
    high: [...PANDA_LIMITS.qMax],
    names: jointNames.map((n) => `${n} target [rad]`),
  };

  private readonly q = new Float64Array(PANDA_DOF);
  private readonly dq = new Float64Array(PANDA_DOF);
  private readonly target = new Float64Array(3);
  private readyDistance = 0;
  private steps = 0;
  private started = false;

  constructor(options: ArmReachOptions = {}) {
    const maxSteps = options.maxSteps ?? ARM_MAX_STEPS;
    if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new InputError('maxSteps', options.maxSteps, 'a positive integer');
    this.maxSteps = maxSteps;
  }

  reset(options: ResetOptions): { observation: ObservationFrame; info: StepInfo } {
    if (options && 'seed' in options) {
      if (typeof options.seed !== 'number' || !Number.isFinite(options.seed)) throw new InputError('seed', options.seed, 'a finite number');
      this.resetFromSeed(options.seed);
    } else if (options && 'state' in options) {
      this.setState(options.state);
    } else {
      throw new InputError('reset options', options, '{ seed } or { state }');
    }
    this.readyDistance = distance(endEffectorPosition(PANDA_READY_POSE), this.target);
    this.steps = 0;
    this.started = true;
    const info = this.info();
    return { observation: this.observation(), info };
  }

  step(action: ArrayLike<number>): StepResult {
    if (!this.started) throw new Error('arm-reach: call reset() before step()');
    checkVector('action', action, PANDA_DOF, 'absolute joint position targets q1..q7 in rad');
    for (let k = 0; k < ARM_SUBSTEPS; k++) integrateJoints(this.q, this.dq, action);
    this.steps++;
    const info = this.info();
    return { observation: this.observation(), reward: info.success ? 1 : 0, done: info.success || this.steps >= this.maxSteps, info };
  }

  state(): Float64Array {
    const s = new Float64Array(ARM_STATE_SIZE);
    s.set(this.q, 0);
    s.set(this.dq, PANDA_DOF);
    s.set(this.target, 2 * PANDA_DOF);
    return s;
  }

  /** Current flange position [m, base frame]. */
  endEffector(): [number, number, number] {
    return endEffectorPosition(this.q);
  }

  /** Draw the current state (default 256 x 256: this task has no image observation of its own size). */
  async render(options: RenderOptions = {}): Promise<RgbImage> {
    // Loaded on first use, so state-only use never starts the renderer or its headless browser.
    const { renderTaskState } = await import('../render/renderer.js');
    return renderTaskState(this.task, this.state(), { width: options.width ?? 256, height: options.height ?? 256 });
  }

  close(): void {
    this.started = false;
  }

  private resetFromSeed(seed: number): void {
    const rng = new Rng(seed);
    this.q.set(PANDA_READY_POSE);
    this.dq.fill(0);
    const start = endEffectorPosition(this.q);
    const { min, max } = ARM_TARGET_BOX;
    do {
      for (let i = 0; i < 3; i++) this.target[i] = min[i] + (max[i] - min[i]) * rng.uniform();
    } while (distance(start, this.target) < ARM_MIN_TARGET_DISTANCE);
  }

  /** reset({ state }): the exact state, after checking it is one the robot can be in. */
  private setState(state: ArrayLike<number>): void {
    checkVector('state', state, ARM_STATE_SIZE, `${ARM_STATE_NAMES.join(', ')}`);
    const { qMin, qMax, dqMax } = PANDA_LIMITS;
    for (let i = 0; i < PANDA_DOF; i++) {
      if (state[i] < qMin[i] || state[i] > qMax[i]) throw new InputError(`state[${i}]`, state[i], `${ARM_STATE_NAMES[i]} within the Panda's limits [${qMin[i]}, ${qMax[i]}]`);
      const v = state[PANDA_DOF + i];
      if (Math.abs(v) > dqMax[i]) throw new InputError(`state[${PANDA_DOF + i}]`, v, `${ARM_STATE_NAMES[PANDA_DOF + i]} within ±${dqMax[i]}`);
    }
    for (let i = 0; i < PANDA_DOF; i++) {
      this.q[i] = state[i];
      this.dq[i] = state[PANDA_DOF + i];
    }
    for (let i = 0; i < 3; i++) this.target[i] = state[2 * PANDA_DOF + i];
  }

  private observation(): ObservationFrame {
    return { 'observation.state': Float64Array.from(this.q), 'observation.environment_state': Float64Array.from(this.target) };
  }

  private info(): StepInfo {
    const d = distance(endEffectorPosition(this.q), this.target);
    const coverage = this.readyDistance > 0 ? Math.min(1, Math.max(0, 1 - d / this.readyDistance)) : 1;
    return { coverage, success: d < ARM_SUCCESS_RADIUS, state: this.state(), step: this.steps };
  }
}

registerTask<ArmReachOptions>({
  name: ARM_REACH_TASK,
  description: 'Franka Panda (7-DoF, kinematic, joint position control at 10 Hz) brings its flange within 2 cm of a target point',
  replayPosition: { label: 'joint positions q1..q7 (rad)', indices: [0, 1, 2, 3, 4, 5, 6] },
  create: (options) => new ArmReachEnv(options),
});
