import { closeSync, openSync, readSync, statSync } from 'node:fs';
import {
  computeRevokeReceipt,
  cryptoBackend,
  SerialWindow,
  verifyGrant,
  verifyRevoke,
  NO_DOORBELL_ROUTE,
  type CryptoBackend,
  type GrantDoorbellRoute,
} from '@sivshm/core';
import { PAGE_SIZE, windowLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { mapFile, unmap, type MappedFile } from '../native/map-file.js';
import { lossProbe } from '../native/sigbus-guard.js';
import { readRegionHeader, type RegionHeaderInfo } from '../region/region-header.js';
import { ControlFileReader, controlPathFor } from '../region/control-file.js';
import type { WindowMemory } from '../ring/ring-views.js';
import { EmulatedChannelDevices } from './emulated-channel-devices.js';
import type {
  ChannelDevice,
  DeviceFile,
  DeviceInfo,
  GrantedWindow,
  RevokeReceipt,
} from './channel-device.js';

export interface EmulatedDeviceOptions {
  /** The region file (e.g. /dev/shm/sivshm-demo) that hostd created and initialised. */
  readonly regionPath: string;
  /** The VM this device stands in for. */
  readonly vmId: number;
  /** K_vm, the VM's 32-byte grant key (handed over by hostd at attach time in emulated mode). */
  readonly grantKey: Uint8Array;
  readonly crypto?: CryptoBackend;
  /** Injected clock in unix nanoseconds; default the wall clock. */
  readonly nowNs?: () => bigint;
  /**
   * The page size of the kernel this device stands in for (default 4096): a grant on a region
   * whose page granule is smaller is refused with `granule`, as sivshm.ko does on such a kernel.
   */
  readonly kernelPageSize?: 4096 | 16384 | 65536;
}

interface LiveGrant {
  readonly window: GrantedWindow;
  readonly file: EmulatedDeviceFile;
  readonly mappings: MappedFile[];
  /** A device grant's memory file (docs/protocol.md §10); absent: the window is the region's. */
  readonly devicePath?: string;
}

/**
 * The `ChannelDevice` of emulated mode: the kernel module's grant rules (docs/protocol.md §7, the
 * same order and reasons, plus its device-only `layout` and `overlap` checks) applied in user space
 * over the region file. It is NOT a security boundary — any process that can open the region file
 * can read it — it exists so the whole protocol runs everywhere, tested by the same contract suite
 * as `KernelDevice`.
 */
export class EmulatedDevice implements ChannelDevice {
  readonly enforcesPageProtection = false;
  private readonly crypto: CryptoBackend;
  private readonly nowNs: () => bigint;
  private readonly grantSerials = new SerialWindow();
  private readonly revokeSerials = new SerialWindow();
  private readonly grants = new Map<bigint, LiveGrant[]>();
  private readonly files = new Set<EmulatedDeviceFile>();
  /** Channels revoked in `revokedEpoch`: no later grant for them, as sivshm.ko's record. */
  private readonly revokedChannels = new Set<bigint>();
  private revokedEpoch = -1n;
  private readonly key: Uint8Array;
  private readonly channelDevices = new EmulatedChannelDevices();
  private closed = false;
  readonly #control: ControlFileReader;

  constructor(private readonly o: EmulatedDeviceOptions) {
    if (o.grantKey.length !== 32) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `grant key must be 32 bytes, got ${o.grantKey.length}`,
      );
    }
    this.key = new Uint8Array(o.grantKey);
    this.crypto = o.crypto ?? cryptoBackend();
    this.nowNs = o.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
    this.#control = new ControlFileReader(controlPathFor(o.regionPath));
    this.info(); // fail early on a missing or foreign region
  }

  info(): DeviceInfo {
    this.assertOpen();
    // Read the header afresh: hostd restarts bump the epoch in place. Only its page is read:
    // a mapping of the whole region on every attach, present and revoke gave V8 a buffer of
    // the region's size to collect each time, and with hundreds of channels (a large region,
    // a large heap) those collections took most of a VM's CPU (docs/performance.md, Scale).
    const size = regionFileSize(this.o.regionPath);
    const h =
      this.#controlHeader(size) ?? readRegionHeader(readHeaderPage(this.o.regionPath), size);
    return {
      regionSize: h.regionSize,
      dataOffset: h.dataOffset,
      dataSize: h.dataSize,
      epoch: h.epoch,
      vmId: this.o.vmId,
      pageSize: this.o.kernelPageSize ?? PAGE_SIZE,
      pageGranule: h.pageGranule,
    };
  }

  /**
   * The header from the read-only control file hostd writes beside the region (docs/protocol.md
   * §10.4), read through a descriptor opened read-only, as sivshm.ko reads it from the control
   * device; undefined for a region made without one (tests, benches), whose own header is read.
   */
  #controlHeader(regionSize: number): RegionHeaderInfo | undefined {
    if (!this.#control.exists()) return undefined;
    const h = this.#control.header();
    if (h.regionSize !== regionSize) {
      throw new TransportError(
        'ERR_REGION',
        `control file ${this.#control.path} names a region of ${h.regionSize} bytes, but ${this.o.regionPath} has ${regionSize}`,
      );
    }
    return h;
  }

  open(): DeviceFile {
    this.assertOpen();
    const f = new EmulatedDeviceFile(this, this.crypto.randomBytes(16), process.pid);
    this.files.add(f);
    return f;
  }

  revoke(token: Uint8Array, tag: Uint8Array): RevokeReceipt {
    this.assertOpen();
    const info = this.info();
    const v = verifyRevoke(this.crypto, this.key, token, tag, {
      vmId: this.o.vmId,
      epoch: info.epoch,
      serials: this.revokeSerials,
    });
    if (!v.ok) throw grantError('revoke', v.reason);
    this.zap(v.token.channelId);
    this.revokedIn(info.epoch).add(v.token.channelId);
    // Only after every mapping of this process is gone: the receipt says "torn down".
    return {
      channelId: v.token.channelId,
      receipt: computeRevokeReceipt(this.crypto, this.key, token),
    };
  }

  /** The memory file of a device channel hostd told this VM of (docs/protocol.md §10). */
  bindChannelDevice(path: string): void {
    this.assertOpen();
    this.channelDevices.bind(path);
  }

  close(): void {
    if (this.closed) return;
    for (const f of [...this.files]) f.close();
    this.#control.close();
    this.closed = true;
  }

  /** @internal The descriptor the control file is read through (specs check it is read-only). */
  get controlFd(): number | undefined {
    return this.#control.fd;
  }

  /** @internal Grant check for `file`; see docs/protocol.md §7. */
  present(file: EmulatedDeviceFile, token: Uint8Array, tag: Uint8Array): GrantedWindow {
    this.assertOpen();
    if (process.pid !== file.ownerPid) throw grantError('grant', 'owner');
    const info = this.info();
    const v = verifyGrant(this.crypto, this.key, token, tag, {
      vmId: this.o.vmId,
      epoch: info.epoch,
      kn: file.nonce,
      nowNs: this.nowNs(),
      region: {
        size: BigInt(info.regionSize),
        dataOffset: BigInt(info.dataOffset),
        dataSize: BigInt(info.dataSize),
      },
      serials: new SerialWindowProbe(this.grantSerials),
      channelDevice: (id) => this.channelDevices.header(id),
    });
    if (!v.ok) throw grantError('grant', v.reason);
    const t = v.token;
    // A grant issued before the revoke is still genuine: only the record refuses it.
    if (this.revokedIn(info.epoch).has(t.channelId)) throw grantError('grant', 'revoked');
    const offset = Number(t.windowOffset);
    const length = Number(t.windowLength);
    const devicePath = t.target === 'device' ? this.channelDevices.path(t.channelId) : undefined;
    if (devicePath !== undefined) this.checkDeviceGrant(file, t.channelId, info.pageSize);
    else this.checkRegionGrant(t.channelId, offset, length, info);
    // Every check passed: only now is the serial spent (a refused token never burns one).
    this.grantSerials.commit(t.grantSerial);
    const window: GrantedWindow = {
      channelId: t.channelId,
      role: t.role,
      offset,
      length,
      mode: t.mode,
      doorbell: t.doorbell ?? NO_DOORBELL_ROUTE,
    };
    const list = this.grants.get(t.channelId) ?? [];
    list.push({ window, file, mappings: [], ...(devicePath === undefined ? {} : { devicePath }) });
    this.grants.set(t.channelId, list);
    return window;
  }

  /** @internal */
  map(file: EmulatedDeviceFile, channelId: bigint): WindowMemory {
    this.assertOpen();
    if (process.pid !== file.ownerPid) throw grantError('map', 'owner');
    const g = this.grants.get(channelId)?.find((x) => x.file === file);
    if (g === undefined) {
      throw new TransportError(
        'ERR_GRANT',
        `no grant for channel ${channelId} on this device file (EPERM)`,
      );
    }
    const m = mapFile(g.devicePath ?? this.o.regionPath, g.window.offset, g.window.length, {
      writable: true,
    });
    g.mappings.push(m);
    return {
      shared: new Uint8Array(m.shared),
      bulk: new Uint8Array(m.bulk),
      lost: lossProbe(m.handle),
    };
  }

  /**
   * @internal The doorbell routes of `file`'s live grants: what sivshm.ko would let it ring and
   * observe. A revoke or a new epoch's grant check removes them with the grant.
   */
  routes(file: EmulatedDeviceFile): GrantDoorbellRoute[] {
    const out: GrantDoorbellRoute[] = [];
    for (const list of this.grants.values())
      for (const g of list) if (g.file === file) out.push(g.window.doorbell);
    return out;
  }

  /** @internal Forgets every grant of `file` and unmaps what it mapped. */
  release(file: EmulatedDeviceFile): void {
    for (const [id, list] of this.grants) {
      const keep = list.filter((g) => {
        if (g.file !== file) return true;
        for (const m of g.mappings) unmap(m.handle);
        return false;
      });
      if (keep.length === 0) this.grants.delete(id);
      else this.grants.set(id, keep);
    }
    this.files.delete(file);
  }

  /** The device-only checks of a region grant: its layout, granule and overlap (§7.1). */
  private checkRegionGrant(channelId: bigint, offset: number, length: number, info: DeviceInfo) {
    const layout = windowLayout(info.pageGranule);
    if (layout.dataSizeOf(length) === undefined || offset % layout.granule !== 0) {
      throw grantError('grant', 'layout');
    }
    if (info.pageGranule < info.pageSize) throw grantError('grant', 'granule');
    for (const [id, list] of this.grants) {
      if (id === channelId) continue;
      for (const g of list) {
        if (g.devicePath !== undefined) continue; // in its own memory: overlaps nothing here
        if (offset < g.window.offset + g.window.length && g.window.offset < offset + length) {
          throw grantError('grant', 'overlap');
        }
      }
    }
  }

  /**
   * The device-only checks of a device grant (docs/protocol.md §10): its memory's granule fits
   * the kernel's pages, and a file holds at most one live device grant (it maps that one at
   * one fixed offset, as sivshm.ko does).
   */
  private checkDeviceGrant(file: EmulatedDeviceFile, channelId: bigint, pageSize: number) {
    const header = this.channelDevices.header(channelId);
    if (header !== undefined && header.pageGranule < pageSize) {
      throw grantError('grant', 'granule');
    }
    for (const [id, list] of this.grants) {
      if (id === channelId) continue;
      if (list.some((g) => g.file === file && g.devicePath !== undefined)) {
        throw grantError('grant', 'overlap');
      }
    }
  }

  /** The revoked channels of `epoch` (a new epoch starts an empty record). */
  private revokedIn(epoch: bigint): Set<bigint> {
    if (epoch !== this.revokedEpoch) {
      this.revokedChannels.clear();
      this.revokedEpoch = epoch;
    }
    return this.revokedChannels;
  }

  private zap(channelId: bigint): void {
    for (const g of this.grants.get(channelId) ?? []) for (const m of g.mappings) unmap(m.handle);
    this.grants.delete(channelId);
    this.channelDevices.forget(channelId);
  }

  private assertOpen(): void {
    if (this.closed) throw new TransportError('ERR_CLOSED', 'the device is closed');
  }
}

