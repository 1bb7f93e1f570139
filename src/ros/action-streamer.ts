import { RecentSamples } from '../core/stats.js';
import { InputError } from '../core/errors.js';
import type { ActionChunk } from '../policy/policy.js';
import { ActionQueue, type MergeMode } from './action-queue.js';
import type { Publisher, RosConnection, Subscription } from './connection.js';
import { Emitter } from './emitter.js';
import type { InferenceRunner } from './inference.js';
import { BoolMsg, float64MultiArrayMsg, jointTrajectoryMsg, parseMessage, tickStamp, twistMsg } from './messages.js';
import { ObservationSource, type ImageDecoders, type ObservationStatus } from './observation-source.js';
import { commandInterface, type RobotConfig } from './ros-config.js';
import { allFinite, InterventionLog, SafetyFilter, type Intervention, type StopReason } from './safety.js';

/**
 * The fixed-rate control loop: every tick (1 / rate) it takes the action
 * for that tick from the action queue, passes it through the safety filter
 * and publishes it. Inference runs asynchronously (InferenceRunner): it is
 * requested every `requestEvery` ticks, or earlier when the queue would run
 * dry within the measured delay, and its chunk is merged into the queue
 * when it arrives, never making a tick wait.
 *
 * States:
 *   waiting   no command is sent until every observation topic is fresh
 *             and finite (and the measured joint state is known); then the
 *             safety filter starts from the measured position, at rest,
 *             and the first inference is requested (priming)
 *   priming   waiting for the first chunk
 *   running   publishing one command a tick
 *   braking   a stop (stale or NaN observations, NaN actions, Ctrl-C):
 *             decelerates within the limits, then holds (publishes nothing)
 *   holding   stopped; with safety.resume 'auto' goes back to waiting
 *   disconnected  the connection is lost: nothing is published (the check
 *             is made on every publish, and the state changes the moment
 *             the socket closes); on reconnection every buffered
 *             observation is dropped and the stream waits for fresh ones
 *   estopped  the e-stop topic said true: one hold command, then nothing,
 *             for good
 *   stopped   stop() finished
 *
 * Times are ms on performance.now(); header stamps are the wall clock of
 * each tick (strictly increasing, exactly one period apart).
 */

export type StreamerState = 'waiting' | 'priming' | 'running' | 'braking' | 'holding' | 'disconnected' | 'estopped' | 'stopped';

export interface StreamerStatus {
  state: StreamerState;
  tick: number;
  /** Commands published. */
  published: number;
  /** Publish rate over the last second, Hz. */
  rateHz: number;
  /** Latency of the last inference, ms (request to arrival). */
  latencyMs: number;
  /** Consecutive queued ticks from the current one. */
  queueDepth: number;
  /** Expected inference delay, ticks. */
  delayTicks: number;
  clamps: number;
  /** Ticks that ran later than one period after their time (skipped ticks counted). */
  overruns: number;
  interventions: Record<string, number>;
  chunks: number;
}

export interface StreamerEvents {
  state: [{ from: StreamerState; to: StreamerState; reason?: string; at: number; tick: number }];
  publish: [{ tick: number; command: Float64Array; at: number }];
  intervention: [Intervention];
  chunk: [{ requestTick: number; arrivalTick: number; latencyMs: number }];
  /** The stream ended (stop() done, or an e-stop). */
  end: [{ reason: string }];
}

export interface StreamerOptions {
  connection: RosConnection;
  config: RobotConfig;
  runner: InferenceRunner;
  /** CompressedImage decoders (e.g. { png: decodePng } in Node). */
  decoders?: ImageDecoders;
  /** Clock, ms (default performance.now). */
  clock?: () => number;
  /** Wall clock for header stamps, ms since the epoch (default Date.now). */
  wallClock?: () => number;
}

/** The merge mode of a config as the queue's. */
export function mergeModeOf(config: RobotConfig): MergeMode {
  const m = config.action.merge;
  switch (m.mode) {
    case 'latest':
      return { mode: 'latest' };
    case 'blend':
      return { mode: 'blend', weight: m.weight };
    case 'ensemble':
      return { mode: 'ensemble', m: m.m };
    case 'rtc':
      return { mode: 'rtc', blendTicks: m.blendTicks };
  }
}

