import { constants } from 'node:fs';
import {
  DEVICE_MAP_BASE,
  DoorbellLayout,
  GrantLayout,
  GrantReqLayout,
  InfoFlag,
  InfoLayout,
  isPageGranule,
  NonceLayout,
  PAGE_SIZE,
  RevokeLayout,
  RevokeReqLayout,
  SetKeyLayout,
  SivshmIoctl,
  SivshmVerdict,
  TOKEN_TAG_SIZE,
  type PageGranule,
  type SivshmVerdictName,
} from '@sivshm/abi';
import { decodeGrant, NO_DOORBELL_ROUTE, type GrantDoorbellRoute } from '@sivshm/core';
import { TransportError } from '../errors/transport-error.js';
import { closeFd, ioctl, openFd } from '../native/fd.js';
import { mapFile, unmap, type MappedFile } from '../native/map-file.js';
import type { WindowMemory } from '../ring/ring-views.js';
import type {
  ChannelDevice,
  DeviceFile,
  DeviceInfo,
  GrantedWindow,
  RevokeReceipt,
} from './channel-device.js';

/** Where `sivshm.ko` puts its device node. */
export const DEFAULT_DEVICE_PATH = '/dev/sivshm';

const verdictName = (v: number): SivshmVerdictName | 'unknown' =>
  (Object.keys(SivshmVerdict) as SivshmVerdictName[]).find((k) => SivshmVerdict[k] === v) ??
  'unknown';

function refused(what: string, verdict: number, cause?: unknown): TransportError {
  const reason = verdictName(verdict);
  return Object.assign(
    new TransportError(
      'ERR_GRANT',
      `${what} refused by sivshm.ko: ${reason}`,
      cause === undefined ? {} : { cause },
    ),
    { reason },
  );
}

/**
 * The `ChannelDevice` of qemu mode: `/dev/sivshm`, the guest kernel module (packages/kmod).
 * Every rule is enforced by the kernel — the grant check with the kernel crypto API, mappings
 * of granted windows only, the peer's pages read-only, no fork inheritance — this class speaks
 * the UAPI (`include/uapi/sivshm.h`, mirrored in `@sivshm/abi`), including the `overlap`
 * verdict for windows of different channels across the VM's open files, and the revoke
 * receipt. Inside a QEMU guest it passes the shared device contract (`npm run test:vm`).
 */
export class KernelDevice implements ChannelDevice {
  readonly enforcesPageProtection = true;
  readonly #path: string;
  readonly #files = new Set<KernelDeviceFile>();
  #control: number | undefined;

  constructor(options: { readonly path?: string } = {}) {
    this.#path = options.path ?? DEFAULT_DEVICE_PATH;
    this.#control = openFd(this.#path, constants.O_RDWR);
  }

  /** The device node this device opened. */
  get path(): string {
    return this.#path;
  }

