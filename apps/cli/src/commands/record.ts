import { InvalidArgumentError, type Command } from 'commander';
import { durationSeconds, frameCount } from '../args/stop-after.js';
import type { RecordOptions } from './record-run.js';

const UNITS: Record<string, number> = { '': 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };

function size(text: string): number {
  const m = /^(\d+)(KiB|MiB|GiB)?$/.exec(text);
  const v = m === null ? NaN : Number(m[1]) * UNITS[m[2] ?? '']!;
  if (!Number.isSafeInteger(v) || v < 4096)
    throw new InvalidArgumentError(
      `size "${text}" must be bytes or a whole number of KiB, MiB or GiB, at least 4096`,
    );
  return v;
}

function channelId(text: string, previous: bigint[] = []): bigint[] {
  if (!/^(0x[0-9a-f]{1,16}|\d{1,20})$/i.test(text)) {
    throw new InvalidArgumentError(
      `channel id "${text}" must be a decimal or 0x hex u64 (see sivshm status or inspect)`,
    );
  }
  return [...previous, BigInt(text)];
}

const collect = (text: string, previous: string[] = []): string[] => [...previous, text];

/** Registers `sivshm record`. */
export function registerRecordCommand(program: Command): void {
  program
    .command('record')
    .description(
      'record channels (both directions, read-only) into one pcapng file, one interface per channel, streamed to disk as it goes',
    )
    .requiredOption('--region <file>', 'the region file (emulated mode, e.g. /dev/shm/sivshm-demo)')
    .requiredOption('--out <file.pcapng>', 'where to write the recording')
    .option('--channel <id>', 'a channel to record (repeatable; decimal or 0x hex)', channelId)
    .option(
      '--service <name>',
      'record every channel of this service (repeatable; a name needs --config, or 0x id)',
      collect,
    )
    .option('--config <file>', 'services.yaml: service and VM names in the recording')
    .option('--duration <seconds>', 'stop after this long', durationSeconds)
    .option('--count <n>', 'stop after this many frames', frameCount)
    .option('--max-size <size>', 'stop before the file grows past this (e.g. 64MiB)', size, 2 ** 30)
    .addHelpText(
      'after',
      '\nWithout --channel or --service every channel is recorded; channels that open during the\n' +
        'recording are added. The output is checked and opened before\n' +
        'anything is read: a path that cannot be written fails at once. Ctrl-C ends the recording\n' +
        'after it has written what the rings still hold. aead channels are recorded as they travel (sealed).\n' +
        'Read it with tshark -r FILE -d udp.port==30501,someip; replay it with sivshm replay.\n' +
        '\nExample: sivshm record --region /dev/shm/sivshm-demo --config services.yaml \\\n' +
        '  --service VehicleSpeed --duration 60 --out drive.pcapng',
    )
    // The region and pcapng code (and the transport it needs) loads only when a recording runs.
    .action(async (o: RecordOptions) => {
      await (await import('./record-run.js')).record(o);
    });
}
