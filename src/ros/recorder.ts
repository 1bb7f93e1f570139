import type { Episode } from '../data/export/episode-writer.js';
import type { RosConnection, Subscription } from './connection.js';
import { Emitter } from './emitter.js';
import { Float64MultiArrayMsg, parseMessage } from './messages.js';
import { ObservationSource, type ImageDecoders, type ObservationSourceSpec } from './observation-source.js';
import { commandInterface, type RobotConfig } from './ros-config.js';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { HeaderMsg, TimeMsg } from './messages.js';

/**
 * Records episodes from ROS topics (a teleoperated robot, or a deployment):
 * at `fps`, one frame of every observation feature of the robot config and
 * the `action`, the latest command seen on the config's command topic (the
 * first point of a JointTrajectory, the data of a Float64MultiArray, the
 * axes of a Twist), in the order of `joints`. Before any command is seen the
 * action is the measured position (position commands) or zero (velocity).
 *
 * A frame is taken only when every observation topic is fresh and finite;
 * a gap (stale or non-finite observations) ends the episode, as does
 * `episodeSeconds`. Episodes shorter than `minFrames` are dropped.
 */

const JointTrajectoryMsg = z.object({
  header: HeaderMsg,
  joint_names: z.array(z.string()),
  points: z.array(z.object({ positions: z.array(z.union([z.number(), z.null()]).transform((v) => v ?? Number.NaN)), time_from_start: TimeMsg })),
});
const TwistMsg = z.object({
  linear: z.object({ x: z.number(), y: z.number(), z: z.number() }),
  angular: z.object({ x: z.number(), y: z.number(), z: z.number() }),
});

export interface RecorderOptions {
  connection: RosConnection;
  config: RobotConfig;
  fps: number;
  /** End an episode after this long (default: only at gaps and at stop). */
  episodeSeconds?: number;
  minFrames?: number;
  decoders?: ImageDecoders;
}

export interface RecorderEvents {
  frame: [{ episode: number; frame: number }];
  episode: [{ index: number; frames: number }];
  gap: [{ reason: string }];
}

/** Per feature: shape, and names of the values where known. */
export function recordedFeatures(config: RobotConfig): Record<string, { shape: number[]; names?: string[] }> {
  const out: Record<string, { shape: number[]; names?: string[] }> = {};
  for (const [key, sources] of Object.entries(config.observation.features)) {
    const img = sources.find((s) => s.type === 'sensor_msgs/Image' || s.type === 'sensor_msgs/CompressedImage') as Extract<ObservationSourceSpec, { shape: unknown }> | undefined;
    if (img) {
      out[key] = { shape: [...img.shape] };
      continue;
    }
    const names: string[] = [];
    for (const s of sources) {
      if (s.type === 'sensor_msgs/JointState') names.push(...s.joints.map((j) => (s.field === 'position' ? j : `${j}.${s.field}`)));
      else if (s.type === 'geometry_msgs/PoseStamped') names.push(...s.fields);
      else if (s.type === 'std_msgs/Float64MultiArray') names.push(...(s.indices ?? Array.from({ length: s.size! }, (_, i) => i)).map((i) => `${s.topic}[${i}]`));
    }
    out[key] = { shape: [names.length], names };
  }
  out.action = { shape: [config.joints.length], names: [...config.joints] };
  return out;
}

export class EpisodeRecorder extends Emitter<RecorderEvents> {
  readonly observation: ObservationSource;
  readonly episodes: Episode[] = [];
  private current?: Episode & { startedAt: number };
  private action?: Float32Array;
  private sub?: Subscription;
  private timer?: ReturnType<typeof setInterval>;
  /** Command messages that could not be used. */
  badCommands = 0;

  constructor(private readonly options: RecorderOptions) {
    super();
    const { config, fps } = options;
    if (!(fps > 0)) throw new InputError('fps', fps, 'a positive number');
    this.observation = new ObservationSource(config.observation, {
      horizon: 1,
      framePeriodMs: 1000 / fps,
      decoders: options.decoders,
      jointStateTopics: config.state ? [config.state.topic] : [],
    });
  }

  start(): void {
    const { connection, config } = this.options;
    this.observation.attach(connection);
    this.sub = connection.subscribe(config.command.topic, config.command.type, (msg) => this.onCommand(msg));
    connection.on('lost', () => {
      this.observation.clear();
      this.endEpisode('connection lost');
    });
    this.timer = setInterval(() => this.sample(), 1000 / this.options.fps);
  }

  /** Stop sampling; the episode under way is closed. Returns every episode recorded. */
  stop(): Episode[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sub?.close();
    this.observation.detach();
    this.endEpisode('stopped');
    return this.episodes;
  }

  private onCommand(msg: unknown): void {
    const { config } = this.options;
    try {
      const topic = config.command.topic;
      let values: number[];
      switch (config.command.type) {
        case 'trajectory_msgs/JointTrajectory': {
          const m = parseMessage(JointTrajectoryMsg, msg, topic);
          const p = m.points[0];
          if (!p) return;
          values = config.joints.map((j) => {
            const i = m.joint_names.indexOf(j);
            if (i < 0 || i >= p.positions.length) throw new InputError(`message on ${topic}: joint_names`, m.joint_names, `joint ${j}`);
            return p.positions[i];
          });
          break;
        }
        case 'std_msgs/Float64MultiArray': {
          const m = parseMessage(Float64MultiArrayMsg, msg, topic);
          if (m.data.length !== config.joints.length) throw new InputError(`message on ${topic}: data`, m.data, `${config.joints.length} values`);
          values = m.data;
          break;
        }
        case 'geometry_msgs/Twist': {
          const m = parseMessage(TwistMsg, msg, topic);
          values = config.joints.map((axis) => {
            const [part, comp] = axis.split('.') as ['linear' | 'angular', 'x' | 'y' | 'z'];
            return m[part][comp];
          });
          break;
        }
      }
      this.action = Float32Array.from(values);
    } catch {
      this.badCommands++;
    }
  }

  private sample(): void {
    const now = performance.now();
    const status = this.observation.status(now);
    if (!status.ready) {
      this.endEpisode(status.missing.length ? 'waiting for observations' : 'stale or non-finite observations');
      return;
    }
    let action = this.action;
    if (!action) {
      const { config } = this.options;
      if (commandInterface(config.command) === 'position') {
        const js = this.observation.jointPositions(config.state!.topic, config.joints);
        if (!js) return;
        action = Float32Array.from(js.position);
      } else action = new Float32Array(config.joints.length);
    }
    if (!action.every(Number.isFinite)) {
      this.endEpisode('non-finite command');
      return;
    }
    const [frame] = this.observation.frames(now);
    if (!this.current) this.current = { features: {}, startedAt: now };
    const ep = this.current;
    for (const [k, v] of Object.entries(frame)) (ep.features[k] ??= []).push(Float32Array.from(v));
    (ep.features.action ??= []).push(action.slice());
    const n = ep.features.action.length;
    this.emit('frame', { episode: this.episodes.length, frame: n - 1 });
    if (this.options.episodeSeconds !== undefined && n >= Math.round(this.options.episodeSeconds * this.options.fps)) this.endEpisode('episode length');
  }

  private endEpisode(reason: string): void {
    const ep = this.current;
    this.current = undefined;
    if (!ep) return;
    const frames = ep.features.action?.length ?? 0;
    if (frames >= (this.options.minFrames ?? 2)) {
      this.episodes.push({ features: ep.features });
      this.emit('episode', { index: this.episodes.length - 1, frames });
    } else this.emit('gap', { reason: `${reason} (dropped an episode of ${frames} frames)` });
  }
}
