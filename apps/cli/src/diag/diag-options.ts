import { Option, type Command } from 'commander';
import { wholeNumber } from '../args/whole-number.js';

/** The options `sivshm call` and `sivshm echo` share, added to `command`. */
export function addDiagOptions(command: Command, timeoutHelp: string): Command {
  return command
    .requiredOption('--config <file>', 'services.yaml (the one hostd runs with)')
    .option('--run-dir <dir>', 'the run dir hostd was started with', '/run/sivshm')
    .option(
      '--vm <name>',
      'the diagnostics VM to act as (default: the one services.yaml marks diagnostics: true)',
    )
    .option('--instance <id>', "the service's instance (default: its only one)", (v) =>
      wholeNumber(v, 'instance', 1, 0xfffe),
    )
    .option('--timeout <ms>', timeoutHelp, (v) => wholeNumber(v, 'timeout', 1, 600_000), 5000)
    .addOption(
      new Option('--mode <mode>', "channel protection (default: the service's minMode)").choices([
        'plain',
        'mac',
        'aead',
      ]),
    );
}

/** Help text on who the tools act as, shared by both commands. */
export const DIAG_VM_HELP =
  '\nThe tool acts as the diagnostics VM of services.yaml (a VM entry with diagnostics: true and\n' +
  "its own grantKey): it enrols with hostd like any app and gets a certificate with that VM's\n" +
  'rights only. A service whose consumers do not list it is refused (hostd refuses it too).\n';