/** Check that a robot config can feed a policy: every feature with the right size, the action of the joints' dimension. */
export function checkCompatible(config: RobotConfig, io: InferenceRunner['io'], sizes: Record<string, number>): void {
  for (const f of io.observation.features) {
    const want = f.shape.reduce((a, b) => a * b, 1);
    if (!(f.key in sizes)) throw new InputError(`observation.features.${f.key}`, undefined, `a source for the policy's feature ${f.key} (${want} values)`, '--config');
    if (sizes[f.key] !== want) throw new InputError(`observation.features.${f.key}`, `${sizes[f.key]} values`, `${want} values (the policy's shape [${f.shape.join(', ')}])`, '--config');
  }
  if (io.action.dim !== config.joints.length) {
    throw new InputError('joints', config.joints, `${io.action.dim} joints (the policy's action dimension)`, '--config');
  }
}

export class ActionStreamer extends Emitter<StreamerEvents> {
  readonly observation: ObservationSource;
  readonly log = new InterventionLog();
  readonly queue: ActionQueue;
  readonly safety: SafetyFilter;
  readonly periodMs: number;
  /** Control ticks per chunk row. */
  readonly rowTicks: number;
  readonly requestEvery: number;
  private readonly conn: RosConnection;
  private readonly config: RobotConfig;
  private readonly runner: InferenceRunner;
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private readonly publisher: Publisher<Record<string, unknown>>;
  private estopSub?: Subscription;
  private offConn: (() => void)[] = [];

  private stateValue: StreamerState = 'waiting';
  private t0 = 0;
  private wall0 = 0;
  private tick = -1;
  private timer?: ReturnType<typeof setTimeout>;
  /** Increments whenever queued or in-flight actions must be forgotten (stop, loss, resume). */
  private epoch = 0;
  private inFlight = false;
  private lastRequestTick = -Infinity;
  private lastPublishedTick = -1;
  private publishTimes: number[] = [];
  private lastLatencyMs = 0;
  private published = 0;
  private overruns = 0;
  private lastReason?: string;
  private stopResolve?: () => void;
  private finalStop = false;
  private finished = false;
  /** How late each tick ran, ms (for benchmarks). */
  /** How late each tick ran, ms (the last 65,536 ticks, and the maximum ever). */
  readonly lateness = new RecentSamples();

  constructor(options: StreamerOptions) {
    super();
    const { config, runner } = options;
    this.conn = options.connection;
    this.config = config;
    this.runner = runner;
    this.clock = options.clock ?? (() => performance.now());
    this.wallClock = options.wallClock ?? (() => Date.now());
    this.periodMs = 1000 / config.rate;
    const actionRate = config.action.rate ?? config.rate;
    this.rowTicks = config.rate / actionRate;
    const iface = commandInterface(config.command);
    this.observation = new ObservationSource(config.observation, {
      horizon: runner.io.observation.horizon,
      framePeriodMs: 1000 / actionRate,
      decoders: options.decoders,
      jointStateTopics: config.state ? [config.state.topic] : [],
      onBadMessage: (topic, err) => this.intervene('bad-message', { detail: `${topic}: ${err.message}` }),
    });
    if (this.observation.horizon !== runner.io.observation.horizon) {
      throw new InputError('observation.horizon', this.observation.horizon, `the policy's observation horizon (${runner.io.observation.horizon})`, '--config');
    }
    checkCompatible(config, runner.io, this.observation.featureSizes());
    const merge = mergeModeOf(config);
    this.queue = new ActionQueue(config.joints.length, merge);
    const executeTicks = Math.max(1, Math.round(runner.io.action.execute * this.rowTicks));
    this.requestEvery = config.action.requestEvery ?? (merge.mode === 'ensemble' ? Math.max(1, Math.round(this.rowTicks)) : executeTicks);
    this.safety = new SafetyFilter(
      config.joints,
      config.joints.map((j) => config.limits[j]),
      iface,
      1 / config.rate,
    );
    // A short queue at the bridge: rides out a scheduling hiccup of the bridge's ROS publisher without
    // delivering a long backlog of old commands late (each carries its tick's stamp anyway).
    this.publisher = this.conn.advertise(config.command.topic, config.command.type, { queueSize: 10 });
  }

  get state(): StreamerState {
    return this.stateValue;
  }

  /** Start the loop (ticks from now on). */
  start(): void {
    if (this.timer !== undefined || this.stateValue === 'stopped') return;
    this.observation.attach(this.conn);
    if (this.config.safety.estopTopic) {
      this.estopSub = this.conn.subscribe(this.config.safety.estopTopic, 'std_msgs/Bool', (msg) => this.onEstop(msg));
    }
    this.offConn.push(
      this.conn.on('lost', ({ reason }) => this.onLost(reason)),
      this.conn.on('connected', ({ reconnect }) => {
        if (reconnect && this.stateValue === 'disconnected') this.setState('waiting', 'reconnected: waiting for fresh observations');
      }),
      this.conn.on('failed', (err) => void this.stop('lost', err.message)),
    );
    if (!this.conn.connected) this.setState('disconnected', 'not connected');
    this.t0 = this.clock();
    this.wall0 = this.wallClock();
    this.tick = -1;
    this.schedule();
  }

