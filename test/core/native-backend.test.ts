import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { loadNativeBlas } from '../../src/core/native-blas.js';
import { Rng } from '../../src/core/rng.js';
import { mish } from '../../src/nets/activations.js';
import { AdamW } from '../../src/train/adamw.js';
import { updateEma } from '../../src/train/ema.js';
import { ParamRegistry, ParamStore } from '../../src/nets/params.js';

const native = loadNativeBlas();
const built = 'blas' in native;
const RAW_BACKENDS = built ? ['cpu', 'wasm', 'native'] : ['cpu', 'wasm'];

afterAll(async () => {
  await useBackend('wasm');
});

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 1e-6;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(a[i]));
  }
  return num / den;
}

describe('the native backend (OpenBLAS matrix products)', () => {
  it('is built where libopenblas-dev and a compiler were present at install, or says why not', async () => {
    if (built) {
      const info = await useBackend('native', {});
      expect(info.detail).toMatch(/^native \(matrix products on OpenBLAS [\d.]+, 1 thread; other kernels wasm, SIMD/);
      expect(tf.getBackend()).toBe('wasm');
      const auto = await useBackend('auto', {});
      expect(auto.name).toBe('native');
    } else {
      expect(native.reason).toMatch(/not built|failed to load/);
      await expect(useBackend('native', {})).rejects.toThrow(/backend 'native' cannot run here \(native: .*(not built|failed to load)/);
      const auto = await useBackend('auto', {});
      expect(auto.skipped.find((s) => s.name === 'native')?.reason).toBe(native.reason);
      // CI installs libopenblas-dev: there the fast path must not go missing silently.
      expect(process.env.CI, 'CI installs libopenblas-dev, so the addon must build there').toBeFalsy();
    }
  });

  it.skipIf(!built)('multiplies like tfjs-cpu for every transpose flag and batch broadcast', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[33, 17], [17, 9], false, false],
      [[17, 33], [17, 9], true, false],
      [[33, 17], [9, 17], false, true],
      [[17, 33], [9, 17], true, true],
      [[3, 5, 7], [3, 7, 4], false, false],
      [[3, 7, 5], [1, 4, 7], true, true],
      [[5, 7], [2, 7, 3], false, false],
      [[2, 3, 4, 5], [2, 3, 5, 6], false, false],
      [[0, 4], [4, 3], false, false],
    ];
    const rng = new Rng(11);
    for (const [sa, sb, ta, tb] of cases) {
      const a = rng.fillNormal(new Float32Array(sa.reduce((x, y) => x * y, 1)));
      const b = rng.fillNormal(new Float32Array(sb.reduce((x, y) => x * y, 1)));
      const on = async (backend: string) => {
        await useBackend(backend);
        const out = tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb);
        return { shape: out.shape, data: out.dataSync().slice() };
      };
      const ref = await on('cpu');
      const got = await on('native');
      expect(got.shape, `${sa} x ${sb}`).toEqual(ref.shape);
      expect(maxRelDiff(ref.data, got.data), `${sa} x ${sb} (${ta}, ${tb})`).toBeLessThan(1e-5);
    }
  });

  it.skipIf(!built)('refuses shapes that do not fit the arrays (no read or write outside them)', () => {
    if (!built) return;
    const { blas } = native;
    const small = new Float32Array(4);
    expect(() => blas.sgemm(false, false, 1, 3, 3, 3, small, 0, small, 0, small)).toThrow(/do not fit/);
    expect(() => blas.sgemm(false, false, 1, 2, 2, 2, small, 0, small, 0, new Float64Array(4) as unknown as Float32Array)).toThrow(/c must be a Float32Array/);
  });
});

