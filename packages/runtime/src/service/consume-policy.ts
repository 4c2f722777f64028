import type { ChannelMode } from '@sivshm/abi';
import { MODE_RANK, type ServiceDefinition } from '@sivshm/core';
import { RuntimeError } from '../errors/runtime-error.js';

/** The modes in rank order, as the broker ranks them (`MODE_RANK`: plain < mac < aead). */
const MODES = (Object.keys(MODE_RANK) as ChannelMode[]).sort((a, b) => MODE_RANK[a] - MODE_RANK[b]);

/**
 * Refusals the local services.yaml already implies, checked before any SD or handshake: hostd's
 * broker would refuse the same request (rights from the same config, `mode` below `minMode`),
 * but only after `consume` had waited out its whole timeout. Throws `ERR_CONFIG` when this VM is
 * not among the service's consumers, `ERR_BAD_ARGUMENT` for a mode below the service's minimum
 * or one that is not a mode at all.
 */
export function assertMayConsume(
  service: ServiceDefinition,
  vmName: string,
  mode: ChannelMode | undefined,
): void {
  if (!service.consumers.includes(vmName)) {
    throw new RuntimeError(
      'ERR_CONFIG',
      `services.yaml does not let '${vmName}' consume '${service.name}'; its consumers: ${
        service.consumers.join(', ') || '(none)'
      } (add '${vmName}' to the service's consumers to allow it)`,
    );
  }
  if (mode === undefined) return;
  if (!Object.hasOwn(MODE_RANK, mode)) {
    throw new RuntimeError(
      'ERR_BAD_ARGUMENT',
      `mode must be one of ${MODES.join(', ')}; got ${String(mode)}`,
    );
  }
  // The broker's own downgrade rule (broker-sessions.ts), refused here before any SD.
  if (MODE_RANK[mode] < MODE_RANK[service.minMode]) {
    const allowed = MODES.filter((m) => MODE_RANK[m] >= MODE_RANK[service.minMode]);
    throw new RuntimeError(
      'ERR_BAD_ARGUMENT',
      `mode '${mode}' is below the minMode '${service.minMode}' of '${service.name}' in services.yaml; ask for ${allowed.join(' or ')}, or leave mode out to get ${service.minMode}`,
    );
  }
}
