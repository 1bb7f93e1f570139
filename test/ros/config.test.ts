import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InputErrors } from '../../src/core/errors.js';
import { parseInput } from '../../src/core/schema.js';
import { fromRosTime, jointTrajectoryMsg, rosTime, tickStamp } from '../../src/ros/messages.js';
import { ObservationConfig, ObservationSource } from '../../src/ros/observation-source.js';
import { decodePng } from '../../src/ros/png-decode.js';
import { parseRobotConfig } from '../../src/ros/ros-config.js';
import { createScriptedPolicy, parseScriptedSpec } from '../../src/ros/scripted-policy.js';

/** Pure parts of the ROS bridge: time fields, configs, the time-aligned buffer, PNG decoding, scripted policies. */

function jointState(t: number, position: (number | null)[], names = ['a', 'b']) {
  return { header: { seq: 0, stamp: rosTime(t, 1), frame_id: '' }, name: names, position, velocity: [], effort: [] };
}

describe('time fields', () => {
  it('writes ROS 1 {secs, nsecs} and ROS 2 {sec, nanosec}', () => {
    expect(rosTime(12.5, 1)).toEqual({ secs: 12, nsecs: 500_000_000 });
    expect(rosTime(12.5, 2)).toEqual({ sec: 12, nanosec: 500_000_000 });
    expect(rosTime(0.9999999999, 1)).toEqual({ secs: 1, nsecs: 0 });
    expect(fromRosTime({ sec: 3, nanosec: 250_000_000 })).toBe(3.25);
    const m1 = jointTrajectoryMsg({ joints: ['a'], positions: [[1], [2]], periodS: 0.01, stamp: rosTime(5, 1), frameId: 'base', version: 1 });
    expect(m1).toMatchObject({ header: { seq: 0, stamp: { secs: 5, nsecs: 0 }, frame_id: 'base' }, points: [{ time_from_start: { secs: 0, nsecs: 10_000_000 } }, { time_from_start: { secs: 0, nsecs: 20_000_000 } }] });
    const m2 = jointTrajectoryMsg({ joints: ['a'], positions: [[1]], periodS: 0.01, stamp: rosTime(5, 2), frameId: '', version: 2 });
    expect(m2.header).toEqual({ stamp: { sec: 5, nanosec: 0 }, frame_id: '' }); // ROS 2 headers have no seq
    expect((m2.points as { time_from_start: unknown }[])[0].time_from_start).toEqual({ sec: 0, nanosec: 10_000_000 });
  });

  it('stamps control ticks exactly, whole nanoseconds, even at rates that do not divide a second', () => {
    const start = 1_795_397_242_838; // ms since the epoch, as Date.now() gives
    let prev = tickStamp(start, 0, 30, 1) as { secs: number; nsecs: number };
    expect(prev).toEqual({ secs: 1_795_397_242, nsecs: 838_000_000 });
    const bad: string[] = [];
    for (let k = 1; k < 200_000; k++) {
      const s = tickStamp(start, k, 30, 1) as { secs: number; nsecs: number };
      const dns = (s.secs - prev.secs) * 1e9 + (s.nsecs - prev.nsecs);
      if (Math.abs(dns - 1e9 / 30) > 1 || !Number.isInteger(s.nsecs) || s.nsecs < 0 || s.nsecs >= 1e9) bad.push(`${k}: ${JSON.stringify(s)}`);
      prev = s;
    }
    expect(bad).toEqual([]);
    // a float of seconds would not do: its resolution at this epoch is ~0.24 us
    expect(Math.abs(((start + 1000 / 30) / 1000 - start / 1000) * 1e9 - 1e9 / 30)).toBeGreaterThan(1);
  });
});

