import { toWorld, type Pose, type Vec2 } from './tee.js';

/**
 * The 9 keypoints of the T that the original's keypoint observation
 * reports, fixed points in the block frame. The original derives them from
 * its keypoint manager; we recovered them from the recorded demos, where
 * `keypoint = R(angle) local + (x, y)` holds on every frame: the median
 * over all 25,650 frames of R(-angle) (keypoint - position), refined by the
 * mean over frames within 0.02 px of it (a test re-derives them).
 */
export const TEE_KEYPOINTS: readonly Vec2[] = [
  [9.2697, 90.041],
  [-60.9834, -1.1867],
  [60.9128, -1.3933],
  [-0.2705, 25.5437],
  [-14.065, 122.8159],
  [39.0027, 32.8575],
  [-39.9664, 32.7297],
  [-16.8244, 62.8632],
  [23.5415, -1.7002],
];

/** The 18 keypoint coordinates (x0, y0, x1, y1, ...) of the block at a pose. */
export function keypointsAt(pose: Pose, out = new Float32Array(2 * TEE_KEYPOINTS.length)): Float32Array {
  for (let k = 0; k < TEE_KEYPOINTS.length; k++) {
    const [x, y] = toWorld(pose, TEE_KEYPOINTS[k]);
    out[2 * k] = x;
    out[2 * k + 1] = y;
  }
  return out;
}
