import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RosAuthError, RosConnection, RosConnectError, RosServiceError, type RosStatusMessage } from '../../../src/ros/connection.js';
import { ObservationConfig, ObservationSource } from '../../../src/ros/observation-source.js';
import { decodePng } from '../../../src/ros/png-decode.js';
import { freePort, rosSuite, sleep, startPeer, startRobot, type Peer, type Robot, type Roscore } from '../../ros/harness.js';

/**
 * The SDK's connection and observation source against the rosbridge peer
 * on a real roscore, with the rospy robot publishing every observation
 * type: what the SDK receives is what rospy sent through the ROS graph.
 */

let core: Roscore;
let peer: Peer;
let robot: Robot;
let dir: string;
const conns: RosConnection[] = [];
rosSuite('flowpolicy-bridge-', {
  peer: true,
  ready: (s) => ({ core, peer, dir } = s),
  setup: async () => {
    robot = await startRobot(core.env, dir, ['--sensors', '--state-rate', '50', '--initial', '0.25,-0.5,0.75', '--command-type', 'array', '--command-topic', '/arm/positions']);
  },
  teardown: () => {
    for (const c of conns) c.close();
  },
});

async function open(url = peer.url, extra: Partial<Parameters<typeof RosConnection.open>[0]> = {}): Promise<RosConnection> {
  const c = await RosConnection.open({ url, ...extra });
  conns.push(c);
  return c;
}

async function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('RosConnection against the rosbridge peer', () => {
  it('resolves only once the socket is open, and receives a topic', async () => {
    const c = await open();
    expect(c.connected).toBe(true);
    const got: unknown[] = [];
    const sub = c.subscribe('/joint_states', 'sensor_msgs/JointState', (m) => got.push(m));
    await until(() => got.length >= 3, 10_000, 'joint states');
    sub.close();
    const n = got.length;
    await sleep(300);
    expect(got.length - n).toBeLessThanOrEqual(1); // unsubscribed (one may be in flight)
    expect(got[0]).toMatchObject({ name: ['j1', 'j2', 'j3'], position: [0.25, -0.5, 0.75], header: { stamp: { secs: expect.any(Number), nsecs: expect.any(Number) } } });
  });

  it('calls a ROS service, and fails with a typed error for a missing one', async () => {
    const c = await open();
    const res = await c.callService<Record<string, never>, { success: boolean; message: string }>('/robot/status', 'std_srvs/Trigger', {});
    expect(res.success).toBe(true);
    expect(JSON.parse(res.message)).toMatchObject({ position: [0.25, -0.5, 0.75] });
    await expect(c.callService('/no/such/service', 'std_srvs/Trigger', {}, 3000)).rejects.toThrow(RosServiceError);
  });

  it('reports rosbridge status errors for a malformed message, and publishes a good one onto ROS', async () => {
    const c = await open();
    const statuses: RosStatusMessage[] = [];
    c.on('status', (s) => statuses.push(s));
    const pub = c.advertise<Record<string, unknown>>('/arm/positions', 'std_msgs/Float64MultiArray');
    await sleep(300);
    expect(pub.publish({ data: 'not numbers' })).toBe(true);
    await until(() => statuses.length > 0, 5000, 'a status message');
    expect(statuses[0]).toMatchObject({ level: 'error' });
    expect(statuses[0].msg).toMatch(/data/);
    expect(pub.publish({ layout: { dim: [], data_offset: 0 }, data: [0.1, 0.2, 0.3] })).toBe(true);
    const status = async () => JSON.parse((await c.callService<object, { message: string }>('/robot/status', 'std_srvs/Trigger', {})).message) as { position: number[] };
    await until(() => true);
    let pos: number[] = [];
    for (let i = 0; i < 50 && pos[0] !== 0.1; i++) {
      pos = (await status()).position;
      await sleep(50);
    }
    expect(pos).toEqual([0.1, 0.2, 0.3]);
    expect(pub.publish({ layout: { dim: [], data_offset: 0 }, data: [0.25, -0.5, 0.75] })).toBe(true);
    pub.close();
  });

  it('drops (never queues) what is published while disconnected, and re-establishes topics after reconnecting with backoff', async () => {
    const port = await freePort();
    let p = await startPeer(core.env, port);
    const c = await open(p.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 400, factor: 2 } });
    const events: string[] = [];
    const delays: number[] = [];
    c.on('lost', () => events.push('lost'));
    c.on('connected', () => events.push('connected'));
    c.on('reconnecting', (e) => delays.push(e.delayMs));
    let states = 0;
    c.subscribe('/joint_states', 'sensor_msgs/JointState', () => states++);
    const pub = c.advertise<Record<string, unknown>>('/arm/positions', 'std_msgs/Float64MultiArray');
    await until(() => states > 3, 10_000, 'joint states');

    await p.proc.stop('SIGKILL');
    await until(() => events.includes('lost'), 2000, 'lost');
    expect(c.connected).toBe(false);
    // Published while down: refused at once, not queued for the next connection.
    expect(pub.publish({ layout: { dim: [], data_offset: 0 }, data: [0.9, 0.9, 0.9] })).toBe(false);
    await expect(c.callService('/robot/status', 'std_srvs/Trigger', {})).rejects.toThrow(/not connected/);
    await sleep(1200);
    expect(delays.slice(0, 4)).toEqual([50, 100, 200, 400]);
    expect(Math.max(...delays)).toBe(400);

    p = await startPeer(core.env, port);
    await until(() => events.filter((e) => e === 'connected').length === 1, 5000, 'reconnection');
    const before = states;
    await until(() => states > before + 3, 10_000, 'joint states after reconnecting');
    await sleep(500);
    const status = JSON.parse((await c.callService<object, { message: string }>('/robot/status', 'std_srvs/Trigger', {})).message) as { position: number[] };
    expect(status.position).toEqual([0.25, -0.5, 0.75]); // the refused 0.9s never arrived
    expect(pub.publish({ layout: { dim: [], data_offset: 0 }, data: [0.25, -0.5, 0.75] })).toBe(true);
    c.close();
    expect(c.connected).toBe(false);
  });

  it('fails with typed errors: nothing listening, credentials rejected; accepts good credentials', async () => {
    const port = await freePort();
    await expect(RosConnection.open({ url: `ws://127.0.0.1:${port}`, connectTimeoutMs: 2000 })).rejects.toThrow(RosConnectError);
    await expect(RosConnection.open({ url: 'http://127.0.0.1:1' })).rejects.toThrow(/ws:\/\//);

    const secret = 'flowpolicy-test-secret';
    const p = await startPeer(core.env, 0, ['--auth-secret', secret]);
    const t = Math.floor(Date.now() / 1000);
    const fields = { client: '127.0.0.1', dest: '127.0.0.1', rand: 'r4nd0m', t, level: 'admin', end: t + 3600 };
    const mac = createHash('sha512').update(`${secret}${fields.client}${fields.dest}${fields.rand}${fields.t}${fields.level}${fields.end}`).digest('hex');
    await expect(RosConnection.open({ url: p.url, auth: { ...fields, mac: 'f'.repeat(128) } })).rejects.toThrow(RosAuthError);
    const c = await open(p.url, { auth: { ...fields, mac } });
    let got = 0;
    c.subscribe('/joint_states', 'sensor_msgs/JointState', () => got++);
    await until(() => got > 2, 10_000, 'joint states through an authenticated connection');
  });
});

