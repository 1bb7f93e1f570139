import { afterAll, describe, expect, it } from 'vitest';
import type { RgbImage } from '../../sim/env.js';
import { toWorld, type Pose } from '../../sim/pusht/tee.js';
import { GOAL_POSE } from '../../sim/pusht/coverage.js';
import { encodeGif } from '../../sim/render/gif.js';
import { resizeBilinear } from '../../sim/render/resample.js';
import { closeRenderer, renderTaskState, renderTaskStates } from '../../sim/render/renderer.js';

/**
 * The renderer draws with Three.js's real WebGLRenderer in headless
 * Chromium (no mocks): these tests fail, with the install hint, where
 * Chromium is missing. Pixel checks sit well inside flat regions, where
 * colours must be exact.
 */

afterAll(() => closeRenderer());

/**
 * The original's colours as bytes (pygame named colours; light = 1.2 x,
 * truncated, as pymunk_override's light_color), written out here rather
 * than imported so a wrong constant in the scene fails too.
 */
const PUSHT_COLORS = {
  background: [255, 255, 255],
  goal: [144, 238, 144], // LightGreen
  wall: [211, 211, 211], // LightGray
  blockOutline: [119, 136, 153], // LightSlateGray
  blockFill: [142, 163, 183], // light LightSlateGray
  agent: [65, 105, 225], // RoyalBlue
  agentInner: [78, 126, 255], // light RoyalBlue
};

// Agent top-left, block lower-right, both clear of the goal's stem tip (local (0, 100) at the goal pose).
const STATE = [100, 120, 380, 330, 0.3];
const BLOCK: Pose = [STATE[2], STATE[3], STATE[4]];

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (Math.floor(y) * img.width + Math.floor(x)) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

/** The pixel of a W x H image covering world point (x, y) of the 512 x 512 workspace. */
function at(img: RgbImage, [x, y]: readonly number[]): number[] {
  return pixel(img, (x * img.width) / 512, (y * img.height) / 512);
}

const agentCentre = (s: number[]) => [s[0], s[1]];
const barCentre = toWorld(BLOCK, [0, 15]); // middle of the bar (-60,0)-(60,30)
const goalStem = toWorld(GOAL_POSE, [0, 100]); // inside the goal's stem

