import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileSystemStore } from '@zarrita/storage';
import * as zarr from 'zarrita';
import { z } from 'zod';
import { Sha256Digest } from '../../core/digest.js';
import { CorruptFileError, InputError } from '../../core/errors.js';
import { parseInput } from '../../core/schema.js';
import { EpisodeDataset, type Feature } from '../episode-dataset.js';
import { chunkKeys } from '../zarr-store.js';
import { assertZarrGroup, listZarrArrays } from '../zarr-store.js';

/**
 * The project's own dataset format, written by the sim and ROS recorders
 * (src/data/export/episode-writer.ts) and read back here. A Zarr v2
 * directory store, so python zarr and zarrita read it too:
 *
 *   .zattrs                 { format: 'flowpolicy-dataset', version: 1, fps, task?,
 *                             features: { name: { shape, names? } }, sim_state?: { shape } }
 *   data/<feature>          float32 [frames, ...shape], LeRobot names (`action`, ...)
 *   data/sim_state          float64 [frames, n], optional simulator states
 *   meta/episode_ends       int64 [episodes], exclusive ends (Diffusion Policy's layout)
 *
 * Chunks are uncompressed. Every array's own .zattrs records the sha256 of
 * its values (C order, little-endian, padding excluded): an uncompressed
 * chunk has no frame to check, so a flipped bit or a chunk zeroed by a
 * zarr tool that fills what it cannot read is otherwise invisible. The
 * digest is over values, not files, so it survives rechunking or
 * recompressing with other tools (if they copy attributes).
 */
export const FLOWPOLICY_FORMAT = 'flowpolicy-dataset';
export const FLOWPOLICY_VERSION = 1;

/** Feature names become directory names: keep them to LeRobot's alphabet. */
export const FEATURE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const STATE_FEATURE = 'sim_state';

const shapeSchema = z.array(z.int().positive()).min(1);
const featureSpecSchema = z.object({ shape: shapeSchema, names: z.array(z.string()).optional() });

const rootAttrsSchema = z.object({
  format: z.literal(FLOWPOLICY_FORMAT),
  version: z.literal(FLOWPOLICY_VERSION),
  fps: z.number().positive(),
  task: z.string().optional(),
  features: z.record(z.string().regex(FEATURE_NAME), featureSpecSchema),
  sim_state: z.object({ shape: shapeSchema }).optional(),
});
export type FlowpolicyAttrs = z.output<typeof rootAttrsSchema>;

const zarraySchema = z.object({
  zarr_format: z.literal(2),
  shape: z.array(z.int().nonnegative()),
  chunks: z.array(z.int().positive()),
  dtype: z.enum(['<f4', '<f8', '<i8']),
  order: z.literal('C'),
  filters: z.null().optional(),
  compressor: z.object({ id: z.string() }).loose().nullable(),
  dimension_separator: z.enum(['.', '/']).optional(),
});

const arrayAttrsSchema = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/) });

export type StoredArray = Float32Array | Float64Array | BigInt64Array;

/** The sha256 recorded for an array: over its values' bytes as they lie in memory (little-endian). */
export function valuesDigest(chunks: Iterable<Uint8Array>): string {
  const h = new Sha256Digest();
  for (const c of chunks) h.update(c);
  return h.hex();
}

