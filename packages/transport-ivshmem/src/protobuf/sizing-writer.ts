import protobuf from 'protobufjs';
import type { Writer } from 'protobufjs';

const { LongBits, utf8 } = protobuf.util;

/** What protobufjs's 64-bit writers accept (a number, a decimal string or a Long). */
type Int64Input = Parameters<typeof LongBits.from>[0];

/** Bytes of `value` (unsigned 32-bit) as a varint. */
export function varint32Size(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** Bytes of the 64-bit value `hi:lo` (both unsigned 32-bit) as a varint; LongBits#length. */
export function varint64Size(lo: number, hi: number): number {
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0;
  const part2 = hi >>> 24;
  if (part2 !== 0) return part2 < 128 ? 9 : 10;
  if (part1 !== 0) return part1 < 16384 ? (part1 < 128 ? 5 : 6) : part1 < 2097152 ? 7 : 8;
  return lo < 16384 ? (lo < 128 ? 1 : 2) : lo < 2097152 ? 3 : 4;
}

/** A Long (or any object with low/high) as LongBits.from reads it, without allocating. */
export function isLongObject(value: unknown): value is { low: number; high: number } {
  return typeof value === 'object' && value !== null && !(value instanceof String);
}

function isString(value: unknown): value is string {
  return typeof value === 'string' || value instanceof String;
}

/**
 * A protobufjs `Writer` look-alike that writes nothing and counts the bytes a stock
 * `BufferWriter` would write.
 *
 * `encodedLength` uses it for codecs that are not reflection types (pbjs static classes), to
 * size a ring slot before encoding into it; reflection types get a generated sizer. Every
 * method mirrors the stock one's value coercions and the calls that can throw (`LongBits.from`,
 * base64 decoding, `charCodeAt`), so a message that fails to encode fails here first, before a
 * single byte of the target is touched. The writer is reusable: {@link restart} clears it.
 */
export class SizingWriter {
  /** Bytes counted so far: the stock writer's `pos` at the same point of the encoding. */
  pos = 0;
  /** Positions of open `fork()`s, as in the stock writer. */
  states: number[] = [];

  /** Resets the count for the next message. */
  restart(): void {
    this.pos = 0;
    this.states.length = 0;
  }

  /** Deprecated alias of {@link pos} that the stock writer still offers. */
  get len(): number {
    return this.pos;
  }

  /** This sizer typed as the protobufjs writer that generated encoders expect. */
  asWriter(): Writer {
    return this as unknown as Writer;
  }

  _reserve(): void {}

  uint32(value: number): this {
    this.pos += varint32Size(value >>> 0);
    return this;
  }

  int32(value: number): this {
    // Negative int32 values are sign-extended to ten varint bytes (protobuf encoding rules).
    if ((value |= 0) < 0) {
      this.pos += 10;
      return this;
    }
    return this.uint32(value);
  }

  sint32(value: number): this {
    return this.uint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  uint64(value: Int64Input): this {
    // Longs (what protobufjs decodes 64-bit fields to) are sized from their words directly;
    // numbers and strings go through LongBits like the stock writer.
    this.pos += isLongObject(value)
      ? varint64Size(value.low >>> 0, value.high >>> 0)
      : LongBits.from(value).length();
    return this;
  }

  int64(value: Int64Input): this {
    return this.uint64(value);
  }

  sint64(value: Int64Input): this {
    if (isLongObject(value)) {
      const lo = value.low >>> 0;
      const hi = value.high >>> 0;
      const mask = hi >> 31; // zig-zag as LongBits#zzEncode
      this.pos += varint64Size(((lo << 1) ^ mask) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0);
      return this;
    }
    this.pos += LongBits.from(value).zzEncode().length();
    return this;
  }

  bool(): this {
    this.pos += 1;
    return this;
  }

  fixed32(): this {
    this.pos += 4;
    return this;
  }

  sfixed32(): this {
    this.pos += 4;
    return this;
  }

  fixed64(value: Int64Input): this {
    LongBits.from(value); // the stock writer converts (and may throw) here
    this.pos += 8;
    return this;
  }

  sfixed64(value: Int64Input): this {
    return this.fixed64(value);
  }

  float(): this {
    this.pos += 4;
    return this;
  }

  double(): this {
    this.pos += 8;
    return this;
  }

  bytes(value: Uint8Array | string): this {
    // BufferWriter decodes base64 strings with Buffer.from; only the decoded length is exact.
    const len = (isString(value) ? Buffer.from(String(value), 'base64') : value).length >>> 0;
    this.uint32(len);
    this.pos += len;
    return this;
  }

  raw(value: Uint8Array): this {
    this.pos += value.length >>> 0;
    return this;
  }

  _delim(pos: number, len: number): this {
    this.pos = pos + varint32Size(len) + len;
    return this;
  }

  string(value: string): this {
    const n = value.length;
    if (!n) {
      this.pos += 1;
      return this;
    }
    // BufferWriter picks protobufjs's utf8.write for short strings and Buffer#utf8Write
    // otherwise; both count a code unit the same way (a lone surrogate is 3 bytes either way).
    const len = n < 0x80 && n < 40 ? utf8.length(value) : Buffer.byteLength(value);
    this.pos += varint32Size(len) + len;
    return this;
  }

  uint32s(value: readonly number[]): this {
    let len = 0;
    for (let i = 0; i < value.length; ++i) len += varint32Size((value[i] as number) >>> 0);
    this.pos += varint32Size(len) + len;
    return this;
  }

  int32s(value: readonly number[]): this {
    let len = 0;
    for (let i = 0; i < value.length; ++i) {
      const v = (value[i] as number) | 0;
      len += v < 0 ? 10 : varint32Size(v);
    }
    this.pos += varint32Size(len) + len;
    return this;
  }

  sint32s(value: readonly number[]): this {
    let len = 0;
    for (let i = 0; i < value.length; ++i) {
      const v = value[i] as number;
      len += varint32Size(((v << 1) ^ (v >> 31)) >>> 0);
    }
    this.pos += varint32Size(len) + len;
    return this;
  }

  uint64s(value: readonly Int64Input[]): this {
    let len = 0;
    for (let i = 0; i < value.length; ++i) len += LongBits.from(value[i] as Int64Input).length();
    this.pos += varint32Size(len) + len;
    return this;
  }

  int64s(value: readonly Int64Input[]): this {
    return this.uint64s(value);
  }

  sint64s(value: readonly Int64Input[]): this {
    let len = 0;
    for (let i = 0; i < value.length; ++i) {
      len += LongBits.from(value[i] as Int64Input)
        .zzEncode()
        .length();
    }
    this.pos += varint32Size(len) + len;
    return this;
  }

  bools(value: readonly boolean[]): this {
    return this.#fixedArray(value.length, 1);
  }

  fixed32s(value: readonly number[]): this {
    return this.#fixedArray(value.length, 4);
  }

  sfixed32s(value: readonly number[]): this {
    return this.#fixedArray(value.length, 4);
  }

  fixed64s(value: readonly Int64Input[]): this {
    for (let i = 0; i < value.length; ++i) LongBits.from(value[i] as Int64Input);
    return this.#fixedArray(value.length, 8);
  }

  sfixed64s(value: readonly Int64Input[]): this {
    return this.fixed64s(value);
  }

  floats(value: readonly number[]): this {
    return this.#fixedArray(value.length, 4);
  }

  doubles(value: readonly number[]): this {
    return this.#fixedArray(value.length, 8);
  }

  fork(): this {
    this.states.push(this.pos);
    this.pos += 1; // the stock writer reserves one length byte and widens it in ldelim()
    return this;
  }

  reset(): this {
    const last = this.states.pop();
    this.pos = last ?? 0;
    return this;
  }

  ldelim(): this {
    const lenPos = this.states.pop();
    if (lenPos !== undefined) {
      this.pos += varint32Size(this.pos - lenPos - 1) - 1;
    } else {
      this.pos += varint32Size(this.pos); // unforked: the whole buffer gets a length prefix
    }
    return this;
  }

  finish(): never {
    throw new Error('SizingWriter only counts bytes; finish() has nothing to return');
  }

  finishInto(): never {
    return this.finish();
  }

  #fixedArray(count: number, width: number): this {
    const bytes = count * width;
    this.pos += varint32Size(bytes) + bytes;
    return this;
  }
}