describe('fused elementwise kernels (Mish, AdamW, EMA) on every backend present', () => {
  it.each(RAW_BACKENDS)('mish and its gradient on %s equal x tanh(softplus(x)) and its autodiff on cpu', async (backend) => {
    const xs = Float32Array.from({ length: 2000 }, (_, i) => -30 + (60 * i) / 1999);
    const dy = new Rng(3).fillNormal(new Float32Array(xs.length));
    await useBackend('cpu');
    const composite = (x: tf.Tensor) => tf.mul(x, tf.tanh(tf.softplus(x)));
    const refY = composite(tf.tensor1d(xs)).dataSync().slice();
    const refG = tf.mul(tf.grad(composite)(tf.tensor1d(xs)), tf.tensor1d(dy)).dataSync().slice();
    await useBackend(backend);
    const y = mish(tf.tensor1d(xs)).dataSync();
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(mish(x), tf.tensor1d(dy))))(tf.tensor1d(xs)).dataSync();
    for (let i = 0; i < xs.length; i++) {
      expect(Math.abs(y[i] - refY[i]), `mish(${xs[i]})`).toBeLessThan(1e-5 * Math.max(1, Math.abs(refY[i])));
      expect(Math.abs(g[i] - refG[i]), `mish'(${xs[i]})`).toBeLessThan(1e-4 * Math.max(1, Math.abs(refG[i])));
    }
  });

  it.each(RAW_BACKENDS)('AdamW (with clipping) and the EMA on %s follow the PyTorch formulas step by step', async (backend) => {
    await useBackend(backend);
    const registry = new ParamRegistry();
    registry.declare('w', [3, 50], { kind: 'fanIn', fanIn: 3 });
    registry.declare('b', [50], { kind: 'fanIn', fanIn: 3 });
    const init = registry.initialize(new Rng(4));
    const params = ParamStore.fromWeights(registry, init, { kind: 'trainable' });
    const ema = ParamStore.fromWeights(registry, init, { kind: 'trainable' });
    const opts = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01, gradClip: 1 };
    const adam = new AdamW(params.variables(), opts);
    // The reference, in float64: torch.optim.AdamW after clip_grad_norm_, then Diffusion Policy's EMA.
    const ref = new Map([...init].map(([n, w]) => [n, { p: Float64Array.from(w.data), m: new Float64Array(w.data.length), v: new Float64Array(w.data.length), e: Float64Array.from(w.data) }]));
    const rng = new Rng(5);
    const lr = 0.05;
    for (let k = 1; k <= 4; k++) {
      const grads = new Map([...init].map(([n, w]) => [n, rng.fillNormal(new Float32Array(w.data.length)).map((x) => x * (k === 2 ? 0.001 : 1))]));
      let sq = 0;
      for (const g of grads.values()) for (const x of g) sq += x * x;
      const norm = Math.sqrt(sq);
      const scale = Math.min(1, opts.gradClip / (norm + 1e-6));
      const reported = adam.apply(new Map([...grads].map(([n, g]) => [n, tf.tensor(g, init.get(n)!.shape)])), lr);
      expect(reported.dataSync()[0]).toBeCloseTo(norm, 3);
      updateEma(ema, params, k, { power: 0.75, maxDecay: 0.9999 });
      const d = Math.min(0.9999, 1 - Math.pow(1 + k, -0.75));
      for (const [n, r] of ref) {
        const g = grads.get(n)!;
        for (let i = 0; i < g.length; i++) {
          const gi = g[i] * scale;
          r.m[i] = 0.9 * r.m[i] + 0.1 * gi;
          r.v[i] = 0.99 * r.v[i] + 0.01 * gi * gi;
          r.p[i] = r.p[i] * (1 - lr * opts.weightDecay) - (lr * (r.m[i] / (1 - 0.9 ** k))) / (Math.sqrt(r.v[i] / (1 - 0.99 ** k)) + opts.eps);
          r.e[i] = d * r.e[i] + (1 - d) * r.p[i];
        }
        expect(maxRelDiff(r.p, params.get(n).dataSync()), `${backend} step ${k} ${n}`).toBeLessThan(1e-5);
        expect(maxRelDiff(r.e, ema.get(n).dataSync()), `${backend} step ${k} ema ${n}`).toBeLessThan(1e-5);
      }
    }
    adam.dispose();
    params.dispose();
    ema.dispose();
  });
});
