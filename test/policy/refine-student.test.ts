import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { Rng } from '../../src/core/rng.js';
import { FlowPolicy } from '../../src/policy/flow-policy.js';
import { loadPolicy, readCheckpoint, saveCheckpoint } from '../../src/policy/checkpoint.js';
import { refineStudent } from '../../src/policy/refine-student.js';
import { StudentPolicy } from '../../src/policy/student-policy.js';
import { runCli } from '../helpers/cli.js';
import { frame, smallConfig, workspaceStats } from '../helpers/policy.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

const dir = tempDir();
const net = { kind: 'mlp' as const, hidden: 48, layers: 3, timeEmbedDim: 16, activation: 'mish' as const };

/** Two flow teachers of one interface and one set of statistics (one dataset), different weights. */
function teachers(): { a: FlowPolicy; b: FlowPolicy; aPath: string; bPath: string } {
  const stats = workspaceStats(1);
  const a = FlowPolicy.initialize(smallConfig(net), stats, 11);
  const b = FlowPolicy.initialize(smallConfig(net), stats, 12);
  // Saved with trained-scale weights (doubled), so that the teacher step does move the chunk.
  const save = (p: FlowPolicy, name: string) => {
    const w = p.params.toWeights();
    for (const v of w.values()) for (let i = 0; i < v.data.length; i++) v.data[i] *= 2;
    const path = join(dir, name);
    saveCheckpoint(path, { config: p.config, stats: p.stats, weights: w });
    return path;
  };
  const aPath = save(a, 'teacher-a.fpk');
  const bPath = save(b, 'teacher-b.fpk');
  return { a: loadPolicy(aPath, { kind: 'flow' }).policy, b: loadPolicy(bPath, { kind: 'flow' }).policy, aPath, bPath };
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

describe('the refined student (flowpolicy refine)', () => {
  it("is the student's chunk re-noised to time tau, then one teacher Euler step; the real-time path agrees", () => {
    const { a, b, bPath } = teachers();
    // The student: teacher a's warm start (its one-step Euler sampler), refined by teacher b.
    const studentPath = join(dir, 'student.fpk');
    const student = StudentPolicy.fromTeacher(a);
    saveCheckpoint(studentPath, { config: student.config, stats: student.stats, weights: student.toWeights() });
    const refinedPath = join(dir, 'refined.fpk');
    const tau = 0.8;
    saveCheckpoint(refinedPath, refineStudent(studentPath, bPath, tau));
    const tfjs = loadPolicy(refinedPath, { kind: 'student', engine: 'tfjs' }).policy;
    const rt = loadPolicy(refinedPath, { kind: 'student' }).policy;
    const int16 = loadPolicy(refinedPath, { kind: 'student', kernel: 'wasm-int16' }).policy;
    expect([tfjs.engine, rt.engine, int16.engine]).toEqual(['tfjs', 'realtime', 'realtime']);
    const D = a.chunkSize;
    expect(tfjs.latentDim).toBe(2 * D);

    // By hand: x^ = z + v_a(z, 0), x_tau = (1 - tau) eps + tau x^, x = x_tau + (1 - tau) v_b(x_tau, tau).
    const n = 6;
    const rng = new Rng(5);
    const cond = Float32Array.from({ length: n * a.condSize }, () => 2 * rng.uniform() - 1);
    const z = rng.fillNormal(new Float32Array(n * D));
    const eps = rng.fillNormal(new Float32Array(n * D));
    const xhat = a.sampleNormalized(cond, z, n, { method: 'euler', steps: 1 }).chunks;
    const xt = Float64Array.from(xhat, (v, i) => (1 - tau) * eps[i] + tau * v);
    const field = b.velocityField(cond, n);
    const v = field.velocity(tau, xt);
    field.dispose();
    const expected = Float32Array.from(xt, (x, i) => x + (1 - tau) * v[i]);
    const latent = new Float32Array(n * 2 * D);
    for (let i = 0; i < n; i++) {
      latent.set(z.subarray(i * D, (i + 1) * D), i * 2 * D);
      latent.set(eps.subarray(i * D, (i + 1) * D), i * 2 * D + D);
    }
    const got = tfjs.generateNormalized(cond, latent, n);
    expect(maxAbsDiff(got, expected)).toBeLessThan(1e-5);
    // The teacher step matters: it is not the student's chunk, nor x_tau.
    expect(maxAbsDiff(got, xhat)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(got, Float32Array.from(xt))).toBeGreaterThan(1e-2);

    // act() on every engine with the same latent (z, eps): two network calls, the same chunk.
    const obs = [frame([100, 200]), frame([120, 210])];
    const one = latent.subarray(0, 2 * D);
    const ref = tfjs.act(obs, { latent: one });
    expect(ref.nfe).toBe(2);
    expect(maxAbsDiff(rt.act(obs, { latent: one }).actions, ref.actions)).toBeLessThan(1e-2);
    // int16 products: within half a unit of these 512-wide action ranges, and not the float32 bits.
    const q = maxAbsDiff(int16.act(obs, { latent: one }).actions, ref.actions);
    expect(q).toBeLessThan(0.5);
    expect(q).toBeGreaterThan(0);
    expect(() => rt.act(obs, { latent: z.subarray(0, D) })).toThrow(/expected 64 values \(the student's latent size\)/);

    // toWeights() gives back every tensor of the checkpoint, the teacher's under refine.
    const saved = readCheckpoint(refinedPath).weights;
    expect([...rt.toWeights().keys()].sort()).toEqual([...saved.keys()].sort());
    expect(saved.size).toBe(student.toWeights().size + b.params.toWeights().size);
    expect(maxAbsDiff(saved.get('refine.mlp.out.bias')!.data, b.params.toWeights().get('mlp.out.bias')!.data)).toBe(0);
  });

  it('refuses what it cannot refine, naming the field, and writes nothing', () => {
    const { a, aPath, bPath } = teachers();
    const studentPath = join(dir, 'student-r.fpk');
    const student = StudentPolicy.fromTeacher(a);
    saveCheckpoint(studentPath, { config: student.config, stats: student.stats, weights: student.toWeights() });
    for (const t of [0, 1, -0.2, Number.NaN]) expect(() => refineStudent(studentPath, bPath, t)).toThrow(`time = ${t === t ? t : 'NaN'}, expected a number strictly between 0 and 1`);
    // A student where the teacher belongs, and the other way round.
    expect(() => refineStudent(studentPath, studentPath, 0.85)).toThrow(/config.kind = "student", expected 'flow'/);
    expect(() => refineStudent(aPath, bPath, 0.85)).toThrow(/config.kind = "flow", expected 'student'/);
    // A teacher trained on other data: other statistics, so another normaliser.
    const other = FlowPolicy.initialize(smallConfig(net), workspaceStats(2), 3);
    const otherPath = join(dir, 'other-stats.fpk');
    saveCheckpoint(otherPath, { config: other.config, stats: other.stats, weights: other.params.toWeights() });
    expect(() => refineStudent(studentPath, otherPath, 0.85)).toThrow(/teacher = .*other-stats.fpk", expected a flow teacher with the student's normalisation statistics .*'observation.environment_state' differs/);
    // A teacher of another action horizon.
    const shortConfig = { ...smallConfig(net), action: { ...smallConfig(net).action, horizon: 8, execute: 4 } };
    const short = FlowPolicy.initialize(shortConfig, workspaceStats(1), 3);
    const shortPath = join(dir, 'short.fpk');
    saveCheckpoint(shortPath, { config: short.config, stats: short.stats, weights: short.params.toWeights() });
    expect(() => refineStudent(studentPath, shortPath, 0.85)).toThrow(/expected a flow teacher with the student's action \(.*"horizon":16.*\); it has .*"horizon":8/);
    // Refining twice is refused, not stacked; a refined student cannot be trained further.
    const refinedPath = join(dir, 'refined-r.fpk');
    const refined = refineStudent(studentPath, bPath, 0.85);
    saveCheckpoint(refinedPath, refined);
    expect(() => refineStudent(refinedPath, bPath, 0.9)).toThrow(/expected a student without a refine stage \(this one already refines with a teacher step from time 0.85\)/);
    expect(() => new StudentPolicy(refined.config, refined.stats, refined.weights, { trainable: true })).toThrow(/refine = .*expected no refine stage on a trainable student/);
    // Weights that do not match the refine config are refused on load.
    const missing = new Map([...refined.weights].filter(([k]) => k !== 'refine.mlp.out.bias'));
    expect(() => new StudentPolicy(refined.config, refined.stats, missing)).toThrow(/weights\["refine\.mlp\.out\.bias"\] = undefined, expected a tensor of shape \[32\]/);
  });

  it('runs from the command line: refine, inspect, eval; a bad --time is refused before anything is written', () => {
    const { a, bPath } = teachers();
    const studentPath = join(dir, 'student-cli.fpk');
    const student = StudentPolicy.fromTeacher(a);
    saveCheckpoint(studentPath, { config: student.config, stats: student.stats, weights: student.toWeights() });
    const out = join(dir, 'cli', 'refined.fpk');
    const bad = runCli(['refine', studentPath, '--teacher', bPath, '--time', '1.5', '--out', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--time = "1.5", expected a number strictly between 0 and 1');
    expect(existsSync(join(dir, 'cli')) ? readdirSync(join(dir, 'cli')) : []).toEqual([]);
    const r = runCli(['refine', studentPath, '--teacher', bPath, '--time', '0.85', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ out, time: 0.85, latentDim: 64, networkCalls: 2 });
    const inspect = runCli(['inspect', out]);
    expect(inspect.stdout).toMatch(/refined by one teacher Euler step from t = 0.85/);
    expect(inspect.stdout).toMatch(/two network calls per chunk/);
    const ev = runCli(['eval', out, '--episodes', '1', '--max-steps', '16', '--workers', '1', '--json', '--kernel', 'wasm-int16']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ policyKind: 'student', kernel: 'wasm-int16', policyCalls: 2 });
    // The text summary says what ran it.
    const text = runCli(['eval', out, '--episodes', '1', '--max-steps', '16', '--workers', '1', '--kernel', 'wasm-int16']);
    expect(text.stdout).toMatch(/backend\s+\S+, real-time kernel wasm-int16/);
  });
});
