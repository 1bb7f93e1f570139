import { describe, expect, it } from 'vitest';
import { Vector3 } from 'three';
import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import type { ActionChunk, Policy } from '../../src/policy/policy.js';
import { getTask } from '../../sim/registry.js';
import { getScriptedPolicy } from '../../src/policy/policy-source.js';
import '../../sim/tasks.js';
import { ArmReachEnv, ARM_PHYSICS_DT, ARM_STATE_SIZE, integrateJoints } from '../../sim/arm/arm-reach-env.js';
import { endEffectorPosition, jacobian, linkTransforms, PANDA_DOF, PANDA_HAND_TCP_OFFSET, PANDA_LIMITS, PANDA_READY_POSE } from '../../sim/arm/panda-kinematics.js';
import { recordArmDemos } from '../../sim/arm/record-demos.js';
import { ArmReachExpert } from '../../sim/arm/scripted-expert.js';
import { createScene } from '../../sim/arm/scene.js';

const { qMin, qMax, dqMax, ddqMax } = PANDA_LIMITS;

function randomJoints(rng: Rng): number[] {
  return Array.from({ length: PANDA_DOF }, (_, i) => qMin[i] + (qMax[i] - qMin[i]) * rng.uniform());
}

/** Column-major rotation part of a 4x4 as row-major 3x3 entries R[r][c]. */
function rot(t: Float64Array, r: number, c: number): number {
  return t[c * 4 + r];
}

describe('Panda forward kinematics (Franka modified DH)', () => {
  it('zero pose: flange at (0.088, 0, 0.926) pointing straight down', () => {
    const p = endEffectorPosition(new Array(7).fill(0));
    expect(p[0]).toBeCloseTo(0.088, 9);
    expect(p[1]).toBeCloseTo(0, 9);
    expect(p[2]).toBeCloseTo(0.333 + 0.316 + 0.384 - 0.107, 9);
    const flange = linkTransforms(new Array(7).fill(0))[7];
    expect(rot(flange, 0, 0)).toBeCloseTo(1, 9);
    expect(rot(flange, 1, 1)).toBeCloseTo(-1, 9);
    expect(rot(flange, 2, 2)).toBeCloseTo(-1, 9);
  });

  it('ready pose: flange at (0.307, 0, 0.590), Franka Hand TCP at (0.307, 0, 0.487), z down', () => {
    const flange = endEffectorPosition(PANDA_READY_POSE);
    expect(flange[0]).toBeCloseTo(0.3069, 3);
    expect(flange[1]).toBeCloseTo(0, 9);
    expect(flange[2]).toBeCloseTo(0.5903, 3);
    const tcp = endEffectorPosition(PANDA_READY_POSE, PANDA_HAND_TCP_OFFSET);
    expect(tcp[0]).toBeCloseTo(0.3069, 3);
    expect(tcp[2]).toBeCloseTo(0.4869, 3);
    const t = linkTransforms(PANDA_READY_POSE)[7];
    expect(rot(t, 2, 2)).toBeCloseTo(-1, 9);
  });

  it('gives proper rigid transforms for every link; frame 1 sits 0.333 m above the base', () => {
    const frames = linkTransforms(randomJoints(new Rng(3)));
    expect(frames).toHaveLength(8);
    expect(frames[0][12]).toBeCloseTo(0, 12);
    expect(frames[0][14]).toBeCloseTo(0.333, 12);
    for (const t of frames) {
      for (let a = 0; a < 3; a++) {
        for (let b = 0; b < 3; b++) {
          const dot = rot(t, 0, a) * rot(t, 0, b) + rot(t, 1, a) * rot(t, 1, b) + rot(t, 2, a) * rot(t, 2, b);
          expect(dot).toBeCloseTo(a === b ? 1 : 0, 12);
        }
      }
      expect([t[3], t[7], t[11], t[15]]).toEqual([0, 0, 0, 1]);
    }
  });

  it('geometric Jacobian matches central finite differences (position and orientation rows)', () => {
    const rng = new Rng(11);
    const h = 1e-6;
    for (let trial = 0; trial < 5; trial++) {
      const q = randomJoints(rng);
      const j = jacobian(q);
      const r0 = linkTransforms(q)[7];
      for (let i = 0; i < PANDA_DOF; i++) {
        const qp = q.slice();
        const qm = q.slice();
        qp[i] += h;
        qm[i] -= h;
        const pp = endEffectorPosition(qp);
        const pm = endEffectorPosition(qm);
        for (let r = 0; r < 3; r++) expect(j[r * 7 + i]).toBeCloseTo((pp[r] - pm[r]) / (2 * h), 6);
        // Angular velocity: skew(w) = dR/dq_i · R^T.
        const rp = linkTransforms(qp)[7];
        const rm = linkTransforms(qm)[7];
        const dRRt = (a: number, b: number) => {
          let s = 0;
          for (let k = 0; k < 3; k++) s += ((rot(rp, a, k) - rot(rm, a, k)) / (2 * h)) * rot(r0, b, k);
          return s;
        };
        expect(j[3 * 7 + i]).toBeCloseTo(dRRt(2, 1), 6);
        expect(j[4 * 7 + i]).toBeCloseTo(dRRt(0, 2), 6);
        expect(j[5 * 7 + i]).toBeCloseTo(dRRt(1, 0), 6);
      }
    }
  });
});

