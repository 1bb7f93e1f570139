import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { Rng } from '../../src/core/rng.js';
import { Conv1d, Downsample1d, Upsample1d } from '../../src/nets/conv1d.js';
import { matMul } from '../../src/nets/dense.js';
import { GroupNorm } from '../../src/nets/group-norm.js';
import { ParamRegistry, ParamStore, type WeightMap } from '../../src/nets/params.js';
import { createVelocityNet, type NetConfig } from '../../src/nets/velocity-net.js';
import { AUTO_BACKEND, TEST_BACKEND } from '../helpers/backend.js';

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

function store(registry: ParamRegistry, seed: number): ParamStore {
  return ParamStore.fromWeights(registry, registry.initialize(new Rng(seed)), { kind: 'constant' });
}

beforeAll(async () => {
  await useBackend('cpu');
});
afterAll(async () => {
  await useBackend(TEST_BACKEND);
});

describe('layers against tfjs reference ops (cpu)', () => {
  it('matMul with explicit-transpose gradients equals tf.matMul and its gradients', () => {
    const rng = new Rng(1);
    const a = tf.tensor2d(rng.fillNormal(new Float32Array(6 * 5)), [6, 5]);
    const b = tf.tensor2d(rng.fillNormal(new Float32Array(5 * 4)), [5, 4]);
    const w = tf.tensor2d(rng.fillNormal(new Float32Array(6 * 4)), [6, 4]);
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    expect(maxAbsDiff(matMul(a, b), tf.matMul(a, b))).toBeLessThan(1e-6);
    expect(maxAbsDiff(ours[0], ref[0])).toBeLessThan(1e-5);
    expect(maxAbsDiff(ours[1], ref[1])).toBeLessThan(1e-5);
  });

  it('im2col Conv1d equals tf.conv1d with same padding', () => {
    const reg = new ParamRegistry();
    const conv = new Conv1d(reg, 'c', 3, 4, 5);
    const p = store(reg, 2);
    const x = tf.randomNormal([2, 8, 3], 0, 1, 'float32', 3) as tf.Tensor3D;
    // Our weight rows are (tap, in-channel); tf.conv1d wants [k, in, out].
    const kernel = (p.get(conv.w) as tf.Tensor2D).reshape([5, 3, 4]) as tf.Tensor3D;
    const ref = tf.add(tf.conv1d(x, kernel, 1, 'same'), p.get(conv.b));
    expect(maxAbsDiff(conv.apply(p, x), ref)).toBeLessThan(1e-5);
  });

  it('Downsample1d equals a stride-2, padding-1 convolution', () => {
    const reg = new ParamRegistry();
    const down = new Downsample1d(reg, 'd', 3);
    const p = store(reg, 4);
    const x = tf.randomNormal([2, 8, 3], 0, 1, 'float32', 5) as tf.Tensor3D;
    const kernel = (p.get(down.w) as tf.Tensor2D).reshape([3, 3, 3]) as tf.Tensor3D;
    const padded = tf.pad(x, [
      [0, 0],
      [1, 1],
      [0, 0],
    ]) as tf.Tensor3D;
    const ref = tf.add(tf.conv1d(padded, kernel, 2, 'valid'), p.get(down.b));
    expect(down.apply(p, x).shape).toEqual([2, 4, 3]);
    expect(maxAbsDiff(down.apply(p, x), ref)).toBeLessThan(1e-5);
  });

  it('Upsample1d interleaves the two halves of a 2C-channel convolution', () => {
    const reg = new ParamRegistry();
    const up = new Upsample1d(reg, 'u', 2);
    const p = store(reg, 6);
    const x = tf.randomNormal([1, 4, 2], 0, 1, 'float32', 7) as tf.Tensor3D;
    const y = up.apply(p, x);
    expect(y.shape).toEqual([1, 8, 2]);
    const full = Conv1d.prototype.apply.call(up, p, x) as tf.Tensor3D; // the 2C-channel stride-1 conv
    const f = full.arraySync()[0];
    const out = y.arraySync()[0];
    for (let t = 0; t < 4; t++) {
      expect(out[2 * t]).toEqual(f[t].slice(0, 2));
      expect(out[2 * t + 1]).toEqual(f[t].slice(2, 4));
    }
  });

  it('GroupNorm normalises each (sample, group) to zero mean and unit variance', () => {
    const reg = new ParamRegistry();
    const gn = new GroupNorm(reg, 'g', 2, 4);
    const p = store(reg, 8);
    const x = tf.add(tf.mul(tf.randomNormal([3, 6, 4], 0, 1, 'float32', 9), 5), 2) as tf.Tensor3D;
    const y = gn.apply(p, x).reshape([3, 6, 2, 2]);
    const { mean, variance } = tf.moments(y, [1, 3]);
    expect(maxAbsDiff(mean, tf.zerosLike(mean))).toBeLessThan(1e-5);
    expect(maxAbsDiff(variance, tf.onesLike(variance))).toBeLessThan(1e-3);
  });
});

