import { SERIAL_WINDOW } from '@sivshm/abi';

/**
 * Single-use serial numbers with a sliding window, the replay rule of grant and revoke tokens
 * (the kernel module keeps the same state: a high-water mark and a 64-bit bitmap).
 *
 * A serial is fresh if it is above the highest seen, or within `SERIAL_WINDOW` below it and not
 * seen yet. hostd issues serials in increasing order per VM; the window tolerates tokens that
 * reach the device out of order (two processes presenting at once) without ever accepting one
 * twice.
 */
export class SerialWindow {
  private high = -1n;
  /** Bit i set: serial `high - i` was seen (bit 0 is `high` itself). */
  private seen = 0n;

  /** True if `serial` has not been used and is not too old. Does not record it. */
  isFresh(serial: bigint): boolean {
    if (serial > this.high) return true;
    const age = this.high - serial;
    if (age >= BigInt(SERIAL_WINDOW)) return false;
    return ((this.seen >> age) & 1n) === 0n;
  }

  /** Records `serial` as used. Call only after `isFresh(serial)` and every other check passed. */
  commit(serial: bigint): void {
    const mask = (1n << BigInt(SERIAL_WINDOW)) - 1n;
    if (serial > this.high) {
      const shift = this.high < 0n ? BigInt(SERIAL_WINDOW) : serial - this.high;
      this.seen = shift >= BigInt(SERIAL_WINDOW) ? 0n : (this.seen << shift) & mask;
      this.high = serial;
      this.seen |= 1n;
    } else {
      this.seen |= 1n << (this.high - serial);
    }
  }

  /** Serials recorded so far that are still inside the window, for vectors and debugging. */
  recorded(): bigint[] {
    const out: bigint[] = [];
    for (let i = 0n; i < BigInt(SERIAL_WINDOW) && this.high - i >= 0n; i++) {
      if (((this.seen >> i) & 1n) === 1n) out.push(this.high - i);
    }
    return out;
  }
}