  /**
   * Stop: brake to rest within the limits (when connected and moving),
   * then end the loop. Resolves when the loop has ended.
   */
  stop(reason: StopReason = 'interrupt', detail?: string): Promise<void> {
    if (this.stateValue === 'stopped') return Promise.resolve();
    this.finalStop = true;
    const done = new Promise<void>((resolve) => (this.stopResolve = resolve));
    if (this.stateValue === 'running' || this.stateValue === 'priming' || this.stateValue === 'braking') {
      this.beginStop(reason, detail);
    } else this.finish(detail ?? reason);
    if (this.timer === undefined) this.finish(detail ?? reason);
    return done;
  }

  status(): StreamerStatus {
    const now = this.clock();
    while (this.publishTimes.length && this.publishTimes[0] < now - 1000) this.publishTimes.shift();
    return {
      state: this.stateValue,
      tick: this.tick,
      published: this.published,
      rateHz: this.publishTimes.length,
      latencyMs: this.lastLatencyMs,
      queueDepth: this.queue.depth(this.tick + 1),
      delayTicks: this.queue.expectedDelayTicks,
      clamps: this.log.clamps,
      overruns: this.overruns,
      interventions: { ...this.log.counts },
      chunks: this.queue.chunks,
    };
  }

  // ---------------------------------------------------------------- loop

  private schedule(): void {
    const now = this.clock();
    let next = this.tick + 1;
    const due = Math.floor((now - this.t0) / this.periodMs);
    if (due > next) {
      // The loop fell behind by more than a period: skip to the current tick.
      this.overruns += due - next;
      next = due;
    }
    const delay = this.t0 + next * this.periodMs - now;
    this.timer = setTimeout(() => this.run(next), Math.max(0, delay));
  }

  private run(k: number): void {
    this.timer = undefined;
    if (this.stateValue === 'stopped') return;
    const now = this.clock();
    this.lateness.push(now - (this.t0 + k * this.periodMs));
    // Ran more than a period late (the thread was blocked): act for the tick that is due now, skipping the others.
    const due = Math.floor((now - this.t0) / this.periodMs);
    if (due > k) {
      this.overruns += due - k;
      k = due;
    }
    const prevTick = this.tick;
    this.tick = k;
    try {
      this.step(k, now, k - prevTick);
    } catch (err) {
      this.intervene('policy-error', { detail: (err as Error).message });
      this.beginStop('policy-error', (err as Error).message);
    }
    if (!this.finished) this.schedule();
  }

  private step(k: number, now: number, ticksSincePrev: number): void {
    if (!this.conn.connected) {
      if (this.stateValue !== 'disconnected' && this.stateValue !== 'estopped') this.onLost('not connected');
      if (this.finalStop) this.finish('stopped while disconnected');
      return;
    }
    const obs = this.observation.status(now);
    switch (this.stateValue) {
      case 'disconnected':
        this.setState('waiting', 'connected');
        return;
      case 'estopped':
        return;
      case 'holding':
        if (this.finalStop) return this.finish(this.lastReason ?? 'stopped');
        if (this.config.safety.resume !== 'auto') return;
        this.tryStart(k, now, obs);
        return;
      case 'waiting':
        this.tryStart(k, now, obs);
        return;
      case 'braking': {
        const steps = Math.max(1, k - this.lastPublishedTick);
        const { command, atRest } = this.safety.brake(steps);
        this.send(k, command, []);
        if (atRest) {
          if (this.finalStop) return this.finish(this.lastReason ?? 'stopped');
          this.setState('holding', this.lastReason);
        }
        return;
      }
      case 'priming':
      case 'running': {
        if (!obs.ready) {
          const reason: StopReason = obs.nonFinite.length ? 'nan' : 'stale';
          this.intervene(reason, { detail: describeObs(obs) });
          if (this.stateValue === 'priming') {
            this.epoch++;
            this.queue.clear();
            this.setState(this.config.safety.resume === 'auto' ? 'waiting' : 'holding', `${reason}: ${describeObs(obs)}`);
            return;
          }
          this.beginStop(reason, describeObs(obs));
          this.step(k, now, ticksSincePrev);
          return;
        }
        this.maybeRequest(k, now);
        const action = this.queue.take(k);
        if (!action) {
          if (this.stateValue === 'running') {
            this.intervene('underrun', { detail: `no action queued for tick ${k}` });
            const steps = Math.max(1, k - this.lastPublishedTick);
            this.send(k, this.safety.brake(steps).command, []);
          }
          return;
        }
        if (this.stateValue === 'priming') {
          // The first command after a (re)start is one period from the measured state, at rest.
          this.setState('running', 'first chunk');
          this.lastPublishedTick = k - 1;
        }
        const steps = Math.max(1, k - this.lastPublishedTick);
        const result = this.safety.filter(action, steps);
        if (!result.command) {
          this.intervene('nan', { detail: `non-finite action at tick ${k}` });
          this.beginStop('nan', 'non-finite action');
          this.step(k, now, ticksSincePrev);
          return;
        }
        for (const c of result.clamped) this.intervene(c.kind, { joint: this.config.joints[c.joint], detail: `tick ${k}` });
        this.send(k, result.command, this.queue.peek(k + 1, this.config.command.points - 1));
        return;
      }
    }
  }

