/**
 * Headless Chromium through playwright-core: the only WebGL this project
 * has in Node (no GPU; Chromium falls back to its software renderer).
 * Used by the renderer and by tests that drive the viewer.
 */

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The flags measured to work as root with no display or GPU (see PLATFORM.md). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The Chromium binary: $FLOWPOLICY_CHROMIUM, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  return process.env.FLOWPOLICY_CHROMIUM ?? '/usr/bin/chromium';
}

function missing(path: string, cause?: unknown): Error {
  const why = cause instanceof Error ? ` (${cause.message.split('\n')[0]})` : '';
  return new Error(
    `cannot start Chromium at ${path}${why}: rendering needs headless Chromium; install it with \`apt-get install -y chromium\` or set FLOWPOLICY_CHROMIUM to a Chromium binary`,
  );
}

export async function launchChromium(): Promise<Browser> {
  const path = chromiumPath();
  if (!existsSync(path)) throw missing(path);
  try {
    return await chromium.launch({ executablePath: path, args: CHROMIUM_ARGS });
  } catch (err) {
    throw missing(path, err);
  }
}
