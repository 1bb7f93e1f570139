/**
 * Scripted expert for `arm-reach`: inverse kinematics by damped least
 * squares (DLS), run to convergence from the current joint angles at every
 * call, and the solution sent as the absolute joint position target. The
 * env's joint servo then moves there within Franka's limits.
 *
 * One DLS step, with e = target - p(q) (position only) and J the 3 x 7
 * position Jacobian:
 *   dq = J^T (J J^T + lambda^2 I)^-1 e  +  (I - J^T (J J^T + eps I)^-1 J) k0 (q_ready - q)
 * The second term pulls the redundant degrees of freedom (7 joints, 3
 * position constraints) toward the ready pose inside the null space of J,
 * keeping the arm away from its joint limits. Its projector uses a tiny
 * eps (1e-9) instead of lambda^2: with lambda^2 the projection leaks
 * J dq = lambda^2 (J J^T + lambda^2 I)^-1 J z into the task space, which
 * would settle about 1 mm off the target. Each step is scaled down to at most MAX_STEP rad per joint
 * and the result clamped a margin inside the joint range.
 *
 * Stateless between calls (the solution depends only on the observation),
 * so it can be replayed from any recorded frame.
 */

import { InputError } from '../../src/core/errors.js';
import type { ActionChunk, ObservationFrame, Policy, PolicyIO } from '../../src/policy/policy.js';
import { registerScriptedPolicy } from '../../src/policy/policy-source.js';
import { endEffectorPosition, jacobian, PANDA_DOF, PANDA_LIMITS, PANDA_READY_POSE } from './panda-kinematics.js';

export interface ArmExpertOptions {
  /** Damping lambda [m] of the least-squares step. */
  damping?: number;
  /** Null-space gain toward the ready pose. */
  nullGain?: number;
  /** IK iterations per call at most. */
  iterations?: number;
  /** Stop iterating below this position error [m]. */
  tolerance?: number;
  /** Keep targets this far inside each joint limit [rad]. */
  limitMargin?: number;
}

const MAX_STEP = 0.2;
const NULL_SPACE_EPS = 1e-9;

export class ArmReachExpert implements Policy {
  readonly config: PolicyIO & { kind: string } = {
    kind: 'scripted-arm-reach-expert',
    observation: {
      features: [
        { key: 'observation.state', shape: [PANDA_DOF] },
        { key: 'observation.environment_state', shape: [3] },
      ],
      horizon: 1,
    },
    action: { key: 'action', dim: PANDA_DOF, horizon: 1, execute: 1 },
  };
  private readonly damping: number;
  private readonly nullGain: number;
  private readonly iterations: number;
  private readonly tolerance: number;
  private readonly limitMargin: number;

  constructor(options: ArmExpertOptions = {}) {
    this.damping = options.damping ?? 0.05;
    this.nullGain = options.nullGain ?? 0.1;
    this.iterations = options.iterations ?? 100;
    this.tolerance = options.tolerance ?? 1e-4;
    this.limitMargin = options.limitMargin ?? 0.05;
  }

  reset(): void {
    // Stateless: nothing to clear, no noise to reseed.
  }

  act(observation: ObservationFrame | readonly ObservationFrame[]): ActionChunk {
    const started = performance.now();
    const frame = Array.isArray(observation) ? observation[observation.length - 1] : (observation as ObservationFrame);
    const q = readFeature(frame, 'observation.state', PANDA_DOF);
    const target = readFeature(frame, 'observation.environment_state', 3);
    const solution = this.solve(q, target);
    return { actions: Float32Array.from(solution), horizon: 1, actionDim: PANDA_DOF, start: 0, execute: 1, latencyMs: performance.now() - started, nfe: 0 };
  }

  /** Joint angles that put the flange on `target`, found by DLS from `q0` (see the module comment). */
  solve(q0: ArrayLike<number>, target: ArrayLike<number>): Float64Array {
    const q = Float64Array.from(q0);
    const { qMin, qMax } = PANDA_LIMITS;
    const lambda2 = this.damping * this.damping;
    for (let it = 0; it < this.iterations; it++) {
      const p = endEffectorPosition(q);
      const e = [target[0] - p[0], target[1] - p[1], target[2] - p[2]];
      if (Math.hypot(e[0], e[1], e[2]) < this.tolerance) break;
      const j = jacobian(q); // rows 0-2: position
      // A = J J^T + lambda^2 I (3 x 3, symmetric)
      const jjt = new Float64Array(9);
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let k = 0; k < PANDA_DOF; k++) s += j[r * PANDA_DOF + k] * j[c * PANDA_DOF + k];
          jjt[r * 3 + c] = s;
        }
      }
      const y = mul3(invert3(addDiagonal(jjt, lambda2)), e);
      // Null-space motion: z = k0 (q_ready - q), projected by (I - J^T (J J^T + eps I)^-1 J).
      const z = new Float64Array(PANDA_DOF);
      for (let k = 0; k < PANDA_DOF; k++) z[k] = this.nullGain * (PANDA_READY_POSE[k] - q[k]);
      const jz = [0, 1, 2].map((r) => dotRow(j, r, z));
      const w = mul3(invert3(addDiagonal(jjt, NULL_SPACE_EPS)), jz);
      const dq = new Float64Array(PANDA_DOF);
      let largest = 0;
      for (let k = 0; k < PANDA_DOF; k++) {
        let s = z[k];
        for (let r = 0; r < 3; r++) s += j[r * PANDA_DOF + k] * (y[r] - w[r]);
        dq[k] = s;
        largest = Math.max(largest, Math.abs(s));
      }
      const scale = largest > MAX_STEP ? MAX_STEP / largest : 1;
      for (let k = 0; k < PANDA_DOF; k++) {
        q[k] = Math.min(Math.max(q[k] + scale * dq[k], qMin[k] + this.limitMargin), qMax[k] - this.limitMargin);
      }
    }
    return q;
  }

  dispose(): void {}
}

function readFeature(frame: ObservationFrame, key: string, size: number): Float64Array {
  const value = frame?.[key];
  if (!value || value.length !== size) throw new InputError(`observation["${key}"]`, value, `${size} numbers`);
  const out = Float64Array.from(value);
  for (let i = 0; i < size; i++) if (!Number.isFinite(out[i])) throw new InputError(`observation["${key}"][${i}]`, value[i], 'a finite number');
  return out;
}

function dotRow(j: Float64Array, r: number, v: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < PANDA_DOF; k++) s += j[r * PANDA_DOF + k] * v[k];
  return s;
}

function addDiagonal(m: Float64Array, v: number): Float64Array {
  const out = Float64Array.from(m);
  out[0] += v;
  out[4] += v;
  out[8] += v;
  return out;
}

function mul3(m: Float64Array, v: ArrayLike<number>): number[] {
  return [0, 1, 2].map((r) => m[r * 3] * v[0] + m[r * 3 + 1] * v[1] + m[r * 3 + 2] * v[2]);
}

/** Inverse of a 3 x 3 row-major matrix by the adjugate (A is SPD here, so never singular for lambda > 0). */
function invert3(m: Float64Array): Float64Array {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  const s = 1 / det;
  return Float64Array.from([A * s, -(b * i - c * h) * s, (b * f - c * e) * s, B * s, (a * i - c * g) * s, -(a * f - c * d) * s, C * s, -(a * h - b * g) * s, (a * e - b * d) * s]);
}

registerScriptedPolicy({
  name: 'arm-reach-expert',
  task: 'arm-reach',
  description: 'damped-least-squares IK to the target, sent as absolute joint position targets',
  create: () => new ArmReachExpert(),
});
