import { z } from 'zod';
import { FlowpolicyError, InputError } from '../core/errors.js';
import type { ObservationFrame } from '../policy/policy.js';
import type { RosConnection, Subscription } from './connection.js';
import {
  CompressedImageMsg,
  decodeBytes,
  Float64MultiArrayMsg,
  fromRosTime,
  ImageMsg,
  JointStateMsg,
  parseMessage,
  PoseStampedMsg,
} from './messages.js';

/**
 * Observations from ROS topics, as the policy's features.
 *
 * A config maps each policy feature to one or more topic sources whose
 * values are concatenated in order (joint positions from a JointState
 * selected and ordered by joint name, pose fields from a PoseStamped,
 * entries of a Float64MultiArray, or one image). Every message is parsed
 * (zod) and converted on arrival; each topic keeps a short time-stamped
 * history. `frames(now)` builds the last To frames aligned in time: frame k
 * (oldest first) is taken at `now - (To - 1 - k) * framePeriod`, each topic
 * contributing its latest message at or before that instant (or its oldest
 * one, when it has nothing that old: the start of a stream repeats its first
 * frame, as the policy does at the start of an episode). `status(now)` says
 * which topics are missing, older than the maximum age, or not finite.
 *
 * Times are ms on the `performance.now()` clock. With `stamp: 'header'` a
 * message's time is its header stamp (ROS wall clock, converted), else its
 * arrival time.
 */

const topicName = z.string().regex(/^\/?[A-Za-z_~][A-Za-z0-9_/~]*$/, 'a ROS topic name');
const positiveInt = z.int().positive();

export const JointStateSource = z.strictObject({
  topic: topicName,
  type: z.literal('sensor_msgs/JointState'),
  field: z.enum(['position', 'velocity', 'effort']).default('position').describe('which array of the message'),
  joints: z.array(z.string().min(1)).min(1).describe('joint names, in the order the feature wants them'),
});

export const POSE_FIELDS = ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw'] as const;
export const PoseSource = z.strictObject({
  topic: topicName,
  type: z.literal('geometry_msgs/PoseStamped'),
  fields: z.array(z.enum(POSE_FIELDS)).min(1).default([...POSE_FIELDS]).describe('position x y z, orientation qx qy qz qw'),
});

export const ArraySource = z
  .strictObject({
    topic: topicName,
    type: z.literal('std_msgs/Float64MultiArray'),
    size: positiveInt.optional().describe('take data[0..size-1]'),
    indices: z.array(z.int().nonnegative()).min(1).optional().describe('take these entries of data, in this order'),
  })
  .refine((s) => (s.size === undefined) !== (s.indices === undefined), { message: 'exactly one of size or indices', path: ['size'] });

const imageFields = {
  topic: topicName,
  shape: z.tuple([positiveInt, positiveInt, positiveInt]).describe('feature shape: [C, H, W] (layout chw) or [H, W, C] (hwc)'),
  layout: z.enum(['chw', 'hwc']).default('chw'),
  scale: z.number().positive().default(1 / 255).describe('multiplies each 8-bit value (default: to [0, 1])'),
};
export const ImageSource = z.strictObject({ ...imageFields, type: z.literal('sensor_msgs/Image') });
export const CompressedImageSource = z.strictObject({ ...imageFields, type: z.literal('sensor_msgs/CompressedImage') });

export const ObservationSourceSpec = z.discriminatedUnion('type', [JointStateSource, PoseSource, ArraySource, ImageSource, CompressedImageSource]);
export type ObservationSourceSpec = z.infer<typeof ObservationSourceSpec>;

export const ObservationConfig = z
  .strictObject({
    features: z
      .record(z.string().min(1), z.array(ObservationSourceSpec).min(1))
      .describe('policy feature name -> topic sources, concatenated in order'),
    horizon: positiveInt.optional().describe('frames of history To (default: the policy’s)'),
    frameRate: z.number().positive().optional().describe('frames per second of the history (default: the action rate)'),
    maxAgeMs: z.number().positive().default(250).describe('a topic whose newest message is older than this is stale'),
    stamp: z.enum(['receive', 'header']).default('receive').describe("a message's time: its arrival, or its header stamp"),
  })
  .superRefine((c, ctx) => {
    for (const [key, sources] of Object.entries(c.features)) {
      const images = sources.filter((s) => s.type === 'sensor_msgs/Image' || s.type === 'sensor_msgs/CompressedImage');
      if (images.length > 0 && sources.length > 1) {
        ctx.addIssue({ code: 'custom', path: ['features', key], input: sources.length, message: 'an image feature has exactly one source' });
      }
    }
  });
