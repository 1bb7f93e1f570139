import { NumpyRandomState } from '../numpy-random.js';

/**
 * The start state the original Push-T draws for a seed, before placement:
 *   rs = numpy.random.RandomState(seed)
 *   [rs.randint(50, 450), rs.randint(50, 450),      agent x, y
 *    rs.randint(100, 400), rs.randint(100, 400),    block x, y
 *    rs.randn() * 2 pi - pi]                        block angle
 * Bit-exact with numpy (see numpy-random.ts). The block is then placed in
 * the legacy order (physics.ts `placeLegacy`), so its origin is not (x, y).
 */
export function pushtResetDraw(seed: number): Float64Array {
  const rs = new NumpyRandomState(seed);
  return Float64Array.of(rs.randint(50, 450), rs.randint(50, 450), rs.randint(100, 400), rs.randint(100, 400), rs.randn() * 2 * Math.PI - Math.PI);
}
