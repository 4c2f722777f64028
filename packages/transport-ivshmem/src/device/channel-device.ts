import type { ChannelMode, GrantRoleName, PageGranule } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import type { GrantDoorbellRoute } from '@sivshm/core';
import type { WindowMemory } from '../ring/ring-views.js';

/** What a device tells about itself (the kernel's SIVSHM_IOC_INFO). */
export interface DeviceInfo {
  /** Bytes of the shared region (BAR2 in qemu mode, the region file in emulated mode). */
  readonly regionSize: number;
  readonly dataOffset: number;
  readonly dataSize: number;
  /** hostd's epoch, from the region header. */
  readonly epoch: bigint;
  /** The VM this device belongs to (set with its grant key). */
  readonly vmId: number;
  /** The guest kernel's page size (INFO `page_size`; emulated mode: `kernelPageSize`). */
  readonly pageSize: number;
  /** The region's page granule, from its header (4096 for layout v1). */
  readonly pageGranule: PageGranule;
}

/**
 * Throws a clear `ERR_REGION` when the region's page granule is smaller than the kernel's page
 * size: the device would refuse every grant (verdict `granule`), since one kernel page would
 * hold pages of both roles. Checked before a grant is presented, so the user reads what to set.
 */
export function assertGranuleFits(info: DeviceInfo): void {
  if (info.pageGranule < info.pageSize) {
    throw new TransportError(
      'ERR_REGION',
      `this VM's kernel has ${info.pageSize / 1024} KiB pages but the region is laid out for ${info.pageGranule / 1024} KiB: set region.pageGranule to ${info.pageSize} or more in services.yaml and restart hostd`,
    );
  }
}

/** A window the device agreed to map after a valid grant. */
export interface GrantedWindow {
  readonly channelId: bigint;
  readonly role: GrantRoleName;
  readonly offset: number;
  readonly length: number;
  readonly mode: ChannelMode;
  /** The channel's doorbell route, as the grant named it (docs/protocol.md §7). */
  readonly doorbell: GrantDoorbellRoute;
}

/**
 * What a device returns after it applied a REVOKE: the channel it tore down and its receipt,
 * `HMAC(K_vm, "sivshm v1 revoke-receipt" ‖ token)` (core's `computeRevokeReceipt`). The app
 * forwards the receipt in its `revokeAck`; hostd reuses the window only when it verifies.
 */
export interface RevokeReceipt {
  readonly channelId: bigint;
  /** 32 bytes; computed by the device only after every mapping of the channel is gone. */
  readonly receipt: Uint8Array;
}

/**
 * One open file of the device (`open("/dev/sivshm")` in qemu mode). It has its own nonce (kn):
 * a grant is bound to exactly one open file, and only that file may map the window.
 */
export interface DeviceFile {
  /** The 16-byte nonce of this open file; the consumer/provider puts it in M1/M3. */
  readonly nonce: Uint8Array;
  /**
   * Presents a grant token (docs/protocol.md §7). Throws `TransportError('ERR_GRANT')` with the
   * device's reason (`tag`, `kn`, `replay`, `window`, …) when refused.
   */
  presentGrant(token: Uint8Array, tag: Uint8Array): GrantedWindow;
  /**
   * Maps the granted window of `channelId`: the role's own producer/consumer pages writable,
   * the peer's pages read-only where the device enforces it (see `enforcesPageProtection`).
   * Throws `ERR_GRANT` when this file holds no live grant for the channel.
   */
  mapWindow(channelId: bigint): WindowMemory;
  /**
   * The doorbell routes of this file's live grants, as far as this process knows: what it may
   * ring and observe (the device allows nothing else; a revoke ends a route at once).
   */
  doorbellRoutes(): GrantDoorbellRoute[];
  /** Unmaps everything this file mapped and forgets its grants. Idempotent. */
  close(): void;
}

/**
 * The boundary between the data plane and whatever enforces access to the region.
 *
 * `EmulatedDevice` applies the grant rules in user space over a region file (emulated mode: not
 * a security boundary); `KernelDevice` talks to `sivshm.ko` through `/dev/sivshm` (qemu mode).
 * Both pass the same contract suite (`test/device-contract.ts`).
 */
export interface ChannelDevice {
  info(): DeviceInfo;
  /** Opens a new file with a fresh nonce. */
  open(): DeviceFile;
  /**
   * Applies a REVOKE token from hostd: every mapping of that channel, in every file, is zapped
   * (a later access faults), then the receipt that proves it. Throws `ERR_GRANT` for a forged
   * or replayed token; a caller whose revoke threw must not acknowledge it.
   */
  revoke(token: Uint8Array, tag: Uint8Array): RevokeReceipt;
  /** True when the peer's pages are really read-only (the kernel), false when emulated. */
  readonly enforcesPageProtection: boolean;
  /**
   * Emulated mode only: the memory file of an `isolation: device` channel, which hostd tells
   * the channel's two VMs beside its grant (docs/protocol.md §10); a grant with target `device`
   * is checked against its header and maps from it. Throws `ERR_REGION` for a file that is not
   * a channel device. The kernel module binds hot-plugged devices itself: `KernelDevice` has
   * no such method.
   */
  bindChannelDevice?(path: string): void;
  /** Closes every open file and mapping. */
  close(): void;
}