describe('ObservationSource on real ROS messages', () => {
  const config = ObservationConfig.parse({
    features: {
      'observation.state': [
        { topic: '/joint_states', type: 'sensor_msgs/JointState', joints: ['j3', 'j1'] },
        { topic: '/sensors/pose', type: 'geometry_msgs/PoseStamped', fields: ['z', 'x', 'qw'] },
        { topic: '/sensors/array', type: 'std_msgs/Float64MultiArray', indices: [1] },
      ],
      'observation.images.raw': [{ topic: '/sensors/image', type: 'sensor_msgs/Image', shape: [3, 3, 4] }],
      'observation.images.png': [{ topic: '/sensors/image/compressed', type: 'sensor_msgs/CompressedImage', shape: [3, 4, 3], layout: 'hwc' }],
    },
    maxAgeMs: 300,
  });

  it('maps JointState, PoseStamped, Float64MultiArray, Image and CompressedImage (PNG) to features', async () => {
    const c = await open();
    const bad: string[] = [];
    const src = new ObservationSource(config, { horizon: 2, framePeriodMs: 100, decoders: { png: decodePng }, onBadMessage: (t, e) => bad.push(`${t}: ${e.message}`) });
    expect(src.featureSizes()).toEqual({ 'observation.state': 6, 'observation.images.raw': 36, 'observation.images.png': 36 });
    src.attach(c);
    await until(() => src.status(performance.now()).ready, 10_000, 'every topic');
    await sleep(300); // two frames 100 ms apart need 100 ms of history
    const frames = src.frames(performance.now());
    src.detach();
    expect(bad).toEqual([]);
    expect(frames).toHaveLength(2);
    for (const f of frames) {
      expect(Array.from(f['observation.state']).map((v) => Number(v.toFixed(6)))).toEqual([0.75, 0.25, 0.75, 0.25, 1, -0.5]);
      // bgr8 Image in CHW: R = 10 x + y, G = 50 + frame % 100 (same on every pixel), B = 200 - x y
      const raw = f['observation.images.raw'];
      const px = (c: number, y: number, x: number) => Math.round(raw[c * 12 + y * 4 + x] * 255);
      expect(px(0, 2, 3)).toBe(32);
      expect(px(2, 2, 3)).toBe(194);
      const g = px(1, 0, 0);
      for (let i = 0; i < 12; i++) expect(Math.round(raw[12 + i] * 255)).toBe(g);
      // PNG in HWC
      const png = f['observation.images.png'];
      const at = (y: number, x: number, c: number) => Math.round(png[(y * 4 + x) * 3 + c] * 255);
      expect([at(1, 2, 0), at(1, 2, 2)]).toEqual([21, 198]);
    }
    // The two frames are 100 ms apart: the camera's frame counter (50 Hz) differs by about 5.
    const g0 = Math.round(frames[0]['observation.images.raw'][12] * 255);
    const g1 = Math.round(frames[1]['observation.images.raw'][12] * 255);
    expect((g1 - g0 + 100) % 100).toBeGreaterThanOrEqual(3);
    expect((g1 - g0 + 100) % 100).toBeLessThanOrEqual(7);
  });

  it('reports stale topics after the maximum age, NaN (sent as null) as non-finite, and counts bad messages', async () => {
    const c = await open();
    const statuses: string[] = [];
    c.on('status', (s) => statuses.push(s.msg));
    // Subscribing with the wrong type: the bridge refuses it (rosbridge status error), nothing arrives.
    const wrong = new ObservationSource(
      ObservationConfig.parse({ features: { 'observation.wrong': [{ topic: '/sensors/pose', type: 'sensor_msgs/JointState', joints: ['j1'] }] } }),
      { horizon: 1, framePeriodMs: 20 },
    );
    wrong.attach(c);
    await until(() => statuses.length > 0, 5000, 'a status error');
    // The refusal names the topic's type from its publisher, or from the subscription an earlier test's client may still hold.
    expect(statuses[0]).toMatch(/(published|subscribed) as geometry_msgs\/PoseStamped/);
    expect(wrong.status(performance.now()).missing).toEqual(['/sensors/pose']);
    wrong.detach();

    const bad: string[] = [];
    const ok = new ObservationSource(
      ObservationConfig.parse({ features: { 'observation.state': [{ topic: '/joint_states', type: 'sensor_msgs/JointState', joints: ['j1', 'j2', 'j3'] }] }, maxAgeMs: 150 }),
      { horizon: 1, framePeriodMs: 20, onBadMessage: (t, e) => bad.push(`${t}: ${e.message}`) },
    );
    ok.attach(c);
    await until(() => ok.status(performance.now()).ready, 10_000, 'fresh state');
    await robot.send('nan');
    await until(() => ok.status(performance.now()).nonFinite.length > 0, 5000, 'NaN state');
    expect(Number.isNaN(ok.frames(performance.now())[0]['observation.state'][0])).toBe(true);
    await robot.send('ok');
    await until(() => ok.status(performance.now()).ready, 5000, 'finite again');
    // A JointState with fewer positions than names is refused, naming the field, and counted; the topic goes stale.
    await robot.send('short');
    await until(() => bad.length > 2, 5000, 'bad messages');
    expect(bad[0]).toMatch(/\/joint_states: position .* expected one value per name \(3\)/);
    expect(ok.bad).toBeGreaterThan(2);
    await until(() => ok.status(performance.now()).stale.length > 0, 5000, 'stale after bad messages');
    await robot.send('ok');
    await until(() => ok.status(performance.now()).ready, 5000, 'whole again');
    const staleAt = (await robot.send('stale')) * 1000;
    await until(() => ok.status(performance.now()).stale.length > 0, 5000, 'stale');
    const detected = Date.now();
    expect(detected - staleAt).toBeGreaterThan(150 - 25);
    expect(detected - staleAt).toBeLessThan(150 + 200);
    await robot.send('fresh');
    await until(() => ok.status(performance.now()).ready, 5000, 'fresh again');
    ok.detach();
  });
});
