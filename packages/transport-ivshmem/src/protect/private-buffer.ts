/**
 * Size of a private buffer (the opener's copy of a record, the sender's plaintext) that must
 * hold `n` bytes: powers of two from 256, so a stream of growing records reallocates rarely.
 */
export function privateBufferSize(n: number): number {
  let size = 256;
  while (size < n) size *= 2;
  return size;
}
