import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { InputError } from '../../src/core/errors.js';
import { InterventionLog, SafetyFilter, type JointLimits } from '../../src/ros/safety.js';

const DT = 0.01;
const LIMITS: JointLimits[] = [
  { position: [-1, 1], velocity: 0.8, acceleration: 4 },
  { position: [0, 0.5], velocity: 2, acceleration: 20 },
];

/**
 * The robot node's check (test/ros/robot_node.py), here in TypeScript: from
 * the start state at rest, each command's finite difference velocity and
 * acceleration over one period. Relative tolerance 1e-9: the filter works in
 * float64 and clamps exactly at the bounds.
 */
function violations(start: number[], commands: Float64Array[], limits: JointLimits[], dt: number): string[] {
  const out: string[] = [];
  let p = start;
  let v = start.map(() => 0);
  commands.forEach((c, i) => {
    const nv = Array.from(c, (x, j) => (x - p[j]) / dt);
    limits.forEach((l, j) => {
      const acc = (nv[j] - v[j]) / dt;
      if (c[j] < l.position![0] - 1e-12 || c[j] > l.position![1] + 1e-12) out.push(`${i} j${j} position ${c[j]}`);
      if (Math.abs(nv[j]) > l.velocity * (1 + 1e-9)) out.push(`${i} j${j} velocity ${nv[j]}`);
      if (Math.abs(acc) > l.acceleration * (1 + 1e-9)) out.push(`${i} j${j} acceleration ${acc}`);
    });
    p = Array.from(c);
    v = nv;
  });
  return out;
}

describe('safety filter, position commands', () => {
  it('clamps a target outside the position limits and says which joint and why', () => {
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    f.reset([0.99, 0.25]);
    const r = f.filter([5, 0.25]);
    expect(r.nonFinite).toBe(false);
    expect(r.command![0]).toBeLessThanOrEqual(1);
    expect(r.clamped).toContainEqual({ joint: 0, kind: 'position' });
    expect(r.clamped.some((c) => c.joint === 1)).toBe(false);
  });

  it('limits a step to the velocity and acceleration bounds', () => {
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    f.reset([0, 0.25]);
    const first = f.filter([0.5, 0.25]);
    // from rest: at most amax * dt of velocity in one period
    expect(first.command![0]).toBeCloseTo(4 * DT * DT, 12);
    expect(first.clamped.map((c) => c.kind)).toEqual(['velocity', 'acceleration']);
    // long run towards a far target: the speed settles at vmax exactly
    let last = first.command!;
    for (let i = 0; i < 100; i++) last = f.filter([0.9, 0.25]).command!;
    expect(f.velocity[0]).toBeCloseTo(0.8, 9);
    expect(last[0]).toBeLessThan(0.9);
  });

  it('never exceeds any limit on random targets, ramming the walls included (checked as the robot checks)', () => {
    const rng = new Rng(7);
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    const start = [0.2, 0.1];
    f.reset(start);
    const commands: Float64Array[] = [];
    let clamps = 0;
    for (let i = 0; i < 3000; i++) {
      // phases: random jumps, a far target beyond the upper wall, then beyond the lower one
      const phase = Math.floor(i / 1000);
      const target = phase === 0 ? [4 * rng.uniform() - 2, 2 * rng.uniform() - 0.5] : phase === 1 ? [3, 2] : [-3, -2];
      const r = f.filter(target);
      clamps += r.clamped.length;
      commands.push(r.command!);
    }
    expect(violations(start, commands, LIMITS, DT)).toEqual([]);
    expect(clamps).toBeGreaterThan(1000);
    // it reaches the walls (the braking bound is not over-conservative) and stays there
    expect(commands[1999][0]).toBeGreaterThan(1 - 1e-6);
    expect(commands[1999][1]).toBeGreaterThan(0.5 - 1e-6);
    expect(commands[2999][0]).toBeLessThan(-1 + 1e-6);
  });

  it('approaches a target that jumped without overshoot, and lands on it', () => {
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    f.reset([-0.5, 0.25]);
    const commands: Float64Array[] = [];
    for (let i = 0; i < 200; i++) commands.push(f.filter([0.3, 0.25]).command!);
    const xs = commands.map((c) => c[0]);
    expect(Math.max(...xs)).toBeLessThanOrEqual(0.3);
    expect(xs[199]).toBe(0.3);
    // monotone: no oscillation around the target
    expect(xs.every((x, i) => i === 0 || x >= xs[i - 1])).toBe(true);
    expect(violations([-0.5, 0.25], commands, LIMITS, DT)).toEqual([]);
  });

  it('passes a feasible trajectory through unchanged', () => {
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    f.reset([0, 0.2]);
    for (let i = 1; i <= 500; i++) {
      const t = i * DT;
      const target = [0.3 * (1 - Math.cos(Math.PI * t)) / 2, 0.2 + 0.1 * Math.sin(t)];
      const r = f.filter(target);
      expect(r.clamped).toEqual([]);
      expect(Array.from(r.command!)).toEqual(target);
    }
  });

  it('refuses NaN and Inf without moving, and brakes to rest within the acceleration limit', () => {
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    f.reset([0, 0.25]);
    const commands: Float64Array[] = [];
    for (let i = 0; i < 50; i++) commands.push(f.filter([0.9, 0.25]).command!);
    const before = f.last;
    expect(f.filter([Number.NaN, 0]).nonFinite).toBe(true);
    expect(f.filter([0, Number.POSITIVE_INFINITY]).command).toBeUndefined();
    expect(f.last).toEqual(before);
    const v0 = f.velocity[0];
    expect(v0).toBeGreaterThan(0.1);
    let steps = 0;
    for (;;) {
      const b = f.brake();
      commands.push(b.command);
      steps++;
      if (b.atRest) break;
      expect(steps).toBeLessThan(1000);
    }
    expect(steps).toBe(Math.ceil(v0 / (4 * DT) - 1e-9));
    expect(Array.from(f.velocity)).toEqual([0, 0]);
    expect(violations([0, 0.25], commands, LIMITS, DT)).toEqual([]);
  });

  it('needs a finite measured state to start, and limits for every joint', () => {
    const f = new SafetyFilter(['a', 'b'], LIMITS, 'position', DT);
    expect(() => f.filter([0, 0])).toThrow(/before reset/);
    expect(() => f.reset([0, Number.NaN])).toThrow(InputError);
    expect(() => new SafetyFilter(['a'], LIMITS, 'position', DT)).toThrow(/limits/);
    expect(() => new SafetyFilter(['a'], [{ velocity: 1, acceleration: 1 }], 'position', DT)).toThrow(/limits.a.position/);
    expect(() => new SafetyFilter(['a'], [{ velocity: 0, acceleration: 1 }], 'velocity', DT)).toThrow(/limits.a.velocity/);
  });
});

