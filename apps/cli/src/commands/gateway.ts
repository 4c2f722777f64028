import path from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../errors/cli-error.js';
import { runPackageBinary } from '../io/package-binary.js';

/**
 * Registers `sivshm gateway`, which runs the SOME/IP gateway (`sivshm-gateway`) in the
 * foreground. The gateway is its own process and package: it is resolved only when the command
 * runs, so other commands never load it.
 */
export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description(
      'run the SOME/IP gateway in the foreground, as its own VM: offers the services under gateway.export in services.yaml on the vehicle network (SOME/IP-SD, events and methods over UDP and TCP, IPv4 or IPv6) and the network services under gateway.import inside sivshm',
    )
    .requiredOption('--config <file>', 'services.yaml with a gateway: section')
    .requiredOption(
      '--vm <name>',
      "the gateway's own VM in services.yaml; a consumer of every exported service, the provider of every imported one",
    )
    .option('--run-dir <dir>', "emulated mode: hostd's --run-dir")
    .option(
      '--control-port <port>',
      'qemu mode, in the VM that owns the NIC: the virtio-serial port (/dev/vport1p1 or auto)',
    )
    .addHelpText(
      'after',
      '\nExample:\n  sivshm gateway --config services.yaml --vm gateway --run-dir /run/sivshm\n' +
        'See README "Reaching other ECUs" for the gateway: section.',
    )
    .action(async (opts: { config: string; vm: string; runDir?: string; controlPort?: string }) => {
      if ((opts.runDir === undefined) === (opts.controlPort === undefined))
        throw new CliError(
          'ERR_USAGE',
          'give exactly one of --run-dir (emulated mode) or --control-port (qemu mode)',
        );
      const args = ['--config', path.resolve(opts.config), '--vm', opts.vm];
      if (opts.runDir !== undefined) args.push('--run-dir', path.resolve(opts.runDir));
      if (opts.controlPort !== undefined) args.push('--control-port', opts.controlPort);
      process.exitCode = await runPackageBinary(import.meta.resolve('@sivshm/gateway'), args);
    });
}
