import { isDeepStrictEqual } from 'node:util';
import { Option, type Command } from 'commander';
import type { z } from 'zod';
import { InputError } from '../core/errors.js';

/**
 * Every field of a zod config schema as a command-line flag: `--train.lr
 * 3e-4`, `--policy.net.hidden 256`. Flags are generated from the schema, so
 * a new config field is a new flag with its description in --help, with
 * nothing to keep in sync by hand.
 */
export interface ConfigFlag {
  /** Dotted path into the config, e.g. 'train.lr'. */
  path: string;
  description: string;
  /** Default as shown in help, if the schema has one. */
  defaultValue?: unknown;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  options?: z.ZodType[];
  defaultValue?: unknown;
  in?: z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Leaves of an object schema, looking through defaults, optionals and unions of objects. */
export function configFlags(schema: z.ZodType, prefix = ''): ConfigFlag[] {
  const out = new Map<string, ConfigFlag>();
  const walk = (s: z.ZodType, path: string, description: string | undefined, defaultValue: unknown): void => {
    const def = defOf(s);
    const desc = description ?? s.description;
    switch (def.type) {
      case 'default':
      case 'prefault':
        return walk(def.innerType!, path, desc, defaultValue ?? def.defaultValue);
      case 'optional':
      case 'nullable':
      case 'readonly':
        return walk(def.innerType!, path, desc, defaultValue);
      case 'pipe':
        return walk(def.in!, path, desc, defaultValue);
      case 'object':
        for (const [key, child] of Object.entries(def.shape!)) {
          const sub = path ? `${path}.${key}` : key;
          const childDefault = defaultValue && typeof defaultValue === 'object' ? (defaultValue as Record<string, unknown>)[key] : undefined;
          walk(child, sub, undefined, childDefault);
        }
        return;
      case 'union':
        if (def.options!.every((o) => defOf(o).type === 'object')) {
          for (const o of def.options!) walk(o, path, desc, undefined);
          return;
        }
        break;
    }
    if (!out.has(path)) out.set(path, { path, description: desc ?? '', defaultValue });
  };
  walk(schema, prefix, undefined, undefined);
  return [...out.values()];
}

/** A flag's text as a value: JSON when it parses (numbers, booleans, arrays, null), else the string. */
export function parseFlagValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Set `value` at dotted `path` in `target`, creating objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new InputError(`--${path}`, value, `a path into an object, but ${key} is ${JSON.stringify(next)}`);
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

/** Deep merge of plain objects; arrays and scalars of `over` replace those of `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short flag for a config field: [commander flag, option attribute, config path, description]. */
export type ConfigShortcut = [flag: string, attr: string, path: string, description: string];

/** Add the shortcut flags, then every other config field as a `--a.b.c` flag (grouped in --help). */
export function addConfigFlags(cmd: Command, shortcuts: readonly ConfigShortcut[], fields: readonly ConfigFlag[]): void {
  for (const [flag, , , description] of shortcuts) cmd.option(flag, description);
  for (const f of fields) {
    const shown = f.defaultValue === undefined ? '' : ` (default: ${JSON.stringify(f.defaultValue)})`;
    cmd.addOption(new Option(`--${f.path} <value>`, `${f.description}${shown}`).helpGroup('Config fields (JSON values):'));
  }
}

/**
 * The config values given on the command line, as [path, value] pairs.
 * Values are JSON where they parse as JSON; `stringPaths` (file paths) stay
 * strings even when they look like numbers.
 */
export function flagValues(opts: Record<string, unknown>, shortcuts: readonly ConfigShortcut[], fields: readonly ConfigFlag[], stringPaths: readonly string[] = []): [string, unknown][] {
  const out: [string, unknown][] = [];
  const take = (path: string, raw: unknown) => {
    if (raw !== undefined) out.push([path, stringPaths.includes(path) ? String(raw) : parseFlagValue(String(raw))]);
  };
  for (const [, attr, path] of shortcuts) take(path, opts[attr]);
  for (const f of fields) take(f.path, opts[f.path]);
  return out;
}

/**
 * A resumed run keeps its config: only its length (train.steps) may change,
 * and the `locations` (paths to inputs whose contents the run checks, for a
 * run folder moved with its data) may point elsewhere. A flag repeating the
 * run's own value (from its `recorded` config.json) changes nothing and is
 * accepted.
 */
export function assertResumable(values: readonly [string, unknown][], recorded: Record<string, unknown>, locations: readonly string[] = []): void {
  for (const [path, value] of values) {
    if (path === 'train.steps' || locations.includes(path)) continue;
    const current = path.split('.').reduce<unknown>((node, key) => (isPlainObject(node) ? node[key] : undefined), recorded);
    if (isDeepStrictEqual(current, value)) continue;
    const also = locations.length > 0 ? ` and the new locations of moved inputs (${locations.map((l) => `--${l}`).join(', ')})` : '';
    throw new InputError(`--${path}`, value, `the resumed run's ${JSON.stringify(current)} (no config change on --resume except train.steps (--steps)${also})`);
  }
}
