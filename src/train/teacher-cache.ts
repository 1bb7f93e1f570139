import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { concatFloat32, float32ToLeBytes, leBytesToFloat32 } from '../core/bytes.js';
import { decodeContainer, encodeContainer } from '../core/container.js';
import { digestOf } from '../core/digest.js';
import { CorruptFileError, InputError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { Rng } from '../core/rng.js';
import type { SolverConfig } from '../flow/ode.js';

/**
 * The teacher sample cache of a distillation: for each training
 * observation (window) n, K chunks y_{n,k} drawn from the teacher with many
 * ODE steps from noise (t = 0) to data (t = 1), in the teacher's normalised
 * space. Drawn once, then read at every training step.
 *
 * On disk, a folder:
 * - manifest.json: what the cache was built from (teacher checkpoint
 *   digest, K, solver, seed, part size, and a digest of the normalised
 *   observations, which pins dataset, split and normalisation);
 * - part-NNNNN.fpc: the samples of windows [start, start + count), in
 *   batches of `partWindows`; each a checksummed container (core/
 *   container.ts, as checkpoints) holding the samples [count, K, D] as
 *   little-endian float32 bytes.
 * Every part is written atomically (temporary file, then rename), in order,
 * so an interrupted build leaves only whole parts and a rerun continues at
 * the first missing one. Each part draws its noise from a generator seeded
 * by (seed, part), so a resumed build gives the same numbers as an
 * uninterrupted one. A part that fails its checksum is a CorruptFileError
 * naming the file.
 */
export const TEACHER_CACHE_PART_FORMAT = 'flowpolicy-teacher-cache-part';
export const TEACHER_CACHE_FORMAT = 'flowpolicy-teacher-cache';
const VERSION = 1;
const MANIFEST = 'manifest.json';

/**
 * What the cache draws from: anything that maps noise at t = 0 to
 * normalised chunks for a batch of normalised conditions (a FlowPolicy, or
 * a LocalFlowPolicy through its whole chain).
 */
export interface SamplingTeacher {
  readonly condSize: number;
  readonly chunkSize: number;
  /** How it draws, when not by the cache's ODE solver (shown when the cache is drawn). */
  readonly sampling?: string;
  sampleNormalized(cond: Float32Array, noise: Float32Array, batch: number, solver: SolverConfig): { chunks: Float32Array };
}

export interface TeacherCacheSpec {
  /** sha256 of the teacher checkpoint file. */
  teacher: string;
  k: number;
  solver: SolverConfig;
  seed: number;
  partWindows: number;
  numWindows: number;
  chunkSize: number;
  condDim: number;
  /** sha256 of the normalised observations (float32 bytes, window order). */
  conditions: string;
}

export interface TeacherCache {
  dir: string;
  spec: TeacherCacheSpec;
  /** [numWindows, K, chunkSize], normalised. */
  samples: Float32Array;
  /** Parts drawn by this call, and parts found already on disk. */
  builtParts: number;
  reusedParts: number;
}

export interface CacheProgress {
  part: number;
  parts: number;
  windowsDone: number;
  windows: number;
  /** Whether this part was drawn now (else read back). */
  built: boolean;
}

export function partPath(dir: string, part: number): string {
  return join(dir, `part-${String(part).padStart(5, '0')}.fpc`);
}

/** The generator seed of one part: distinct for every (seed, part) pair. */
function partSeed(seed: number, part: number): number {
  return seed * 1_048_576 + part;
}

/** The noise part p was drawn from: [count, K, D], the t = 0 ends of its samples' ODE paths. */
function partNoise(seed: number, part: number, rows: number, chunkSize: number): Float32Array {
  return new Rng(partSeed(seed, part)).fillNormal(new Float32Array(rows * chunkSize));
}

/**
 * The noise every cached sample was integrated from, [numWindows, K, D] in
 * the order of `samples`: regenerated from the spec's seed (the cache does
 * not store it), so y_{n,k} = ODE(noise_{n,k}) for the deterministic-pair
 * objective.
 */
export function cacheNoise(spec: Pick<TeacherCacheSpec, 'seed' | 'partWindows' | 'numWindows' | 'k' | 'chunkSize'>): Float32Array {
  const { seed, partWindows, numWindows, k, chunkSize: D } = spec;
  const noise = new Float32Array(numWindows * k * D);
  for (let p = 0, start = 0; start < numWindows; p++, start += partWindows) {
    const rows = Math.min(partWindows, numWindows - start) * k;
    noise.set(partNoise(seed, p, rows, D), start * k * D);
  }
  return noise;
}

/** The noise of a segmented cache's samples, segment after segment, in the order of its `samples`. */
export function segmentedCacheNoise(specs: readonly TeacherCacheSpec[]): Float32Array {
  return concatFloat32(specs.map(cacheNoise));
}

function specId(spec: TeacherCacheSpec): string {
  return digestOf(new TextEncoder().encode(JSON.stringify(spec)));
}

function encodePart(spec: TeacherCacheSpec, part: number, start: number, count: number, samples: Float32Array): Uint8Array {
  return encodeContainer(
    { format: TEACHER_CACHE_PART_FORMAT, version: VERSION },
    { spec: specId(spec), part, start, count, k: spec.k, dim: spec.chunkSize, samples: float32ToLeBytes(samples) },
  );
}

/** Read one part back, verified; every failure is a CorruptFileError naming the file. */
export function readPart(path: string, spec: TeacherCacheSpec, part: number): Float32Array {
  const corrupt = (why: string) => new CorruptFileError(path, `${why}; delete this file to draw the part again`);
  const start = part * spec.partWindows;
  const count = Math.min(spec.partWindows, spec.numWindows - start);
  let body: Record<string, unknown>;
  try {
    body = (decodeContainer(readFileSync(path), path, TEACHER_CACHE_PART_FORMAT, [VERSION], 'teacher cache part').body ?? {}) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof CorruptFileError) throw corrupt(err.reason);
    throw err;
  }
  if (body.spec !== specId(spec)) throw corrupt('the part belongs to another cache (teacher or settings differ)');
  if (body.part !== part || body.start !== start || body.count !== count) throw corrupt(`holds windows ${String(body.start)}+${String(body.count)}, expected ${start}+${count}`);
  const bytes = body.samples;
  if (!(bytes instanceof Uint8Array) || bytes.length !== count * spec.k * spec.chunkSize * 4) {
    throw corrupt(`samples are not ${count} x ${spec.k} x ${spec.chunkSize} float32 values`);
  }
  return leBytesToFloat32(bytes);
}

