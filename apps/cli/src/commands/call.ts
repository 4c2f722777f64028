import type { Command } from 'commander';
import { addDiagOptions, DIAG_VM_HELP } from '../diag/diag-options.js';
import type { CallRunOptions } from './call-run.js';

/** Registers `sivshm call` (its run, with the runtime, is loaded only when it runs). */
export function registerCallCommand(program: Command): void {
  const command = program
    .command('call')
    .description(
      'call a method of a running provider as the diagnostics VM and print the answer as one JSON line',
    )
    .argument('<SERVICE.METHOD>', 'as services.yaml names them, e.g. VehicleSpeed.reset')
    .argument('[JSON]', "the request as JSON, checked against the method's request type", '{}');
  addDiagOptions(
    command,
    'ms to wait for the service, its channel and the answer each',
  ).addHelpText(
    'after',
    DIAG_VM_HELP +
      '\nJSON is proto3-style: field names as in the .proto, enums by name or number, 64-bit\n' +
      'integers as numbers or decimal strings, bytes as base64. An unknown field or a wrong type\n' +
      'is refused before anything is sent.\n' +
      '\nExample: sivshm call VehicleSpeed.reset \'{"odometer_m": 0}\' --config services.yaml --run-dir /run/sivshm',
  );
  command.action(async (name: string, json: string, o: CallRunOptions) => {
    const { runCall } = await import('./call-run.js');
    await runCall(name, json, o);
  });
}
