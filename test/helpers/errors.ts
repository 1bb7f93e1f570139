import { InputError, InputErrors } from '../../src/core/errors.js';

/** The first InputError `fn` throws (the first of an InputErrors); fails when it throws none. */
export function firstInputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputErrors) return e.errors[0];
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}
