/**
 * Errors a user can act on. Every input that crosses a boundary (config
 * file, dataset, checkpoint, observation, CLI flag) fails with one of these,
 * so the CLI can print one line instead of a stack trace from deep inside a
 * dependency.
 */
export class FlowpolicyError extends Error {
  override readonly name: string = 'FlowpolicyError';
}

/** Shorten a value for an error message without losing its kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (ArrayBuffer.isView(value) && 'length' in value) {
    return `${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', ...' : ''}`;
  }
  return typeof value;
}

/**
 * A bad input: names the field, the value received and what was expected.
 * `source` says where the input came from (a file path, "--config", "observation").
 */
export class InputError extends FlowpolicyError {
  override readonly name: string = 'InputError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ''}${field} = ${describeValue(value)}, expected ${expected}`);
  }
}

/** Several input errors found in one pass (e.g. every bad field of a config), reported together. */
export class InputErrors extends FlowpolicyError {
  override readonly name: string = 'InputError';
  constructor(readonly errors: InputError[]) {
    super(errors.length === 1 ? errors[0].message : errors.map((e) => `- ${e.message}`).join('\n'));
  }
}

/** A file that exists but cannot be trusted: truncated, bit-flipped, of another format. */
export class CorruptFileError extends FlowpolicyError {
  override readonly name: string = 'CorruptFileError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}