export type ObservationConfig = z.infer<typeof ObservationConfig>;

/** Values one source contributes per frame. */
export function sourceSize(s: ObservationSourceSpec): number {
  switch (s.type) {
    case 'sensor_msgs/JointState':
      return s.joints.length;
    case 'geometry_msgs/PoseStamped':
      return s.fields.length;
    case 'std_msgs/Float64MultiArray':
      return s.indices?.length ?? s.size!;
    default:
      return s.shape[0] * s.shape[1] * s.shape[2];
  }
}

/** Values of a feature per frame (its sources' sizes summed). */
export function featureSize(sources: readonly ObservationSourceSpec[]): number {
  return sources.reduce((n, s) => n + sourceSize(s), 0);
}

/** A decoded 8-bit image, row-major, `channels` bytes a pixel. */
export interface DecodedImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Decoders for CompressedImage formats, by name ('png', 'jpeg'). */
export type ImageDecoders = Partial<Record<string, (bytes: Uint8Array) => DecodedImage>>;

/** A message on an observation topic that could not be used. */
export class BadMessageError extends FlowpolicyError {
  override readonly name: string = 'BadMessageError';
}

interface Sample {
  t: number;
  values: Float32Array;
  finite: boolean;
}

interface TopicState {
  topic: string;
  type: ObservationSourceSpec['type'];
  specs: ObservationSourceSpec[];
  /** Samples per spec on this topic, oldest first (one buffer per spec; same times). */
  samples: Sample[][];
  lastJointState?: { t: number; names: string[]; position: number[]; velocity: number[] };
}

export interface ObservationStatus {
  /** Every topic has a recent, finite message. */
  ready: boolean;
  /** Topics with no message yet. */
  missing: string[];
  /** Topics whose newest message is older than the maximum age. */
  stale: string[];
  /** Topics whose newest message has a NaN or infinite value. */
  nonFinite: string[];
  /** Age of each topic's newest message, ms (Infinity when none). */
  ageMs: Record<string, number>;
}

export interface ObservationSourceOptions {
  /** Default history length when the config has none. */
  horizon: number;
  /** Default spacing of history frames, ms. */
  framePeriodMs: number;
  decoders?: ImageDecoders;
  /** Extra JointState topics to track (the measured state used to start from and to hold). */
  jointStateTopics?: string[];
  /** A message that could not be used (parse or conversion error). */
  onBadMessage?: (topic: string, error: Error) => void;
}

export class ObservationSource {
  readonly horizon: number;
  readonly framePeriodMs: number;
  readonly maxAgeMs: number;
  private readonly topics = new Map<string, TopicState>();
  private readonly features: [string, { topic: string; index: number; size: number }[]][];
  private subs: Subscription[] = [];
  /** Messages received, and messages that could not be used. */
  received = 0;
  bad = 0;

  constructor(
    readonly config: ObservationConfig,
    private readonly options: ObservationSourceOptions,
  ) {
    this.horizon = config.horizon ?? options.horizon;
    this.framePeriodMs = config.frameRate ? 1000 / config.frameRate : options.framePeriodMs;
    this.maxAgeMs = config.maxAgeMs;
    this.features = [];
    for (const [key, sources] of Object.entries(config.features)) {
      const parts: { topic: string; index: number; size: number }[] = [];
      for (const spec of sources) {
        const state = this.topicState(spec.topic, spec.type);
        state.specs.push(spec);
        state.samples.push([]);
        parts.push({ topic: spec.topic, index: state.specs.length - 1, size: sourceSize(spec) });
      }
      this.features.push([key, parts]);
    }
    for (const topic of options.jointStateTopics ?? []) this.topicState(topic, 'sensor_msgs/JointState');
  }

