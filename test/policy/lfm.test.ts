import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { Rng } from '../../src/core/rng.js';
import { integrate } from '../../src/flow/ode.js';
import { loadPolicy, policyRegistry, readCheckpoint, saveCheckpoint } from '../../src/policy/checkpoint.js';
import { FlowPolicy } from '../../src/policy/flow-policy.js';
import { blockCount, blockSteps, LfmPolicyConfig } from '../../src/policy/lfm-config.js';
import { chainRegistry, joinChainWeights, LocalFlowPolicy, splitChainWeights } from '../../src/policy/local-flow-policy.js';
import { parseInput } from '../../src/core/schema.js';
import { TEST_BACKEND } from '../helpers/backend.js';
import { frame, smallConfig, workspaceStats } from '../helpers/policy.js';
import { tempDir } from '../helpers/tmp.js';
import { firstInputError } from '../helpers/errors.js';

/** The Push-T-shaped test policy as an LFM chain of `blocks` blocks. */
function lfmConfig(blocks: number, extra: Record<string, unknown> = {}): LfmPolicyConfig {
  const { kind: _kind, flow, ...rest } = smallConfig();
  const { path: _path, ...flowSpec } = flow;
  return LfmPolicyConfig.parse({ ...rest, kind: 'lfm', flow: flowSpec, lfm: { schedule: { kind: 'cosine', blocks } }, inference: { method: 'rk4', steps: 3 }, ...extra });
}

/** A chain whose blocks have distinct random weights. */
function randomChain(config: LfmPolicyConfig, seed: number, options: { seed?: number } = {}): LocalFlowPolicy {
  return new LocalFlowPolicy(config, workspaceStats(0), chainRegistry(config).initialize(new Rng(seed)), options);
}

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

describe('LFM policy config', () => {
  it('defaults to four blocks on the cosine schedule with the linear interpolant', () => {
    const c = lfmConfig(4);
    const { lfm: _lfm, ...withoutLfm } = c;
    const d = LfmPolicyConfig.parse(withoutLfm);
    expect(d.lfm).toEqual({ schedule: { kind: 'cosine', blocks: 4, offset: 0.008 }, interpolant: 'linear' });
    expect(blockCount(d.lfm.schedule)).toBe(4);
    expect(blockCount({ kind: 'explicit', steps: [0.1, 0.2] })).toBe(3);
    const g = blockSteps(d.lfm.schedule);
    expect(g).toHaveLength(4);
    expect(g[3]).toBe(Infinity);
    expect(g.slice(0, 3).every((x) => x > 0 && Number.isFinite(x))).toBe(true);
  });

  it('names the bad field: a schedule, an interpolant, a path', () => {
    const base = lfmConfig(2);
    expect(firstInputError(() => parseInput(LfmPolicyConfig, { ...base, lfm: { schedule: { kind: 'explicit', steps: [0.1, -1] } } })).field).toBe('lfm.schedule.steps[1]');
    // Valid fields whose steps overflow float64 are reported on the field that did it.
    const overflow = firstInputError(() => parseInput(LfmPolicyConfig, { ...base, lfm: { schedule: { kind: 'geometric', blocks: 4, first: 1, ratio: 1e200 } } }));
    expect(overflow.field).toBe('lfm.schedule.ratio');
    expect(overflow.expected).toMatch(/finite positive OU steps/);
    expect(firstInputError(() => parseInput(LfmPolicyConfig, { ...base, lfm: { interpolant: 'cubic' } })).field).toBe('lfm.interpolant');
    expect(firstInputError(() => parseInput(LfmPolicyConfig, { ...base, flow: { path: 'linear' } })).field).toBe('flow.path');
  });
});

