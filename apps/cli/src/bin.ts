#!/usr/bin/env node
// The `sivshm` command line: a composition root. Each command group lives in its own file under
// commands/ and registers itself on the program; this file only wires them and maps errors to
// exit codes.
import { Command, CommanderError } from 'commander';
import { SivshmError } from '@sivshm/core';
import { registerCaCommands } from './commands/ca.js';
import { registerCertCommands } from './commands/cert.js';
import { registerConfigCommands } from './commands/config.js';
import { registerSdCommands } from './commands/sd.js';
import { registerHostdCommand } from './commands/hostd.js';
import { registerStatusCommand } from './commands/status.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerCaptureCommand } from './commands/capture.js';

const program = new Command('sivshm')
  .description(
    'sivshm: authenticated, zero-copy IVSHMEM channels with SOME/IP-style services.\n' +
      'Run `sivshm <command> --help` for the options of each command.',
  )
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerCaCommands(program);
registerCertCommands(program);
registerConfigCommands(program);
registerSdCommands(program);
registerHostdCommand(program);
registerStatusCommand(program);
registerInspectCommand(program);
registerCaptureCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode;
  } else if (SivshmError.isSivshmError(e)) {
    console.error(`sivshm: ${e.message} [${e.code}]`);
    process.exitCode = 1;
  } else {
    console.error(e);
    process.exitCode = 2;
  }
}