  /** Feature name -> values per frame. */
  featureSizes(): Record<string, number> {
    return Object.fromEntries(this.features.map(([k, parts]) => [k, parts.reduce((n, p) => n + p.size, 0)]));
  }

  /** Every topic read, with its message type. */
  topicList(): { topic: string; type: string }[] {
    return [...this.topics.values()].map((t) => ({ topic: t.topic, type: t.type }));
  }

  /** Subscribe to every topic through the connection (re-established by it on reconnection). */
  attach(connection: RosConnection): void {
    this.detach();
    for (const { topic, type } of this.topicList()) {
      this.subs.push(connection.subscribe(topic, type, (msg, receivedAt) => this.ingest(topic, msg, receivedAt)));
    }
  }

  detach(): void {
    for (const s of this.subs) s.close();
    this.subs = [];
  }

  /** Forget every message (after a lost connection: only fresh messages may count). */
  clear(): void {
    for (const t of this.topics.values()) {
      t.samples = t.samples.map(() => []);
      t.lastJointState = undefined;
    }
  }

  /** Take one message from `topic`, received at `receivedAt` (ms, performance.now()). Bad messages are counted and reported, never thrown. */
  ingest(topic: string, message: unknown, receivedAt: number): void {
    const state = this.topics.get(topic);
    if (!state) return;
    this.received++;
    try {
      this.convert(state, message, receivedAt);
    } catch (err) {
      this.bad++;
      this.options.onBadMessage?.(topic, err as Error);
    }
  }

  /** State of every topic at `now`. */
  status(now: number): ObservationStatus {
    const out: ObservationStatus = { ready: true, missing: [], stale: [], nonFinite: [], ageMs: {} };
    for (const t of this.topics.values()) {
      const newest = this.newest(t);
      if (!newest) {
        out.missing.push(t.topic);
        out.ageMs[t.topic] = Infinity;
        continue;
      }
      const age = now - newest.t;
      out.ageMs[t.topic] = age;
      if (age > this.maxAgeMs) out.stale.push(t.topic);
      if (!newest.finite) out.nonFinite.push(t.topic);
    }
    out.ready = out.missing.length === 0 && out.stale.length === 0 && out.nonFinite.length === 0;
    return out;
  }

  /** The last To frames at `now`, oldest first, aligned in time. Throws when a topic has no message. */
  frames(now: number): ObservationFrame[] {
    const frames: ObservationFrame[] = [];
    for (let k = 0; k < this.horizon; k++) {
      const at = now - (this.horizon - 1 - k) * this.framePeriodMs;
      const frame: Record<string, Float32Array> = {};
      for (const [key, parts] of this.features) {
        const size = parts.reduce((n, p) => n + p.size, 0);
        const values = new Float32Array(size);
        let o = 0;
        for (const p of parts) {
          const samples = this.topics.get(p.topic)!.samples[p.index];
          const s = pickAt(samples, at);
          if (!s) throw new BadMessageError(`no message on ${p.topic} yet (feature ${key})`);
          values.set(s.values, o);
          o += p.size;
        }
        frame[key] = values;
      }
      frames.push(frame);
    }
    return frames;
  }

  /** Latest measured positions of `joints` from a JointState topic (undefined when missing, or a joint is absent). */
  jointPositions(topic: string, joints: readonly string[]): { t: number; position: Float64Array } | undefined {
    const js = this.topics.get(topic)?.lastJointState;
    if (!js) return undefined;
    const out = new Float64Array(joints.length);
    for (let i = 0; i < joints.length; i++) {
      const j = js.names.indexOf(joints[i]);
      if (j < 0 || j >= js.position.length) return undefined;
      out[i] = js.position[j];
    }
    return { t: js.t, position: out };
  }

  // ---------------------------------------------------------------- internals

  private topicState(topic: string, type: ObservationSourceSpec['type']): TopicState {
    let state = this.topics.get(topic);
    if (!state) {
      state = { topic, type, specs: [], samples: [] };
      this.topics.set(topic, state);
    } else if (state.type !== type) {
      throw new InputError(`observation topic ${topic}`, type, `one message type per topic (it is already ${state.type})`);
    }
    return state;
  }