describe('LocalFlowPolicy', () => {
  it('with one block and the same weights samples exactly as the flow policy', () => {
    const flow = FlowPolicy.initialize(smallConfig(), workspaceStats(0), 7);
    const config = lfmConfig(1, { inference: flow.config.inference });
    const chain = new LocalFlowPolicy(config, flow.stats, joinChainWeights([flow.params.toWeights()]));
    const rng = new Rng(3);
    const cond = rng.fillNormal(new Float32Array(5 * flow.condSize));
    const noise = rng.fillNormal(new Float32Array(5 * flow.chunkSize));
    for (const solver of [{}, { method: 'rk4' as const, steps: 4 }]) {
      const a = flow.sampleNormalized(cond, noise, 5, solver);
      const b = chain.sampleNormalized(cond, noise, 5, solver);
      expect(b.nfe).toBe(a.nfe);
      expect(Array.from(b.chunks)).toEqual(Array.from(a.chunks));
    }
    flow.dispose();
    chain.dispose();
  });

  it('generates through block N first, then N-1, ..., 1, each from t = 0 to 1', () => {
    const chain = randomChain(lfmConfig(3), 4);
    const rng = new Rng(5);
    const cond = rng.fillNormal(new Float32Array(2 * chain.condSize));
    const noise = rng.fillNormal(new Float32Array(2 * chain.chunkSize));
    const fields = chain.velocityFields(cond, 2);
    let x: ArrayLike<number> = noise;
    for (const n of [2, 1, 0]) x = integrate(fields.velocities[n], x, { method: 'rk4', steps: 3, t0: 0, t1: 1 }).x;
    fields.dispose();
    const r = chain.sampleNormalized(cond, noise, 2);
    expect(r.nfe).toBe(3 * 3 * 4);
    Array.from(r.chunks).forEach((v, i) => expect(v).toBeCloseTo(x[i], 5));
    chain.dispose();
  });

  it('act() draws its noise from its seed, takes given noise, and counts every block\'s network calls', () => {
    const chain = randomChain(lfmConfig(2), 1, { seed: 9 });
    const a = chain.act(frame());
    chain.reset({ seed: 9 });
    expect(Array.from(chain.act(frame()).actions)).toEqual(Array.from(a.actions));
    expect(a).toMatchObject({ horizon: 16, actionDim: 2, start: 1, execute: 8, nfe: 2 * 3 * 4 });
    expect(chain.act(frame(), { solver: { method: 'euler', steps: 5 } }).nfe).toBe(10);
    expect(() => chain.act(frame(), { noise: [1, 2] })).toThrow(/noise = an array of length 2, expected 32 values/);
    chain.dispose();
  });

  it('divergences by autodiff match central differences of the velocity', () => {
    const config = lfmConfig(2);
    const chain = randomChain(config, 2);
    const rows = 3;
    const D = chain.chunkSize;
    const rng = new Rng(6);
    const cond = rng.fillNormal(new Float32Array(rows * chain.condSize));
    const x = Float64Array.from(rng.fillNormal(new Float32Array(rows * D)));
    const density = chain.densityBlocks(cond, rows);
    const fields = chain.velocityFields(cond, rows);
    for (const b of [0, 1]) {
      const t = 0.37;
      const v = Array.from(density.blocks[b].velocity(t, x));
      const div = density.blocks[b].divergence(t, x);
      expect(v).toEqual(Array.from(fields.velocities[b](t, x)));
      const h = 1e-2;
      for (let i = 0; i < rows; i++) {
        let fd = 0;
        for (let j = 0; j < D; j++) {
          const up = Float64Array.from(x);
          const down = Float64Array.from(x);
          up[i * D + j] += h;
          down[i * D + j] -= h;
          fd += (fields.velocities[b](t, up)[i * D + j] - fields.velocities[b](t, down)[i * D + j]) / (2 * h);
        }
        // float32 networks: central differences are good to a few 1e-3 of a trace of this size.
        expect(Math.abs(div[i] - fd), `block ${b + 1} row ${i}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
      }
    }
    density.dispose();
    fields.dispose();
    chain.dispose();
  });

  it('reports the log-Jacobian of min-max action normalisation over a chunk', () => {
    const chain = randomChain(lfmConfig(1), 0);
    const s = chain.stats.action;
    const expected = 16 * [0, 1].reduce((acc, j) => acc + Math.log(2 / (s.max[j] - s.min[j])), 0);
    expect(chain.logJacobian).toBeCloseTo(expected, 3);
    chain.dispose();
  });
});

describe('LFM checkpoints', () => {
  const dir = tempDir();

  it('round-trip: block n under block{n}., loaded by loadPolicy as a LocalFlowPolicy giving the same actions', () => {
    const config = lfmConfig(3);
    const chain = randomChain(config, 11, { seed: 4 });
    const path = join(dir, 'lfm.fpk');
    saveCheckpoint(path, { config, stats: { ...chain.stats }, weights: chain.weights(), meta: { step: 5 } });
    const c = readCheckpoint(path, { kind: 'lfm' });
    expect(c.config).toEqual(config);
    const names = [...c.weights.keys()];
    expect(names.filter((n) => n.startsWith('block1.')).length).toBe(names.length / 3);
    expect(names.every((n) => /^block[123]\./.test(n))).toBe(true);
    expect(policyRegistry(c.config).count()).toBe(3 * chain.net.registry.count());
    const per = splitChainWeights(c.weights, 3);
    expect(Array.from(per[2].get('mlp.out.weight')!.data)).toEqual(Array.from(chain.blocks[2].toWeights().get('mlp.out.weight')!.data));

    const { policy } = loadPolicy(path, { seed: 4 });
    expect(policy).toBeInstanceOf(LocalFlowPolicy);
    const loaded = loadPolicy(path, { kind: 'lfm', seed: 4 }).policy;
    const noise = new Rng(1).fillNormal(new Float32Array(32));
    expect(Array.from(loaded.act(frame(), { noise }).actions)).toEqual(Array.from(chain.act(frame(), { noise }).actions));
    expect(Array.from(policy.act(frame()).actions)).toEqual(Array.from(loaded.act(frame()).actions));
    for (const p of [policy, loaded, chain]) p.dispose();
  });

  it('refuses a missing or misshapen block, and an LFM checkpoint where another kind is required', () => {
    const config = lfmConfig(2);
    const chain = randomChain(config, 1);
    const weights = chain.weights();
    const missing = join(dir, 'missing.fpk');
    const w1 = new Map(weights);
    w1.delete('block2.mlp.out.bias');
    saveCheckpoint(missing, { config, stats: { ...chain.stats }, weights: w1 });
    expect(() => loadPolicy(missing)).toThrow(`${missing}: weights["block2.mlp.out.bias"] = undefined, expected a tensor of shape [32]`);
    const extra = join(dir, 'extra.fpk');
    saveCheckpoint(extra, { config, stats: { ...chain.stats }, weights: joinChainWeights([...splitChainWeights(weights, 2), splitChainWeights(weights, 2)[0]]) });
    expect(() => loadPolicy(extra)).toThrow(/weights\["block3\.[^"]+"\] = "present", expected no such parameter in this network/);
    const ok = join(dir, 'ok.fpk');
    saveCheckpoint(ok, { config, stats: { ...chain.stats }, weights });
    expect(() => loadPolicy(ok, { kind: 'flow' })).toThrow(`config.kind = "lfm", expected 'flow' (a flow-matching teacher): this checkpoint holds a Local Flow Matching chain`);
    chain.dispose();
  });
});

// tfjs must not leak tensors across the calls above (densityBlocks computes gradients).
describe('tensor hygiene', () => {
  it('sampling and densities leave no tensors behind', () => {
    const chain = randomChain(lfmConfig(2), 3);
    const before = tf.memory().numTensors;
    const cond = new Float32Array(2 * chain.condSize);
    const chunks = new Rng(2).fillNormal(new Float32Array(2 * chain.chunkSize));
    chain.sampleNormalized(cond, chunks, 2);
    chain.logLikelihoodNormalized(cond, chunks, 2, { method: 'euler', steps: 2 });
    expect(tf.memory().numTensors).toBe(before);
    chain.dispose();
  });
});
