import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TransportError } from '../errors/transport-error.js';

/** What `mapFile` returns from the native side. */
export interface NativeMapping {
  readonly shared: SharedArrayBuffer;
  readonly bulk: ArrayBuffer;
  readonly handle: object;
}

/** A message read by `recvWithFds`. */
export interface NativeMessage {
  readonly data: Uint8Array;
  readonly fds: number[];
  readonly truncated: boolean;
}

/**
 * The raw functions of `sivshm_native.node` (native/*.cc). They throw plain errors carrying
 * `errno`/`code`/`syscall`, or `code: 'ERR_BAD_ARGUMENT'`; use the typed wrappers in this folder,
 * which turn those into `TransportError`s.
 */
export interface NativeAddon {
  mapFile(
    pathOrFd: string | number,
    offset: number,
    length: number,
    options: { writable: boolean; populate: boolean },
  ): NativeMapping;
  unmap(handle: object): boolean;
  mappingInfo(handle: object): { length: number; unmapped: boolean; lost: boolean };
  remap(handle: object, fd: number): void;
  liveRegions(): number;
  sigbusGuardInfo(): {
    installed: boolean;
    previous: 'none' | 'default' | 'ignore' | 'handler';
    absorbed: number;
    guarded: number;
    unguarded: number;
  };
  sigbusCounter(): SharedArrayBuffer;
  lockExclusive(fd: number): boolean;
  lockTest(fd: number): boolean;
  eventfdCreate(options: { semaphore: boolean; nonblock: boolean }): number;
  eventfdWrite(fd: number, n: number | bigint): void;
  eventfdRead(fd: number): bigint;
  open(path: string, flags: number, mode: number): number;
  close(fd: number): void;
  ioctl(fd: number, request: number, arg?: number | bigint | ArrayBufferView | ArrayBuffer): number;
  createRegionFile(path: string, size: number, options: { exclusive: boolean }): number;
  memfdCreate(name: string, size: number): number;
  fileSize(fd: number): number;
  dup(fd: number): number;
  pollStart(fd: number, events: number, cb: (errno: number, events: number) => void): number;
  pollSetEvents(id: number, events: number): void;
  pollStop(id: number): boolean;
  pollRef(id: number, ref: boolean): void;
  unixSocket(type: 'stream' | 'seqpacket' | 'dgram'): number;
  unixSocketPair(type: 'stream' | 'seqpacket' | 'dgram'): [number, number];
  unixBind(fd: number, path: string): void;
  unixListen(fd: number, backlog: number): void;
  unixAccept(fd: number): number;
  unixConnect(fd: number, path: string): boolean;
  sendFds(fd: number, data: Uint8Array, fds: readonly number[]): number;
  recvWithFds(fd: number, maxData: number, maxFds: number): NativeMessage | undefined;
  unixPeerCred(fd: number): { pid: number; uid: number; gid: number };
  /**
   * A record cipher of one channel direction (docs/protocol.md §4.1): mode 0 mac (GMAC), 1 aead
   * (AES-256-GCM), 2 ChaCha20-Poly1305 (for the benchmark's comparison only); direction 1 c2p,
   * 2 p2c. The key schedule is set up here, once.
   */
  recordCipherCreate(
    mode: 0 | 1 | 2,
    key: Uint8Array,
    channelId: bigint,
    direction: 1 | 2,
  ): RecordCipherHandle;
  recordCipherDispose(handle: object): void;
  /**
   * Seals record `sequence` (header words w0, w2, w3 as int32) into `record` = body ‖ sequence
   * ‖ tag, exactly plain's length + 24.
   */
  recordSeal(
    handle: object,
    sequence: number,
    w0: number,
    w2: number,
    w3: number,
    plain: Uint8Array,
    record: Uint8Array,
  ): void;
  /**
   * Copies `record` into `out` (at least as long) reading each byte once, then checks the
   * copy: 0 opened (out starts with the plaintext), 1 its sequence is not `expected`, 2 bad tag.
   */
  recordOpen(
    handle: object,
    expected: number,
    w0: number,
    w2: number,
    w3: number,
    record: Uint8Array,
    out: Uint8Array,
  ): 0 | 1 | 2;
  /**
   * Binds memory to the cipher: which 0, the ring's data area (records); 1, the private buffer
   * (plaintext); 2, the call block (a Uint32Array of 8 words) the offset forms read their
   * arguments from. The cipher keeps each buffer's memory alive while bound.
   */
  recordBind(handle: object, which: 0 | 1 | 2, bytes: Uint8Array | Uint32Array): void;
  /**
   * `recordSeal` from private[offset, + length) into ring[recordOffset, + length + 24); the call
   * block holds sequence (low, high), w0, w2, w3, offset, length, recordOffset.
   */
  recordSealAt(handle: object): void;
  /**
   * `recordOpen` from ring[offset, + length) into private[0, + length); the call block holds
   * the expected sequence (low, high), w0, w2, w3, offset, length.
   */
  recordOpenAt(handle: object): 0 | 1 | 2;
}

/**
 * A record cipher made by `recordCipherCreate`. Its methods are `recordSealAt(handle)` and
 * `recordOpenAt(handle)` as calls on the handle: V8 checks that the receiver is a handle (the
 * methods' signature), so a record call makes no argument checks of its own, and every handle
 * shares one prototype, so the call site of a channel's records sees one target.
 */
export interface RecordCipherHandle {
  /** `recordSealAt(this)`: the call block's record, sealed from the private buffer into the ring. */
  sealAt(): void;
  /** `recordOpenAt(this)`: the call block's record, opened from the ring into the private buffer. */
  openAt(): 0 | 1 | 2;
}

/** Folder holding this package's package.json, found by walking up from this module. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'binding.gyp'))) {
      return dir;
    }
    dir = path.dirname(dir);
  }
  throw new TransportError(
    'ERR_ADDON',
    `cannot locate the @sivshm/transport-ivshmem package root above ${fileURLToPath(import.meta.url)}`,
  );
}

let cached: NativeAddon | undefined;

/** Path of the addon binary that {@link loadAddon} loads. */
export function addonPath(): string {
  return path.join(packageRoot(), 'build', 'Release', 'sivshm_native.node');
}

/**
 * Loads the addon binary at `file` (uncached). Throws `TransportError('ERR_ADDON')` when the
 * file is missing or does not load (wrong Node ABI, not an addon).
 */
export function loadAddonFrom(file: string): NativeAddon {
  if (!existsSync(file)) {
    throw new TransportError(
      'ERR_ADDON',
      `the native addon was not built (${file} is missing): run npm ci; needs python3, make, g++`,
    );
  }
  try {
    return createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    throw new TransportError(
      'ERR_ADDON',
      `the native addon ${file} does not load (${(e as Error).message}); rebuild it for this Node with npm run build:native -w @sivshm/transport-ivshmem`,
      { cause: e },
    );
  }
}

/**
 * Loads `build/Release/sivshm_native.node` once and returns it.
 *
 * Use the typed wrappers (`mapFile`, `eventfdCreate`, …) instead unless you need a raw call.
 * Throws `TransportError('ERR_ADDON')` when the binary is missing or does not load.
 */
export function loadAddon(): NativeAddon {
  cached ??= loadAddonFrom(addonPath());
  return cached;
}
