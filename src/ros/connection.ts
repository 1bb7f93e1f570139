import { Ros, Service, Topic, WebSocketTransportFactory, type ITransportFactory, type RosbridgeMessage } from 'roslib';
import { FlowpolicyError } from '../core/errors.js';
import { Emitter } from './emitter.js';

/**
 * A connection to a rosbridge v2 server (roslib underneath), made safe for
 * streaming commands to a robot:
 *
 * - `open()` resolves only once the socket is open (roslib's `connect()`
 *   returns before that) and, with authentication, once the server has kept
 *   the connection after the `auth` op (rosbridge answers a bad MAC by
 *   closing the socket; there is no success reply).
 * - A lost connection is reported at once ('lost'), then retried with
 *   exponential backoff; every subscription and publisher made through this
 *   object is re-established on each new socket.
 * - Publishing while disconnected drops the message and returns false.
 *   roslib itself would queue it and flush it on reconnect, sending stale
 *   commands to a robot; this never reaches roslib's queue.
 *
 * Times are milliseconds from `performance.now()` unless named otherwise.
 */

export class RosError extends FlowpolicyError {
  override readonly name: string = 'RosError';
}

/** The socket could not be opened (refused, timed out, closed during the handshake). */
export class RosConnectError extends RosError {
  override readonly name: string = 'RosConnectError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot connect to rosbridge at ${url}: ${reason}`);
  }
}

/** The server closed the connection right after the `auth` op: credentials rejected. */
export class RosAuthError extends RosError {
  override readonly name: string = 'RosAuthError';
  constructor(readonly url: string) {
    super(`rosbridge at ${url} closed the connection after authentication: credentials rejected (check mac, t and end)`);
  }
}

/** An operation that needs a live connection was attempted without one. */
export class RosDisconnectedError extends RosError {
  override readonly name: string = 'RosDisconnectedError';
  constructor(readonly operation: string) {
    super(`${operation}: not connected to rosbridge`);
  }
}

/** A service call failed or timed out. */
export class RosServiceError extends RosError {
  override readonly name: string = 'RosServiceError';
  constructor(
    readonly service: string,
    readonly reason: string,
  ) {
    super(`service ${service}: ${reason}`);
  }
}

/** rosbridge's `auth` op (rosauth's MAC scheme); the values come from a trusted authenticator. */
export interface RosAuth {
  mac: string;
  client: string;
  dest: string;
  rand: string;
  /** Time of the request, seconds. */
  t: number;
  level: string;
  /** End of the session, seconds. */
  end: number;
}

export interface ReconnectOptions {
  /** First delay after a loss, ms (default 100). */
  initialDelayMs: number;
  /** Cap on the delay, ms (default 5000). */
  maxDelayMs: number;
  /** Growth of the delay per failed attempt (default 2). */
  factor: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts: number;
}

export interface RosConnectionOptions {
  /** ws:// or wss:// URL of the rosbridge server. */
  url: string;
  auth?: RosAuth;
  /** How long one attempt may take to open the socket, ms (default 5000). */
  connectTimeoutMs?: number;
  /** How long the server must keep the socket after `auth` for it to count as accepted, ms (default 300). */
  authCheckMs?: number;
  /** Reconnection after a loss; false: none (default: on). */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Transport (default: roslib's WebSocket transport, `ws` in Node). */
  transportFactory?: ITransportFactory;
}

export interface RosStatusMessage {
  level: string;
  msg: string;
  id?: string;
}

export interface ConnectionEvents {
  /** A socket is open (and authenticated): the first one, or a reconnection. */
  connected: [{ url: string; reconnect: boolean; at: number }];
  /** The socket closed unexpectedly. Sent before anything else reacts. */
  lost: [{ reason: string; at: number }];
  /** A reconnection attempt is scheduled. */
  reconnecting: [{ attempt: number; delayMs: number }];
  /** A rosbridge `status` op (an error about something this client sent, usually). */
  status: [RosStatusMessage];
  /** Reconnection gave up (attempts exhausted, or credentials rejected). */
  failed: [RosError];
  /** `close()` was called. */
  closed: [];
}

/** A subscription kept across reconnections. */
export interface Subscription {
  readonly topic: string;
  close(): void;
}

/** A publisher kept across reconnections; publishing while disconnected drops the message. */
export interface Publisher<T> {
  readonly topic: string;
  /** True when handed to the socket; false when dropped (disconnected or closed). */
  publish(message: T): boolean;
  close(): void;
}

interface SubEntry {
  topic: string;
  type: string;
  handler: (message: unknown, receivedAt: number) => void;
  throttleMs: number;
  queueLength: number;
  live?: Topic<unknown>;
  closed: boolean;
}

interface PubEntry {
  topic: string;
  type: string;
  latch: boolean;
  queueSize: number;
  live?: Topic<unknown>;
  closed: boolean;
}

const DEFAULT_RECONNECT: ReconnectOptions = { initialDelayMs: 100, maxDelayMs: 5000, factor: 2, maxAttempts: Infinity };

/** Delay before reconnection attempt `attempt` (0-based): initial * factor^attempt, capped. */
export function backoffDelay(options: ReconnectOptions, attempt: number): number {
  return Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** attempt);
}