describe('safety filter, velocity commands', () => {
  it('clamps the value to +-vmax and its change to amax dt, and brakes to zero', () => {
    const f = new SafetyFilter(['linear.x'], [{ velocity: 0.5, acceleration: 1 }], 'velocity', 0.1);
    f.reset();
    const r = f.filter([2]);
    expect(r.command![0]).toBeCloseTo(0.1, 12);
    expect(r.clamped.map((c) => c.kind)).toEqual(['velocity', 'acceleration']);
    let u = 0;
    for (let i = 0; i < 10; i++) u = f.filter([2]).command![0];
    expect(u).toBe(0.5);
    const b1 = f.brake();
    expect(b1.command[0]).toBeCloseTo(0.4, 12);
    let rest = false;
    for (let i = 0; i < 10 && !rest; i++) rest = f.brake().atRest;
    expect(rest).toBe(true);
    expect(f.last[0]).toBe(0);
  });
});

describe('intervention log', () => {
  it('counts every intervention and keeps a bounded log', () => {
    const log = new InterventionLog(3);
    for (let i = 0; i < 5; i++) log.record({ at: i, tick: i, kind: 'position', joint: 'a' });
    log.record({ at: 5, tick: 5, kind: 'stale' });
    log.record({ at: 6, tick: 6, kind: 'velocity' });
    expect(log.count('position')).toBe(5);
    expect(log.count('stale')).toBe(1);
    expect(log.clamps).toBe(6);
    expect(log.entries).toHaveLength(3);
    expect(log.overflow).toBe(4);
  });
});
