import { InputError } from '../core/errors.js';

/** A command-line integer in [min, max], or an error naming the flag, the value and the range. */
export function intFlag(value: unknown, flag: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Infinity ? (min === -Infinity ? 'an integer' : min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`) : `an integer in ${min}..${max}`;
    throw new InputError(flag, value, range);
  }
  return n;
}

/** A command-line number > 0. */
export function positiveFlag(value: unknown, flag: string): number {
  const n = Number(value);
  if (value === undefined || value === '' || !(n > 0) || !Number.isFinite(n)) throw new InputError(flag, value, 'a positive number');
  return n;
}
