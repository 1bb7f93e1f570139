import { defineConfig } from 'vitest/config';

/**
 * The slow end-to-end suites (`npm run test:slow`): the ROS bridge driving
 * a real roscore through the rosbridge peer, at a fixed control rate. One
 * file at a time, so a 50 Hz loop and its ROS processes are not starved by
 * a training test on the other core; CI runs them after `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/slow/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
