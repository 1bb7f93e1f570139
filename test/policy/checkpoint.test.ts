import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { decode as msgpackDecode } from '@msgpack/msgpack';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { encodeContainer } from '../../src/core/container.js';
import { CorruptFileError, InputError, InputErrors } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { encodeWeights } from '../../src/nets/weight-codec.js';
import { CHECKPOINT_FORMAT, decodeCheckpoint, encodeCheckpoint, loadPolicy, readCheckpoint, saveCheckpoint } from '../../src/policy/checkpoint.js';
import { frame, smallConfig, smallPolicy, workspaceStats } from '../helpers/policy.js';
import { tempDir } from '../helpers/tmp.js';
import { TEST_BACKEND } from '../helpers/backend.js';

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

const dir = tempDir();

function contents() {
  const policy = smallPolicy(1);
  return { config: policy.config, stats: policy.stats as ReturnType<typeof workspaceStats>, weights: policy.params.toWeights(), meta: { step: 12 } };
}

describe('checkpoints', () => {
  it('round-trip config, statistics, weights and meta, and reload to identical actions', () => {
    const c = contents();
    const path = join(dir, 'a.fpk');
    saveCheckpoint(path, c);
    const back = readCheckpoint(path);
    expect(back.config).toEqual(c.config);
    expect(back.stats).toEqual(c.stats);
    expect(back.meta).toMatchObject({ step: 12, flowpolicyVersion: expect.any(String) });
    for (const [name, w] of c.weights) expect(back.weights.get(name)!.data).toEqual(w.data);
    const noise = new Rng(4).fillNormal(new Float32Array(32));
    const original = smallPolicy(1);
    const { policy } = loadPolicy(path);
    expect(policy.act(frame(), { noise }).actions).toEqual(original.act(frame(), { noise }).actions);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a truncated file is reported as corrupt at every cut', () => {
    const bytes = encodeCheckpoint(contents());
    const rng = new Rng(5);
    for (let k = 0; k < 40; k++) {
      const cut = k === 0 ? 0 : rng.int(bytes.length - 1);
      expect(() => decodeCheckpoint(bytes.subarray(0, cut), 'cut.fpk'), `cut at ${cut}`).toThrow(CorruptFileError);
    }
  });

  it('a flipped bit anywhere is caught (checksum, header or framing), never loaded', () => {
    const bytes = encodeCheckpoint(contents());
    const rng = new Rng(6);
    for (let k = 0; k < 60; k++) {
      const flipped = Uint8Array.from(bytes);
      const at = rng.int(bytes.length);
      flipped[at] ^= 1 << rng.int(8);
      expect(() => decodeCheckpoint(flipped, 'flip.fpk'), `bit flip at byte ${at}`).toThrow(CorruptFileError);
    }
    const payloadFlip = Uint8Array.from(bytes);
    payloadFlip[bytes.length - 100] ^= 0x10;
    expect(() => decodeCheckpoint(payloadFlip, 'flip.fpk')).toThrow(/flip.fpk: checksum mismatch/);
  });

  it('a file of another kind says what it is', () => {
    const other = encodeContainer({ format: 'flowpolicy-train-state', version: 1 }, {});
    expect(() => decodeCheckpoint(other, 'state.fpk')).toThrow("state.fpk: a 'flowpolicy-train-state' file, expected format 'flowpolicy-checkpoint'");
    expect(() => decodeCheckpoint(new TextEncoder().encode('{"json": true}'), 'x.json')).toThrow(/x.json: (not a readable|not a flowpolicy)/);
    const future = encodeContainer({ format: CHECKPOINT_FORMAT, version: 99 }, {});
    expect(() => decodeCheckpoint(future, 'new.fpk')).toThrow('new.fpk: format version 99 is not supported, expected 1');
  });

  it('a valid file with a bad config names the field', () => {
    const c = contents();
    const body = { config: { ...c.config, net: { ...c.config.net, hidden: -4 } }, stats: c.stats, weights: encodeWeights(c.weights), meta: { flowpolicyVersion: '0', createdAt: 'now' } };
    const bytes = encodeContainer({ format: CHECKPOINT_FORMAT, version: 1 }, body);
    expect(() => decodeCheckpoint(bytes, 'bad.fpk')).toThrow(InputErrors);
    expect(() => decodeCheckpoint(bytes, 'bad.fpk')).toThrow('bad.fpk (config): net.hidden = -4, expected > 0');
  });

  it('weights that do not fit the configured network are refused by name', () => {
    const c = contents();
    const weights = new Map(c.weights);
    const w = weights.get('mlp.0.weight')!;
    weights.set('mlp.0.weight', { shape: [w.shape[0], w.shape[1] - 1], data: w.data.subarray(0, w.shape[0] * (w.shape[1] - 1)) });
    const path = join(dir, 'shape.fpk');
    saveCheckpoint(path, { ...c, weights });
    expect(() => loadPolicy(path)).toThrow(InputError);
    expect(() => loadPolicy(path)).toThrow(`${path}: weights["mlp.0.weight"].shape = "[${w.shape[0]},${w.shape[1] - 1}]", expected [${w.shape}]`);
    weights.delete('mlp.0.weight');
    saveCheckpoint(path, { ...c, weights });
    expect(() => loadPolicy(path)).toThrow(/weights\["mlp.0.weight"\] = undefined, expected a tensor of shape/);
  });

  it('a weight whose bytes do not match its shape is corrupt', () => {
    const c = contents();
    const enc = encodeWeights(c.weights);
    enc['mlp.0.bias'] = { ...enc['mlp.0.bias'], data: enc['mlp.0.bias'].data.subarray(0, 8) };
    const bytes = encodeContainer({ format: CHECKPOINT_FORMAT, version: 1 }, { config: c.config, stats: c.stats, weights: enc, meta: { flowpolicyVersion: '0', createdAt: 'now' } });
    expect(() => decodeCheckpoint(bytes, 'short.fpk')).toThrow(/short.fpk: weight 'mlp.0.bias' has 8 bytes, expected 128 for shape \[32\]/);
  });

  it('missing files and directories are input errors; no file is written on failure', () => {
    expect(() => readCheckpoint(join(dir, 'absent.fpk'))).toThrow(/checkpoint = ".*absent.fpk", expected an existing checkpoint file/);
    expect(() => readCheckpoint(dir)).toThrow(/expected a checkpoint file, not a directory/);
    expect(() => saveCheckpoint(join(dir, 'no', 'such', 'dir.fpk'), contents())).toThrow();
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });

  it('is plain msgpack: an independent decoder (@msgpack/msgpack) reads every weight', () => {
    const c = contents();
    const path = join(dir, 'plain.fpk');
    saveCheckpoint(path, c);
    const outer = msgpackDecode(readFileSync(path)) as { format: string; version: number; sha256: string; payload: Uint8Array };
    expect(outer.format).toBe(CHECKPOINT_FORMAT);
    expect(outer.version).toBe(1);
    expect(outer.sha256).toMatch(/^[0-9a-f]{64}$/);
    const body = msgpackDecode(outer.payload) as { config: unknown; weights: Record<string, { shape: number[]; dtype: string; data: Uint8Array }> };
    expect(body.config).toEqual(smallConfig());
    for (const [name, w] of c.weights) {
      const stored = body.weights[name];
      expect(stored.dtype).toBe('float32');
      expect(stored.shape).toEqual(w.shape);
      const view = new DataView(stored.data.buffer, stored.data.byteOffset, stored.data.byteLength);
      expect(Float32Array.from({ length: w.data.length }, (_, i) => view.getFloat32(4 * i, true))).toEqual(w.data);
    }
  });
});
