import type { Command } from 'commander';
import { wholeNumber } from '../args/whole-number.js';

/** Registers `sivshm top` (its run is loaded only when it runs). */
export function registerTopCommand(program: Command): void {
  program
    .command('top')
    .description(
      'live view of a running hostd: VMs, services, channels with bytes/s and ring fill each way, event-loop delay and refusals (rates are counter deltas between status polls)',
    )
    .option('--run-dir <dir>', 'the run dir hostd was started with', '/run/sivshm')
    .option(
      '--interval <ms>',
      'time between status polls, ms (rates are over this window)',
      (v) => wholeNumber(v, 'interval', 100, 60_000),
      1000,
    )
    .option('--once', 'print one frame (two polls --interval apart) and exit')
    .option('--json', 'print frames as JSON lines instead of the table')
    .addHelpText(
      'after',
      '\nKeys in the live view: q or Ctrl-C quits, s cycles the channel order (rate, service, fill).\n' +
        'Example: sivshm top --run-dir /run/sivshm --once --json',
    )
    .action(async (opts: { runDir: string; interval: number; once?: boolean; json?: boolean }) => {
      const { runTop } = await import('./top-run.js');
      await runTop({
        runDir: opts.runDir,
        intervalMs: opts.interval,
        once: opts.once === true,
        json: opts.json === true,
      });
    });
}
