import type { Command } from 'commander';

/**
 * Registers `sivshm sd decode HEX|FILE` (SOME/IP-SD bytes → JSON) and
 * `sivshm sd encode FILE.json|-` (JSON → hex). The JSON shape is documented in
 * packages/discovery/README.md and round-trips through both commands.
 */
export function registerSdCommands(program: Command): void {
  const sd = program
    .command('sd')
    .description('SOME/IP Service Discovery messages: decode to JSON, encode from JSON');

  sd.command('decode')
    .description(
      'Decode one SD message (the UDP payload, starting at the SOME/IP header) to JSON.\n' +
        'INPUT is hex text (spaces allowed) or a file holding hex text or raw bytes.',
    )
    .argument('<input>', 'hex string, or path of a .hex / binary file')
    // The SD codec (and the discovery package) loads only when the command runs.
    .action(async (input: string) => (await import('./sd-run.js')).sdDecode(input));

  sd.command('encode')
    .description(
      'Encode the JSON shape printed by `sd decode` into SD bytes, printed as hex.\n' +
        'Refuses messages that break the SOME/IP-SD specification and says which rule.',
    )
    .argument('<file>', 'JSON file, or - for standard input')
    .action(async (file: string) => (await import('./sd-run.js')).sdEncode(file));
}