  private newest(t: TopicState): { t: number; finite: boolean } | undefined {
    if (t.specs.length === 0) return t.lastJointState ? { t: t.lastJointState.t, finite: t.lastJointState.position.every(Number.isFinite) } : undefined;
    let newest: Sample | undefined;
    let finite = true;
    for (const buf of t.samples) {
      const s = buf[buf.length - 1];
      if (!s) return undefined;
      if (!newest || s.t > newest.t) newest = s;
      finite &&= s.finite;
    }
    return newest && { t: newest.t, finite };
  }

  private timeOf(header: { stamp: Parameters<typeof fromRosTime>[0] } | undefined, receivedAt: number): number {
    if (this.config.stamp === 'header' && header) return fromRosTime(header.stamp) * 1000 - performance.timeOrigin;
    return receivedAt;
  }

  private push(state: TopicState, index: number, t: number, values: Float32Array): void {
    const buf = state.samples[index];
    let finite = true;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) finite = false;
    // Keep time order even if stamps arrive out of order.
    if (buf.length && t < buf[buf.length - 1].t) return;
    buf.push({ t, values, finite });
    const keepFrom = t - (this.horizon * this.framePeriodMs + this.maxAgeMs + 1000);
    let drop = 0;
    while (drop < buf.length - 1 && buf[drop + 1].t <= keepFrom) drop++;
    if (buf.length - drop > 4096) drop = buf.length - 4096;
    if (drop) buf.splice(0, drop);
  }

  private convert(state: TopicState, message: unknown, receivedAt: number): void {
    switch (state.type) {
      case 'sensor_msgs/JointState': {
        const m = parseMessage(JointStateMsg, message, state.topic);
        const t = this.timeOf(m.header, receivedAt);
        if (m.position.length > 0 && m.position.length !== m.name.length) {
          throw new InputError(`message on ${state.topic}: position`, m.position, `one value per name (${m.name.length})`);
        }
        state.lastJointState = { t, names: m.name, position: m.position, velocity: m.velocity };
        state.specs.forEach((spec, i) => {
          const s = spec as z.infer<typeof JointStateSource>;
          const arr = m[s.field];
          const out = new Float32Array(s.joints.length);
          s.joints.forEach((name, k) => {
            const j = m.name.indexOf(name);
            if (j < 0 || j >= arr.length) throw new InputError(`message on ${state.topic}: ${s.field}`, name, `a value for joint ${name} (names: ${m.name.join(', ')})`);
            out[k] = arr[j];
          });
          this.push(state, i, t, out);
        });
        return;
      }
      case 'geometry_msgs/PoseStamped': {
        const m = parseMessage(PoseStampedMsg, message, state.topic);
        const t = this.timeOf(m.header, receivedAt);
        const { position: p, orientation: q } = m.pose;
        const all: Record<(typeof POSE_FIELDS)[number], number> = { x: p.x, y: p.y, z: p.z, qx: q.x, qy: q.y, qz: q.z, qw: q.w };
        state.specs.forEach((spec, i) => {
          const s = spec as z.infer<typeof PoseSource>;
          this.push(state, i, t, Float32Array.from(s.fields.map((f) => all[f])));
        });
        return;
      }
      case 'std_msgs/Float64MultiArray': {
        const m = parseMessage(Float64MultiArrayMsg, message, state.topic);
        state.specs.forEach((spec, i) => {
          const s = spec as z.infer<typeof ArraySource>;
          const idx = s.indices ?? Array.from({ length: s.size! }, (_, k) => k);
          const out = new Float32Array(idx.length);
          idx.forEach((j, k) => {
            if (j >= m.data.length) throw new InputError(`message on ${state.topic}: data`, m.data, `at least ${j + 1} values`);
            out[k] = m.data[j];
          });
          this.push(state, i, receivedAt, out);
        });
        return;
      }
      case 'sensor_msgs/Image': {
        const m = parseMessage(ImageMsg, message, state.topic);
        const img = rawImage(m, state.topic);
        state.specs.forEach((spec, i) => this.push(state, i, this.timeOf(m.header, receivedAt), imageFeature(img, spec as z.infer<typeof ImageSource>, state.topic)));
        return;
      }
      case 'sensor_msgs/CompressedImage': {
        const m = parseMessage(CompressedImageMsg, message, state.topic);
        const format = /jpe?g/i.test(m.format) ? 'jpeg' : /png/i.test(m.format) ? 'png' : m.format;
        const decode = this.options.decoders?.[format];
        if (!decode) {
          throw new InputError(`message on ${state.topic}: format`, m.format, `a format with a decoder (${Object.keys(this.options.decoders ?? {}).join(', ') || 'none given'})`);
        }
        const img = decode(decodeBytes(m.data, `message on ${state.topic}: data`));
        state.specs.forEach((spec, i) => this.push(state, i, this.timeOf(m.header, receivedAt), imageFeature(img, spec as z.infer<typeof CompressedImageSource>, state.topic)));
        return;
      }
    }
  }
}

