import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { readChannelDeviceHeader, type ChannelDeviceHeader } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';

/** Largest header granule: the header is read from the file's first 64 KiB at most. */
const MAX_HEADER_BYTES = 65536;

interface Bound {
  readonly path: string;
  readonly header: ChannelDeviceHeader;
}

/**
 * The channel devices an `EmulatedDevice` was told of (docs/protocol.md §10): per channel id,
 * the memory file hostd made for that channel alone and its validated header. Emulated mode's
 * stand-in for the hot-plugged devices sivshm.ko binds by the channel id in their headers.
 */
export class EmulatedChannelDevices {
  readonly #byChannel = new Map<bigint, Bound>();

  /** Reads and validates `path`'s header and binds the file to its channel. */
  bind(path: string): ChannelDeviceHeader {
    const header = readHeaderOf(path);
    this.#byChannel.set(header.channelId, { path, header });
    return header;
  }

  /** The header of the device bound to `channelId`, if any. */
  header(channelId: bigint): ChannelDeviceHeader | undefined {
    return this.#byChannel.get(channelId)?.header;
  }

  /** The file of the device bound to `channelId`, if any. */
  path(channelId: bigint): string | undefined {
    return this.#byChannel.get(channelId)?.path;
  }

  /** Forgets the channel's device (its channel was revoked: hostd frees the file). */
  forget(channelId: bigint): void {
    this.#byChannel.delete(channelId);
  }
}

function readHeaderOf(path: string): ChannelDeviceHeader {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const start = new Uint8Array(Math.min(size, MAX_HEADER_BYTES));
    const got = readSync(fd, start, 0, start.length, 0);
    const header = readChannelDeviceHeader(start.subarray(0, got), size);
    if (header === undefined) {
      throw new TransportError(
        'ERR_REGION',
        `${path} is not a channel device (no valid SIVCHN header for its ${size} bytes)`,
      );
    }
    return header;
  } catch (e) {
    if (e instanceof TransportError) throw e;
    throw new TransportError(
      'ERR_REGION',
      `cannot read the channel device ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