describe('robot config', () => {
  const base = {
    rate: 50,
    joints: ['a', 'b'],
    state: { topic: '/joint_states' },
    observation: { features: { 'observation.state': [{ topic: '/joint_states', type: 'sensor_msgs/JointState', joints: ['a', 'b'] }] } },
    command: { topic: '/cmd', type: 'trajectory_msgs/JointTrajectory' },
    limits: { a: { position: [-1, 1], velocity: 1, acceleration: 2 }, b: { position: [-1, 1], velocity: 1, acceleration: 2 } },
  };

  it('fills defaults', () => {
    const c = parseRobotConfig(base);
    expect(c.rosVersion).toBe(1);
    expect(c.action.merge).toEqual({ mode: 'latest' });
    expect(c.observation.maxAgeMs).toBe(250);
    expect(c.command.points).toBe(1);
    expect(parseRobotConfig({ ...base, action: { merge: { mode: 'ensemble' } } }).action.merge).toEqual({ mode: 'ensemble', m: 0.01 });
  });

  it('names every bad field with its value and what was expected', () => {
    const errs = (input: unknown) => {
      try {
        parseRobotConfig(input, 'robot.json');
      } catch (e) {
        expect(e).toBeInstanceOf(InputErrors);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(errs({ ...base, limits: { a: base.limits.a } })).toMatch(/robot.json: limits.b = undefined, expected limits for joint b/);
    expect(errs({ ...base, limits: { ...base.limits, c: base.limits.a } })).toMatch(/limits.c = .* expected a joint of "joints"/);
    expect(errs({ ...base, rate: 0 })).toMatch(/rate = 0, expected > 0/);
    expect(errs({ ...base, rosVersion: 3 })).toMatch(/rosVersion = 3/);
    expect(errs({ ...base, action: { merge: { mode: 'average' } } })).toMatch(/action.merge.mode = "average", expected one of "latest", "blend", "ensemble", "rtc"/);
    expect(errs({ ...base, limits: { ...base.limits, a: { position: [1, -1], velocity: 1, acceleration: 1 } } })).toMatch(/limits.a.position/);
    expect(errs({ ...base, state: undefined })).toMatch(/state = undefined, expected .*JointState/);
    expect(errs({ ...base, command: { topic: '/cmd_vel', type: 'geometry_msgs/Twist' } })).toMatch(/joints\[0\] = "a", expected a twist axis/);
    expect(errs({ ...base, comand: {} })).toMatch(/comand = .* no such field/);
  });

  it('checks observation sources', () => {
    const bad = (features: unknown) => () => parseInput(ObservationConfig, { features }, 'cfg');
    expect(bad({ x: [{ topic: '/a', type: 'std_msgs/Float64MultiArray' }] })).toThrow(/exactly one of size or indices/);
    expect(bad({ x: [{ topic: '/a', type: 'sensor_msgs/Image', shape: [3, 2, 2] }, { topic: '/b', type: 'std_msgs/Float64MultiArray', size: 2 }] })).toThrow(/an image feature has exactly one source/);
    expect(bad({ x: [{ topic: '/a', type: 'sensor_msgs/Foo' }] })).toThrow(/type/);
    expect(bad({ x: [{ topic: 'bad topic', type: 'std_msgs/Float64MultiArray', size: 1 }] })).toThrow(/topic/);
  });
});

describe('observation buffer', () => {
  const config = ObservationConfig.parse({
    features: {
      'observation.state': [
        { topic: '/fast', type: 'sensor_msgs/JointState', joints: ['b', 'a'] },
        { topic: '/slow', type: 'std_msgs/Float64MultiArray', size: 1 },
      ],
    },
    maxAgeMs: 150,
  });

  it('builds the last To frames aligned in time, each topic at its latest message before each instant', () => {
    const src = new ObservationSource(config, { horizon: 3, framePeriodMs: 100 });
    // /fast at 100 Hz (a = t in s, b = -t), /slow at 10 Hz (value = t)
    for (let t = 0; t <= 1000; t += 10) src.ingest('/fast', jointState(t / 1000, [t / 1000, -t / 1000]), t);
    for (let t = 5; t <= 1000; t += 100) src.ingest('/slow', { layout: { dim: [], data_offset: 0 }, data: [t / 1000] }, t);
    const frames = src.frames(1000);
    expect(frames.map((f) => Array.from(f['observation.state']).map((v) => Number(v.toFixed(3))))).toEqual([
      [-0.8, 0.8, 0.705], // at 800: fast@800, slow@705
      [-0.9, 0.9, 0.805],
      [-1, 1, 0.905],
    ]);
    expect(src.status(1000).ready).toBe(true);
    // 1000 ms later nothing new: both stale, by their ages
    const s = src.status(2000);
    expect(s.stale.sort()).toEqual(['/fast', '/slow']);
    expect(s.ageMs['/fast']).toBe(1000);
    expect(s.ageMs['/slow']).toBe(1095);
  });

  it('with stamp "header", places messages at their header stamps (ROS wall clock) and keeps them in time order', () => {
    const cfg = ObservationConfig.parse({ features: { s: [{ topic: '/fast', type: 'sensor_msgs/JointState', joints: ['a'] }] }, stamp: 'header', maxAgeMs: 100 });
    const src = new ObservationSource(cfg, { horizon: 2, framePeriodMs: 50 });
    const wall = (t: number) => (performance.timeOrigin + t) / 1000; // the message's stamp for clock time t
    src.ingest('/fast', jointState(wall(1000), [1, 0]), 5000); // arrival time is ignored
    src.ingest('/fast', jointState(wall(1050), [2, 0]), 5001);
    src.ingest('/fast', jointState(wall(1020), [9, 0]), 5002); // older than the newest: dropped
    expect(src.frames(1060).map((f) => f.s[0])).toEqual([1, 2]);
    expect(Math.round(src.status(1060).ageMs['/fast'])).toBe(10);
  });

  it('repeats the first frame at the start of a stream, marks NaN (JSON null) non-finite, and forgets everything on clear()', () => {
    const bad: string[] = [];
    const src = new ObservationSource(config, { horizon: 2, framePeriodMs: 100, onBadMessage: (_t, e) => bad.push(e.message) });
    expect(() => src.frames(0)).toThrow(/no message on \/fast/);
    src.ingest('/fast', jointState(0, [1, 2]), 0);
    src.ingest('/slow', { layout: { dim: [], data_offset: 0 }, data: [3] }, 0);
    expect(src.frames(10).map((f) => Array.from(f['observation.state']))).toEqual([
      [2, 1, 3],
      [2, 1, 3],
    ]);
    src.ingest('/fast', jointState(0.02, [null, 2]), 20);
    expect(src.status(25).nonFinite).toEqual(['/fast']);
    expect(src.status(25).ready).toBe(false);
    src.ingest('/fast', jointState(0.03, [1, 2], ['a', 'c']), 30); // joint b missing
    expect(bad[0]).toMatch(/a value for joint b/);
    expect(src.bad).toBe(1);
    src.clear();
    expect(src.status(40).missing.sort()).toEqual(['/fast', '/slow']);
  });
});

describe('PNG decoding', () => {
  function png(width: number, height: number, channels: number, colour: number, rows: number[][], filters: number[]): Uint8Array {
    const crcTable = Array.from({ length: 256 }, (_, n) => {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      return c >>> 0;
    });
    const crc = (b: Uint8Array) => {
      let c = 0xffffffff;
      for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
      return (c ^ 0xffffffff) >>> 0;
    };
    const chunk = (type: string, data: Uint8Array) => {
      const out = new Uint8Array(12 + data.length);
      const v = new DataView(out.buffer);
      v.setUint32(0, data.length);
      out.set(Buffer.from(type, 'ascii'), 4);
      out.set(data, 8);
      v.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
      return out;
    };
    const ihdr = new Uint8Array(13);
    new DataView(ihdr.buffer).setUint32(0, width);
    new DataView(ihdr.buffer).setUint32(4, height);
    ihdr.set([8, colour, 0, 0, 0], 8);
    // Encode each row with its filter (sub: 1, up: 2, average: 3, paeth: 4) from the raw bytes.
    const stride = width * channels;
    const raw: number[] = [];
    rows.forEach((row, y) => {
      const prev = y > 0 ? rows[y - 1] : new Array(stride).fill(0);
      raw.push(filters[y]);
      row.forEach((v, x) => {
        const a = x >= channels ? row[x - channels] : 0;
        const b = prev[x];
        const c = x >= channels ? prev[x - channels] : 0;
        const p = a + b - c;
        const pred = [0, a, b, (a + b) >> 1, Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c][filters[y]];
        raw.push((v - pred) & 0xff);
      });
    });
    const parts = [Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Uint8Array.from(raw))), chunk('IEND', new Uint8Array())];
    return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  }

  it('decodes RGB and grey PNGs with every row filter', () => {
    const rows = Array.from({ length: 5 }, (_, y) => Array.from({ length: 4 * 3 }, (_, i) => (y * 37 + i * 11 + ((i * y) % 7) * 29) & 0xff));
    const img = decodePng(png(4, 5, 3, 2, rows, [0, 1, 2, 3, 4]));
    expect(img).toMatchObject({ width: 4, height: 5, channels: 3 });
    expect(Array.from(img.data)).toEqual(rows.flat());
    const grey = [[0, 255, 7], [9, 8, 200]];
    expect(Array.from(decodePng(png(3, 2, 1, 0, grey, [4, 3])).data)).toEqual(grey.flat());
    expect(() => decodePng(Uint8Array.from([1, 2, 3]))).toThrow(/PNG/);
  });
});

