#!/usr/bin/env node
// sivshm-gateway: a composition root. Reads argv, starts the gateway, stops it on SIGINT/SIGTERM
// (StopOffer for every export first), and maps failures to one line and an exit code
// (2 = usage, 1 = anything else).
import { formatConfigIssue, isConfigError, onReaderGone } from '@sivshm/core';
import { GATEWAY_USAGE, parseGatewayArgs, type GatewayArgs } from './gateway-args.js';
import { Gateway } from './gateway.js';

function fail(message: string, code: number): void {
  process.stderr.write(`sivshm-gateway: ${message}\n`);
  process.exitCode = code;
}

async function main(): Promise<void> {
  let args: GatewayArgs;
  try {
    args = parseGatewayArgs(process.argv.slice(2));
  } catch (e) {
    fail(`${(e as Error).message} (sivshm-gateway --help shows the usage)`, 2);
    return;
  }
  if (args.help) {
    process.stdout.write(GATEWAY_USAGE);
    return;
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(args);
  } catch (e) {
    // A config error lists every issue; the first one, with its file:line, is the line to show.
    const first = isConfigError(e) ? e.issues[0] : undefined;
    fail(first !== undefined ? formatConfigIssue(first) : (e as Error).message, 1);
    return;
  }
  process.stderr.write(
    `sivshm-gateway: started on ${gateway.config.unicast}, exporting ${gateway.config.exports.map((x) => `${x.service}/${x.instance} udp:${x.udpPort}`).join(', ') || 'nothing'}, importing ${gateway.config.imports.map((x) => `${x.service}/${x.instance} udp:${x.udpPort}`).join(', ') || 'nothing'}\n`,
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    gateway.close().then(
      () => process.exit(0),
      (e: unknown) => {
        fail(`stop: ${(e as Error).message}`, 1);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  readerGone = () => {
    if (!stopping) stop();
  };
}

/** What a closed pipe on stdout or stderr does: exit 0 now, or once started stop as SIGTERM does. */
let readerGone = (): void => process.exit();
onReaderGone(process.stdout, () => readerGone());
onReaderGone(process.stderr, () => readerGone());

process.on('uncaughtException', (e) => {
  fail(e.message, 1);
  process.exit(1);
});
await main();
