import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BACKENDS, resolveBackendRequest, useBackend } from '../../src/core/backend.js';
import { InputError } from '../../src/core/errors.js';

describe('backend selection', () => {
  it('takes the flag over FLOWPOLICY_BACKEND over auto', () => {
    expect(resolveBackendRequest('cpu', { FLOWPOLICY_BACKEND: 'wasm' })).toBe('cpu');
    expect(resolveBackendRequest(undefined, { FLOWPOLICY_BACKEND: 'wasm' })).toBe('wasm');
    expect(resolveBackendRequest(undefined, {})).toBe('auto');
  });

  it('rejects unknown names, naming where they came from', () => {
    expect(() => resolveBackendRequest('gpu', {})).toThrow(InputError);
    expect(() => resolveBackendRequest('gpu', {})).toThrow(/--backend = "gpu", expected one of auto, tfjs-node-gpu/);
    expect(() => resolveBackendRequest(undefined, { FLOWPOLICY_BACKEND: 'tpu' })).toThrow(/FLOWPOLICY_BACKEND = "tpu"/);
  });

  it('in auto mode takes the first backend that runs and says why it skipped the others', async () => {
    const info = await useBackend('auto', {});
    expect(tf.getBackend()).toBe(info.tfName);
    const order = BACKENDS.indexOf(info.name);
    expect(info.skipped.map((s) => s.name)).toEqual(BACKENDS.slice(0, order));
    for (const s of info.skipped) expect(s.reason).toMatch(/not installed|not built|failed/);
    // wasm ships with flowpolicy, so auto never falls below it.
    expect(order).toBeLessThanOrEqual(BACKENDS.indexOf('wasm'));
  });

  it('runs wasm with SIMD, and cpu, and refuses a named backend that is absent', async () => {
    const wasm = await useBackend('wasm', {});
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.detail).toContain('SIMD');
    await useBackend('cpu', {});
    expect(tf.getBackend()).toBe('cpu');
    let tfjsNode = false;
    try {
      await import(/* @vite-ignore */ '@tensorflow/tfjs-node' as string);
      tfjsNode = true;
    } catch {
      // not installed here: the usual case
    }
    if (!tfjsNode) await expect(useBackend('tfjs-node', {})).rejects.toThrow(/@tensorflow\/tfjs-node is not installed/);
  });
});