  /** Start (or resume) when observations are fresh and finite and the measured state is known. */
  private tryStart(k: number, now: number, obs: ObservationStatus): void {
    if (!obs.ready) return;
    let measured: Float64Array | undefined;
    if (this.safety.iface === 'position') {
      const js = this.observation.jointPositions(this.config.state!.topic, this.config.joints);
      if (!js || !allFinite(js.position)) return;
      measured = js.position;
    }
    this.safety.reset(measured);
    this.queue.clear();
    this.epoch++;
    this.inFlight = false;
    this.runner.reset();
    this.lastRequestTick = -Infinity;
    this.lastPublishedTick = k;
    if (this.published > 0 || this.log.count('stale') + this.log.count('nan') + this.log.count('lost') > 0) this.intervene('resume', { detail: 'fresh observations' });
    this.setState('priming', 'fresh observations');
    this.maybeRequest(k, now);
  }

  private maybeRequest(k: number, now: number): void {
    if (this.inFlight) return;
    const due = k - this.lastRequestTick >= this.requestEvery;
    const low = this.queue.depth(k) <= this.queue.expectedDelayTicks + 1;
    if (!due && !low) return;
    const frames = this.observation.frames(now);
    const epoch = this.epoch;
    const requestTick = k;
    const requestedAt = now;
    this.inFlight = true;
    this.lastRequestTick = k;
    this.runner.infer(frames, { timeS: (k * this.periodMs) / 1000 }).then(
      (chunk) => this.onChunk(chunk, epoch, requestTick, requestedAt),
      (err: unknown) => {
        if (epoch !== this.epoch) return;
        this.inFlight = false;
        this.intervene('policy-error', { detail: (err as Error).message });
        this.beginStop('policy-error', (err as Error).message);
      },
    );
  }

  private onChunk(chunk: ActionChunk, epoch: number, requestTick: number, requestedAt: number): void {
    if (epoch !== this.epoch) return; // stopped, lost or restarted since the request
    this.inFlight = false;
    const now = this.clock();
    this.lastLatencyMs = now - requestedAt;
    if (chunk.actionDim !== this.config.joints.length) {
      this.beginStop('policy-error', `chunk of action dim ${chunk.actionDim}, expected ${this.config.joints.length}`);
      return;
    }
    const rows: Float32Array[] = [];
    for (let i = chunk.start; i < chunk.horizon; i++) rows.push(chunk.actions.subarray(i * chunk.actionDim, (i + 1) * chunk.actionDim));
    if (!rows.every(allFinite)) {
      this.intervene('nan', { detail: `non-finite values in the chunk requested at tick ${requestTick}` });
      this.beginStop('nan', 'non-finite action chunk');
      return;
    }
    // The next tick to run (as schedule() will pick it: ticks whose time has passed are skipped).
    const arrivalTick = Math.max(this.tick + 1, Math.floor((now - this.t0) / this.periodMs));
    this.queue.add({ firstTick: requestTick, rowTicks: this.rowTicks, rows, requestTick, arrivalTick });
    this.emit('chunk', { requestTick, arrivalTick, latencyMs: this.lastLatencyMs });
  }

