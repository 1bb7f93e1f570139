import { execFileSync } from 'node:child_process';

/**
 * The CLI tests run the built command (dist/), as a user does after
 * install: build it first so they never test stale output.
 */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