export function bytesOf(a: StoredArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** True when `path` holds this format (by its root .zattrs), even a damaged one, so it is not misread as another format. */
export function isFlowpolicyDataset(path: string): boolean {
  const file = join(path, '.zattrs');
  return existsSync(file) && statSync(file).isFile() && readFileSync(file, 'utf8').includes(`"${FLOWPOLICY_FORMAT}"`);
}

function readJson(path: string, root: string): unknown {
  if (!existsSync(path)) throw new CorruptFileError(root, `${path.slice(root.length + 1)} is missing`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CorruptFileError(path, `unreadable JSON (${(err as Error).message})`);
  }
}

/** Validate the root attributes: field, value and expectation on failure. */
export function readFlowpolicyAttrs(path: string): FlowpolicyAttrs {
  assertZarrGroup(path);
  return parseInput(rootAttrsSchema, readJson(join(path, '.zattrs'), path), join(path, '.zattrs'));
}

const ITEM_BYTES = { '<f4': 4, '<f8': 8, '<i8': 8 } as const;
const ARRAY_CLASS = { '<f4': Float32Array, '<f8': Float64Array, '<i8': BigInt64Array } as const;

/**
 * Read one array with its stored dtype, checking what zarr readers let pass:
 * a missing chunk (read as fill values), an uncompressed chunk of the wrong
 * size, and values that differ from the recorded digest.
 */
export async function readStoredArray(root: string, name: string, dtype: keyof typeof ITEM_BYTES, expected: Array<number | null>): Promise<StoredArray> {
  const dir = join(root, name);
  if (!existsSync(join(dir, '.zarray'))) throw new CorruptFileError(root, `array '${name}' is missing (no ${name}/.zarray)`);
  const meta = parseInput(zarraySchema, readJson(join(dir, '.zarray'), root), join(dir, '.zarray'));
  const { sha256: digest } = parseInput(arrayAttrsSchema, readJson(join(dir, '.zattrs'), root), join(dir, '.zattrs'));
  if (meta.dtype !== dtype) throw new CorruptFileError(root, `array '${name}' has dtype ${meta.dtype}, expected ${dtype}`);
  const shape = meta.shape;
  if (shape.length !== expected.length || expected.some((d, i) => d !== null && d !== shape[i])) {
    throw new CorruptFileError(root, `array '${name}' has shape [${shape}], expected [${expected.map((d) => d ?? 'any')}]`);
  }
  if (meta.chunks.length !== shape.length) throw new CorruptFileError(root, `array '${name}' has chunks [${meta.chunks}] for shape [${shape}]`);
  const chunkBytes = meta.chunks.reduce((a, b) => a * b, 1) * ITEM_BYTES[dtype];
  for (const key of chunkKeys(meta.shape, meta.chunks, meta.dimension_separator ?? '.')) {
    const file = join(dir, key);
    if (!existsSync(file)) throw new CorruptFileError(root, `array '${name}': chunk '${key}' is missing`);
    const size = statSync(file).size;
    if (meta.compressor === null && size !== chunkBytes) {
      throw new CorruptFileError(root, `array '${name}': chunk '${key}' is ${size} bytes, expected ${chunkBytes} (truncated or corrupt)`);
    }
  }
  let data: unknown;
  try {
    const arr = await zarr.open.v2(zarr.root(new FileSystemStore(root)).resolve(name), { kind: 'array' });
    data = (await zarr.get(arr)).data;
  } catch (err) {
    throw new CorruptFileError(root, `array '${name}' could not be decoded (${(err as Error).message})`);
  }
  const total = shape.reduce((a, b) => a * b, 1);
  if (!(data instanceof ARRAY_CLASS[dtype]) || (data as StoredArray).length !== total) {
    throw new CorruptFileError(root, `array '${name}' decoded to ${(data as object).constructor.name} of ${(data as StoredArray).length} values, expected ${total}`);
  }
  const actual = valuesDigest([bytesOf(data as StoredArray)]);
  if (actual !== digest) {
    throw new CorruptFileError(root, `array '${name}': values do not match the sha256 in ${name}/.zattrs (${actual.slice(0, 12)}... != ${digest.slice(0, 12)}...): a chunk is corrupt`);
  }
  return data as StoredArray;
}

/** Everything in a store, with the dtypes stored on disk (the writer's append reads this). */
export interface FlowpolicyStore {
  attrs: FlowpolicyAttrs;
  episodeEnds: Int32Array;
  features: Record<string, Feature>;
  states?: { shape: number[]; data: Float64Array };
}

export async function readFlowpolicyStore(path: string): Promise<FlowpolicyStore> {
  const attrs = readFlowpolicyAttrs(path);
  const listed = [...Object.keys(attrs.features), ...(attrs.sim_state ? [STATE_FEATURE] : [])];
  if (Object.hasOwn(attrs.features, STATE_FEATURE)) throw new InputError('features.sim_state', attrs.features.sim_state, `no float32 feature named ${STATE_FEATURE} (it is the float64 state array, declared by sim_state)`, join(path, '.zattrs'));
  const present = listZarrArrays(path, 'data');
  for (const name of present) if (!listed.includes(name)) throw new CorruptFileError(path, `array 'data/${name}' is not declared in .zattrs features`);
  const rawEnds = (await readStoredArray(path, 'meta/episode_ends', '<i8', [null])) as BigInt64Array;
  const numEpisodes = rawEnds.length;
  if (numEpisodes === 0) throw new CorruptFileError(path, 'meta/episode_ends is empty (a dataset holds at least one episode)');
  const episodeEnds = new Int32Array(numEpisodes);
  for (let e = 0; e < numEpisodes; e++) {
    const end = rawEnds[e];
    const prev = e === 0 ? 0n : rawEnds[e - 1];
    if (end <= prev || end > 2n ** 31n - 1n) throw new CorruptFileError(path, `meta/episode_ends[${e}] = ${end}, expected an end greater than ${prev} (episodes non-empty, in order, under 2^31 frames)`);
    episodeEnds[e] = Number(end);
  }
  const frames = episodeEnds[numEpisodes - 1];
  const features: Record<string, Feature> = {};
  for (const [name, spec] of Object.entries(attrs.features)) {
    features[name] = { shape: spec.shape, data: (await readStoredArray(path, `data/${name}`, '<f4', [frames, ...spec.shape])) as Float32Array };
  }
  const states = attrs.sim_state
    ? { shape: attrs.sim_state.shape, data: (await readStoredArray(path, `data/${STATE_FEATURE}`, '<f8', [frames, ...attrs.sim_state.shape])) as Float64Array }
    : undefined;
  return { attrs, episodeEnds, features, states };
}

/**
 * Read a flowpolicy dataset as an EpisodeDataset (format 'flowpolicy-dataset').
 * States, if recorded, become the feature `sim_state` as float32, as the
 * Diffusion Policy importer exposes Push-T's; the float64 originals stay on
 * disk for exact replay (readFlowpolicyStore returns them).
 */
export async function importFlowpolicyZarr(path: string): Promise<EpisodeDataset> {
  const store = await readFlowpolicyStore(path);
  const features: Record<string, Feature> = { ...store.features };
  if (store.states) features[STATE_FEATURE] = { shape: store.states.shape, data: Float32Array.from(store.states.data) };
  return new EpisodeDataset(features, store.episodeEnds, { source: path, format: FLOWPOLICY_FORMAT, fps: store.attrs.fps, task: store.attrs.task });
}
