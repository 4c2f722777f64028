// The diagnostics VM at run time: a runtime Node opened as that VM (its own enrolment and
// certificate, like any app's) and the one service it consumes. `sivshm call` and `sivshm
// echo` use it; they never touch the region or hostd's state directly.
import type { ChannelMode } from '@sivshm/abi';
import type { ServiceConfig, ServiceDefinition, VmConfig } from '@sivshm/core';
import { Node, type ConsumedService } from '@sivshm/runtime';
import { CliError } from '../errors/cli-error.js';
import { assertDiagMayConsume, diagnosticsVm, instanceOf } from './diagnostics-vm.js';

/** The options `call` and `echo` share. */
export interface DiagOptions {
  readonly config: string;
  readonly runDir: string;
  readonly vm?: string;
  readonly instance?: number;
  /** ms: bound on finding the service and its channel (and, for call, on the answer). */
  readonly timeout: number;
  readonly mode?: ChannelMode;
}

/** An open diagnostics session; `close()` withdraws it from hostd (channel, enrolment). */
export interface DiagSession {
  readonly vm: VmConfig;
  readonly service: ConsumedService;
  close(): Promise<void>;
}

/**
 * Opens the node as the diagnostics VM and consumes `definition`: refuses first, in one line,
 * a service the policy does not give this VM; hostd's broker checks the same rights again.
 */
export async function openDiagSession(
  config: ServiceConfig,
  definition: ServiceDefinition,
  o: DiagOptions,
): Promise<DiagSession> {
  const vm = diagnosticsVm(config, o.vm);
  assertDiagMayConsume(config, vm, definition);
  const instance = instanceOf(definition, o.instance);
  // No reconnect: a shell tool reports a hostd that went away instead of waiting for it.
  const node = await Node.open({ config, vm: vm.name, runDir: o.runDir, reconnect: false });
  try {
    const service = await node.consume(definition.name, {
      instance,
      timeoutMs: o.timeout,
      ...(o.mode === undefined ? {} : { mode: o.mode }),
    });
    return { vm, service, close: () => node.close() };
  } catch (e) {
    await node.close().catch(() => undefined);
    throw e;
  }
}

/** The member called `name` of `list`, or a usage error listing those there are. */
export function memberOf<T extends { readonly name: string }>(
  list: readonly T[],
  name: string,
  what: string,
  service: ServiceDefinition,
): T {
  const m = list.find((x) => x.name === name);
  if (m === undefined) {
    throw new CliError(
      'ERR_USAGE',
      `service '${service.name}' has no ${what} '${name}'; its ${what}s: ${list.map((x) => x.name).join(', ') || '(none)'}`,
    );
  }
  return m;
}
