import { InputError } from '../src/core/errors.js';
import type { Env, EnvOptions } from './env.js';

/** A simulated task: how to build its env, and what it is, for `--help` and errors. */
export interface TaskDefinition<O extends EnvOptions = EnvOptions> {
  name: string;
  description: string;
  /** Which `Env.state()` entries a replay compares with the recording (a position), and what they are. */
  replayPosition?: { label: string; indices: number[] };
  /** May be async: physics engines compiled to WebAssembly initialise once before the first env. */
  create(options?: O): Env | Promise<Env>;
}

const tasks = new Map<string, TaskDefinition<any>>();

/** Make a task available to `createEnv` (tasks register themselves when their module loads). */
export function registerTask<O extends EnvOptions>(definition: TaskDefinition<O>): void {
  if (tasks.has(definition.name)) throw new Error(`task '${definition.name}' is registered twice`);
  tasks.set(definition.name, definition);
}

export function listTasks(): TaskDefinition[] {
  return [...tasks.values()];
}

export function getTask(name: string): TaskDefinition {
  const task = tasks.get(name);
  if (!task) throw new InputError('task', name, `one of ${[...tasks.keys()].join(', ') || '(no tasks registered)'}`);
  return task;
}

/** Build a registered task's env, e.g. `await createEnv('pusht')`. */
export async function createEnv(name: string, options?: EnvOptions): Promise<Env> {
  return getTask(name).create(options);
}
