import type { Command } from 'commander';
import { wholeNumber } from '../args/whole-number.js';
import { addDiagOptions, DIAG_VM_HELP } from '../diag/diag-options.js';
import type { EchoRunOptions } from './echo-run.js';

/** Registers `sivshm echo` (its run, with the runtime, is loaded only when it runs). */
export function registerEchoCommand(program: Command): void {
  const command = program
    .command('echo')
    .description(
      "print a running provider's events as the diagnostics VM: one JSON line per event\n" +
        '({"time", "event", "value"}), until --count events or Ctrl-C',
    )
    .argument('<SERVICE.EVENT>', 'as services.yaml names them, e.g. VehicleSpeed.speed')
    .option('--count <n>', 'stop after this many events', (v) =>
      wholeNumber(v, 'count', 1, Number.MAX_SAFE_INTEGER),
    );
  addDiagOptions(command, 'ms to wait for the service and its channel').addHelpText(
    'after',
    DIAG_VM_HELP +
      '\nValues are proto3-style JSON: every field, enums by name, 64-bit integers as strings.\n' +
      'When the provider goes away the tool says so on stderr and waits for it to come back.\n' +
      '\nExample: sivshm echo VehicleSpeed.speed --count 10 --config services.yaml --run-dir /run/sivshm',
  );
  command.action(async (name: string, o: EchoRunOptions) => {
    const { runEcho } = await import('./echo-run.js');
    await runEcho(name, o);
  });
}