  private send(k: number, command: Float64Array, preview: Float64Array[]): void {
    const cfg = this.config;
    let msg: Record<string, unknown>;
    switch (cfg.command.type) {
      case 'trajectory_msgs/JointTrajectory': {
        const positions: Float64Array[] = [command];
        const velocities: Float64Array[] = [this.safety.velocity];
        if (preview.length) {
          const ghost = this.safety.clone();
          for (const p of preview) {
            const r = ghost.filter(p);
            if (!r.command) break;
            positions.push(r.command);
            velocities.push(ghost.velocity);
          }
        }
        msg = jointTrajectoryMsg({
          joints: cfg.joints,
          positions,
          velocities,
          periodS: 1 / cfg.rate,
          stamp: tickStamp(this.wall0, k, cfg.rate, cfg.rosVersion),
          frameId: cfg.command.frameId,
          version: cfg.rosVersion,
        });
        break;
      }
      case 'std_msgs/Float64MultiArray':
        msg = float64MultiArrayMsg(command, 'joints');
        break;
      case 'geometry_msgs/Twist':
        msg = twistMsg(cfg.joints, command);
        break;
    }
    if (!this.publisher.publish(msg)) {
      // Disconnected between the check and now: nothing went out.
      this.onLost('publish refused: not connected');
      return;
    }
    this.lastPublishedTick = k;
    this.published++;
    const at = this.clock();
    this.publishTimes.push(at);
    if (this.publishTimes.length > 4096) this.publishTimes.splice(0, 2048);
    this.emit('publish', { tick: k, command, at });
  }

  // ---------------------------------------------------------------- stops

  private beginStop(reason: StopReason, detail?: string): void {
    this.epoch++;
    this.inFlight = false;
    this.queue.clear();
    this.lastReason = detail ? `${reason}: ${detail}` : reason;
    if (!this.safety.ready || this.stateValue === 'priming' || this.stateValue === 'waiting') {
      this.setState('holding', this.lastReason);
      return;
    }
    if (this.stateValue !== 'braking') this.setState('braking', this.lastReason);
  }

  private onLost(reason: string): void {
    if (this.stateValue === 'disconnected' || this.stateValue === 'stopped' || this.stateValue === 'estopped') return;
    this.epoch++;
    this.inFlight = false;
    this.queue.clear();
    this.observation.clear();
    this.intervene('lost', { detail: reason });
    this.setState('disconnected', reason);
    if (this.finalStop) this.finish('connection lost');
  }

  private onEstop(message: unknown): void {
    let data: boolean;
    try {
      data = parseMessage(BoolMsg, message, this.config.safety.estopTopic!).data;
    } catch (err) {
      this.intervene('bad-message', { detail: (err as Error).message });
      return;
    }
    if (!data || this.stateValue === 'estopped' || this.stateValue === 'stopped') return;
    this.epoch++;
    this.queue.clear();
    this.intervene('estop', { detail: this.config.safety.estopTopic });
    const wasMoving = this.safety.ready && (this.stateValue === 'running' || this.stateValue === 'braking');
    this.setState('estopped', 'e-stop');
    if (wasMoving) {
      // One command that holds where the robot was last sent (velocity interfaces: zero).
      const hold = this.safety.iface === 'position' ? this.safety.last : new Float64Array(this.config.joints.length);
      this.send(Math.max(this.tick + 1, this.lastPublishedTick + 1), hold, []);
    }
    this.finish('e-stop', false);
  }

  private finish(reason: string, setStopped = true): void {
    if (this.finished) {
      if (setStopped) this.setState('stopped', reason);
      this.stopResolve?.();
      this.stopResolve = undefined;
      return;
    }
    this.finished = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (setStopped && this.stateValue !== 'stopped') this.setState('stopped', reason);
    this.observation.detach();
    this.estopSub?.close();
    for (const off of this.offConn) off();
    this.offConn = [];
    this.publisher.close();
    const resolve = this.stopResolve;
    this.stopResolve = undefined;
    if (this.stateValue === 'stopped' || this.stateValue === 'estopped') {
      this.stateValue = this.stateValue === 'estopped' ? 'estopped' : 'stopped';
      this.emit('end', { reason });
    }
    resolve?.();
  }

  private setState(to: StreamerState, reason?: string): void {
    const from = this.stateValue;
    if (from === to) return;
    this.stateValue = to;
    this.emit('state', { from, to, reason, at: this.clock(), tick: this.tick });
  }

  private intervene(kind: Intervention['kind'], extra: { joint?: string; detail?: string } = {}): void {
    const entry: Intervention = { at: this.clock(), tick: this.tick, kind, ...extra };
    this.log.record(entry);
    this.emit('intervention', entry);
  }
}

function describeObs(s: ObservationStatus): string {
  const parts: string[] = [];
  if (s.nonFinite.length) parts.push(`non-finite: ${s.nonFinite.join(', ')}`);
  if (s.stale.length) parts.push(`stale: ${s.stale.map((t) => `${t} (${Math.round(s.ageMs[t])} ms)`).join(', ')}`);
  if (s.missing.length) parts.push(`missing: ${s.missing.join(', ')}`);
  return parts.join('; ');
}
