/**
 * The T block of Push-T, in its own frame, exactly as Diffusion Policy's
 * `add_tee` builds it in pymunk (scale 30, length 4).
 *
 * Frame: the body *origin* is the middle of the bar's bottom edge; y points
 * along the stem. pymunk's y axis points up on screen, but nothing here
 * depends on the screen: the dataset stores pymunk coordinates, and so do we.
 *
 * Poses: a pose (x, y, angle) always means the body origin and rotation,
 * as pymunk's `body.position` / `body.angle` report them, so a world point is
 *   world = R(angle) local + (x, y),   R(a) = [[cos a, -sin a], [sin a, cos a]].
 * The centre of gravity (0, 45) is NOT the origin: pymunk integrates and
 * rotates the body about it, which matters for the legacy placement below.
 */

export type Vec2 = readonly [number, number];
/** Pose of a body: origin x, origin y (pixels), angle (radians, counter-clockwise). */
export type Pose = readonly [number, number, number];

/** The two convex boxes of the T, counter-clockwise, in the block frame. */
export const TEE_BOXES: readonly (readonly Vec2[])[] = [
  // bar: (-60, 0) - (60, 30)
  [
    [-60, 0],
    [60, 0],
    [60, 30],
    [-60, 30],
  ],
  // stem: (-15, 30) - (15, 120)
  [
    [-15, 30],
    [15, 30],
    [15, 120],
    [-15, 120],
  ],
];

/** Area of the T: bar 120 x 30 plus stem 30 x 90. */
export const TEE_AREA = 120 * 30 + 30 * 90;

/** Mass of the block (the original passes mass 1 to the body; shapes carry none). */
export const TEE_MASS = 1;

/**
 * Centre of gravity in the block frame: the original sets it to the mean of
 * the two boxes' centroids, ((0, 15) + (0, 75)) / 2 = (0, 45), not the
 * area-weighted centroid (which would be (0, 40.7)).
 */
export const TEE_COG: Vec2 = [0, 45];

/**
 * Moment of inertia about the centre of gravity. The original computes
 * `moment_for_poly(1, bar)` twice (it passes the bar's vertices for the
 * stem too) and sums them. Chipmunk's `cpMomentForPoly` is the moment about
 * the polygon's own frame origin, not its centroid:
 *   I = m * sum_i (a_i b_i) / (6 sum_i a_i),  a_i = v_{i+1} x v_i,
 *   b_i = v_i.v_i + v_i.v_{i+1} + v_{i+1}.v_{i+1}.
 * For the bar that is m (w^2 + h^2) / 12 + m d^2 = (120^2 + 30^2) / 12 + 15^2
 * = 1275 + 225 = 1500, so I = 3000.
 */
export const TEE_INERTIA = 2 * polygonMoment(1, TEE_BOXES[0]);

/** Chipmunk's `cpMomentForPoly(m, verts, offset 0)` (see TEE_INERTIA). */
export function polygonMoment(mass: number, verts: readonly Vec2[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < verts.length; i++) {
    const [x1, y1] = verts[i];
    const [x2, y2] = verts[(i + 1) % verts.length];
    const a = x2 * y1 - y2 * x1;
    const b = x1 * x1 + y1 * y1 + (x1 * x2 + y1 * y2) + (x2 * x2 + y2 * y2);
    num += a * b;
    den += a;
  }
  return (mass * num) / (6 * den);
}

/** A block-frame point in the world for a pose (origin-based, as pymunk's `local_to_world`). */
export function toWorld(pose: Pose, p: Vec2): [number, number] {
  const c = Math.cos(pose[2]);
  const s = Math.sin(pose[2]);
  return [c * p[0] - s * p[1] + pose[0], s * p[0] + c * p[1] + pose[1]];
}

/**
 * The pose the original's *legacy* `_set_state` leaves the block in when
 * asked for (x, y, angle) from a body at angle 0 (a fresh `_setup` puts the
 * T at angle 0; the paper's evaluation and the recorded demos use this order).
 *
 * Chipmunk keeps the centre of gravity fixed when the angle is set. So
 * `position = (x, y)` at angle 0 puts the CoG at (x, y) + cog, and then
 * `angle = a` rotates about it, moving the origin to
 *   origin = (x, y) + cog - R(a) cog.
 * The non-legacy order (angle first, then position) gives origin = (x, y).
 */
export function legacyPlacement(x: number, y: number, angle: number): Pose {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const [gx, gy] = TEE_COG;
  return [x + gx - (c * gx - s * gy), y + gy - (s * gx + c * gy), angle];
}
