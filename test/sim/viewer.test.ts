import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../sim/render/chromium.js';
import type { StateMessage } from '../../sim/viewer/protocol.js';
import type { TeleopEpisode } from '../../sim/viewer/recorder.js';
import { startViewer, type Viewer } from '../../sim/viewer/server.js';

/**
 * The viewer end to end: the real Push-T env stepping in the server, the
 * real page in headless Chromium (no mocks; fails with the install hint
 * where Chromium is missing), driven with real mouse events.
 */

let viewer: Viewer;
let browser: Browser;
let page: Page;
const saved: TeleopEpisode[][] = [];

beforeAll(async () => {
  viewer = await startViewer({ task: 'pusht', seed: 0, onSave: (episodes) => void saved.push(episodes) });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 900, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(viewer.url);
  await page.waitForFunction(() => ((globalThis as any).flowpolicyViewer?.frames ?? 0) > 0, undefined, { timeout: 30_000 }).catch(() => {
    throw new Error(`the viewer page never drew a frame${errors.length ? `: ${errors.join('; ')}` : ''}`);
  });
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
});

const lastState = (): Promise<StateMessage> => page.evaluate(() => (globalThis as any).flowpolicyViewer.state);

/** The canvas as RGBA bytes (the WebGL canvas keeps its drawing buffer). */
async function canvasPixels(): Promise<Uint8Array> {
  const b64 = await page.evaluate(() => {
    const canvas = document.getElementById('view') as HTMLCanvasElement;
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const ctx = copy.getContext('2d')!;
    ctx.drawImage(canvas, 0, 0);
    const data = ctx.getImageData(0, 0, copy.width, copy.height).data;
    let s = '';
    for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return btoa(s);
  });
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

const rgbAt = (px: Uint8Array, x: number, y: number) => Array.from(px.subarray((Math.floor(y) * 512 + Math.floor(x)) * 4, (Math.floor(y) * 512 + Math.floor(x)) * 4 + 3));

/** Page coordinates of a world point (the canvas shows the 512 x 512 workspace at 1:1, inside a 1 px border). */
async function pagePoint(x: number, y: number): Promise<[number, number]> {
  const box = (await page.locator('#view').boundingBox())!;
  return [box.x + 1 + x, box.y + 1 + y];
}

describe('flowpolicy view (Push-T)', () => {
  it('draws the state it is sent, and Reset with another seed changes the frame', async () => {
    const before = await lastState();
    expect(before.seed).toBe(0);
    const px0 = await canvasPixels();
    // The agent's centre is drawn in the light RoyalBlue of the original.
    expect(rgbAt(px0, before.state[0], before.state[1])).toEqual([78, 126, 255]);

    await page.fill('#seed', '1');
    await page.click('#reset');
    await page.waitForFunction(() => (globalThis as any).flowpolicyViewer.state?.seed === 1);
    await page.waitForTimeout(300); // a tick or two: the frame of the new state is drawn
    const after = await lastState();
    expect(after.step).toBe(0);
    expect(after.state.slice(0, 2)).not.toEqual(before.state.slice(0, 2));
    const px1 = await canvasPixels();
    let changed = 0;
    for (let i = 0; i < px0.length; i += 4) if (px0[i] !== px1[i] || px0[i + 1] !== px1[i + 1] || px0[i + 2] !== px1[i + 2]) changed++;
    expect(changed).toBeGreaterThan(2000);
    expect(rgbAt(px1, after.state[0], after.state[1])).toEqual([78, 126, 255]);
    expect(rgbAt(px1, before.state[0], before.state[1])).not.toEqual([78, 126, 255]);
  });

  it('a mouse drag steers the agent toward the pointer, and a recorded episode is saved', async () => {
    await page.fill('#seed', '0');
    await page.click('#reset');
    await page.waitForFunction(() => (globalThis as any).flowpolicyViewer.state?.seed === 0 && (globalThis as any).flowpolicyViewer.state?.step === 0);
    await page.check('#record');
    const start = await lastState();
    const [ax, ay] = start.state; // seed 0: agent (222, 97), block far below
    const target = [ax + 90, ay + 50];
    const startDistance = Math.hypot(target[0] - ax, target[1] - ay);

    await page.mouse.move(...(await pagePoint(ax, ay)));
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(...(await pagePoint(ax + (90 * i) / 10, ay + (50 * i) / 10)));
    await page.waitForFunction(() => (globalThis as any).flowpolicyViewer.state.step >= 15, undefined, { timeout: 10_000 });
    await page.mouse.up();

    const end = await lastState();
    expect(end.teleopActive).toBe(true);
    expect(end.recording).toBe(true);
    const endDistance = Math.hypot(target[0] - end.state[0], target[1] - end.state[1]);
    expect(endDistance).toBeLessThan(0.25 * startDistance);

    // Reset closes the episode; Save hands it to the callback.
    await page.click('#reset');
    await page.waitForFunction(() => (globalThis as any).flowpolicyViewer.state?.recordedEpisodes === 1);
    await page.click('#save');
    await expect.poll(() => saved.length, { timeout: 5_000 }).toBe(1);
    const [episode] = saved[0];
    const n = episode.states.length;
    expect(n).toBeGreaterThanOrEqual(15);
    expect(Object.keys(episode.features).sort()).toEqual(['action', 'observation.environment_state', 'observation.state']);
    for (const rows of Object.values(episode.features)) expect(rows).toHaveLength(n);
    expect(episode.features['observation.state'][0]).toHaveLength(2);
    expect(episode.features['observation.environment_state'][0]).toHaveLength(18);
    expect(episode.states[0]).toBeInstanceOf(Float64Array);
    expect(Array.from(episode.states[0])).toEqual(start.state);
    // The last action recorded is the pointer's final position (world pixels).
    const last = episode.features.action[n - 1];
    expect(Math.abs(last[0] - target[0])).toBeLessThan(2);
    expect(Math.abs(last[1] - target[1])).toBeLessThan(2);
  });
});
