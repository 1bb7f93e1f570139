import { InputError } from '../core/errors.js';

/**
 * Safety between the policy and the robot. Every command goes through
 * `SafetyFilter.filter`, which clamps it to per-joint limits and refuses
 * non-finite values; the streamer stops on the reasons in `StopReason`.
 * Every intervention is counted and logged.
 *
 * Position interface (JointTrajectory, Float64MultiArray of positions), per
 * joint with period dt, previous command p and its velocity v, and
 * cap(d) = -amax dt + sqrt((amax dt)^2 + 2 amax d), the largest speed from
 * which the joint stops within distance d (the exact discrete stopping
 * distance v^2 / (2 amax) + v dt / 2 + O(amax dt^2) is at most
 * v^2 / (2 amax) + v dt, so riding this bound never needs more than amax):
 *   1. the target x is clamped to [lo, hi];
 *   2. if (x - p) / dt is within +-vmax, within cap(distance to the limit
 *      it moves towards) and within [v - amax dt, v + amax dt], and no
 *      tracking error over amax dt^2 is left from earlier clamps, the
 *      command is x itself, unchanged;
 *   3. otherwise the velocity follows the target's own motion and closes
 *      the previous tracking error e no faster than it can stop,
 *      (x - x_prev) / dt + sign(e) cap(|e|) (a target that jumped is
 *      approached without overshoot), then is clamped to +-vmax, to the
 *      limit caps and to [v - amax dt, v + amax dt], in that order;
 *   4. command = p + v dt, clamped to [lo, hi] (a hard bound).
 * Velocity interface (Twist, Float64MultiArray of velocities): the value is
 * clamped to +-vmax and its change to amax dt per tick.
 */

export interface JointLimits {
  /** [lower, upper] position bounds (position interface). */
  position?: [number, number];
  /** Largest |velocity|. */
  velocity: number;
  /** Largest |acceleration|. */
  acceleration: number;
}

export type CommandInterface = 'position' | 'velocity';

export type ClampKind = 'position' | 'velocity' | 'acceleration';

export type StopReason = 'nan' | 'stale' | 'estop' | 'lost' | 'interrupt' | 'policy-error';

export interface Intervention {
  /** performance.now() at the event, ms. */
  at: number;
  tick: number;
  kind: ClampKind | StopReason | 'resume' | 'bad-message' | 'underrun';
  joint?: string;
  detail?: string;
}

/** Counters and a bounded log of every intervention. */
export class InterventionLog {
  readonly counts: Record<string, number> = {};
  readonly entries: Intervention[] = [];
  /** Entries that did not fit in the log (they are still counted). */
  overflow = 0;

  constructor(readonly capacity = 10_000) {}

  record(entry: Intervention): void {
    this.counts[entry.kind] = (this.counts[entry.kind] ?? 0) + 1;
    if (this.entries.length < this.capacity) this.entries.push(entry);
    else this.overflow++;
  }

  count(kind: Intervention['kind']): number {
    return this.counts[kind] ?? 0;
  }

  /** Clamps of every kind. */
  get clamps(): number {
    return this.count('position') + this.count('velocity') + this.count('acceleration');
  }
}

export interface FilterResult {
  /** The command to send; undefined when the target was not finite (stop). */
  command?: Float64Array;
  /** Joints (indices) whose value was clamped, with the kinds. */
  clamped: { joint: number; kind: ClampKind }[];
  nonFinite: boolean;
}

/** True when every value is a finite number. */
export function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

export class SafetyFilter {
  private prev: Float64Array;
  private vel: Float64Array;
  /** The previous target (within the position bounds), to tell the target's motion from the tracking error. */
  private prevTarget: Float64Array;
  private initialised = false;

  constructor(
    readonly joints: readonly string[],
    readonly limits: readonly JointLimits[],
    readonly iface: CommandInterface,
    /** Control period, seconds. */
    readonly dt: number,
  ) {
    if (limits.length !== joints.length) throw new InputError('limits', limits.length, `one entry per joint (${joints.length})`);
    if (!(dt > 0)) throw new InputError('dt', dt, 'a positive period in seconds');
    limits.forEach((l, j) => {
      if (!(l.velocity > 0)) throw new InputError(`limits.${joints[j]}.velocity`, l.velocity, 'a positive number');
      if (!(l.acceleration > 0)) throw new InputError(`limits.${joints[j]}.acceleration`, l.acceleration, 'a positive number');
      if (iface === 'position') {
        if (!l.position || !(l.position[0] < l.position[1])) throw new InputError(`limits.${joints[j]}.position`, l.position, '[lower, upper] with lower < upper');
      }
    });
    this.prev = new Float64Array(joints.length);
    this.vel = new Float64Array(joints.length);
    this.prevTarget = new Float64Array(joints.length);
  }

  get ready(): boolean {
    return this.initialised;
  }

  /** The last command sent (position interface: positions; velocity interface: velocities). */
  get last(): Float64Array {
    return this.prev.slice();
  }

  /** The velocity of the last command (position interface). */
  get velocity(): Float64Array {
    return this.vel.slice();
  }

  /**
   * Start from the robot's measured state (position interface: its
   * positions, at rest; velocity interface: at rest). Call before the first
   * command and on every resume.
   */
  reset(measured?: ArrayLike<number>): void {
    if (this.iface === 'position') {
      if (!measured || measured.length !== this.joints.length || !allFinite(measured)) {
        throw new InputError('measured', measured, `${this.joints.length} finite joint positions`);
      }
      this.prev = Float64Array.from(measured);
    } else this.prev = new Float64Array(this.joints.length);
    this.vel = new Float64Array(this.joints.length);
    this.prevTarget = this.prev.slice();
    this.initialised = true;
  }