function readManifest(dir: string): TeacherCacheSpec | null {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return null;
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as { format?: unknown; version?: unknown; spec?: TeacherCacheSpec };
    if (m.format !== TEACHER_CACHE_FORMAT || m.version !== VERSION || typeof m.spec !== 'object' || m.spec === null) throw new Error('not a teacher cache manifest');
    return m.spec;
  } catch (err) {
    throw new CorruptFileError(path, `unreadable teacher cache manifest (${(err as Error).message}); delete the cache folder to draw it again`);
  }
}

/**
 * Open the cache in `dir`, drawing the parts it lacks, and return all the
 * samples. `conditions` is [numWindows, condDim] (normalised observation
 * windows); part p covers windows [p * partWindows, ...). A folder holding
 * a cache of another teacher or other settings is an InputError. Returns
 * null when `signal` aborts the build (the parts written so far are kept).
 */
export async function openTeacherCache(
  teacher: SamplingTeacher,
  conditions: Float32Array,
  options: {
    dir: string;
    k: number;
    solver: SolverConfig;
    seed: number;
    partWindows: number;
    teacherDigest: string;
    signal?: AbortSignal;
    onProgress?: (p: CacheProgress) => void;
  },
): Promise<TeacherCache | null> {
  const { dir, k, partWindows } = options;
  const C = teacher.condSize;
  const D = teacher.chunkSize;
  const numWindows = conditions.length / C;
  if (!Number.isInteger(numWindows) || numWindows < 1) throw new RangeError(`teacher cache: ${conditions.length} condition values do not form rows of ${C}`);
  const spec: TeacherCacheSpec = {
    teacher: options.teacherDigest,
    k,
    solver: options.solver,
    seed: options.seed,
    partWindows,
    numWindows,
    chunkSize: D,
    condDim: C,
    conditions: digestOf(conditions),
  };
  mkdirSync(dir, { recursive: true });
  const found = readManifest(dir);
  if (found && JSON.stringify(found) !== JSON.stringify(spec)) {
    const diff = (Object.keys(spec) as (keyof TeacherCacheSpec)[]).filter((key) => JSON.stringify(found[key]) !== JSON.stringify(spec[key]));
    throw new InputError('teacher cache', dir, `a cache of this teacher and settings, or a new folder (it was built with other ${diff.join(', ')}; delete it or choose another cache folder)`);
  }
  if (!found) writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify({ format: TEACHER_CACHE_FORMAT, version: VERSION, spec }, null, 2)}\n`);
  // Temporary files of a write cut short by a crash: never renamed, never read.
  for (const f of readdirSync(dir)) if (/^\.part-\d+\.fpc\.tmp-/.test(f)) rmSync(join(dir, f), { force: true });

  const parts = Math.ceil(numWindows / partWindows);
  const samples = new Float32Array(numWindows * k * D);
  let built = 0;
  let reused = 0;
  for (let p = 0; p < parts; p++) {
    const start = p * partWindows;
    const count = Math.min(partWindows, numWindows - start);
    const path = partPath(dir, p);
    let isNew = false;
    if (existsSync(path)) {
      samples.set(readPart(path, spec, p), start * k * D);
      reused++;
    } else {
      if (options.signal?.aborted) return null;
      const rows = count * k;
      const cond = new Float32Array(rows * C);
      for (let w = 0; w < count; w++) {
        const c = conditions.subarray((start + w) * C, (start + w + 1) * C);
        for (let q = 0; q < k; q++) cond.set(c, (w * k + q) * C);
      }
      const noise = partNoise(options.seed, p, rows, D);
      const { chunks } = teacher.sampleNormalized(cond, noise, rows, options.solver);
      writeFileAtomic(path, encodePart(spec, p, start, count, chunks));
      samples.set(chunks, start * k * D);
      built++;
      isNew = true;
      // Let signal handlers (Ctrl-C) run between parts.
      await new Promise((resolve) => setImmediate(resolve));
    }
    options.onProgress?.({ part: p + 1, parts, windowsDone: start + count, windows: numWindows, built: isNew });
  }
  return { dir, spec, samples, builtParts: built, reusedParts: reused };
}

export interface SegmentedTeacherCache {
  /** The first segment's folder; the others are inside it. */
  dir: string;
  /** [total windows, K, chunkSize], segment after segment. */
  samples: Float32Array;
  /** Each segment's spec, in order. */
  specs: TeacherCacheSpec[];
  builtParts: number;
  reusedParts: number;
}

/** How many parts a segmented cache has: each segment is cut into parts of its own. */
export function segmentedParts(segments: readonly Float32Array[], condSize: number, partWindows: number): number {
  return segments.reduce((n, s) => n + Math.ceil(s.length / condSize / partWindows), 0);
}

/** The folder of segment `i` > 0 of a segmented cache in `dir`: named by its observations, so any run that lists them finds it. */
export function segmentDir(dir: string, conditions: Float32Array): string {
  return join(dir, `observations-${digestOf(conditions).slice(0, 16)}`);
}

/**
 * A cache in segments: the first (a distillation's training windows) in
 * `dir`, each further one (a set of closed-loop observations, a jittered
 * copy) a cache of its own in `segmentDir(dir, conditions)`, with the same
 * teacher, K and solver, and the seed `seeds[i]` (default: options.seed).
 * A segment drawn once is reused by every later run that lists it, in any
 * order: DAgger's rounds draw only their new states.
 * Progress counts parts and windows over all segments. Returns null when
 * `signal` aborts a build (whole parts are kept).
 */
export async function openSegmentedTeacherCache(
  teacher: SamplingTeacher,
  segments: readonly Float32Array[],
  options: Parameters<typeof openTeacherCache>[2] & { seeds?: readonly number[] },
): Promise<SegmentedTeacherCache | null> {
  const C = teacher.condSize;
  if (options.seeds && options.seeds.length !== segments.length) throw new RangeError(`teacher cache: ${options.seeds.length} seeds for ${segments.length} segments`);
  const rows = segments.map((s) => s.length / C);
  const parts = rows.map((n) => Math.ceil(n / options.partWindows));
  const totalParts = parts.reduce((a, b) => a + b, 0);
  const totalWindows = rows.reduce((a, b) => a + b, 0);
  const samples = new Float32Array(totalWindows * options.k * teacher.chunkSize);
  const specs: TeacherCacheSpec[] = [];
  let built = 0;
  let reused = 0;
  for (let i = 0, partsBefore = 0, windowsBefore = 0; i < segments.length; partsBefore += parts[i], windowsBefore += rows[i], i++) {
    const dir = i === 0 ? options.dir : segmentDir(options.dir, segments[i]);
    const onProgress = options.onProgress;
    const cache = await openTeacherCache(teacher, segments[i], {
      ...options,
      dir,
      seed: options.seeds?.[i] ?? options.seed,
      onProgress: onProgress && ((p) => onProgress({ ...p, part: partsBefore + p.part, parts: totalParts, windowsDone: windowsBefore + p.windowsDone, windows: totalWindows })),
    });
    if (!cache) return null;
    samples.set(cache.samples, windowsBefore * options.k * teacher.chunkSize);
    specs.push(cache.spec);
    built += cache.builtParts;
    reused += cache.reusedParts;
  }
  return { dir: options.dir, samples, specs, builtParts: built, reusedParts: reused };
}
