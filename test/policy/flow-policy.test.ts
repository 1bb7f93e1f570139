import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { frame, smallPolicy } from '../helpers/policy.js';
import { TEST_BACKEND } from '../helpers/backend.js';

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

describe('FlowPolicy.act', () => {
  it('returns a Tp x A chunk with the step to execute now, latency and network calls', () => {
    const policy = smallPolicy();
    const chunk = policy.act(frame());
    expect(chunk.actions.length).toBe(32);
    expect(chunk).toMatchObject({ horizon: 16, actionDim: 2, start: 1, execute: 8, nfe: 10 });
    expect(chunk.latencyMs).toBeGreaterThan(0);
    expect(Array.from(chunk.actions).every(Number.isFinite)).toBe(true);
    expect(policy.act(frame(), { solver: { method: 'rk4', steps: 3 } }).nfe).toBe(12);
  });

  it('is reproducible for a seed, and varies with the noise', () => {
    const policy = smallPolicy();
    policy.reset({ seed: 3 });
    const a = policy.act(frame()).actions;
    policy.reset({ seed: 3 });
    const b = policy.act(frame()).actions;
    expect(b).toEqual(a);
    const c = policy.act(frame()).actions; // next draw of the same generator
    expect(c).not.toEqual(a);
    const noise = new Rng(9).fillNormal(new Float32Array(32));
    expect(policy.act(frame(), { noise }).actions).toEqual(policy.act(frame(), { noise }).actions);
  });

  it('keeps the last To frames: a new frame shifts the history', () => {
    const policy = smallPolicy();
    const noise = new Rng(1).fillNormal(new Float32Array(32));
    policy.reset();
    const first = policy.act(frame([10, 10]), { noise }).actions;
    // The first frame of an episode is repeated to fill the history...
    policy.reset();
    expect(policy.act([frame([10, 10]), frame([10, 10])], { noise }).actions).toEqual(first);
    // ...and a second frame gives the same result as passing both explicitly.
    const second = policy.act(frame([300, 300]), { noise }).actions;
    policy.reset();
    expect(policy.act([frame([10, 10]), frame([300, 300])], { noise }).actions).toEqual(second);
  });

  it('names the feature, the value and the expected size of a bad observation', () => {
    const policy = smallPolicy();
    expect(() => policy.act({ 'observation.state': [1, 2] })).toThrow(InputError);
    expect(() => policy.act({ 'observation.state': [1, 2] })).toThrow('observation["observation.environment_state"] = undefined, expected an array of 18 finite numbers');
    expect(() => policy.act({ ...frame(), 'observation.state': [1, 2, 3] })).toThrow('observation["observation.state"] = an array of length 3, expected an array of 2 finite numbers');
    expect(() => policy.act({ ...frame(), 'observation.state': [1, Number.NaN] })).toThrow('observation["observation.state"][1] = NaN, expected a finite number');
    expect(() => policy.act([frame(), frame(), frame()])).toThrow('expected one frame, or an array of exactly 2 frames');
    expect(() => policy.act(frame(), { noise: [1, 2] })).toThrow('noise = an array of length 2, expected 32 values');
  });
});