describe('velocity networks', () => {
  const dims = { horizon: 16, actionDim: 2, condDim: 40 };
  const configs: NetConfig[] = [
    { kind: 'mlp', hidden: 64, layers: 2, timeEmbedDim: 16, activation: 'mish' },
    { kind: 'unet1d', downDims: [16, 32, 64], kernelSize: 5, groups: 8, timeEmbedDim: 16 },
  ];

  it.each(configs)('$kind maps [B, Tp*A] to [B, Tp*A] and depends on x, t and the condition', (config) => {
    const net = createVelocityNet(config, dims);
    const p = store(net.registry, 1);
    const x = tf.randomNormal([3, 32], 0, 1, 'float32', 1) as tf.Tensor2D;
    const t = tf.tensor1d([0.1, 0.5, 0.9]);
    const c = tf.randomNormal([3, 40], 0, 1, 'float32', 2) as tf.Tensor2D;
    const y = net.apply(p, x, t, c);
    expect(y.shape).toEqual([3, 32]);
    expect(maxAbsDiff(y, net.apply(p, tf.add(x, 0.5) as tf.Tensor2D, t, c))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(y, net.apply(p, x, tf.tensor1d([0.2, 0.6, 0.3]), c))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(y, net.apply(p, x, t, tf.add(c, 0.5) as tf.Tensor2D))).toBeGreaterThan(1e-4);
    // Rows are independent: the first row's output ignores the other rows.
    const single = net.apply(p, x.slice([0, 0], [1, 32]), t.slice([0], [1]), c.slice([0, 0], [1, 40]));
    expect(maxAbsDiff(single, y.slice([0, 0], [1, 32]))).toBeLessThan(1e-4);
  });

  it('the U-Net declares the Diffusion Policy layout and refuses a horizon it cannot halve', () => {
    const net = createVelocityNet(configs[1], dims);
    const names = net.registry.specs.map((s) => s.name);
    expect(names).toContain('down.0.res1.film.weight');
    expect(names).toContain('up.1.res2.block2.norm.weight');
    expect(names).not.toContain('down.2.down.weight');
    expect(() => createVelocityNet(configs[1], { ...dims, horizon: 10 })).toThrow(/divisible by 4, got 10/);
  });

  it('initialisation is a function of the seed only', () => {
    const a = createVelocityNet(configs[0], dims).registry.initialize(new Rng(3));
    const b = createVelocityNet(configs[0], dims).registry.initialize(new Rng(3));
    const c = createVelocityNet(configs[0], dims).registry.initialize(new Rng(4));
    const first = (w: WeightMap) => w.get('mlp.0.weight')!.data;
    expect(first(a)).toEqual(first(b));
    expect(first(a)).not.toEqual(first(c));
  });

  // Every backend this checkout has against cpu: wasm always, native where its addon built.
  const fast = AUTO_BACKEND === 'native' ? ['wasm', 'native'] : ['wasm'];
  it.each(configs.flatMap((config) => fast.map((backend) => ({ ...config, backend }))))('$kind gives the same outputs and gradients on $backend as on cpu', async ({ backend, ...config }) => {
    const net = createVelocityNet(config, dims);
    const weights = net.registry.initialize(new Rng(5));
    const rng = new Rng(6);
    const xs = rng.fillNormal(new Float32Array(4 * 32));
    const ts = Float32Array.from([0.1, 0.4, 0.7, 0.95]);
    const cs = rng.fillNormal(new Float32Array(4 * 40));
    const run = async (name: string) => {
      await useBackend(name);
      const p = ParamStore.fromWeights(net.registry, weights, { kind: 'trainable' });
      const vars = p.variables();
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.square(net.apply(p, tf.tensor2d(xs, [4, 32]), tf.tensor1d(ts), tf.tensor2d(cs, [4, 40])))),
        [...vars.values()],
      );
      const out = { loss: value.dataSync()[0], grads: new Map([...vars].map(([n, v]) => [n, grads[v.name].dataSync().slice() as Float32Array])) };
      p.dispose();
      return out;
    };
    const cpu = await run('cpu');
    const other = await run(backend);
    expect(Math.abs(cpu.loss - other.loss)).toBeLessThan(1e-5 * Math.max(1, cpu.loss));
    for (const [name, g] of cpu.grads) {
      const h = other.grads.get(name)!;
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      const worst = Math.max(...Array.from(g, (v, i) => Math.abs(v - h[i])));
      expect(worst / scale, name).toBeLessThan(1e-3);
    }
    await useBackend('cpu');
  });
});
