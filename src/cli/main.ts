#!/usr/bin/env node
import { Command } from 'commander';
import { FlowpolicyError, InputError, InputErrors, CorruptFileError } from '../core/errors.js';
import { VERSION } from '../version.js';
import { deployCommand } from './commands/deploy.js';
import { distillCommand } from './commands/distill.js';
import { evalCommand } from './commands/eval.js';
import { inspectCommand } from './commands/inspect.js';
import { recordCommand } from './commands/record.js';
import { refineCommand } from './commands/refine.js';
import { sampleCommand } from './commands/sample.js';
import { simCommand } from './commands/sim.js';
import { trainCommand } from './commands/train.js';
import { viewCommand } from './commands/view.js';

const program = new Command('flowpolicy')
  .version(VERSION)
  .description('Conditional flow-matching robot policies: train, sample, inspect, evaluate in simulation, view, replay and record')
  .showHelpAfterError('(add --help for usage)');
program.addCommand(trainCommand());
program.addCommand(sampleCommand());
program.addCommand(inspectCommand());
program.addCommand(evalCommand());
program.addCommand(simCommand());
program.addCommand(viewCommand());
program.addCommand(deployCommand());
program.addCommand(recordCommand());
program.addCommand(distillCommand());
program.addCommand(refineCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof FlowpolicyError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = err instanceof InputError || err instanceof InputErrors || err instanceof CorruptFileError ? 2 : 1;
  } else {
    // Not a known failure mode: keep the stack, it is a bug report.
    process.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
    if (process.env.FLOWPOLICY_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    else process.stderr.write('(set FLOWPOLICY_DEBUG=1 for the stack trace)\n');
    process.exitCode = 1;
  }
}
