import { parseArgs } from 'node:util';
import { GatewayError } from './errors/gateway-error.js';

/** What `sivshm-gateway` was asked to do. */
export interface GatewayArgs {
  readonly help: boolean;
  readonly config: string;
  readonly vm: string;
  readonly runDir?: string;
  readonly controlPort?: string;
}

export const GATEWAY_USAGE = `Usage: sivshm-gateway --config <services.yaml> --vm <name> (--run-dir <dir> | --control-port <port>)

Puts the services listed under gateway.export in services.yaml on the vehicle network
(SOME/IP-SD offers on the gateway's unicast address, IPv4 or IPv6; events as SOME/IP
notifications over UDP or TCP; method requests answered from the providing VM), and offers the
network services listed under gateway.import inside sivshm (found and subscribed with
SOME/IP-SD; VM calls sent to the network provider).

  --config <file>        services.yaml with a gateway: section
  --vm <name>            the gateway's own VM in services.yaml; it must be a consumer of every
                         exported service and the provider of every imported one (its
                         certificate decides what it may reach and offer)
  --run-dir <dir>        emulated mode: hostd's --run-dir (control socket <dir>/<vm>.sock)
  --control-port <port>  qemu mode, inside the VM that owns the NIC: the virtio-serial port
                         (/dev/vport1p1, or auto)
  -h, --help             this text

SIGINT/SIGTERM send StopOffer for every export, StopSubscribe for every import, and exit.
`;

/** Parses argv (without node and the script); throws `GatewayError('ERR_ARGS')` saying what to fix. */
export function parseGatewayArgs(argv: readonly string[]): GatewayArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        vm: { type: 'string' },
        'run-dir': { type: 'string' },
        'control-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new GatewayError('ERR_ARGS', (e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help === true) return { help: true, config: '', vm: '' };
  if (values.config === undefined)
    throw new GatewayError('ERR_ARGS', '--config <services.yaml> is required');
  if (values.vm === undefined)
    throw new GatewayError('ERR_ARGS', "--vm <name> (the gateway's VM) is required");
  const runDir = values['run-dir'];
  const controlPort = values['control-port'];
  if ((runDir === undefined) === (controlPort === undefined))
    throw new GatewayError(
      'ERR_ARGS',
      'give exactly one of --run-dir (emulated) or --control-port (qemu)',
    );
  return {
    help: false,
    config: values.config,
    vm: values.vm,
    ...(runDir === undefined ? {} : { runDir }),
    ...(controlPort === undefined ? {} : { controlPort }),
  };
}
