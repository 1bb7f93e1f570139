import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InputErrors } from '../../src/core/errors.js';
import { parseInput } from '../../src/core/schema.js';

const Schema = z
  .object({
    lr: z.number().positive(),
    net: z.object({ kind: z.enum(['mlp', 'unet1d']), dims: z.array(z.number().int()).length(2) }).strict(),
  })
  .strict();

describe('parseInput', () => {
  it('returns parsed values', () => {
    expect(parseInput(Schema, { lr: 0.1, net: { kind: 'mlp', dims: [1, 2] } })).toEqual({ lr: 0.1, net: { kind: 'mlp', dims: [1, 2] } });
  });

  it('names every bad field with its value and what was expected', () => {
    let err: unknown;
    try {
      parseInput(Schema, { lr: 'fast', net: { kind: 'cnn', dims: [1], extra: true } }, 'run.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputErrors);
    const msg = (err as Error).message;
    expect(msg).toContain('run.json: lr = "fast", expected a value of type number');
    expect(msg).toContain('net.kind = "cnn", expected one of "mlp", "unet1d"');
    expect(msg).toContain('net.dims = an array of length 1, expected length exactly 2 items');
    expect(msg).toContain('net.extra = true, expected no such field');
  });

  it('reports bounds on numbers', () => {
    expect(() => parseInput(Schema, { lr: -1, net: { kind: 'mlp', dims: [1, 2] } })).toThrow('lr = -1, expected > 0');
  });
});
