#!/usr/bin/env node
// The `sivshm` command line: a composition root. Each command group lives in its own file under
// commands/ and registers itself on the program; this file only wires them and owns the one
// error path: every failure is one line `sivshm <command>: <what to fix>` on stderr.
import { Command } from 'commander';
import { registerCaCommands } from './commands/ca.js';
import { registerCertCommands } from './commands/cert.js';
import { registerConfigCommands } from './commands/config.js';
import { registerSdCommands } from './commands/sd.js';
import { registerHostdCommand } from './commands/hostd.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerStatusCommand } from './commands/status.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerCaptureCommand } from './commands/capture.js';
import { registerTopCommand } from './commands/top.js';
import { registerGenCommand } from './commands/gen.js';
import { registerCallCommand } from './commands/call.js';
import { registerEchoCommand } from './commands/echo.js';
import { registerRecordCommand } from './commands/record.js';
import { registerReplayCommand } from './commands/replay.js';
import { reportError } from './errors/error-report.js';
import { endQuietlyWhenStdoutReaderCloses } from './io/closed-stdout.js';

const program = new Command('sivshm')
  .description(
    'sivshm: authenticated, zero-copy IVSHMEM channels with SOME/IP-style services.\n' +
      'Run `sivshm <command> --help` for the options of each command.',
  )
  .version('0.1.0')
  .exitOverride()
  // Commander's own error text and the help it shows after a missing command are dropped: the
  // catch below prints the one line instead. Help asked for (--help) still goes to stdout.
  .configureOutput({ outputError: () => undefined, writeErr: () => undefined });

registerCaCommands(program);
registerCertCommands(program);
registerConfigCommands(program);
registerSdCommands(program);
registerHostdCommand(program);
registerGatewayCommand(program);
registerStatusCommand(program);
registerInspectCommand(program);
registerCaptureCommand(program);
registerGenCommand(program);
registerTopCommand(program);
registerCallCommand(program);
registerEchoCommand(program);
registerRecordCommand(program);
registerReplayCommand(program);

/** The (sub)command the arguments name, as far as they name one: `sivshm ca issue`. */
function commandOf(args: readonly string[]): Command {
  let command = program;
  for (const a of args) {
    if (a === '--') break;
    if (a.startsWith('-')) continue;
    const sub = command.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (sub === undefined) break;
    command = sub;
  }
  return command;
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Prints the one line for `e` (and, with SIVSHM_DEBUG=1, its stack); returns the exit code. */
function report(e: unknown): number {
  const command = commandOf(process.argv.slice(2));
  const r = reportError(
    e,
    fullName(command),
    command.commands.map((c) => c.name()),
  );
  if (r.line !== undefined) process.stderr.write(`${r.line}\n`);
  if (process.env['SIVSHM_DEBUG'] === '1' && e instanceof Error && e.stack !== undefined) {
    process.stderr.write(`${e.stack}\n`);
  }
  return r.exitCode;
}

// A failure outside the command's promise chain (an emitter's error, a stray rejection) still
// gets its one line instead of Node's stack dump.
process.on('uncaughtException', (e) => process.exit(report(e)));
process.on('unhandledRejection', (e) => process.exit(report(e)));
endQuietlyWhenStdoutReaderCloses();

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}
