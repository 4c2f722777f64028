import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
  type PathLike,
} from 'node:fs';
import path from 'node:path';
import {
  channelDeviceSize,
  writeChannelDeviceHeader,
  type ChannelDeviceHeader,
  type PageGranule,
} from '@sivshm/abi';

/** Zeroes are written in pieces of this size (a window can be large). */
const ZERO_CHUNK = 1 << 20;

/**
 * The memory of one `isolation: device` channel (docs/protocol.md §10), as hostd holds it: a
 * file in `<run-dir>/devices` (0600 in a 0700 directory) with the channel's header in its first
 * granule. hostd keeps its descriptor until the memory is freed; the file's name can go earlier
 * (qemu mode unlinks it once both QEMUs opened it), the memory lives as long as someone maps or
 * holds it.
 */
export class ChannelDeviceMemory {
  readonly path: string;
  readonly size: number;
  #fd: number | undefined;
  #linked = true;

  private constructor(filePath: string, size: number, fd: number) {
    this.path = filePath;
    this.size = size;
    this.#fd = fd;
  }

  /**
   * Creates the file (never over an existing one) and writes the header; `suffix` names the
   * mode's file kind (`chan` emulated, `mem` qemu).
   */
  static create(
    dir: string,
    header: Omit<ChannelDeviceHeader, 'deviceSize'>,
    suffix: 'chan' | 'mem',
  ): ChannelDeviceMemory {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const hex = header.channelId.toString(16).padStart(16, '0');
    const filePath = path.join(dir, `${hex}.${suffix}`);
    const size = channelDeviceSize(header.pageGranule, header.windowLength);
    // read and write: status reads the ring index pages back (read())
    const fd = openSync(filePath, 'wx+', 0o600);
    try {
      ftruncateSync(fd, size);
      const head = new Uint8Array(header.pageGranule as PageGranule);
      writeChannelDeviceHeader(head, { ...header, deviceSize: size });
      writeSync(fd, head, 0, head.length, 0);
    } catch (e) {
      closeSync(fd);
      rmSync(filePath, { force: true });
      throw e;
    }
    return new ChannelDeviceMemory(filePath, size, fd);
  }

  /** True until `unlink` or `free`: the file still has its name. */
  get linked(): boolean {
    return this.#linked;
  }

  /** True once `free` ran. */
  get freed(): boolean {
    return this.#fd === undefined;
  }

  /**
   * A copy of `length` bytes at `offset` (for status figures only: what a guest of the pair
   * wrote there is reported as read, never acted on); undefined once freed or out of range.
   */
  read(offset: number, length: number): Uint8Array | undefined {
    const fd = this.#fd;
    if (fd === undefined || offset < 0 || length < 0 || offset + length > this.size)
      return undefined;
    const out = new Uint8Array(length);
    try {
      return readSync(fd, out, 0, length, offset) === length ? out : undefined;
    } catch {
      return undefined; // a figure left out, never a failed status query
    }
  }

  /** Removes the file's name; the memory stays for whoever holds it (hostd's descriptor too). */
  unlink(): void {
    if (!this.#linked) return;
    this.#linked = false;
    rmSync(this.path as PathLike, { force: true });
  }

  /**
   * Zeroes every byte, drops the pages and the name, and closes hostd's descriptor: once
   * nobody else maps it, the memory is gone. Only called when no VM can reach it any more.
   */
  free(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    try {
      const zeros = new Uint8Array(Math.min(ZERO_CHUNK, this.size));
      for (let at = 0; at < this.size; at += zeros.length) {
        writeSync(fd, zeros, 0, Math.min(zeros.length, this.size - at), at);
      }
      ftruncateSync(fd, 0);
    } finally {
      closeSync(fd);
      this.unlink();
    }
  }
}
