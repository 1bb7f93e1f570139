import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { parseInput } from '../core/schema.js';
import { REALTIME_KERNELS } from './realtime-mlp.js';

/**
 * A shipped policy preset (`policies/<name>/`): the checkpoints, the configs
 * they were trained with, the evaluation reports that produced the quoted
 * figures and the script that reproduces them, described by `preset.json`.
 * Every path in it is relative to the preset's folder and must stay inside
 * it, so a preset can be copied or shipped in the npm package as one folder.
 */
export const PRESET_FILE = 'preset.json';

const relativePath = () =>
  z
    .string()
    .min(1)
    .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), { message: 'a path inside the preset folder (no leading / or ..)' });

export const PresetConfig = z
  .object({
    name: z.string().min(1).describe('preset name'),
    description: z.string().min(1).describe('what the policy does, in one sentence'),
    task: z.string().min(1).describe('simulated task it was trained and evaluated for'),
    policy: relativePath().describe('checkpoint that commands run when given the preset folder'),
    checkpoints: z.record(z.string(), relativePath()).default({}).describe('every checkpoint of the preset by role (policy, teacher, ...)'),
    configs: z.record(z.string(), relativePath()).default({}).describe('run configs the checkpoints were trained with'),
    reports: z.record(z.string(), relativePath()).default({}).describe('eval.json of each checkpoint, by role'),
    reproduce: relativePath().optional().describe('script that retrains and re-evaluates the preset'),
    kernel: z.enum(REALTIME_KERNELS).optional().describe("the real-time kernel its student policy runs on when the preset folder is named (a command's --kernel overrides it)"),
  })
  .strict();
export type PresetConfig = z.infer<typeof PresetConfig>;

export interface Preset {
  dir: string;
  config: PresetConfig;
  /** Absolute path of a file the preset names. */
  path(relative: string): string;
}

/** The preset in `dir`, or undefined when the folder holds no preset.json; a malformed one is an error naming the field. */
export function readPreset(dir: string): Preset | undefined {
  const file = join(dir, PRESET_FILE);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(file, '(unparseable)', `JSON (${(err as Error).message})`);
  }
  const config = parseInput(PresetConfig, raw, file);
  const root = resolve(dir);
  const preset: Preset = { dir: root, config, path: (p) => join(root, p) };
  if (!existsSync(preset.path(config.policy))) throw new InputError(`${file}: policy`, config.policy, `a checkpoint file inside ${root}`);
  return preset;
}

/** The preset a policy spec belongs to: the folder itself, or the folder of a checkpoint inside one. */
export function presetOf(spec: string): Preset | undefined {
  if (!existsSync(spec)) return undefined;
  return readPreset(spec) ?? (spec.endsWith('.fpk') ? readPreset(dirname(spec)) : undefined);
}
