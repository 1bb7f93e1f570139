import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { parseInput } from '../core/schema.js';

/**
 * The ROS messages the bridge reads and writes, as rosbridge's JSON: zod
 * schemas for what comes in (every message from ROS is parsed before use),
 * builders for what goes out, and the two time layouts: ROS 1
 * `{secs, nsecs}`, ROS 2 `{sec, nanosec}`.
 *
 * JSON has no NaN: rosbridge servers send non-finite floats as `null` (or
 * fail to send the message). A `null` in a float field parses as NaN here,
 * so that the NaN check sees it.
 */

export type RosVersion = 1 | 2;

export type RosTime = { secs: number; nsecs: number } | { sec: number; nanosec: number };

/** A time or duration in seconds as the given ROS version's fields (whole nanoseconds). */
export function rosTime(seconds: number, version: RosVersion): RosTime {
  let secs = Math.floor(seconds);
  let nsecs = Math.round((seconds - secs) * 1e9);
  if (nsecs >= 1e9) {
    secs += 1;
    nsecs -= 1e9;
  }
  return version === 1 ? { secs, nsecs } : { sec: secs, nanosec: nsecs };
}

/**
 * The stamp of control tick `tick`: `wallStartMs` (an integer, Date.now()) plus
 * tick / rate seconds, in whole nanoseconds computed exactly (a float of
 * seconds since the epoch resolves only ~0.2 us, which would make the
 * intervals between stamps jitter).
 */
export function tickStamp(wallStartMs: number, tick: number, rate: number, version: RosVersion): RosTime {
  const baseMs = Math.round(wallStartMs);
  const totalNs = (baseMs % 1000) * 1e6 + Math.round((tick * 1e9) / rate);
  const secs = Math.floor(baseMs / 1000) + Math.floor(totalNs / 1e9);
  const nsecs = totalNs - Math.floor(totalNs / 1e9) * 1e9;
  return version === 1 ? { secs, nsecs } : { sec: secs, nanosec: nsecs };
}

/** Seconds from either layout. */
export function fromRosTime(t: RosTime): number {
  return 'secs' in t ? t.secs + t.nsecs * 1e-9 : t.sec + t.nanosec * 1e-9;
}

const finiteOrNull = z.union([z.number(), z.null()]).transform((v) => (v === null ? Number.NaN : v));
const floats = z.array(finiteOrNull);
const int = z.number().int();

export const TimeMsg = z.union([z.object({ secs: int, nsecs: int }), z.object({ sec: int, nanosec: int })]);
export const HeaderMsg = z.object({ seq: int.optional(), stamp: TimeMsg, frame_id: z.string() });

export const JointStateMsg = z.object({
  header: HeaderMsg,
  name: z.array(z.string()),
  position: floats,
  velocity: floats,
  effort: floats,
});
export type JointStateMsg = z.infer<typeof JointStateMsg>;

const Vec3 = z.object({ x: finiteOrNull, y: finiteOrNull, z: finiteOrNull });
export const PoseStampedMsg = z.object({
  header: HeaderMsg,
  pose: z.object({ position: Vec3, orientation: z.object({ x: finiteOrNull, y: finiteOrNull, z: finiteOrNull, w: finiteOrNull }) }),
});
export type PoseStampedMsg = z.infer<typeof PoseStampedMsg>;

export const Float64MultiArrayMsg = z.object({
  layout: z.object({ dim: z.array(z.object({ label: z.string(), size: int, stride: int })), data_offset: int }),
  data: floats,
});
export type Float64MultiArrayMsg = z.infer<typeof Float64MultiArrayMsg>;

/** uint8[]: rosbridge sends base64; a list of numbers is accepted too. */
const bytes = z.union([z.string(), z.array(int.min(0).max(255))]);

export const ImageMsg = z.object({
  header: HeaderMsg,
  height: int.nonnegative(),
  width: int.nonnegative(),
  encoding: z.string(),
  is_bigendian: int,
  step: int.nonnegative(),
  data: bytes,
});
export type ImageMsg = z.infer<typeof ImageMsg>;

export const CompressedImageMsg = z.object({ header: HeaderMsg, format: z.string(), data: bytes });
export type CompressedImageMsg = z.infer<typeof CompressedImageMsg>;

export const BoolMsg = z.object({ data: z.boolean() });

/** Parse a message from ROS; throws an InputErrors naming the field. */
export function parseMessage<S extends z.ZodType>(schema: S, message: unknown, topic: string): z.output<S> {
  return parseInput(schema, message, `message on ${topic}`);
}

/** The bytes of a uint8[] field (base64 string or number list). */
export function decodeBytes(data: string | number[], field: string): Uint8Array {
  if (Array.isArray(data)) return Uint8Array.from(data);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) throw new InputError(field, data, 'base64 data');
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(data, 'base64'));
  const bin = atob(data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function headerMsg(stamp: RosTime, frameId: string, version: RosVersion): Record<string, unknown> {
  return version === 1 ? { seq: 0, stamp, frame_id: frameId } : { stamp, frame_id: frameId };
}

/**
 * trajectory_msgs/JointTrajectory: one point per row, the i-th reached at
 * time_from_start = (i + 1) * period.
 */
export function jointTrajectoryMsg(options: {
  joints: readonly string[];
  positions: readonly ArrayLike<number>[];
  velocities?: readonly ArrayLike<number>[];
  periodS: number;
  /** Header stamp in the version's layout (see tickStamp). */
  stamp: RosTime;
  frameId: string;
  version: RosVersion;
}): Record<string, unknown> {
  return {
    header: headerMsg(options.stamp, options.frameId, options.version),
    joint_names: [...options.joints],
    points: options.positions.map((p, i) => ({
      positions: Array.from(p),
      velocities: options.velocities?.[i] ? Array.from(options.velocities[i]) : [],
      accelerations: [],
      effort: [],
      time_from_start: rosTime((i + 1) * options.periodS, options.version),
    })),
  };
}

export function float64MultiArrayMsg(values: ArrayLike<number>, label: string): Record<string, unknown> {
  return { layout: { dim: [{ label, size: values.length, stride: values.length }], data_offset: 0 }, data: Array.from(values) };
}

/** The twist axes a command may drive. */
export const TWIST_AXES = ['linear.x', 'linear.y', 'linear.z', 'angular.x', 'angular.y', 'angular.z'] as const;
export type TwistAxis = (typeof TWIST_AXES)[number];

/** geometry_msgs/Twist with the named axes set from `values` (others 0). */
export function twistMsg(axes: readonly string[], values: ArrayLike<number>): Record<string, unknown> {
  const msg = { linear: { x: 0, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0 } };
  axes.forEach((axis, i) => {
    const [part, comp] = axis.split('.') as ['linear' | 'angular', 'x' | 'y' | 'z'];
    msg[part][comp] = values[i];
  });
  return msg;
}