describe('renderTaskState (Push-T)', () => {
  it('draws the agent, block, goal, walls and background in the original colours at 512 x 512', async () => {
    const img = await renderTaskState('pusht', STATE, { width: 512, height: 512 });
    expect([img.width, img.height, img.data.length]).toEqual([512, 512, 512 * 512 * 3]);
    expect(at(img, agentCentre(STATE))).toEqual([...PUSHT_COLORS.agentInner]);
    expect(at(img, [STATE[0] + 13, STATE[1]])).toEqual([...PUSHT_COLORS.agent]); // the ring between radius 11 and 15
    expect(at(img, barCentre)).toEqual([...PUSHT_COLORS.blockFill]);
    expect(at(img, toWorld(BLOCK, [-60, 15]))).toEqual([...PUSHT_COLORS.blockOutline]); // on the bar's left edge
    expect(at(img, goalStem)).toEqual([...PUSHT_COLORS.goal]);
    expect(at(img, [5, 256])).toEqual([...PUSHT_COLORS.wall]);
    expect(pixel(img, 0, 0)).toEqual([...PUSHT_COLORS.background]);
    expect(pixel(img, 300, 40)).toEqual([...PUSHT_COLORS.background]);
    // y points down: the agent (y = 120) is in the top half, not mirrored to y = 392.
    expect(at(img, [STATE[0], 512 - STATE[1]])).toEqual([...PUSHT_COLORS.background]);
  });

  it('draws the same scene at the default 96 x 96 (drawn at 512, resized as cv2.resize)', async () => {
    const img = await renderTaskState('pusht', STATE);
    expect([img.width, img.height]).toEqual([96, 96]);
    expect(at(img, agentCentre(STATE))).toEqual([...PUSHT_COLORS.agentInner]);
    expect(at(img, barCentre)).toEqual([...PUSHT_COLORS.blockFill]);
    expect(at(img, goalStem)).toEqual([...PUSHT_COLORS.goal]);
    expect(pixel(img, 0, 0)).toEqual([...PUSHT_COLORS.background]);
    expect(pixel(img, 50, 10)).toEqual([...PUSHT_COLORS.background]);
    // Mostly flat colours: edges blend, nothing else does.
    const palette = new Set(Object.values(PUSHT_COLORS).map((c) => c.join()));
    let flat = 0;
    for (let i = 0; i < img.data.length; i += 3) if (palette.has(`${img.data[i]},${img.data[i + 1]},${img.data[i + 2]}`)) flat++;
    expect(flat / (96 * 96)).toBeGreaterThan(0.85);
  });

  it('moves the agent pixels with the agent (negative control)', async () => {
    const moved = [400, 80, ...STATE.slice(2)];
    const [a, b] = await renderTaskStates('pusht', [STATE, moved]);
    expect(at(a, agentCentre(STATE))).toEqual([...PUSHT_COLORS.agentInner]);
    expect(at(b, agentCentre(STATE))).toEqual([...PUSHT_COLORS.background]);
    expect(at(b, agentCentre(moved))).toEqual([...PUSHT_COLORS.agentInner]);
    expect(at(a, agentCentre(moved))).toEqual([...PUSHT_COLORS.background]);
    // The batch renders what single calls render.
    const single = await renderTaskState('pusht', moved);
    expect(Buffer.from(single.data).equals(Buffer.from(b.data))).toBe(true);
  });

  it('rejects unknown tasks and bad sizes with a clear message', async () => {
    await expect(renderTaskState('no-such-task', STATE)).rejects.toThrow(/no scene for task 'no-such-task'.*pusht/);
    await expect(renderTaskState('pusht', STATE, { width: 0 })).rejects.toThrow(/width/);
    await expect(renderTaskState('pusht', [1, 2, Number.NaN, 4, 5])).rejects.toThrow(/non-finite/);
  });

  it('names the path tried and the fix when Chromium is missing', async () => {
    await closeRenderer();
    const saved = process.env.FLOWPOLICY_CHROMIUM;
    process.env.FLOWPOLICY_CHROMIUM = '/nonexistent/chromium';
    try {
      await expect(renderTaskState('pusht', STATE)).rejects.toThrow(/\/nonexistent\/chromium.*apt-get install -y chromium.*FLOWPOLICY_CHROMIUM/);
    } finally {
      if (saved === undefined) delete process.env.FLOWPOLICY_CHROMIUM;
      else process.env.FLOWPOLICY_CHROMIUM = saved;
    }
  });
});

describe('resizeBilinear (cv2.resize INTER_LINEAR)', () => {
  it('keeps flat regions exact and blends an edge monotonically', () => {
    const w = 512;
    const src = new Uint8Array(w * w * 3);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) src.fill(x < 253 ? 200 : 40, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const out = resizeBilinear(src, w, w, 96, 96);
    const row = Array.from({ length: 96 }, (_, x) => out[(10 * 96 + x) * 3]);
    expect(row.slice(0, 40).every((v) => v === 200)).toBe(true);
    expect(row.slice(56).every((v) => v === 40)).toBe(true);
    for (let x = 1; x < 96; x++) expect(row[x]).toBeLessThanOrEqual(row[x - 1]);
    expect(row.some((v) => v > 40 && v < 200)).toBe(true); // pixel 47 samples source x 252 and 253: a blend
  });
});

describe('encodeGif', () => {
  it('writes a looping GIF89a of the frames size', () => {
    const frame = (v: number): RgbImage => ({ width: 20, height: 10, data: new Uint8Array(20 * 10 * 3).fill(v) });
    const gif = encodeGif([frame(0), frame(128), frame(255)], 10);
    expect(Buffer.from(gif.subarray(0, 6)).toString('latin1')).toBe('GIF89a');
    expect(gif[6] | (gif[7] << 8)).toBe(20);
    expect(gif[8] | (gif[9] << 8)).toBe(10);
    expect(Buffer.from(gif).includes(Buffer.from('NETSCAPE2.0'))).toBe(true);
    expect(gif[gif.length - 1]).toBe(0x3b);
    expect(() => encodeGif([frame(0), { width: 5, height: 5, data: new Uint8Array(75) }], 10)).toThrow(/differ in size/);
  });
});