  /**
   * This VM's doorbell address and vectors: `ivPosition` is the id hostd's ivshmem server gave
   * this guest's `ivshmem-doorbell` device (what peers ring), `vectors` its MSI-X vectors (0 on
   * `ivshmem-plain`: no doorbells).
   */
  doorbellInfo(): { readonly ivPosition: number; readonly vectors: number } {
    const buf = new Uint8Array(InfoLayout.size);
    ioctl(this.#fd(), SivshmIoctl.info, buf);
    const dv = new DataView(buf.buffer);
    return {
      ivPosition: dv.getUint32(InfoLayout.off.ivposition, true),
      vectors: dv.getUint32(InfoLayout.off.vectors, true),
    };
  }

  /**
   * Provisions the VM's grant key and id (docs/protocol.md §9): root only, once per module load;
   * the key cannot be read back or replaced afterwards. Run by the VM's init step, not by apps.
   */
  static provisionKey(key: Uint8Array, vmId: number, path = DEFAULT_DEVICE_PATH): void {
    if (key.length !== 32)
      throw new TransportError('ERR_BAD_ARGUMENT', `grant key must be 32 bytes, got ${key.length}`);
    const buf = new Uint8Array(SetKeyLayout.size);
    buf.set(key, SetKeyLayout.off.key);
    new DataView(buf.buffer).setUint32(SetKeyLayout.off.vmId, vmId, true);
    const fd = openFd(path, constants.O_RDWR);
    try {
      ioctl(fd, SivshmIoctl.setKey, buf);
    } finally {
      buf.fill(0);
      closeFd(fd);
    }
  }

  info(): DeviceInfo {
    const buf = new Uint8Array(InfoLayout.size);
    ioctl(this.#fd(), SivshmIoctl.info, buf);
    const dv = new DataView(buf.buffer);
    const o = InfoLayout.off;
    const flags = dv.getUint32(o.flags, true);
    if ((flags & InfoFlag.keySet) === 0) {
      throw new TransportError(
        'ERR_GRANT',
        'sivshm.ko has no grant key yet: provision it first (KernelDevice.provisionKey)',
      );
    }
    if ((flags & InfoFlag.headerOk) === 0) {
      throw new TransportError(
        'ERR_REGION',
        'sivshm.ko sees no valid region header: hostd has not initialised the region',
      );
    }
    return {
      regionSize: Number(dv.getBigUint64(o.regionSize, true)),
      dataOffset: Number(dv.getBigUint64(o.dataOffset, true)),
      dataSize: Number(dv.getBigUint64(o.dataSize, true)),
      epoch: dv.getBigUint64(o.epoch, true),
      vmId: dv.getUint32(o.vmId, true),
      pageSize: dv.getUint32(o.pageSize, true),
      pageGranule: granuleOrV1(dv.getUint32(o.pageGranule, true)),
    };
  }

  open(): KernelDeviceFile {
    // Non-blocking: its doorbell events are read when poll says so (KernelDoorbells).
    const fd = openFd(this.#path, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      const buf = new Uint8Array(NonceLayout.size);
      ioctl(fd, SivshmIoctl.nonce, buf);
      const f: KernelDeviceFile = new KernelDeviceFile(
        fd,
        buf.slice(NonceLayout.off.kn, NonceLayout.off.kn + 16),
        () => this.#files.delete(f),
      );
      this.#files.add(f);
      return f;
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  revoke(token: Uint8Array, tag: Uint8Array): RevokeReceipt {
    if (token.length !== RevokeLayout.size || tag.length !== TOKEN_TAG_SIZE) {
      throw refused('revoke', SivshmVerdict.size);
    }
    const req = new Uint8Array(RevokeReqLayout.size);
    req.set(token, RevokeReqLayout.off.token);
    req.set(tag, RevokeReqLayout.off.tag);
    try {
      ioctl(this.#fd(), SivshmIoctl.revoke, req);
    } catch (e) {
      throw refused(
        'revoke',
        new DataView(req.buffer).getUint32(RevokeReqLayout.off.verdict, true),
        e,
      );
    }
    // The receipt is the kernel's: it writes one only after it zapped every mapping of the
    // channel in this VM, ended its doorbell routes and barred the channel from later grants of
    // the epoch. This process's files forget the channel too (another process's files hear it
    // from the kernel: EPERM on their next mapWindow or ring).
    const channelId = new DataView(token.buffer, token.byteOffset).getBigUint64(
      RevokeLayout.off.channelId,
      true,
    );
    for (const f of this.#files) f.forget(channelId);
    return { channelId, receipt: req.slice(RevokeReqLayout.off.receipt) };
  }

  close(): void {
    for (const f of [...this.#files]) f.close();
    if (this.#control !== undefined) closeFd(this.#control);
    this.#control = undefined;
  }

  #fd(): number {
    if (this.#control === undefined) throw new TransportError('ERR_CLOSED', 'the device is closed');
    return this.#control;
  }
}

/**
 * One open file of `/dev/sivshm`: its own nonce, its own grants, its own mappings, and the
 * doorbells its grants route (sivshm.ko lets it ring and observe those only).
 */
export class KernelDeviceFile implements DeviceFile {
  readonly #windows = new Map<bigint, GrantedWindow>();
  /** Channels whose grant names their own channel device (mapped at DEVICE_MAP_BASE). */
  readonly #onDevice = new Set<bigint>();
  readonly #mappings: MappedFile[] = [];
  #fd: number | undefined;

  constructor(
    fd: number,
    readonly nonce: Uint8Array,
    private readonly onClose: () => void,
  ) {
    this.#fd = fd;
  }

  /** The fd (non-blocking) whose read()/poll() report this file's observed vectors; undefined once closed. */
  eventFd(): number | undefined {
    return this.#fd;
  }

  doorbellRoutes(): GrantDoorbellRoute[] {
    return [...this.#windows.values()].map((w) => w.doorbell);
  }

  /** The kernel revoked `channelId` (every mapping zapped): its window and route are gone. */
  forget(channelId: bigint): void {
    this.#windows.delete(channelId);
  }

  /**
   * Rings `vector` of the VM at IVPosition `peer` through this file (SIVSHM_IOC_DOORBELL).
   * sivshm.ko refuses (EPERM, thrown as ERR_SYSCALL) a pair that no live grant of this file
   * routes, and EOPNOTSUPP on ivshmem-plain.
   */
  ring(peer: number, vector: number): void {
    if (!Number.isInteger(peer) || peer < 0 || peer > 0xffff) {
      throw new TransportError('ERR_BAD_ARGUMENT', `doorbell peer must be 0..65535, got ${peer}`);
    }
    if (!Number.isInteger(vector) || vector < 0 || vector > 0xffff) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `doorbell vector must be 0..65535, got ${vector}`,
      );
    }
    const buf = new Uint8Array(DoorbellLayout.size);
    const dv = new DataView(buf.buffer);
    dv.setUint16(DoorbellLayout.off.peer, peer, true);
    dv.setUint16(DoorbellLayout.off.vector, vector, true);
    ioctl(this.#open(), SivshmIoctl.doorbell, buf);
  }

  /** The live windows of this file (as far as this process knows). */
  windows(): Iterable<GrantedWindow> {
    return this.#windows.values();
  }

  presentGrant(token: Uint8Array, tag: Uint8Array): GrantedWindow {
    const fd = this.#open();
    if (token.length !== GrantLayout.size || tag.length !== TOKEN_TAG_SIZE)
      throw refused('grant', SivshmVerdict.size);
    const req = new Uint8Array(GrantReqLayout.size);
    req.set(token, GrantReqLayout.off.token);
    req.set(tag, GrantReqLayout.off.tag);
    try {
      ioctl(fd, SivshmIoctl.grant, req);
    } catch (e) {
      // The kernel writes the verdict back before it returns the error.
      throw refused(
        'grant',
        new DataView(req.buffer).getUint32(GrantReqLayout.off.verdict, true),
        e,
      );
    }
    const d = decodeGrant(token);
    if (!d.ok) throw refused('grant', SivshmVerdict[d.reason]);
    const w: GrantedWindow = {
      channelId: d.token.channelId,
      role: d.token.role,
      offset: Number(d.token.windowOffset),
      length: Number(d.token.windowLength),
      mode: d.token.mode,
      doorbell: d.token.doorbell ?? NO_DOORBELL_ROUTE,
    };
    this.#windows.set(w.channelId, w);
    if (d.token.target === 'device') this.#onDevice.add(w.channelId);
    else this.#onDevice.delete(w.channelId);
    return w;
  }

  mapWindow(channelId: bigint): WindowMemory {
    const fd = this.#open();
    const w = this.#windows.get(channelId);
    if (w === undefined) {
      throw new TransportError(
        'ERR_GRANT',
        `no grant for channel ${channelId} on this device file (EPERM)`,
      );
    }
    // One writable mapping of the whole window: the kernel inserts pages on fault and refuses
    // writes to the peer's pages (SIGBUS), so the rings see the window exactly as in emulated mode.
    // A device grant's window is in its channel device (issue 18): sivshm.ko maps the file's
    // one device window at DEVICE_MAP_BASE; its offset in the grant is the device's, not ours.
    const at = this.#onDevice.has(channelId) ? DEVICE_MAP_BASE : w.offset;
    let m: MappedFile;
    try {
      m = mapFile(fd, at, w.length, { writable: true });
    } catch (e) {
      // EPERM: the kernel holds no live grant for the range any more (revoked by another
      // handle of this VM, or the file's grant ended).
      if (!TransportError.is(e) || e.errnoName !== 'EPERM') throw e;
      this.#windows.delete(channelId);
      throw new TransportError(
        'ERR_GRANT',
        `no grant for channel ${channelId} on this device file (EPERM from sivshm.ko: revoked)`,
        { cause: e },
      );
    }
    this.#mappings.push(m);
    return { shared: new Uint8Array(m.shared), bulk: new Uint8Array(m.bulk) };
  }

  close(): void {
    if (this.#fd === undefined) return;
    for (const m of this.#mappings.splice(0)) unmap(m.handle);
    closeFd(this.#fd);
    this.#fd = undefined;
    this.#windows.clear();
    this.onClose();
  }

  #open(): number {
    if (this.#fd === undefined) throw new TransportError('ERR_CLOSED', 'the device file is closed');
    return this.#fd;
  }
}

/** The granule INFO names; the module fills it from a header it validated (one of the three). */
function granuleOrV1(word: number): PageGranule {
  return isPageGranule(word) ? word : PAGE_SIZE;
}
