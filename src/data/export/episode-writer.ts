import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError } from '../../core/errors.js';
import { parseInput } from '../../core/schema.js';
import { frameSize } from '../episode-dataset.js';
import {
  FEATURE_NAME,
  FLOWPOLICY_FORMAT,
  FLOWPOLICY_VERSION,
  isFlowpolicyDataset,
  readFlowpolicyStore,
  STATE_FEATURE,
  type FlowpolicyAttrs,
} from '../import/flowpolicy-zarr.js';
import { sibling, swapIn, writeArray, writeGroup } from './zarr-v2-writer.js';

/**
 * Writes episodes in the project's own dataset format (described in
 * src/data/import/flowpolicy-zarr.ts), for the sim and ROS recorders.
 *
 * Nothing is ever half-written: every input is checked before the first
 * byte goes to disk, the store is built in a temporary sibling directory
 * (`.<name>.tmp-*`) and renamed into place, and a replaced dataset is
 * renamed aside, the new one renamed in, and only then the old deleted.
 * One writer per dataset at a time: two concurrent appends lose one.
 */

/** One episode: per feature, one Float32Array per frame; optional float64 simulator states, one per frame. */
export interface Episode {
  features: Record<string, Float32Array[]>;
  states?: Float64Array[];
}

/** A feature's per-frame shape (default: [frame length]) and LeRobot's optional `names`. */
export interface FeatureSpec {
  shape: number[];
  names?: string[];
}

export interface WriteOptions {
  fps: number;
  task?: string;
  features?: Record<string, FeatureSpec>;
  /** Replace an existing flowpolicy dataset at the path (atomically). */
  overwrite?: boolean;
  /** Target bytes per chunk (default 1 MiB); chunks split frames only. */
  chunkBytes?: number;
}

export interface AppendOptions {
  chunkBytes?: number;
}