function reasonOf(event: unknown): string {
  if (event && typeof event === 'object') {
    const e = event as { message?: unknown; error?: { message?: unknown }; code?: unknown; reason?: unknown };
    if (typeof e.message === 'string' && e.message) return e.message;
    if (e.error && typeof e.error.message === 'string') return e.error.message;
    if (typeof e.code === 'number') return `socket closed (code ${e.code}${typeof e.reason === 'string' && e.reason ? `, ${e.reason}` : ''})`;
  }
  return 'socket closed';
}

export class RosConnection extends Emitter<ConnectionEvents> {
  readonly url: string;
  private readonly options: RosConnectionOptions;
  private readonly reconnectOptions: ReconnectOptions | false;
  private ros?: Ros;
  /** Increments on every new socket and on every loss: callbacks of an old socket check it and do nothing. */
  private epoch = 0;
  private isUp = false;
  private isClosed = false;
  private attempt = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private readonly subs = new Set<SubEntry>();
  private readonly pubs = new Set<PubEntry>();
  private serviceCounter = 0;

  private constructor(options: RosConnectionOptions) {
    super();
    if (!/^wss?:\/\//.test(options.url)) throw new RosConnectError(options.url, 'expected a ws:// or wss:// URL');
    this.url = options.url;
    this.options = options;
    this.reconnectOptions = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect };
  }

  /** Connect; resolves when the socket is open (and the server kept it after `auth`). */
  static async open(options: RosConnectionOptions): Promise<RosConnection> {
    const conn = new RosConnection(options);
    await conn.attach(await conn.openSocket(), false);
    return conn;
  }

  get connected(): boolean {
    return this.isUp;
  }