  /** Clamp a target to the limits, `ticks` control periods after the previous command. Updates the state. */
  filter(target: ArrayLike<number>, ticks = 1): FilterResult {
    if (!this.initialised) throw new Error('SafetyFilter.filter before reset()');
    if (target.length !== this.joints.length) throw new InputError('command', target, `${this.joints.length} values`);
    if (!allFinite(target)) return { nonFinite: true, clamped: [] };
    const dt = this.dt * Math.max(1, ticks);
    const clamped: FilterResult['clamped'] = [];
    const out = new Float64Array(target.length);
    for (let j = 0; j < target.length; j++) {
      const l = this.limits[j];
      const note = (kind: ClampKind) => {
        if (!clamped.some((c) => c.joint === j && c.kind === kind)) clamped.push({ joint: j, kind });
      };
      if (this.iface === 'velocity') {
        let u = target[j];
        if (Math.abs(u) > l.velocity) {
          u = Math.sign(u) * l.velocity;
          note('velocity');
        }
        const lo = this.prev[j] - l.acceleration * dt;
        const hi = this.prev[j] + l.acceleration * dt;
        if (u < lo || u > hi) {
          u = Math.min(hi, Math.max(lo, u));
          note('acceleration');
        }
        out[j] = u;
        continue;
      }
      const [pmin, pmax] = l.position!;
      const p = this.prev[j];
      const v0 = this.vel[j];
      const a = l.acceleration;
      const cap = (d: number) => -a * dt + Math.sqrt(a * a * dt * dt + 2 * a * Math.max(0, d));
      let x = target[j];
      if (x < pmin || x > pmax) {
        x = Math.min(pmax, Math.max(pmin, x));
        note('position');
      }
      const vDesired = (x - p) / dt;
      const up = cap(pmax - p);
      const down = cap(p - pmin);
      const vlo = v0 - a * dt;
      const vhi = v0 + a * dt;
      const tooFast = Math.abs(vDesired) > l.velocity;
      const vCapped = Math.min(l.velocity, Math.max(-l.velocity, vDesired));
      const wall = vCapped > up || vCapped < -down;
      const jerk = vDesired < vlo || vDesired > vhi;
      // The tracking error left by earlier clamps; closing more than amax dt^2 of it in one
      // tick would leave a relative speed that cannot be stopped in the next.
      const vTarget = (x - this.prevTarget[j]) / dt;
      const e = this.prevTarget[j] - p;
      const settled = Math.abs(e) <= a * dt * dt * (1 + 1e-9);
      let v = vDesired;
      if (tooFast || wall || jerk || !settled) {
        if (tooFast) note('velocity');
        if (wall) note('position');
        if (jerk) note('acceleration');
        // Follow the target's own motion and close the tracking error no faster than it
        // can be stopped (a target that jumped is approached without overshoot).
        v = vTarget + Math.sign(e) * cap(Math.abs(e));
        v = Math.min(l.velocity, Math.max(-l.velocity, v));
        v = Math.min(up, Math.max(-down, v));
        v = Math.min(vhi, Math.max(vlo, v));
      }
      this.prevTarget[j] = x;
      // Reachable: the target itself (p + ((x - p) / dt) dt need not round back to x).
      out[j] = v === vDesired ? x : Math.min(pmax, Math.max(pmin, p + v * dt));
      this.vel[j] = (out[j] - p) / dt;
    }
    this.prev = out;
    return { command: out.slice(), clamped, nonFinite: false };
  }

  /**
   * One braking step towards rest within the acceleration limits (a stop
   * that the robot can follow). Returns the command, and whether it is at rest.
   */
  brake(ticks = 1): { command: Float64Array; atRest: boolean } {
    if (!this.initialised) throw new Error('SafetyFilter.brake before reset()');
    const dt = this.dt * Math.max(1, ticks);
    const out = new Float64Array(this.joints.length);
    let atRest = true;
    for (let j = 0; j < out.length; j++) {
      const a = this.limits[j].acceleration;
      if (this.iface === 'velocity') {
        const u = this.prev[j];
        out[j] = Math.sign(u) * Math.max(0, Math.abs(u) - a * dt);
        if (out[j] !== 0) atRest = false;
        continue;
      }
      const v0 = this.vel[j];
      const v = Math.sign(v0) * Math.max(0, Math.abs(v0) - a * dt);
      const [pmin, pmax] = this.limits[j].position!;
      out[j] = Math.min(pmax, Math.max(pmin, this.prev[j] + v * dt));
      this.vel[j] = (out[j] - this.prev[j]) / dt;
      if (this.vel[j] !== 0) atRest = false;
    }
    this.prev = out;
    this.prevTarget = out.slice();
    return { command: out.slice(), atRest };
  }

  /** A copy with the same state, for previewing future commands (trajectory look-ahead) without changing this one. */
  clone(): SafetyFilter {
    const c = new SafetyFilter(this.joints, this.limits, this.iface, this.dt);
    c.prev = this.prev.slice();
    c.vel = this.vel.slice();
    c.prevTarget = this.prevTarget.slice();
    c.initialised = this.initialised;
    return c;
  }
}
