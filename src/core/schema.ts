import { z } from 'zod';
import { InputError, InputErrors } from './errors.js';

type Issue = z.core.$ZodIssue & { input?: unknown };

function fieldName(path: PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function bound(issue: { minimum?: unknown; maximum?: unknown; inclusive?: boolean; exact?: boolean; origin?: string }, lower: boolean): string {
  const limit = String(lower ? issue.minimum : issue.maximum);
  const unit =
    issue.origin === 'array' ? ' items' : issue.origin === 'string' ? ' characters' : issue.origin === 'set' ? ' entries' : '';
  const what = issue.origin === 'array' || issue.origin === 'string' || issue.origin === 'set' ? 'length ' : '';
  if (issue.exact) return `${what}exactly ${limit}${unit}`;
  const op = lower ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
  return `${what}${op} ${limit}${unit}`;
}

/** What the schema wanted, in words, for one zod issue. */
function expectedOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `a value of type ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return bound(issue as never, true);
    case 'too_big':
      return bound(issue as never, false);
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    case 'invalid_format':
      return `a string of format ${issue.format}`;
    case 'invalid_union':
      return 'one of the accepted shapes (see --help or the docs)';
    default:
      return issue.message.replace(/^Invalid input:\s*/, '');
  }
}

/** Turn zod issues into InputErrors that name field, value and expectation. */
export function issuesToErrors(issues: readonly Issue[], source?: string): InputError[] {
  const errors: InputError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const parent = (issue.input ?? {}) as Record<string, unknown>;
      for (const key of issue.keys) {
        errors.push(new InputError(fieldName([...issue.path, key]), parent[key], 'no such field (check the spelling)', source));
      }
      continue;
    }
    const union = issue as { code: string; discriminator?: string; options?: unknown[]; input?: unknown };
    if (union.code === 'invalid_union' && union.discriminator && union.options) {
      // zod reports a bad discriminator with the parent object as input.
      const value = (union.input as Record<string, unknown> | undefined)?.[union.discriminator];
      errors.push(new InputError(fieldName(issue.path), value, `one of ${union.options.map((o) => JSON.stringify(o)).join(', ')}`, source));
      continue;
    }
    errors.push(new InputError(fieldName(issue.path), issue.input, expectedOf(issue), source));
  }
  return errors;
}

/**
 * Parse an input that crossed a boundary. On failure throws one InputErrors
 * listing every bad field, each with its value and what was expected.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, source?: string): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new InputErrors(issuesToErrors(result.error.issues as Issue[], source));
}
