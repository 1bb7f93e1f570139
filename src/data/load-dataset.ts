import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { EpisodeDataset } from './episode-dataset.js';
import { importDiffusionPolicyZarr } from './import/diffusion-policy-zarr.js';

/**
 * Open a dataset from a path, recognising its format. Formats read today:
 * Diffusion Policy replay buffers (Zarr v2). LeRobot, robomimic and the
 * project's own recordings plug in here.
 */
export async function loadDataset(path: string): Promise<EpisodeDataset> {
  if (!existsSync(path)) throw new InputError('dataset', path, 'an existing dataset path (a Diffusion Policy .zarr directory)');
  if (existsSync(join(path, '.zgroup'))) return importDiffusionPolicyZarr(path);
  throw new InputError('dataset', path, 'a dataset in a known format: a Diffusion Policy Zarr v2 store (directory with .zgroup)');
}
