import { z } from 'zod';
import { parseInput } from '../core/schema.js';
import { TWIST_AXES } from './messages.js';
import { ObservationConfig } from './observation-source.js';

/**
 * The robot config of `flowpolicy deploy` / `record` (robot.json): which
 * topics carry observations and commands, the command joints and their
 * limits, the control rate, how chunks merge, and the ROS version (time
 * field names). Parsed with zod; every bad field is reported with its value
 * and what was expected.
 *
 * ```json
 * {
 *   "rosVersion": 1,
 *   "rate": 50,
 *   "joints": ["j1", "j2"],
 *   "state": { "topic": "/joint_states" },
 *   "observation": {
 *     "features": { "observation.state": [{ "topic": "/joint_states", "type": "sensor_msgs/JointState", "joints": ["j1", "j2"] }] },
 *     "maxAgeMs": 200
 *   },
 *   "command": { "topic": "/arm/command", "type": "trajectory_msgs/JointTrajectory" },
 *   "limits": { "j1": { "position": [-1, 1], "velocity": 1, "acceleration": 5 }, "j2": { ... } },
 *   "action": { "merge": { "mode": "latest" } }
 * }
 * ```
 */

const topicName = z.string().regex(/^\/?[A-Za-z_~][A-Za-z0-9_/~]*$/, 'a ROS topic name');

export const JointLimitsConfig = z.strictObject({
  position: z
    .tuple([z.number(), z.number()])
    .refine(([lo, hi]) => lo < hi, { message: '[lower, upper] with lower < upper' })
    .optional()
    .describe('[lower, upper] (required for position commands)'),
  velocity: z.number().positive().describe('largest |velocity| (units/s)'),
  acceleration: z.number().positive().describe('largest |acceleration| (units/s^2)'),
});

export const MergeConfig = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('latest') }),
  z.strictObject({ mode: z.literal('blend'), weight: z.number().min(0).max(1).default(0.5).describe("the new chunk's weight where chunks overlap") }),
  z.strictObject({ mode: z.literal('ensemble'), m: z.number().default(0.01).describe('ACT temporal ensembling: w_i = exp(-m i), i = 0 the oldest') }),
  z.strictObject({ mode: z.literal('rtc'), blendTicks: z.int().nonnegative().default(4).describe('ticks of cross-fade after the frozen actions') }),
]);
export type MergeConfig = z.infer<typeof MergeConfig>;

export const CommandConfig = z.strictObject({
  topic: topicName,
  type: z.enum(['trajectory_msgs/JointTrajectory', 'std_msgs/Float64MultiArray', 'geometry_msgs/Twist']),
  interface: z
    .enum(['position', 'velocity'])
    .optional()
    .describe('what the values are: JointTrajectory is position, Twist is velocity, Float64MultiArray either (default position)'),
  points: z.int().positive().default(1).describe('JointTrajectory: queued actions sent as points, each at time_from_start (i + 1) / rate'),
  frameId: z.string().default('').describe('header frame_id of JointTrajectory'),
});

export const RobotConfig = z
  .strictObject({
    rosVersion: z.union([z.literal(1), z.literal(2)]).default(1).describe('ROS 1 time fields {secs, nsecs}, ROS 2 {sec, nanosec}'),
    rate: z.number().positive().max(1000).describe('control rate, Hz: one command per tick'),
    joints: z
      .array(z.string().min(1))
      .min(1)
      .describe('command joints, in the order of the action vector (for Twist: axes such as linear.x, angular.z)'),
    state: z
      .strictObject({ topic: topicName.describe('sensor_msgs/JointState with the measured positions of the joints') })
      .optional()
      .describe('measured state: the position to start from and to hold (required for position commands)'),
    observation: ObservationConfig,
    command: CommandConfig,
    limits: z.record(z.string(), JointLimitsConfig).describe('per joint: position, velocity and acceleration limits'),
    action: z
      .strictObject({
        rate: z.number().positive().optional().describe('rate of the rows of a chunk, Hz (default: the control rate); rows are interpolated to ticks'),
        merge: MergeConfig.prefault({ mode: 'latest' }),
        requestEvery: z.int().positive().optional().describe('ticks between inference requests (default: the policy’s executed actions, in ticks)'),
      })
      .prefault({}),
    safety: z
      .strictObject({
        estopTopic: topicName.optional().describe('std_msgs/Bool: true stops at once'),
        resume: z.enum(['auto', 'never']).default('auto').describe('after a stale/NaN stop: resume when observations are fresh and finite again, or stay stopped'),
        startTimeoutMs: z.number().positive().default(10_000).describe('how long to wait for the first observations'),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const iface = commandInterface(c.command);
    for (const j of c.joints) {
      const l = c.limits[j];
      if (!l) ctx.addIssue({ code: 'custom', path: ['limits', j], input: undefined, message: `limits for joint ${j}` });
      else if (iface === 'position' && !l.position) ctx.addIssue({ code: 'custom', path: ['limits', j, 'position'], input: undefined, message: '[lower, upper] (position commands)' });
    }
    for (const j of Object.keys(c.limits)) {
      if (!c.joints.includes(j)) ctx.addIssue({ code: 'custom', path: ['limits', j], input: c.limits[j], message: `a joint of "joints" (${c.joints.join(', ')})` });
    }
    if (new Set(c.joints).size !== c.joints.length) ctx.addIssue({ code: 'custom', path: ['joints'], input: c.joints, message: 'distinct joint names' });
    if (c.command.type === 'geometry_msgs/Twist') {
      for (const [i, j] of c.joints.entries()) {
        if (!(TWIST_AXES as readonly string[]).includes(j)) ctx.addIssue({ code: 'custom', path: ['joints', i], input: j, message: `a twist axis (${TWIST_AXES.join(', ')})` });
      }
      if (c.command.interface === 'position') ctx.addIssue({ code: 'custom', path: ['command', 'interface'], input: 'position', message: 'velocity (a Twist is a velocity)' });
    }
    if (c.command.type === 'trajectory_msgs/JointTrajectory' && c.command.interface === 'velocity') {
      ctx.addIssue({ code: 'custom', path: ['command', 'interface'], input: 'velocity', message: 'position (JointTrajectory points are positions)' });
    }
    if (iface === 'position' && !c.state) ctx.addIssue({ code: 'custom', path: ['state'], input: undefined, message: '{ "topic": ... } a JointState topic (position commands start from and hold the measured position)' });
  });
export type RobotConfig = z.infer<typeof RobotConfig>;

/** What the command values are. */
export function commandInterface(command: Pick<z.infer<typeof CommandConfig>, 'type' | 'interface'>): 'position' | 'velocity' {
  if (command.type === 'geometry_msgs/Twist') return 'velocity';
  if (command.type === 'trajectory_msgs/JointTrajectory') return 'position';
  return command.interface ?? 'position';
}

/** Parse a robot config (from JSON); `source` names where it came from in errors. */
export function parseRobotConfig(input: unknown, source = 'robot config'): RobotConfig {
  return parseInput(RobotConfig, input, source);
}
