import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startCli } from '../helpers/cli.js';
import { PUSHT_ZARR, tempDir } from '../helpers/tmp.js';
import { AUTO_BACKEND } from '../helpers/backend.js';

const dir = tempDir();
const run = join(dir, 'run');
const small = ['--policy.net.hidden', '64', '--policy.net.layers', '2', '--batch-size', '64', '--train.warmupSteps', '5', '--train.logEvery', '10', '--train.evalEvery', '20'];
const obs = JSON.stringify({
  'observation.environment_state': [230, 300, 240, 250, 270, 300, 235, 285, 190, 320, 250, 300, 215, 270, 213, 295, 258, 281],
  'observation.state': [100, 200],
});

/** No stack trace leaks to the user on a handled error. */
const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at /m);

describe('flowpolicy CLI', () => {
  it('has --help on every command, with examples', () => {
    const top = runCli(['--help']);
    expect(top.code).toBe(0);
    for (const cmd of ['train', 'sample', 'inspect']) {
      expect(top.stdout).toContain(cmd);
      const h = runCli([cmd, '--help']);
      expect(h.code, cmd).toBe(0);
      expect(h.stdout).toContain(`Usage: flowpolicy ${cmd}`);
      expect(h.stdout).toContain('Example');
    }
    // Every config field is a flag.
    const train = runCli(['train', '--help']).stdout;
    for (const flag of ['--train.lr', '--policy.net.downDims', '--dataset.valRatio', '--policy.flow.timeSampler.kind', '--policy.inference.method']) expect(train).toContain(flag);
  });

  it('trains on the Push-T demos, writing checkpoint, metrics, config and an SVG report', () => {
    const r = runCli(['train', '--dataset', PUSHT_ZARR, '--out', run, '--steps', '40', ...small, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ runDir: run, step: 40, totalSteps: 40, interrupted: false, backend: AUTO_BACKEND });
    expect(out.valLoss).toBeLessThan(out.firstValLoss);
    expect(r.stderr).toMatch(new RegExp(`backend: ${AUTO_BACKEND} \\(.*SIMD`));
    expect(r.stderr).toContain('90 training / 4 validation episodes');
    const report = readFileSync(join(run, 'report.html'), 'utf8');
    expect(report).toContain('<svg');
    expect(report.match(/<path/g)!.length).toBeGreaterThan(3);
    expect(report).toContain('validation (EMA weights)');
    expect(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThan(4);
    expect(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).policy.net.hidden).toBe(64);
  });

  it('inspects a checkpoint: config, statistics, parameter count, backend', () => {
    const ckpt = join(run, 'checkpoint.fpk');
    const j = runCli(['inspect', ckpt, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const info = JSON.parse(j.stdout);
    // 2 hidden layers of 64: (32+64+40)*64+64 + 64*64+64 + 64*32+32 plus the time MLP 64->256->64.
    expect(info.parameters).toBe(136 * 64 + 64 + 64 * 64 + 64 + 64 * 32 + 32 + (64 * 256 + 256) + (256 * 64 + 64));
    expect(info.config.net).toMatchObject({ kind: 'mlp', hidden: 64, layers: 2 });
    expect(info.stats.action.min).toEqual([12, 25]);
    expect(info.meta.step).toBe(40);
    // The run folder stands for its checkpoint, as in eval and sample.
    const folder = JSON.parse(runCli(['inspect', run, '--json']).stdout);
    expect(folder).toMatchObject({ path: ckpt, parameters: info.parameters, meta: { step: 40 } });
    const h = runCli(['inspect', ckpt, '--backend', 'cpu']);
    expect(h.stdout).toMatch(/parameters\s+\d[\d,]* in \d+ tensors/);
    expect(h.stdout).toMatch(/runs here on\s+cpu/);
    expect(h.stdout).toContain('observation.environment_state [18] + observation.state [2], horizon To = 2');
  });

  it('samples an action chunk from an observation; the same seed gives the same chunk on cpu and wasm', () => {
    const ckpt = join(run, 'checkpoint.fpk');
    const a = runCli(['sample', ckpt, '--obs', obs, '--seed', '4', '--json']);
    expect(a.code, a.stderr).toBe(0);
    // The run folder stands for its checkpoint.
    const ja = JSON.parse(a.stdout);
    expect(JSON.parse(runCli(['sample', run, '--obs', obs, '--seed', '4', '--json']).stdout).actions).toEqual(ja.actions);
    expect(ja.actions.length).toBe(16);
    expect(ja.actions[0].length).toBe(2);
    expect(ja).toMatchObject({ start: 1, execute: 8, solver: 'euler', steps: 10, nfe: 10 });
    const b = JSON.parse(runCli(['sample', ckpt, '--obs', obs, '--seed', '4', '--json', '--backend', 'cpu']).stdout);
    ja.actions.flat().forEach((v: number, i: number) => expect(Math.abs(v - b.actions.flat()[i])).toBeLessThan(1e-2));
    const c = JSON.parse(runCli(['sample', ckpt, '--obs', obs, '--seed', '5', '--json']).stdout);
    expect(c.actions).not.toEqual(ja.actions);
    const file = join(dir, 'obs.json');
    writeFileSync(file, obs);
    const d = JSON.parse(runCli(['sample', ckpt, '--obs', `@${file}`, '--seed', '4', '--json', '--solver', 'rk4', '--steps', '2']).stdout);
    expect(d).toMatchObject({ solver: 'rk4', steps: 2, nfe: 8 });
    const e = JSON.parse(runCli(['sample', ckpt, '--obs', '-', '--seed', '4', '--json'], { input: obs }).stdout);
    expect(e.actions).toEqual(ja.actions);
    const human = runCli(['sample', ckpt, '--obs', obs]);
    expect(human.stdout).toMatch(/action chunk 16 x 2/);
    expect(human.stdout.split('\n').filter((l) => l.startsWith('*')).length).toBe(8);
  });

  it('fails on bad input with one clear line and exit code 2, never a stack trace', () => {
    const ckpt = join(run, 'checkpoint.fpk');
    const cases: [string[], RegExp][] = [
      [['train', '--dataset', join(dir, 'missing.zarr'), '--out', join(dir, 'x1')], /error: dataset = ".*missing.zarr", expected an existing dataset path/],
      [['train', '--dataset', PUSHT_ZARR, '--out', join(dir, 'x2'), '--train.lr', 'fast'], /error: command line: train.lr = "fast", expected a value of type number/],
      [['train', '--dataset', PUSHT_ZARR, '--out', join(dir, 'x3'), '--policy.net.kind', 'transformer'], /policy.net.kind = "transformer", expected one of/],
      [['train', '--dataset', PUSHT_ZARR, '--backend', 'gpu'], /error: --backend = "gpu", expected one of auto, tfjs-node-gpu, tfjs-node, native, wasm, cpu/],
      [['train', '--dataset', PUSHT_ZARR, '--out', run], /--out = ".*run", expected a new or empty run folder/],
      [['sample', ckpt, '--obs', '{"observation.state": [1, 2]}'], /error: observation\["observation.environment_state"\] = undefined, expected an array of 18 finite numbers/],
      [['sample', ckpt, '--obs', '{not json'], /error: --obs = "\{not json", expected valid JSON/],
      [['sample', ckpt, '--obs', obs, '--solver', 'leapfrog'], /--solver = "leapfrog", expected one of euler, midpoint, rk4, dopri5/],
      [['inspect', join(dir, 'nothing.fpk')], /error: checkpoint = ".*nothing.fpk", expected an existing checkpoint file/],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
      noStack(r.stderr);
    }
    const bad = join(dir, 'bad-config.json');
    writeFileSync(bad, JSON.stringify({ dataset: { path: PUSHT_ZARR }, train: { stepz: 10 } }));
    const r = runCli(['train', '--config', bad, '--out', join(dir, 'x4')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${bad}: train.stepz = 10, expected no such field`);
    expect(existsSync(join(dir, 'x1'))).toBe(false);
    expect(existsSync(join(dir, 'x4'))).toBe(false);
  });

  it('refuses truncated and bit-flipped checkpoints', () => {
    const ckpt = join(run, 'checkpoint.fpk');
    const bytes = readFileSync(ckpt);
    const truncated = join(dir, 'truncated.fpk');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const flipped = join(dir, 'flipped.fpk');
    copyFileSync(ckpt, flipped);
    const b = readFileSync(flipped);
    b[Math.floor(b.length * 0.7)] ^= 0x04;
    writeFileSync(flipped, b);
    for (const [path, pattern] of [
      [truncated, /truncated\.fpk: not a readable flowpolicy-checkpoint file .* it may be truncated/],
      [flipped, /flipped\.fpk: checksum mismatch/],
    ] as const) {
      for (const args of [['inspect', path], ['sample', path, '--obs', obs]]) {
        const r = runCli(args);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(pattern);
        noStack(r.stderr);
      }
    }
  });

  it('saves on Ctrl-C and resumes from there with --resume', async () => {
    const out = join(dir, 'interrupted');
    const p = startCli(['train', '--dataset', PUSHT_ZARR, '--out', out, '--steps', '3000', ...small, '--train.saveEvery', '1000']);
    await p.waitFor(/train \d+\/3000/);
    await new Promise((r) => setTimeout(r, 500));
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code, r.stderr).toBe(130);
    const step = Number(/interrupted at step (\d+); continue with: flowpolicy train --resume/.exec(r.stderr)?.[1]);
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(1000); // saved at the interrupt, not at a periodic save
    const info = JSON.parse(runCli(['inspect', join(out, 'checkpoint.fpk'), '--json']).stdout);
    expect(info.meta.step).toBe(step);
    // Repeating the run's own settings changes nothing and is accepted.
    const resumed = runCli(['train', '--resume', out, '--steps', String(step + 20), ...small, '--train.saveEvery', '1000', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ step: step + 20, interrupted: false });
    expect(resumed.stderr).toContain(`resuming at step ${step}`);
    const refused = runCli(['train', '--resume', out, '--lr', '0.5']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--train.lr = 0.5, expected the resumed run\'s 0.001 (no config change on --resume except train.steps');
  });
});