/** Lets verifyGrant test freshness without committing: the device commits after its own checks. */
class SerialWindowProbe extends SerialWindow {
  constructor(private readonly real: SerialWindow) {
    super();
  }
  override isFresh(serial: bigint): boolean {
    return this.real.isFresh(serial);
  }
  override commit(): void {
    // deferred to EmulatedDevice.present
  }
}

/** One open file of an `EmulatedDevice`. */
class EmulatedDeviceFile implements DeviceFile {
  private open = true;
  constructor(
    private readonly device: EmulatedDevice,
    readonly nonce: Uint8Array,
    readonly ownerPid: number,
  ) {}

  presentGrant(token: Uint8Array, tag: Uint8Array): GrantedWindow {
    if (!this.open) throw new TransportError('ERR_CLOSED', 'the device file is closed');
    return this.device.present(this, token, tag);
  }

  mapWindow(channelId: bigint): WindowMemory {
    if (!this.open) throw new TransportError('ERR_CLOSED', 'the device file is closed');
    return this.device.map(this, channelId);
  }

  doorbellRoutes(): GrantDoorbellRoute[] {
    return this.open ? this.device.routes(this) : [];
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.device.release(this);
  }
}

function grantError(what: 'grant' | 'revoke' | 'map', reason: string): TransportError {
  return Object.assign(
    new TransportError('ERR_GRANT', `${what} refused by the device: ${reason}`),
    { reason },
  );
}

/** The region file's first page (its header); shorter if the file is. */
function readHeaderPage(path: string): Uint8Array {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const page = new Uint8Array(PAGE_SIZE);
    return page.subarray(0, readSync(fd, page, 0, PAGE_SIZE, 0));
  } catch (e) {
    throw new TransportError(
      'ERR_REGION',
      `cannot read the region ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function regionFileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch (e) {
    throw new TransportError(
      'ERR_REGION',
      `cannot open the region ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