describe('arm-reach env', () => {
  it('is registered and documents its state and specs', async () => {
    const env = await getTask('arm-reach').create();
    expect(env.stateNames).toHaveLength(ARM_STATE_SIZE);
    expect(env.actionSpec.shape).toEqual([7]);
    expect(env.observationSpec['observation.state'].shape).toEqual([7]);
    expect(env.observationSpec['observation.environment_state'].shape).toEqual([3]);
    expect(env.controlHz).toBe(10);
    expect(env.maxSteps).toBe(100);
    const { observation, info } = env.reset({ seed: 0 });
    expect(Array.from(observation['observation.state'])).toEqual(PANDA_READY_POSE);
    expect(info.state).toHaveLength(ARM_STATE_SIZE);
    expect(info.coverage).toBe(0);
    env.close();
  });

  it('never exceeds position, velocity or acceleration limits, substep by substep, under extreme targets', () => {
    const rng = new Rng(5);
    const q = Float64Array.from(PANDA_READY_POSE);
    const dq = new Float64Array(7);
    let target = randomJoints(rng);
    let touched = 0;
    // Worst excess over each limit (<= 0 when respected), checked once at the end.
    let position = -Infinity;
    let velocity = -Infinity;
    let acceleration = -Infinity;
    for (let k = 0; k < 5000; k++) {
      if (k % 40 === 0) target = Array.from({ length: 7 }, () => (rng.uniform() < 0.5 ? -1e6 : 1e6));
      const before = Float64Array.from(dq);
      integrateJoints(q, dq, target);
      for (let i = 0; i < 7; i++) {
        position = Math.max(position, q[i] - qMax[i], qMin[i] - q[i]);
        velocity = Math.max(velocity, Math.abs(dq[i]) - dqMax[i]);
        acceleration = Math.max(acceleration, Math.abs(dq[i] - before[i]) / ARM_PHYSICS_DT - ddqMax[i] * (1 + 1e-9));
        if (qMax[i] - q[i] < 1e-3 || q[i] - qMin[i] < 1e-3) touched++;
      }
    }
    expect(position).toBeLessThanOrEqual(0);
    expect(velocity).toBeLessThanOrEqual(0);
    expect(acceleration).toBeLessThanOrEqual(0);
    expect(touched).toBeGreaterThan(0); // the limits were actually reached
  });

  it('clamps an extreme action through the env: joints end at their limits, not beyond', () => {
    const env = new ArmReachEnv();
    env.reset({ seed: 1 });
    let last = env.state();
    for (let k = 0; k < 100; k++) last = env.step(new Array(7).fill(k < 50 ? 1e9 : -1e9)).info.state;
    for (let i = 0; i < 7; i++) {
      expect(last[i]).toBeGreaterThanOrEqual(qMin[i]);
      expect(last[i]).toBeCloseTo(qMin[i], 6);
      expect(Math.abs(last[7 + i])).toBeLessThan(1e-6);
    }
  });

  it('rejects bad actions with an InputError naming action, the value and what it expected', () => {
    const env = new ArmReachEnv();
    env.reset({ seed: 0 });
    expect(() => env.step([0, 0, 0])).toThrow(InputError);
    expect(() => env.step([0, 0, 0])).toThrow(/action = an array of length 3, expected 7 finite numbers/);
    expect(() => env.step([0, 0, 0, NaN, 0, 0, 0])).toThrow(/action\[3\] = NaN, expected a finite number/);
    expect(() => env.step(new Float32Array([0, 0, 0, 0, 0, 0, Infinity]))).toThrow(/action\[6\] = Infinity/);
    expect(() => env.reset({ state: new Array(ARM_STATE_SIZE).fill(0) })).toThrow(/state\[3\] = 0, expected q4 \[rad\] within/);
    expect(() => env.reset({ state: [1, 2] })).toThrow(InputError);
  });

  it('reset({ state }) continues an episode exactly', () => {
    const env = new ArmReachEnv();
    const expert = new ArmReachExpert();
    let { observation } = env.reset({ seed: 7 });
    const r1 = env.step(expert.act(observation).actions);
    const saved = r1.info.state;
    const a = expert.act(r1.observation).actions;
    const continued = env.step(a).info.state;
    env.reset({ state: saved });
    expect(Array.from(env.state())).toEqual(Array.from(saved));
    expect(Array.from(env.step(a).info.state)).toEqual(Array.from(continued));
  });
});

