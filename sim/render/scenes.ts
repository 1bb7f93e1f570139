/**
 * Which Three.js scene draws which task. Runs in the browser (the render
 * page and the viewer import it from dist/) and in Node (for the task names
 * only; the loaders run in the page).
 *
 * A task plugs in by adding one entry whose module exports
 * `createScene(): TaskScene` (see sim/scene.ts).
 */

import type { TaskScene } from '../scene.js';

export interface SceneModule {
  createScene(): TaskScene;
}

export interface SceneEntry {
  load(): Promise<SceneModule>;
  /**
   * The size the task's original renderer draws at, when images of other
   * sizes are that drawing resized (Push-T: 512 x 512, then OpenCV's
   * bilinear `cv2.resize` to 96 x 96). The render page then draws at this
   * size and resizes the same way, so thin lines (walls, outlines) blend as
   * in the original instead of vanishing between pixel centres. Without
   * it, the scene is drawn directly at the requested size.
   */
  nativeSize?: { width: number; height: number };
}

/**
 * Import a scene module by a path known only at run time, so this file
 * type-checks before that task's scene exists (its loader fails clearly
 * until then).
 */
function importByPath(path: string): Promise<SceneModule> {
  return import(path) as Promise<SceneModule>;
}

export const SCENES: Readonly<Record<string, SceneEntry>> = {
  pusht: { load: () => import('../pusht/scene.js'), nativeSize: { width: 512, height: 512 } },
  'arm-reach': { load: () => importByPath('../arm/scene.js') },
};

export const SCENE_TASKS: readonly string[] = Object.keys(SCENES);

/** The scene of a task, e.g. `await loadScene('pusht')`. */
export async function loadScene(task: string): Promise<TaskScene> {
  const entry = SCENES[task];
  if (!entry) throw new Error(`no scene for task '${task}' (scenes exist for: ${SCENE_TASKS.join(', ')})`);
  const mod = await entry.load();
  if (typeof mod.createScene !== 'function') throw new Error(`the scene module of task '${task}' exports no createScene()`);
  return mod.createScene();
}
