import {
  BrokerHandshakes,
  configLimits,
  type BrokerChannel,
  type CryptoBackend,
  type OpenedCa,
  type ServiceConfig,
} from '@sivshm/core';
import type { HostdOptions } from '../hostd.js';

/**
 * The broker, holding each VM to its own services.yaml limits; the CA is the one opened from
 * disk (persisted serials, revocations and the bumped epoch), and its broker key with it.
 */
export function brokerFor(
  o: HostdOptions,
  config: ServiceConfig,
  opened: OpenedCa,
  crypto: CryptoBackend,
  grantKeys: ReadonlyMap<number, Uint8Array>,
  doorbells: { readonly vectors: number; readonly of: (vmId: number) => number | undefined },
  /** Where device channels' windows are (isolation/channel-devices.ts). */
  devices?: { windowOffset(channel: BrokerChannel): bigint | undefined },
): BrokerHandshakes {
  return new BrokerHandshakes({
    crypto,
    ca: opened.ca,
    brokerSecretKey: opened.brokerSecretKey,
    grantKeys,
    nowMs: () => BigInt(Date.now()),
    limitsOf: (vm) => configLimits(config, vm),
    revokeAckTimeoutMs: BigInt(o.revokeAckTimeoutMs ?? 2000),
    // A link's certificate lives as long as the link: an M1 must name the one enrolled on it.
    linkBoundCertificates: true,
    // In qemu mode a guest keeps its mappings across link drops (QEMU redials), until the
    // region's epoch changes: a window whose revoke was not proven waits for hostd's restart.
    refusedQuarantineOutlivesLink: o.emulated === false,
    // Each grant names its channel's doorbell route: a vector of the ivshmem server's, rung
    // at the other VM's doorbell id (docs/protocol.md §7).
    doorbellVectors: doorbells.vectors,
    doorbellOf: doorbells.of,
    ...(devices === undefined ? {} : { deviceWindowOffset: (ch) => devices.windowOffset(ch) }),
    ...(o.pendingTimeoutMs === undefined ? {} : { pendingTimeoutMs: BigInt(o.pendingTimeoutMs) }),
  });
}
