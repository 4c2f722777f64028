import { DiscoveryError } from '../errors/discovery-error.js';

/**
 * A big-endian cursor over `[start, end)` of a byte array that refuses to read past `end`.
 *
 * Every decoder reads through one of these; `sub()` hands out a reader bounded by a length
 * field, so a malformed length can never make a decoder read a neighbour's bytes (the bug
 * class of vsomeip #178 / #1042). Offsets in errors are relative to the SD message start.
 */
export class ByteReader {
  private readonly view: DataView;
  private pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  /** Current offset from the start of the underlying array. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes left before the bound. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws `ERR_SD_TRUNCATED` unless `n` bytes remain; `what` names the field. */
  need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw DiscoveryError.at(
        'ERR_SD_TRUNCATED',
        this.pos,
        `${what} needs ${n} bytes but only ${this.end - this.pos} remain`,
      );
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u24(what: string): number {
    this.need(3, what);
    const v = (this.view.getUint8(this.pos) << 16) | this.view.getUint16(this.pos + 1);
    this.pos += 3;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** A copy of the next `n` bytes (copied so that decoded values never alias a receive buffer). */
  bytesCopy(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A reader over the next `n` bytes only; this reader skips past them. */
  sub(n: number, what: string): ByteReader {
    this.need(n, what);
    const r = new ByteReader(this.bytes, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
}
