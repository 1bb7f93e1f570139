import { TEE_AREA, TEE_BOXES, toWorld, type Pose, type Vec2 } from './tee.js';

/**
 * Push-T's reward, as the original computes it with shapely:
 *   coverage = area(block ∩ goal) / area(goal)
 *   reward   = clip(coverage / 0.95, 0, 1),  success = coverage > 0.95.
 *
 * Both the block and the goal are the T (a bar box and a stem box). The two
 * boxes of one T share an edge but no interior, so the intersection area
 * splits exactly into pairs of convex boxes:
 *   area(∪_i A_i ∩ ∪_j B_j) = Σ_i Σ_j area(A_i ∩ B_j),
 * and each convex ∩ convex is computed exactly (up to rounding) by
 * Sutherland–Hodgman clipping. No sampling, no rasterising, no dependency.
 */

/** The goal pose of the block: origin (256, 256), angle pi/4 (the original's `goal_pose`). */
export const GOAL_POSE: Pose = [256, 256, Math.PI / 4];

/** Coverage above which an episode counts as a success (the original's `success_threshold`). */
export const SUCCESS_THRESHOLD = 0.95;

/** The T's two boxes in the world for a pose, counter-clockwise. */
export function teePolygons(pose: Pose): Vec2[][] {
  return TEE_BOXES.map((box) => box.map((p) => toWorld(pose, p)));
}

/** Shoelace area of a simple polygon (positive when counter-clockwise). */
export function polygonArea(poly: readonly Vec2[]): number {
  let twice = 0;
  for (let i = 0; i < poly.length; i++) {
    const [x1, y1] = poly[i];
    const [x2, y2] = poly[(i + 1) % poly.length];
    twice += x1 * y2 - x2 * y1;
  }
  return twice / 2;
}

/**
 * Intersection of a convex polygon with a convex counter-clockwise clip
 * polygon (Sutherland–Hodgman: cut the subject by each clip edge's
 * half-plane in turn). Rotations never change orientation, so every T box
 * stays counter-clockwise.
 */
export function clipConvex(subject: readonly Vec2[], clip: readonly Vec2[]): Vec2[] {
  let out: Vec2[] = subject.slice();
  for (let i = 0; i < clip.length && out.length > 0; i++) {
    const [ax, ay] = clip[i];
    const [bx, by] = clip[(i + 1) % clip.length];
    // side(p) > 0: p is left of a->b, i.e. inside a counter-clockwise polygon.
    const side = (p: Vec2) => (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax);
    const input = out;
    out = [];
    for (let j = 0; j < input.length; j++) {
      const p = input[j];
      const q = input[(j + 1) % input.length];
      const sp = side(p);
      const sq = side(q);
      if (sp >= 0) out.push(p);
      if ((sp >= 0) !== (sq >= 0)) {
        const t = sp / (sp - sq);
        out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
      }
    }
  }
  return out;
}

/** area(T at `pose` ∩ T at `goal`) / area(T). */
export function coverage(pose: Pose, goal: Pose = GOAL_POSE): number {
  const block = teePolygons(pose);
  const target = teePolygons(goal);
  let overlap = 0;
  for (const a of block) for (const b of target) overlap += Math.max(0, polygonArea(clipConvex(a, b)));
  return overlap / TEE_AREA;
}

/** The original's reward: clip(coverage / 0.95, 0, 1). */
export function rewardFromCoverage(cov: number): number {
  return Math.min(1, Math.max(0, cov / SUCCESS_THRESHOLD));
}
