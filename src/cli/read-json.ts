import { existsSync, readFileSync } from 'node:fs';
import { InputError } from '../core/errors.js';

/**
 * A JSON argument: inline JSON, `@file.json`, or `-` for standard input.
 * `field` names the flag in errors.
 */
export function readJsonArg(text: string, field: string): unknown {
  let source = text;
  let where = 'inline JSON';
  if (text === '-') {
    source = readFileSync(0, 'utf8');
    where = 'standard input';
  } else if (text.startsWith('@')) {
    const path = text.slice(1);
    if (!existsSync(path)) throw new InputError(field, text, 'inline JSON, @file.json of an existing file, or - for stdin');
    source = readFileSync(path, 'utf8');
    where = path;
  }
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new InputError(field, text.length > 60 ? `${text.slice(0, 57)}...` : text, `valid JSON (${where}: ${(err as Error).message})`);
  }
}

/** A JSON config file. */
export function readJsonFile(path: string, field: string): unknown {
  if (!existsSync(path)) throw new InputError(field, path, 'an existing JSON file');
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(field, path, `a valid JSON file (${(err as Error).message})`);
  }
}
