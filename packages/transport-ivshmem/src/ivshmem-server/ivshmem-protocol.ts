// The ivshmem client-server protocol (QEMU docs/specs/ivshmem-spec.rst, "The ivshmem
// Client-Server Protocol"): one-way, server to client; every message is one little-endian
// signed 64-bit integer, optionally with one fd (SCM_RIGHTS), one sendmsg per message.

/** Protocol version the server sends first (spec step 1). */
export const IVSHMEM_PROTOCOL_VERSION = 0;

/** Size of every message in bytes. */
export const IVSHMEM_MESSAGE_SIZE = 8;

/** Value sent with the shared-memory fd (spec step 3). */
export const IVSHMEM_SHM_MESSAGE = -1;

/** Highest peer id: the Doorbell register has 16 bits for it (spec step 2). */
export const IVSHMEM_MAX_PEER_ID = 0xffff;

/**
 * Most interrupt vectors per peer we accept. The spec sets no limit; QEMU's own server caps
 * vectors at 64 (IVSHMEM_SERVER_MAX_VECTORS), and the Doorbell register has 16 bits.
 */
export const IVSHMEM_MAX_VECTORS = 64;

/** Encodes one protocol message. */
export function encodeIvshmemMessage(value: number): Uint8Array {
  const b = new Uint8Array(IVSHMEM_MESSAGE_SIZE);
  new DataView(b.buffer).setBigInt64(0, BigInt(value), true);
  return b;
}

/**
 * Decodes one protocol message; values outside the safe-integer range come back as
 * `undefined` (no valid message has them).
 */
export function decodeIvshmemMessage(bytes: Uint8Array): number | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(0, true);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : undefined;
}
