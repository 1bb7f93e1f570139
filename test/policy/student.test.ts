import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { InputError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { FlowPolicy } from '../../src/policy/flow-policy.js';
import { loadPolicy, readCheckpoint, saveCheckpoint } from '../../src/policy/checkpoint.js';
import { INT16_GROUP, INT16_LEVELS } from '../../src/policy/realtime-kernels.js';
import { RealtimeMlp, type RealtimeKernel } from '../../src/policy/realtime-mlp.js';
import { GATE_PREFIX, StudentConfig, studentConfigFor } from '../../src/policy/student-config.js';
import { LATENT_PROJECTION, StudentPolicy, studentNetOf } from '../../src/policy/student-policy.js';
import { ParamStore } from '../../src/nets/params.js';
import { refinedStudent } from '../../src/policy/refine-student.js';
import { frame, smallConfig, workspaceStats } from '../helpers/policy.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

const dir = tempDir();
const PUSHT_TEACHER = new URL('../../runs/pusht-default/checkpoint.fpk', import.meta.url).pathname;

function teacher(seed = 1, net?: Parameters<typeof smallConfig>[0]): FlowPolicy {
  return FlowPolicy.initialize(smallConfig(net), workspaceStats(seed), seed);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * A student with 6 anchors and a gate of random weights (its logits scaled
 * up so that the anchors' probabilities differ clearly), the trunk warm
 * started from `t`.
 */
function anchoredStudent(t: FlowPolicy, options: ConstructorParameters<typeof StudentPolicy>[3] = {}): StudentPolicy {
  const config = studentConfigFor(t.config, { anchors: { count: 6, hidden: 32 } });
  const net = studentNetOf(config);
  const gate = net.gate!.registry.initialize(new Rng(8));
  new Rng(5).fillNormal(gate.get('anchors')!.data);
  for (const name of ['out.weight', 'out.bias']) gate.get(name)!.data.forEach((v, i, a) => (a[i] = 6 * v));
  const weights = StudentPolicy.warmStartWeights(t, net.trunkLatentDim);
  for (const [name, w] of gate) weights.set(GATE_PREFIX + name, w);
  return new StudentPolicy(config, t.stats, weights, options);
}

/** Normalised conditions of a few random observation windows. */
function randomConds(policy: { condSize: number }, n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * policy.condSize }, () => 2.4 * rng.uniform() - 1.2);
}

describe('the one-step student', () => {
  it('warm-started from a teacher, is exactly the teacher\'s one-step Euler sampler', () => {
    const t = teacher(1);
    const s = StudentPolicy.fromTeacher(t, { engine: 'tfjs' });
    const n = 16;
    const cond = randomConds(t, n, 2);
    const z = new Rng(3).fillNormal(new Float32Array(n * t.chunkSize));
    const euler1 = t.sampleNormalized(cond, z, n, { method: 'euler', steps: 1 }).chunks;
    expect(maxAbsDiff(s.generateNormalized(cond, z, n), euler1)).toBeLessThan(1e-6);
    // ... and not the 10-step sampler, nor the identity: the comparison has teeth.
    expect(maxAbsDiff(t.sampleNormalized(cond, z, n, { method: 'euler', steps: 10 }).chunks, euler1)).toBeGreaterThan(1e-2);
    // Through act(), with the same noise, on both engines.
    const noise = new Rng(4).fillNormal(new Float32Array(t.chunkSize));
    const teacherChunk = t.act(frame(), { noise, solver: { method: 'euler', steps: 1 } });
    const rt = StudentPolicy.fromTeacher(t);
    expect(rt.engine).toBe('realtime');
    for (const st of [s, rt]) {
      const c = st.act(frame(), { noise });
      expect(maxAbsDiff(c.actions, teacherChunk.actions)).toBeLessThan(1e-3); // pixels (normalised: ~4e-6)
      expect(c).toMatchObject({ horizon: 16, actionDim: 2, start: 1, execute: 8, nfe: 1 });
    }
  });

  it('with a smaller latent, learns a projection P and draws latents of that size', () => {
    const t = teacher(1);
    const s = StudentPolicy.fromTeacher(t, { latentDim: 6, seed: 5 });
    expect(s.config.latentDim).toBe(6);
    expect(s.net.registry.specs.find((p) => p.name === LATENT_PROJECTION)!.shape).toEqual([6, 32]);
    expect(s.act(frame(), { latent: [0.1, -0.2, 0.3, 0, 1, -1] }).actions.length).toBe(32);
    expect(() => s.act(frame(), { latent: [1, 2] })).toThrow(InputError);
    expect(() => s.act(frame(), { noise: new Float32Array(32) })).toThrow(/6 values \(the student's latent size\)/);
    // Seeded: the same seed gives the same chunk, another seed another.
    const a = StudentPolicy.fromTeacher(t, { latentDim: 6, seed: 5 });
    const b = StudentPolicy.fromTeacher(t, { latentDim: 6, seed: 5 });
    a.reset({ seed: 7 });
    b.reset({ seed: 7 });
    const ca = a.act(frame()).actions.slice();
    expect(b.act(frame()).actions).toEqual(ca);
    b.reset({ seed: 8 });
    expect(b.act(frame()).actions).not.toEqual(ca);
  });

  it('round-trips through a checkpoint of kind "student" and reloads to identical actions', () => {
    const t = teacher(2);
    const s = StudentPolicy.fromTeacher(t, { latentDim: 12, seed: 3 });
    const path = join(dir, 'student.fpk');
    saveCheckpoint(path, { config: s.config, stats: { ...s.stats }, weights: s.params.toWeights(), meta: { step: 5 } });
    const back = readCheckpoint(path);
    expect(back.config).toEqual(s.config);
    expect(back.config.kind).toBe('student');
    const { policy } = loadPolicy(path, { seed: 9 });
    expect(policy).toBeInstanceOf(StudentPolicy);
    const z = new Rng(1).fillNormal(new Float32Array(12));
    expect(maxAbsDiff((policy as StudentPolicy).act(frame(), { latent: z }).actions, s.act(frame(), { latent: z }).actions)).toBe(0);
    // Teachers still load as teachers (old checkpoints unchanged).
    const tPath = join(dir, 'teacher.fpk');
    saveCheckpoint(tPath, { config: t.config, stats: { ...t.stats }, weights: t.params.toWeights() });
    expect(loadPolicy(tPath).policy).toBeInstanceOf(FlowPolicy);
    expect(loadPolicy(tPath, { kind: 'flow' }).policy).toBeInstanceOf(FlowPolicy);
    expect(loadPolicy(path, { kind: 'student', engine: 'tfjs' }).policy.engine).toBe('tfjs');
  });

  it('with anchors, draws z among them with its gate\'s probabilities (softmax of the gate net, within 1e-5 of tfjs), on both engines alike', () => {
    const t = teacher(3);
    const s = anchoredStudent(t);
    const tj = anchoredStudent(t, { engine: 'tfjs' });
    expect([s.engine, tj.engine]).toEqual(['realtime', 'tfjs']);
    const gate = s.gate!;
    // The gate's probabilities against the tfjs gate net's softmax.
    const store = ParamStore.fromWeights(s.net.gate!.registry, new Map([...s.toWeights()].filter(([n]) => n.startsWith(GATE_PREFIX)).map(([n, w]) => [n.slice(GATE_PREFIX.length), w])), { kind: 'constant' });
    const n = 64;
    const conds = randomConds(s, n, 13);
    const logits = s.net.gate!.apply(store, tf.tensor2d(conds, [n, s.condSize]));
    const reference = tf.softmax(logits).dataSync();
    let err = 0;
    let spread = 0;
    for (let i = 0; i < n; i++) {
      const p = gate.probabilitiesOf(conds.subarray(i * s.condSize, (i + 1) * s.condSize));
      err = Math.max(err, maxAbsDiff(p, reference.subarray(i * 6, (i + 1) * 6)));
      spread = Math.max(spread, Math.max(...p) - Math.min(...p));
    }
    expect(err).toBeLessThan(1e-5);
    expect(spread).toBeGreaterThan(0.3); // the gate is far from uniform: the comparison has teeth
    // Drawn anchors follow the probabilities: 6000 draws at one condition.
    const cond = conds.subarray(0, s.condSize);
    const p = Array.from(gate.probabilitiesOf(cond));
    const draws = 6000;
    const latents = s.drawLatents(new Float32Array(draws * s.condSize).map((_, i) => cond[i % s.condSize]), draws, new Rng(4));
    const counts = new Array(6).fill(0);
    for (let d = 0; d < draws; d++) {
      const z = latents.subarray(d * s.latentDim, (d + 1) * s.latentDim);
      const j = [0, 1, 2, 3, 4, 5].find((a) => maxAbsDiff(z, gate.anchors.subarray(a * s.latentDim, (a + 1) * s.latentDim)) === 0);
      expect(j).toBeDefined();
      counts[j!]++;
    }
    counts.forEach((c, j) => expect(Math.abs(c / draws - p[j]), JSON.stringify({ counts, p })).toBeLessThan(0.025));
    // act(): the chunk of the anchor drawn, the same on both engines for the same seed; a given latent bypasses the gate.
    s.reset({ seed: 3 });
    tj.reset({ seed: 3 });
    const obs = [frame([100, 200]), frame([120, 210])];
    const chunks = Array.from({ length: 6 }, (_, j) => tj.act(obs, { latent: gate.anchors.subarray(j * s.latentDim, (j + 1) * s.latentDim) }).actions);
    tj.reset({ seed: 3 });
    const chosen = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const a = s.act(obs).actions;
      expect(maxAbsDiff(a, tj.act(obs).actions)).toBeLessThan(1e-3);
      const j = chunks.findIndex((c) => maxAbsDiff(c, a) < 1e-3);
      expect(j).toBeGreaterThanOrEqual(0);
      chosen.add(j);
    }
    expect(chosen.size).toBeGreaterThan(1);
    // Through a checkpoint: the same config and weights, the same draws.
    const path = join(dir, 'anchored.fpk');
    saveCheckpoint(path, { config: s.config, stats: { ...s.stats }, weights: s.toWeights() });
    const back = loadPolicy(path, { kind: 'student', seed: 2 }).policy;
    s.reset({ seed: 2 });
    back.reset({ seed: 2 });
    for (let i = 0; i < 5; i++) expect(maxAbsDiff(back.act(obs).actions, s.act(obs).actions)).toBe(0);
    // Without its gate's weights the checkpoint is refused, naming the missing tensor.
    const noGate = new Map([...s.toWeights()].filter(([n]) => n !== 'gate.out.bias'));
    expect(() => new StudentPolicy(s.config, s.stats, noGate)).toThrow(/weights\["gate\.out\.bias"\]/);
    for (const d of [store, s, tj, back]) d.dispose();
  });

  it('a checkpoint of the other kind is refused, naming the kind found and the one expected', () => {
    const t = teacher(2);
    const s = StudentPolicy.fromTeacher(t);
    const sPath = join(dir, 'kind-student.fpk');
    const tPath = join(dir, 'kind-teacher.fpk');
    saveCheckpoint(sPath, { config: s.config, stats: { ...s.stats }, weights: s.params.toWeights() });
    saveCheckpoint(tPath, { config: t.config, stats: { ...t.stats }, weights: t.params.toWeights() });
    expect(() => loadPolicy(sPath, { kind: 'flow' })).toThrow(InputError);
    expect(() => readCheckpoint(sPath, { kind: 'flow' })).toThrow(
      `${sPath}: config.kind = "student", expected 'flow' (a flow-matching teacher): this checkpoint holds a one-step student`,
    );
    expect(() => loadPolicy(tPath, { kind: 'student' })).toThrow(
      `${tPath}: config.kind = "flow", expected 'student' (a one-step student): this checkpoint holds a flow-matching teacher`,
    );
  });

  it('validates its config: a bad latent size or a missing normalisation names the field', () => {
    const good = studentConfigFor(smallConfig());
    expect(good.latentDim).toBe(32);
    expect(() => StudentConfig.parse({ ...good, latentDim: 0 })).toThrow();
    const bad = StudentConfig.safeParse({ ...good, normalization: { action: 'min_max' } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error!.issues)).toContain('observation.environment_state');
    const unet = StudentConfig.parse({ ...good, net: { kind: 'unet1d', downDims: [8, 16], kernelSize: 3, groups: 4, timeEmbedDim: 8 } });
    const weights = studentNetOf(unet).registry.initialize(new Rng(0));
    expect(() => new StudentPolicy(unet, workspaceStats(), weights, { engine: 'realtime' })).toThrow(/MLP nets only/);
    expect(() => new StudentPolicy(good, { action: workspaceStats().action }, new Map())).toThrow(InputError);
  });

  it('runs U-Net trunks through tfjs (warm start still the one-step Euler sampler)', () => {
    const t = teacher(3, { kind: 'unet1d', downDims: [8, 16], kernelSize: 3, groups: 4, timeEmbedDim: 8 });
    const s = StudentPolicy.fromTeacher(t);
    expect(s.engine).toBe('tfjs');
    const cond = randomConds(t, 4, 1);
    const z = new Rng(2).fillNormal(new Float32Array(4 * 32));
    expect(maxAbsDiff(s.generateNormalized(cond, z, 4), t.sampleNormalized(cond, z, 4, { method: 'euler', steps: 1 }).chunks)).toBeLessThan(1e-5);
  });
});

describe('the real-time forward pass', () => {
  /** Max |realtime - tfjs| over random latents and conditions, for one student. */
  function realtimeError(s: StudentPolicy, kernel: RealtimeKernel, n = 8, inputs?: { cond: Float32Array; z: Float32Array }): number {
    const engine = new RealtimeMlp(
      { net: s.config.net as Extract<StudentConfig['net'], { kind: 'mlp' }>, chunk: s.chunkSize, condDim: s.condSize, latentDim: s.latentDim, timeEmbedding: s.net.timeEmbeddingAtNoise(s.params) },
      s.params.toWeights(),
      { kernel },
    );
    expect(engine.kernel).toBe(kernel);
    const cond = inputs?.cond ?? randomConds(s, n, 11);
    const z = inputs?.z ?? new Rng(12).fillNormal(new Float32Array(n * s.latentDim));
    const ref = s.generateNormalized(cond, z, n);
    let err = 0;
    for (let i = 0; i < n; i++) {
      engine.cond.set(cond.subarray(i * s.condSize, (i + 1) * s.condSize));
      engine.latent.set(z.subarray(i * s.latentDim, (i + 1) * s.latentDim));
      err = Math.max(err, maxAbsDiff(engine.forward(), ref.subarray(i * s.chunkSize, (i + 1) * s.chunkSize)));
    }
    return err;
  }

  const kernels = (RealtimeMlp.simdAvailable() ? ['wasm-simd', 'js'] : ['js']) as ('wasm-simd' | 'js')[];

  it('equals the tfjs forward pass within 1e-5 (mish, silu, relu; with and without a latent projection)', () => {
    for (const activation of ['mish', 'silu', 'relu'] as const) {
      const t = teacher(4, { kind: 'mlp', hidden: 48, layers: 3, timeEmbedDim: 16, activation });
      for (const latentDim of [32, 7]) {
        const s = StudentPolicy.fromTeacher(t, { latentDim, seed: 2, engine: 'tfjs' });
        for (const kernel of kernels) expect(realtimeError(s, kernel), `${activation} latent ${latentDim} ${kernel}`).toBeLessThan(1e-5);
      }
    }
    // Trained-scale weights: scale every weight up so activations reach the nonlinear range (and mish's large-x branch).
    const t = teacher(5, { kind: 'mlp', hidden: 64, layers: 2, timeEmbedDim: 8, activation: 'mish' });
    const w = t.params.toWeights();
    for (const v of w.values()) for (let i = 0; i < v.data.length; i++) v.data[i] *= 2.5;
    const big = new StudentPolicy(studentConfigFor(t.config), t.stats, w, { engine: 'tfjs' });
    for (const kernel of kernels) expect(realtimeError(big, kernel)).toBeLessThan(1e-5);
  });

  it('equals tfjs within 1e-5 at the Push-T size (907k parameters; the trained teacher when this checkout has one)', () => {
    // A clean checkout (CI) has no trained run: the same network freshly initialised runs every kernel block the same way.
    const policy = existsSync(PUSHT_TEACHER) ? loadPolicy(PUSHT_TEACHER, { kind: 'flow' }).policy : teacher(8, { kind: 'mlp', hidden: 512, layers: 4, timeEmbedDim: 64, activation: 'mish' });
    expect(policy.net.registry.count()).toBe(907_616);
    const s = StudentPolicy.fromTeacher(policy, { engine: 'tfjs' });
    for (const kernel of kernels) expect(realtimeError(s, kernel, 4)).toBeLessThan(1e-5);
  });

  it('int16 kernel: within its quantisation error of tfjs, no int32 overflow at full scale, NaN propagates', () => {
    // Node 20 and every current browser have WebAssembly SIMD; the int16 kernel has no JavaScript fallback.
    expect(RealtimeMlp.simdAvailable()).toBe(true);
    const errors: Record<string, number> = {};
    for (const activation of ['mish', 'silu', 'relu'] as const) {
      const t = teacher(4, { kind: 'mlp', hidden: 48, layers: 3, timeEmbedDim: 16, activation });
      for (const latentDim of [32, 7]) {
        const s = StudentPolicy.fromTeacher(t, { latentDim, seed: 2, engine: 'tfjs' });
        errors[`${activation} latent ${latentDim}`] = realtimeError(s, 'wasm-int16');
      }
    }
    // The Push-T size: 512-wide layers, 32 groups of 16 inputs each.
    const pusht = StudentPolicy.fromTeacher(teacher(8, { kind: 'mlp', hidden: 512, layers: 4, timeEmbedDim: 64, activation: 'mish' }), { engine: 'tfjs' });
    errors['Push-T size'] = realtimeError(pusht, 'wasm-int16', 4);
    console.log(`int16 kernel, max |realtime - tfjs|: ${Object.entries(errors).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
    for (const [k, e] of Object.entries(errors)) {
      // About 15 bits per factor (1/23170 of a vector's largest value): well under 1e-3 on outputs of order 1 ...
      expect(e, k).toBeLessThan(1e-3);
      // ... and not float32's 1e-6: these are the quantised products, not the float32 kernel.
      expect(e, k).toBeGreaterThan(1e-6);
    }

    // Full scale: equal positive weights and equal inputs quantise every factor to the level Q itself, so
    // every int32 group sum is 16 Q^2, the largest the levels allow; one more input per group, or a larger
    // Q, would wrap around to a negative sum.
    expect(INT16_GROUP * INT16_LEVELS ** 2).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(INT16_GROUP * (INT16_LEVELS + 1) ** 2).toBeGreaterThan(2 ** 31 - 1);
    const t = teacher(9, { kind: 'mlp', hidden: 64, layers: 2, timeEmbedDim: 8, activation: 'relu' });
    const w = t.params.toWeights();
    for (const v of w.values()) v.data.fill(0.01);
    const flat = new StudentPolicy(studentConfigFor(t.config), t.stats, w, { engine: 'tfjs' });
    const full = { cond: new Float32Array(flat.condSize).fill(1), z: new Float32Array(flat.latentDim).fill(1) };
    const ref = flat.generateNormalized(full.cond, full.z, 1);
    expect(ref[0]).toBeGreaterThan(1);
    expect(realtimeError(flat, 'wasm-int16', 1, full) / ref[0]).toBeLessThan(1e-4);

    // A NaN in the observation gives NaN actions (as on float32), not a quiet zero.
    const engine = new RealtimeMlp(
      { net: pusht.config.net as Extract<StudentConfig['net'], { kind: 'mlp' }>, chunk: pusht.chunkSize, condDim: pusht.condSize, latentDim: pusht.latentDim, timeEmbedding: pusht.net.timeEmbeddingAtNoise(pusht.params) },
      pusht.params.toWeights(),
      { kernel: 'wasm-int16' },
    );
    engine.cond.fill(0.5);
    engine.latent.fill(0.1);
    expect(engine.forward().every(Number.isFinite)).toBe(true);
    engine.cond[3] = NaN;
    expect(engine.forward().every(Number.isNaN)).toBe(true);
    // A kernel for a student that runs on tfjs is refused, not ignored.
    expect(() => StudentPolicy.fromTeacher(teacher(3), { engine: 'tfjs', kernel: 'wasm-int16' })).toThrow(/kernel = "wasm-int16", expected no kernel option: .* \(engine 'tfjs'\)/);
  });

  it('is the default for MLP students, and act() agrees with the tfjs path', () => {
    const t = teacher(6);
    const rt = StudentPolicy.fromTeacher(t);
    const tj = StudentPolicy.fromTeacher(t, { engine: 'tfjs' });
    expect([rt.engine, tj.engine]).toEqual(['realtime', 'tfjs']);
    rt.reset({ seed: 3 });
    tj.reset({ seed: 3 });
    const obs = [frame([100, 200]), frame([120, 210])];
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(rt.act(obs).actions, tj.act(obs).actions)).toBeLessThan(1e-3);
    // Single frames go through the same history: the first fills it, later ones shift it.
    rt.reset({ seed: 4 });
    tj.reset({ seed: 4 });
    for (const f of [frame([100, 200]), frame([150, 250]), frame([300, 100])]) expect(maxAbsDiff(rt.act(f).actions, tj.act(f).actions)).toBeLessThan(1e-3);
    expect(() => rt.act({ 'observation.state': [1, 2] })).toThrow(/observation\["observation.environment_state"\]/);
    expect(() => rt.act([frame(), frame(), frame()])).toThrow(/exactly 2 frames/);
  });

  it('allocates nothing per act() in steady state (and the check catches a path that does)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const t = teacher(7);
    const obs = [frame([100, 200]), frame([110, 190])];
    // latencyMs reads a clock; Node 20's performance.now() itself allocates, so a non-allocating clock is injected.
    let ticks = 0;
    const clock = (): number => ++ticks;
    /**
     * Run `step` n times after a warm-up and a full collection: the garbage
     * collections during the run and, when there were none, the growth of the
     * young generation per call (exact then: nothing was freed in between).
     */
    const measure = async (step: () => void, n: number): Promise<{ collections: number; bytesPerCall: number }> => {
      for (let i = 0; i < 10_000; i++) step();
      gc();
      await new Promise((r) => setTimeout(r, 20));
      let collections = 0;
      const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
      observer.observe({ entryTypes: ['gc'] });
      // Young-generation bytes: where per-call garbage goes (compiled code and feedback, which the JIT may still add, live elsewhere).
      const young = (): number => v8.getHeapSpaceStatistics().reduce((sum, sp) => sum + (sp.space_name.startsWith('new_') ? sp.space_used_size : 0), 0);
      const before = young();
      for (let i = 0; i < n; i++) step();
      const after = young();
      await new Promise((r) => setTimeout(r, 50));
      observer.disconnect();
      return { collections, bytesPerCall: (after - before) / n };
    };
    const n = 20_000;
    // A refined student (a second net after the trunk: StudentRefine) takes the same path twice.
    const plain = StudentPolicy.fromTeacher(t);
    const refined = refinedStudent({ config: plain.config, stats: plain.stats, weights: plain.toWeights() }, { config: t.config, stats: t.stats, weights: t.params.toWeights() }, 0.85);
    const cases = [...kernels, ...(RealtimeMlp.simdAvailable() ? (['wasm-int16'] as const) : [])].flatMap((kernel) => [
      { kernel, name: kernel, make: () => StudentPolicy.fromTeacher(t, { kernel, clock }) },
      { kernel, name: `${kernel}, refined`, make: () => new StudentPolicy(refined.config, refined.stats, refined.weights, { kernel, clock }) },
      { kernel, name: `${kernel}, anchored`, make: () => anchoredStudent(t, { kernel, clock }) },
    ]);
    for (const { name: kernel, make } of cases) {
      const s = make();
      const first = s.act(obs);
      const actions = first.actions;
      expect(s.realtimeRefine !== null, kernel).toBe(kernel.endsWith('refined'));
      expect(s.gate !== null, kernel).toBe(kernel.endsWith('anchored'));
      const allocations = () => s.realtime!.allocations + (s.realtimeRefine?.allocations ?? 0) + (s.gate?.engine.allocations ?? 0);
      const engineAllocations = allocations();
      const steady = await measure(() => s.act(obs), n);
      expect(steady.collections, kernel).toBe(0);
      // One boxed number (16 bytes) per call would show as >= 16.
      expect(steady.bytesPerCall, kernel).toBeLessThan(4);
      // The same objects every call, and the engine made no new buffers.
      const last = s.act(obs);
      expect(last).toBe(first);
      expect(last.actions).toBe(actions);
      expect(allocations()).toBe(engineAllocations);
      expect(last.latencyMs).toBe(1);
      // The check has teeth: the same loop keeping one 32-value copy per call is caught.
      let kept: number[] = [];
      const leaky = await measure(() => (kept = Array.from(s.act(obs).actions)), n);
      expect(leaky.collections > 0 || leaky.bytesPerCall > 100, JSON.stringify(leaky)).toBe(true);
      expect(kept.length).toBe(32);
      s.dispose();
    }
    // And the tfjs path, which allocates tensors per call, returns fresh chunks.
    const tj = StudentPolicy.fromTeacher(t, { engine: 'tfjs' });
    expect(tj.act(obs)).not.toBe(tj.act(obs));
    expect(tf.memory().numTensors).toBeLessThan(1000);
  });
});