describe('scripted joint-space policies', () => {
  it('sine: starts at rest at the first observation, rows are exact functions of time', () => {
    const p = createScriptedPolicy('scripted:sine?dim=2&amp=0.4&period=2&rate=50&horizon=8&execute=4');
    const obs = { 'observation.state': [0.1, -0.1] };
    const c0 = p.act([obs, obs], { timeS: 10 } as never);
    expect(c0.start).toBe(1);
    expect(c0.actions[c0.start * 2]).toBeCloseTo(0.1, 6);
    const c1 = p.act([obs, obs], { timeS: 10.04 } as never);
    // Row start of the second chunk (t = 0.04) equals row start + 2 of the first.
    expect(c1.actions[c1.start * 2]).toBe(c0.actions[(c0.start + 2) * 2]);
    expect(c1.actions[c1.start * 2 + 1]).toBe(c0.actions[(c0.start + 2) * 2 + 1]);
    expect(c1.actions[c1.start * 2]).toBeCloseTo(0.1 + 0.4 * 0.5 * (1 - Math.cos(Math.PI * 0.04)), 6);
  });

  it('refuses bad specs, naming the parameter', () => {
    expect(() => parseScriptedSpec('scripted:wave')).toThrow(/scripted:sine/);
    expect(() => parseScriptedSpec('scripted:sine?amp=x')).toThrow(/amp/);
    expect(() => parseScriptedSpec('scripted:sine?horizon=4&obsHorizon=2&execute=4')).toThrow(/execute/);
    expect(() => parseScriptedSpec('scripted:constant?dim=3&value=1,2')).toThrow(/value/);
    expect(() => parseScriptedSpec('scripted:hold?speed=1')).toThrow(/speed/);
    expect(parseScriptedSpec('scripted:nan?after=3').after).toBe(3);
  });
});