export interface WriteSummary {
  path: string;
  numEpisodes: number;
  numFrames: number;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;
const MAX_FRAMES = 2 ** 31 - 1;

const specSchema = z.strictObject({ shape: z.array(z.int().positive()).min(1), names: z.array(z.string()).optional() });
const writeOptionsSchema = z.strictObject({
  fps: z.number().positive().finite(),
  task: z.string().optional(),
  features: z.record(z.string(), specSchema).optional(),
  overwrite: z.boolean().optional(),
  chunkBytes: z.int().positive().optional(),
});
const appendOptionsSchema = z.strictObject({ chunkBytes: z.int().positive().optional() });

/** What every episode must match: feature names, shapes, and the state length (undefined: no states). */
interface Layout {
  features: Record<string, FeatureSpec>;
  stateShape?: number[];
  /** Where the layout came from, for error messages. */
  from: string;
}

/** Write episodes as a new dataset at `path` (or replace one with `overwrite`). */
export async function writeEpisodes(path: string, episodes: readonly Episode[], options: WriteOptions): Promise<WriteSummary> {
  const opts = parseInput(writeOptionsSchema, options, 'writeEpisodes options');
  const target = resolve(path);
  if (existsSync(target) && !opts.overwrite) throw new InputError('path', path, 'a path that does not exist yet (pass { overwrite: true } to replace a dataset)');
  if (existsSync(target) && !isFlowpolicyDataset(target)) throw new InputError('path', path, `a new path or an existing ${FLOWPOLICY_FORMAT} to replace; overwrite never replaces anything else`);
  const layout = inferLayout(episodes, opts.features ?? {});
  const frames = checkEpisodes(episodes, layout);
  const attrs: FlowpolicyAttrs = {
    format: FLOWPOLICY_FORMAT,
    version: FLOWPOLICY_VERSION,
    fps: opts.fps,
    ...(opts.task !== undefined ? { task: opts.task } : {}),
    features: layout.features,
    ...(layout.stateShape ? { sim_state: { shape: layout.stateShape } } : {}),
  };
  build(target, attrs, undefined, episodes, frames, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  return { path: target, numEpisodes: frames.length, numFrames: frames.reduce((a, b) => a + b, 0) };
}

/**
 * Add episodes to an existing dataset, for recorders that save in sessions.
 * The existing store is read in full (checksums checked), so a corrupt one
 * is never extended; the result is rewritten and swapped in atomically.
 */
export async function appendEpisodes(path: string, episodes: readonly Episode[], options: AppendOptions = {}): Promise<WriteSummary> {
  const opts = parseInput(appendOptionsSchema, options, 'appendEpisodes options');
  const target = resolve(path);
  if (!existsSync(target) || !isFlowpolicyDataset(target)) throw new InputError('path', path, `an existing ${FLOWPOLICY_FORMAT} directory to append to`);
  const store = await readFlowpolicyStore(target);
  const layout: Layout = { features: store.attrs.features, stateShape: store.states?.shape, from: `the dataset at ${path}` };
  const frames = checkEpisodes(episodes, layout);
  const old = { ends: store.episodeEnds, features: store.features, states: store.states?.data };
  build(target, store.attrs, old, episodes, frames, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  return { path: target, numEpisodes: store.episodeEnds.length + frames.length, numFrames: store.episodeEnds[store.episodeEnds.length - 1] + frames.reduce((a, b) => a + b, 0) };
}

function inferLayout(episodes: readonly Episode[], given: Record<string, FeatureSpec>): Layout {
  const first = episodes?.[0]?.features;
  if (!Array.isArray(episodes) || episodes.length === 0) throw new InputError('episodes', episodes, 'a non-empty array of episodes');
  if (!isRecord(first) || Object.keys(first).length === 0) throw new InputError('episodes[0].features', first, 'an object mapping feature names to frames');
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(first, name)) throw new InputError(`features.${name}`, given[name], `a feature the episodes have (${Object.keys(first).join(', ')})`, 'writeEpisodes options');
  }
  const features: Record<string, FeatureSpec> = {};
  for (const name of Object.keys(first)) {
    const field = `episodes[0].features.${name}`;
    if (!FEATURE_NAME.test(name)) throw new InputError(field, name, `a feature name of letters, digits, '_', '.', '-' (not starting with '.' or '-')`);
    if (name === STATE_FEATURE) throw new InputError(field, first[name], `no feature named ${STATE_FEATURE}: simulator states go in episodes[i].states (stored as float64)`);
    if (given[name]) {
      features[name] = given[name];
      const { shape, names } = given[name];
      if (names && names.length !== frameSize(shape) && names.length !== shape.length) {
        throw new InputError(`features.${name}.names`, names, `one name per value (${frameSize(shape)}) or per axis (${shape.length}) of shape [${shape}]`, 'writeEpisodes options');
      }
      continue;
    }
    const frame = first[name]?.[0];
    if (!(frame instanceof Float32Array) || frame.length === 0) throw new InputError(`${field}[0]`, frame, 'a non-empty Float32Array (the first frame sets the length, unless options.features gives the shape)');
    features[name] = { shape: [frame.length] };
  }
  const s0 = episodes[0].states?.[0];
  if (episodes[0].states !== undefined && (!(s0 instanceof Float64Array) || s0.length === 0)) {
    throw new InputError('episodes[0].states[0]', s0, 'a non-empty Float64Array (the first state sets the length)');
  }
  return { features, stateShape: s0 instanceof Float64Array ? [s0.length] : undefined, from: 'episodes[0]' };
}

/** Check every episode against the layout; returns each episode's frame count. Throws before anything is written. */
function checkEpisodes(episodes: readonly Episode[], layout: Layout): number[] {
  if (!Array.isArray(episodes) || episodes.length === 0) throw new InputError('episodes', episodes, 'a non-empty array of episodes');
  const names = Object.keys(layout.features);
  const counts: number[] = [];
  let total = 0;
  episodes.forEach((ep, i) => {
    const at = `episodes[${i}]`;
    if (!isRecord(ep) || !isRecord(ep.features)) throw new InputError(`${at}.features`, isRecord(ep) ? ep.features : ep, 'an object mapping feature names to frames');
    for (const name of Object.keys(ep.features)) {
      if (!names.includes(name)) throw new InputError(`${at}.features.${name}`, ep.features[name], `no such feature: every episode has the features of ${layout.from} (${names.join(', ')})`);
    }
    let n = -1;
    for (const name of names) {
      const frames = ep.features[name];
      if (!Array.isArray(frames) || frames.length === 0) throw new InputError(`${at}.features.${name}`, frames, `an array with one Float32Array per frame, at least one frame (every episode has the features of ${layout.from})`);
      if (n >= 0 && frames.length !== n) throw new InputError(`${at}.features.${name}`, frames, `${n} frames, as many as ${at}.features.${names[0]}`);
      n = frames.length;
      checkFrames(`${at}.features.${name}`, frames, Float32Array, frameSize(layout.features[name].shape), layout.features[name].shape);
    }
    if (layout.stateShape) {
      if (!Array.isArray(ep.states) || ep.states.length !== n) throw new InputError(`${at}.states`, ep.states, `an array of ${n} Float64Array states, one per frame (${layout.from} has states)`);
      checkFrames(`${at}.states`, ep.states, Float64Array, frameSize(layout.stateShape), layout.stateShape);
    } else if (ep.states !== undefined) {
      throw new InputError(`${at}.states`, ep.states, `no states (${layout.from} has none; record states for every episode or for none)`);
    }
    total += n;
    if (total > MAX_FRAMES) throw new InputError(`${at}`, ep, `at most ${MAX_FRAMES} frames in a dataset`);
    counts.push(n);
  });
  return counts;
}

function checkFrames(field: string, frames: unknown[], kind: typeof Float32Array | typeof Float64Array, size: number, shape: number[]): void {
  for (let t = 0; t < frames.length; t++) {
    const f = frames[t];
    if (!(f instanceof kind) || f.length !== size) throw new InputError(`${field}[${t}]`, f, `a ${kind.name} of length ${size} (shape [${shape}])`);
    for (let k = 0; k < size; k++) if (!Number.isFinite(f[k])) throw new InputError(`${field}[${t}][${k}]`, f[k], 'a finite number');
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Existing {
  ends: Int32Array;
  features: Record<string, { data: Float32Array }>;
  states?: Float64Array;
}

/** Build the whole store beside `target`, then swap it in. */
function build(target: string, attrs: FlowpolicyAttrs, base: Existing | undefined, episodes: readonly Episode[], frames: number[], chunkBytes: number): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = sibling(target, 'tmp');
  try {
    mkdirSync(tmp);
    const before = base ? base.ends[base.ends.length - 1] : 0;
    const rows = before + frames.reduce((a, b) => a + b, 0);
    writeGroup(tmp, attrs);
    writeGroup(join(tmp, 'data'));
    writeGroup(join(tmp, 'meta'));
    for (const [name, spec] of Object.entries(attrs.features)) {
      const blocks = (function* () {
        if (base) yield base.features[name].data;
        for (const ep of episodes) yield* ep.features[name];
      })();
      writeArray(join(tmp, 'data', name), '<f4', spec.shape, rows, blocks, chunkBytes);
    }
    if (attrs.sim_state) {
      const blocks = (function* () {
        if (base?.states) yield base.states;
        for (const ep of episodes) yield* ep.states!;
      })();
      writeArray(join(tmp, 'data', STATE_FEATURE), '<f8', attrs.sim_state.shape, rows, blocks, chunkBytes);
    }
    const ends = new BigInt64Array(frames.length + (base ? base.ends.length : 0));
    let e = 0;
    if (base) for (const end of base.ends) ends[e++] = BigInt(end);
    let acc = before;
    for (const n of frames) ends[e++] = BigInt((acc += n));
    writeArray(join(tmp, 'meta', 'episode_ends'), '<i8', [], ends.length, [ends], chunkBytes);
    swapIn(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