describe('arm-reach scripted expert and demos', () => {
  it('the DLS expert reaches the target in > 95% of 50 seeded episodes', () => {
    const demos = recordArmDemos({ episodes: 50, seed: 0 });
    const rate = demos.filter((d) => d.success).length / demos.length;
    expect(rate).toBeGreaterThan(0.95);
    for (const d of demos) {
      const n = d.states.length;
      expect(n).toBeGreaterThan(0);
      expect(d.features.action).toHaveLength(n);
      expect(d.features['observation.state']).toHaveLength(n);
      expect(d.features['observation.environment_state']).toHaveLength(n);
      expect(d.features.action[0]).toBeInstanceOf(Float32Array);
      expect(d.features.action[0]).toHaveLength(7);
    }
  });

  it('is available by name as scripted:arm-reach-expert, and rejects a malformed observation', () => {
    const expert = getScriptedPolicy('scripted:arm-reach-expert').create('scripted:arm-reach-expert');
    expect(expert.config.action).toEqual({ key: 'action', dim: 7, horizon: 1, execute: 1 });
    expect(() => expert.act({ 'observation.state': [0, 0], 'observation.environment_state': [0.4, 0, 0.4] })).toThrow(/observation\["observation.state"\]/);
  });

  it('same seed gives the same episodes, another seed different ones', () => {
    const a = recordArmDemos({ episodes: 3, seed: 42 });
    const b = recordArmDemos({ episodes: 3, seed: 42 });
    expect(a).toEqual(b);
    const c = recordArmDemos({ episodes: 1, seed: 43 });
    expect(Array.from(c[0].features['observation.environment_state'][0])).not.toEqual(Array.from(a[0].features['observation.environment_state'][0]));
  });

  it('negative control: holding the ready pose never succeeds', () => {
    const hold: Policy = {
      config: { kind: 'hold', observation: { features: [], horizon: 1 }, action: { key: 'action', dim: 7, horizon: 1, execute: 1 } },
      reset() {},
      act(): ActionChunk {
        return { actions: Float32Array.from(PANDA_READY_POSE), horizon: 1, actionDim: 7, start: 0, execute: 1, latencyMs: 0, nfe: 0 };
      },
      dispose() {},
    };
    const env = new ArmReachEnv();
    let successes = 0;
    let maxCoverage = 0;
    for (let seed = 0; seed < 20; seed++) {
      let { observation } = env.reset({ seed });
      for (let done = false; !done; ) {
        const r = env.step(hold.act(observation).actions);
        observation = r.observation;
        done = r.done;
        if (r.info.success) successes++;
        maxCoverage = Math.max(maxCoverage, r.info.coverage);
      }
    }
    expect(successes).toBe(0);
    expect(maxCoverage).toBeLessThan(0.01);
  });
});

describe('arm-reach scene', () => {
  it('places the flange and the target where kinematics says (robot z-up -> Three y-up)', () => {
    const s = createScene();
    const q = randomJoints(new Rng(9));
    const state = [...q, ...new Array(7).fill(0), 0.5, -0.1, 0.3];
    s.update(state);
    s.scene.updateMatrixWorld(true);
    const p = endEffectorPosition(q);
    const spheres: Vector3[] = [];
    s.scene.traverse((o) => {
      if ((o as { geometry?: { type?: string } }).geometry?.type === 'SphereGeometry') spheres.push(o.getWorldPosition(new Vector3()));
    });
    const near = (x: number, y: number, z: number) => spheres.some((v) => v.distanceTo(new Vector3(x, z, -y)) < 1e-9);
    expect(near(p[0], p[1], p[2])).toBe(true);
    expect(near(0.5, -0.1, 0.3)).toBe(true);
    s.dispose();
  });
});