  /** Subscribe to a topic, now and after every reconnection. `receivedAt` is `performance.now()` at arrival. */
  subscribe<T>(topic: string, type: string, handler: (message: T, receivedAt: number) => void, options: { throttleMs?: number; queueLength?: number } = {}): Subscription {
    const entry: SubEntry = {
      topic,
      type,
      handler: handler as SubEntry['handler'],
      throttleMs: options.throttleMs ?? 0,
      queueLength: options.queueLength ?? 0,
      closed: false,
    };
    this.subs.add(entry);
    if (this.isUp && this.ros) this.liveSubscribe(entry, this.ros, this.epoch);
    return {
      topic,
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        this.subs.delete(entry);
        if (this.isUp) entry.live?.unsubscribe();
        entry.live = undefined;
      },
    };
  }

  /** Advertise a topic, now and after every reconnection. */
  advertise<T>(topic: string, type: string, options: { latch?: boolean; queueSize?: number } = {}): Publisher<T> {
    const entry: PubEntry = { topic, type, latch: options.latch ?? false, queueSize: options.queueSize ?? 1, closed: false };
    this.pubs.add(entry);
    if (this.isUp && this.ros) this.liveAdvertise(entry, this.ros);
    return {
      topic,
      publish: (message: T): boolean => {
        // Checked on every call: roslib would queue a message sent while disconnected.
        if (entry.closed || !this.isUp || !entry.live || !this.ros?.isConnected) return false;
        entry.live.publish(message);
        return true;
      },
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        this.pubs.delete(entry);
        if (this.isUp) entry.live?.unadvertise();
        entry.live = undefined;
      },
    };
  }

  /** Call a ROS service through the bridge. Fails at once when disconnected (never queued). */
  callService<Req, Res>(service: string, type: string, request: Req, timeoutMs = 5000): Promise<Res> {
    const ros = this.ros;
    if (!this.isUp || !ros) return Promise.reject(new RosDisconnectedError(`call ${service}`));
    const epoch = this.epoch;
    this.serviceCounter++;
    return new Promise<Res>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        offLost();
        fn();
      };
      const timer = setTimeout(() => finish(() => reject(new RosServiceError(service, `no response within ${timeoutMs} ms`))), timeoutMs);
      const offLost = this.on('lost', () => finish(() => reject(new RosServiceError(service, 'connection lost before the response'))));
      new Service<Req, Res>({ ros, name: service, serviceType: type }).callService(
        request,
        (response) => finish(() => (epoch === this.epoch ? resolve(response) : reject(new RosServiceError(service, 'connection lost')))),
        (error) => finish(() => reject(new RosServiceError(service, String(error)))),
      );
    });
  }

  /** Close for good: no reconnection; subscriptions and publishers end. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.retryTimer);
    this.epoch++;
    const ros = this.ros;
    if (ros && this.isUp) {
      for (const p of this.pubs) p.live?.unadvertise();
      for (const s of this.subs) s.live?.unsubscribe();
    }
    this.isUp = false;
    this.ros = undefined;
    ros?.close();
    this.emit('closed');
  }

  // ------------------------------------------------------------------ internals

  /** One attempt: a new Ros, resolved once its socket is open and authentication (if any) stuck. */
  private openSocket(): Promise<Ros> {
    const url = this.url;
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    const baseFactory = this.options.transportFactory ?? WebSocketTransportFactory;
    const factory: ITransportFactory = async (u) => {
      const transport = await baseFactory(u);
      transport.on('message', (m: RosbridgeMessage) => {
        if (m.op === 'status' && ros === this.ros) {
          this.emit('status', { level: String(m.level ?? ''), msg: String(m.msg ?? ''), ...(typeof m.id === 'string' ? { id: m.id } : {}) });
        }
      });
      return transport;
    };
    const ros = new Ros({ transportFactory: factory });
    return new Promise<Ros>((resolve, reject) => {
      let lastError = '';
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ros.off('connection', onOpen);
        ros.off('close', onClose);
        ros.off('error', onError);
        if (err) {
          ros.close();
          reject(err);
        } else resolve(ros);
      };
      const onError = (e: unknown) => {
        lastError = reasonOf(e);
      };
      const onClose = (e: unknown) => settle(new RosConnectError(url, lastError || reasonOf(e)));
      const onOpen = () => {
        if (!this.options.auth) return settle();
        const a = this.options.auth;
        ros.authenticate(a.mac, a.client, a.dest, a.rand, a.t, a.level, a.end);
        clearTimeout(timer);
        ros.off('close', onClose);
        const onAuthClose = () => {
          clearTimeout(authTimer);
          settle(new RosAuthError(url));
        };
        ros.once('close', onAuthClose);
        const authTimer = setTimeout(() => {
          ros.off('close', onAuthClose);
          if (ros.isConnected) settle();
          else settle(new RosAuthError(url));
        }, this.options.authCheckMs ?? 300);
      };
      const timer = setTimeout(() => settle(new RosConnectError(url, `no connection within ${timeoutMs} ms`)), timeoutMs);
      ros.on('error', onError);
      ros.once('close', onClose);
      ros.once('connection', onOpen);
      ros.connect(url).catch((err: unknown) => settle(new RosConnectError(url, reasonOf(err))));
    });
  }

  /** Make `ros` the live socket: watch for its loss and (re)establish every topic on it. */
  private async attach(ros: Ros, reconnect: boolean): Promise<void> {
    if (this.isClosed) {
      ros.close();
      return;
    }
    const epoch = ++this.epoch;
    this.ros = ros;
    this.isUp = true;
    this.attempt = 0;
    // roslib reports a message it cannot parse (e.g. a bare NaN in a bridge's JSON) as an error: pass it on.
    ros.on('error', (e: unknown) => {
      if (epoch === this.epoch) this.emit('status', { level: 'error', msg: `rosbridge client: ${reasonOf(e)}` });
    });
    ros.once('close', (e: unknown) => {
      if (epoch !== this.epoch || this.isClosed) return;
      this.handleLoss(reasonOf(e));
    });
    for (const p of this.pubs) this.liveAdvertise(p, ros);
    for (const s of this.subs) this.liveSubscribe(s, ros, epoch);
    this.emit('connected', { url: this.url, reconnect, at: performance.now() });
  }

  private liveAdvertise(entry: PubEntry, ros: Ros): void {
    entry.live = new Topic({ ros, name: entry.topic, messageType: entry.type, latch: entry.latch, queue_size: entry.queueSize, reconnect_on_close: false });
    entry.live.advertise();
  }

  private liveSubscribe(entry: SubEntry, ros: Ros, epoch: number): void {
    const topic = new Topic({
      ros,
      name: entry.topic,
      messageType: entry.type,
      throttle_rate: entry.throttleMs,
      queue_length: entry.queueLength,
      reconnect_on_close: false,
    });
    topic.subscribe((message) => {
      if (epoch !== this.epoch || entry.closed) return;
      entry.handler(message, performance.now());
    });
    entry.live = topic;
  }

  private handleLoss(reason: string): void {
    this.epoch++;
    this.isUp = false;
    const old = this.ros;
    this.ros = undefined;
    for (const p of this.pubs) p.live = undefined;
    for (const s of this.subs) s.live = undefined;
    old?.removeAllListeners();
    this.emit('lost', { reason, at: performance.now() });
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const opts = this.reconnectOptions;
    if (this.isClosed || !opts) return;
    if (this.attempt >= opts.maxAttempts) {
      this.emit('failed', new RosConnectError(this.url, `gave up after ${this.attempt} reconnection attempts`));
      return;
    }
    const delayMs = backoffDelay(opts, this.attempt);
    this.attempt++;
    this.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.retryTimer = setTimeout(() => {
      if (this.isClosed) return;
      this.openSocket().then(
        (ros) => this.attach(ros, true),
        (err: unknown) => {
          if (this.isClosed) return;
          if (err instanceof RosAuthError) {
            this.emit('failed', err);
            return;
          }
          this.scheduleReconnect();
        },
      );
    }, delayMs);
  }
}
