import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { EpisodeDataset } from './episode-dataset.js';
import { importDiffusionPolicyZarr } from './import/diffusion-policy-zarr.js';
import { importFlowpolicyZarr, isFlowpolicyDataset } from './import/flowpolicy-zarr.js';

/**
 * Open a dataset from a path, recognising its format. Formats read today:
 * the project's own recordings (Zarr v2, told apart by the format in their
 * root .zattrs, checked first since they are Zarr groups too) and Diffusion
 * Policy replay buffers (Zarr v2). LeRobot and robomimic plug in here.
 */
export async function loadDataset(path: string): Promise<EpisodeDataset> {
  if (!existsSync(path)) throw new InputError('dataset', path, 'an existing dataset path (a .zarr directory: Diffusion Policy\'s replay buffer or one written by flowpolicy)');
  if (isFlowpolicyDataset(path)) return importFlowpolicyZarr(path);
  if (existsSync(join(path, '.zgroup'))) return importDiffusionPolicyZarr(path);
  throw new InputError('dataset', path, 'a dataset in a known format: a Diffusion Policy Zarr v2 store (directory with .zgroup)');
}
