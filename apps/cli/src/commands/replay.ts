import { InvalidArgumentError, type Command } from 'commander';
import { wholeNumber } from '../args/whole-number.js';
import type { ReplayOptions } from './replay-run.js';

function rate(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(v >= 0.01) || v > 1000)
    throw new InvalidArgumentError(
      `rate "${text}" must be a speed factor 0.01..1000 (1: as recorded)`,
    );
  return v;
}

/** Registers `sivshm replay`. */
export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      "offer a recording's events again as VM --as, in the recorded order and pace (or --rate times it)",
    )
    .argument('<FILE>', 'a pcapng file sivshm record wrote')
    .requiredOption('--as <vm>', 'the VM to offer as: the provider of the recorded services')
    .requiredOption('--config <file>', 'services.yaml (the one hostd runs with)')
    .option('--run-dir <dir>', 'the run dir hostd was started with', '/run/sivshm')
    .option('--rate <factor>', 'speed factor: 2 plays twice as fast, 0.5 half as fast', rate, 1)
    .option('--no-wait', 'start at once instead of waiting for a consumer of every service')
    .option(
      '--start-delay <ms>',
      'after the consumers connected, wait this long before the first event (they subscribe)',
      (v) => wholeNumber(v, 'start delay', 0, 600_000),
      500,
    )
    .addHelpText(
      'after',
      '\nThe replay is an offer like any other: hostd lets --as offer only what services.yaml\n' +
        'makes it provide, and a recorded service it does not provide is refused. Events of plain\n' +
        'channels are replayed (mac and aead records are sealed for their channel and are skipped);\n' +
        'a service instance recorded on several channels is replayed once.\n' +
        '\nExample: sivshm replay drive.pcapng --as infotainment --config services.yaml --rate 2',
    )
    .action(async (file: string, o: ReplayOptions) =>
      (await import('./replay-run.js')).replay(file, o),
    );
}
