import { InvalidArgumentError, type Command } from 'commander';
import { durationSeconds, frameCount } from '../args/stop-after.js';
import type { CaptureOptions } from './capture-run.js';

/** UDP port the capture puts SOME/IP frames on (tell tshark: -d udp.port==30501,someip). */
export const CAPTURE_PORT = 30501;

function channelId(text: string): bigint {
  if (!/^(0x[0-9a-f]{1,16}|\d{1,20})$/i.test(text)) {
    throw new InvalidArgumentError(
      `channel id "${text}" must be a decimal or 0x hex u64 (see sivshm status or inspect)`,
    );
  }
  return BigInt(text);
}

/** Registers `sivshm capture`. */
export function registerCaptureCommand(program: Command): void {
  program
    .command('capture')
    .description(
      "record a channel's SOME/IP frames (both directions, read-only) into a pcap file; read it with\n" +
        `tshark -r FILE -d udp.port==${CAPTURE_PORT},someip (VM n appears as 127.0.1.n)`,
    )
    .requiredOption('--region <file>', 'the region file (emulated mode, e.g. /dev/shm/sivshm-demo)')
    .requiredOption('--channel <id>', 'channel id (decimal or 0x hex)', channelId)
    .requiredOption('--out <file.pcap>', 'where to write the capture')
    .option(
      '--duration <seconds>',
      'stop after this long (default: until Ctrl-C or --count)',
      durationSeconds,
    )
    .option('--count <n>', 'stop after this many frames', frameCount)
    .option(
      '--json',
      'also print the summary as one JSON object on stdout (frames, lapses, missedRecords, ...)',
    )
    .addHelpText(
      'after',
      '\nCtrl-C or SIGTERM ends the capture cleanly: the frames still in the rings are written, then\n' +
        'the summary. The capture reads the rings without slowing the VMs, so a producer faster\n' +
        'than it can lap it: the summary says how many times, and at least how many records it\n' +
        "missed (from gaps in each event's SOME/IP session ids); it never invents a frame. Across\n" +
        'a move it follows the channel, also when hostd freed the old window before the capture\n' +
        'read it to the end (counted as a cut-off, the missed records counted the same way).',
    )
    // The region and pcap code (and the transport it needs) loads only when a capture runs.
    .action(async (o: CaptureOptions) => {
      await (await import('./capture-run.js')).capture(o);
    });
}
