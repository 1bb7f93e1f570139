/**
 * Render task states to RGB images in Node with Three.js's real
 * WebGLRenderer, inside one headless Chromium page kept alive between calls
 * (starting Chromium costs about a second; a frame then costs milliseconds).
 *
 * The page and its modules (three, and the compiled scenes in dist/sim) are
 * served by a local static server on 127.0.0.1; the page exposes
 * `flowpolicyRender` (sim/render/page.ts), called through `page.evaluate`.
 *
 * Call `closeRenderer()` when done. As a safety net, Chromium also closes
 * after IDLE_CLOSE_MS without a render: an open browser keeps Node's event
 * loop alive, so a script that forgot would otherwise never exit.
 */

import type { Browser, Page } from 'playwright-core';
import type { RenderOptions, RgbImage } from '../env.js';
import { launchChromium } from './chromium.js';
import { requireBuilt } from './paths.js';
import { SCENE_TASKS } from './scenes.js';
import { defaultMounts, modulePage, startStaticServer, type StaticServer } from './static-server.js';

/** Default image size: Push-T's image observation (the original's render_size). */
export const DEFAULT_RENDER_SIZE = 96;
const MAX_SIDE = 4096;
/** Bytes of RGB per page round trip (base64 adds a third); larger batches are split. */
const BATCH_BYTES = 48 * 1024 * 1024;
/** Idle time after which the shared Chromium closes itself (the next render restarts it, ~1 s). */
export const IDLE_CLOSE_MS = 5_000;

interface Session {
  browser: Browser;
  page: Page;
  server: StaticServer;
}

let session: Promise<Session> | undefined;
let inFlight = 0;
let idleTimer: NodeJS.Timeout | undefined;

function busy(): void {
  inFlight++;
  clearTimeout(idleTimer);
}

function idle(): void {
  if (--inFlight > 0) return;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void closeRenderer(), IDLE_CLOSE_MS);
  idleTimer.unref();
}

async function open(): Promise<Session> {
  requireBuilt('render/page.js');
  const server = await startStaticServer({ pages: { '/': modulePage('flowpolicy render', '/sim/render/page.js') }, mounts: defaultMounts() });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${server.url}/`);
    await page
      .waitForFunction(() => typeof (globalThis as { flowpolicyRender?: unknown }).flowpolicyRender === 'function', undefined, { timeout: 30_000 })
      .catch(() => {
        throw new Error(`the render page did not start${errors.length ? `: ${errors.join('; ')}` : ''}`);
      });
    server.server.unref();
    return { browser, page, server };
  } catch (err) {
    await browser?.close().catch(() => {});
    await server.close();
    throw err;
  }
}

function session_(): Promise<Session> {
  session ??= open().catch((err) => {
    session = undefined;
    throw err;
  });
  return session;
}

function side(value: number | undefined, name: string): number {
  const v = value ?? DEFAULT_RENDER_SIZE;
  if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE) throw new RangeError(`render ${name} must be an integer in 1..${MAX_SIDE}, got ${v}`);
  return v;
}

/** Render many states of one task (e.g. an episode for a video) in as few page round trips as fit. */
export async function renderTaskStates(task: string, states: readonly ArrayLike<number>[], options: RenderOptions = {}): Promise<RgbImage[]> {
  if (!SCENE_TASKS.includes(task)) throw new Error(`no scene for task '${task}' (scenes exist for: ${SCENE_TASKS.join(', ')})`);
  const width = side(options.width, 'width');
  const height = side(options.height, 'height');
  const rows = states.map((s, i) => {
    const row = Array.from(s, Number);
    if (!row.every(Number.isFinite)) throw new RangeError(`state ${i} of task '${task}' has a non-finite entry: [${row.join(', ')}]`);
    return row;
  });
  if (rows.length === 0) return [];
  busy();
  try {
    return await renderRows(task, rows, width, height);
  } finally {
    idle();
  }
}

async function renderRows(task: string, rows: number[][], width: number, height: number): Promise<RgbImage[]> {
  const { page } = await session_();
  const frameBytes = width * height * 3;
  const perCall = Math.max(1, Math.floor(BATCH_BYTES / frameBytes));
  const images: RgbImage[] = [];
  for (let i = 0; i < rows.length; i += perCall) {
    const batch = rows.slice(i, i + perCall);
    const b64 = await page.evaluate(
      ([t, s, w, h]) => (globalThis as unknown as { flowpolicyRender(t: string, s: number[][], w: number, h: number): Promise<string> }).flowpolicyRender(t, s, w, h),
      [task, batch, width, height] as const,
    );
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length !== frameBytes * batch.length) throw new Error(`render page returned ${bytes.length} bytes for ${batch.length} frames of ${width}x${height}`);
    for (let j = 0; j < batch.length; j++) {
      images.push({ width, height, data: new Uint8Array(bytes.buffer, bytes.byteOffset + j * frameBytes, frameBytes).slice() });
    }
  }
  return images;
}

/** Render one state (default 96 x 96). */
export async function renderTaskState(task: string, state: ArrayLike<number>, options: RenderOptions = {}): Promise<RgbImage> {
  const [image] = await renderTaskStates(task, [state], options);
  return image;
}

/** Close the shared Chromium and its server (the next render starts them again). */
export async function closeRenderer(): Promise<void> {
  clearTimeout(idleTimer);
  const current = session;
  session = undefined;
  if (!current) return;
  const s = await current.catch(() => undefined);
  if (!s) return;
  await s.browser.close().catch(() => {});
  await s.server.close();
}