/** The latest sample at or before `at`; the oldest when all are later. */
function pickAt(samples: Sample[], at: number): Sample | undefined {
  if (samples.length === 0) return undefined;
  let lo = 0;
  let hi = samples.length - 1;
  if (samples[0].t > at) return samples[0];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (samples[mid].t <= at) lo = mid;
    else hi = mid - 1;
  }
  return samples[lo];
}

const ENCODINGS: Record<string, { channels: number; order: number[] }> = {
  rgb8: { channels: 3, order: [0, 1, 2] },
  bgr8: { channels: 3, order: [2, 1, 0] },
  rgba8: { channels: 4, order: [0, 1, 2, 3] },
  bgra8: { channels: 4, order: [2, 1, 0, 3] },
  mono8: { channels: 1, order: [0] },
  '8UC1': { channels: 1, order: [0] },
  '8UC3': { channels: 3, order: [0, 1, 2] },
};

/** A sensor_msgs/Image (8-bit encodings) as a DecodedImage in RGB(A) order. */
function rawImage(m: ImageMsg, topic: string): DecodedImage {
  const enc = ENCODINGS[m.encoding];
  if (!enc) throw new InputError(`message on ${topic}: encoding`, m.encoding, `one of ${Object.keys(ENCODINGS).join(', ')}`);
  const bytes = decodeBytes(m.data, `message on ${topic}: data`);
  if (m.step < m.width * enc.channels || bytes.length < m.step * m.height) {
    throw new InputError(`message on ${topic}: data`, `${bytes.length} bytes`, `height * step = ${m.height * m.step} bytes, step >= ${m.width * enc.channels}`);
  }
  const data = new Uint8Array(m.width * m.height * enc.channels);
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) {
      for (let c = 0; c < enc.channels; c++) data[(y * m.width + x) * enc.channels + c] = bytes[y * m.step + x * enc.channels + enc.order[c]];
    }
  }
  return { width: m.width, height: m.height, channels: enc.channels, data };
}

/** An image as a feature: channels matched (grey replicated, alpha dropped), scaled, CHW or HWC. */
function imageFeature(img: DecodedImage, spec: { shape: [number, number, number]; layout: 'chw' | 'hwc'; scale: number }, topic: string): Float32Array {
  const [c, h, w] = spec.layout === 'chw' ? spec.shape : [spec.shape[2], spec.shape[0], spec.shape[1]];
  if (img.width !== w || img.height !== h) throw new InputError(`message on ${topic}: image size`, `${img.width}x${img.height}`, `${w}x${h} (the feature's shape; images are not resized)`);
  if (!(c === 1 || c === 3)) throw new InputError(`feature shape of ${topic}`, c, '1 or 3 channels');
  const out = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = (y * w + x) * img.channels;
      for (let k = 0; k < c; k++) {
        let v: number;
        if (c === 1) v = img.channels >= 3 ? 0.299 * img.data[px] + 0.587 * img.data[px + 1] + 0.114 * img.data[px + 2] : img.data[px];
        else v = img.channels >= 3 ? img.data[px + k] : img.data[px];
        const i = spec.layout === 'chw' ? k * h * w + y * w + x : (y * w + x) * c + k;
        out[i] = v * spec.scale;
      }
    }
  }
  return out;
}
