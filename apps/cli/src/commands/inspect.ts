import type { Command } from 'commander';

/** Registers `sivshm inspect REGION [--json]`. */
export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description(
      'show a region read-only: header, every channel of the table, both ring states of each',
    )
    .argument('<region>', 'the region file (emulated mode, e.g. /dev/shm/sivshm-demo)')
    .option('--json', 'print one JSON object')
    // The region reader (and the transport it needs) loads only when the command runs.
    .action(async (path: string, o: { json?: boolean }) =>
      (await import('./inspect-run.js')).inspect(path, o),
    );
}
