/**
 * A big-endian, growable output buffer for the SD encoder.
 *
 * `reserve()` returns the offset of a field that is filled in later (length fields whose
 * value is known only after the content is written).
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = alloc(initialSize);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = alloc(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos++, v);
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }

  u24(v: number): void {
    this.ensure(3);
    this.view.setUint8(this.pos, (v >>> 16) & 0xff);
    this.view.setUint16(this.pos + 1, v & 0xffff);
    this.pos += 3;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Skips `n` zero bytes and returns their offset, to be patched with `setU16/setU32`. */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.buf.fill(0, at, at + n);
    this.pos += n;
    return at;
  }

  setU16(at: number, v: number): void {
    this.view.setUint16(at, v);
  }

  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0);
  }

  /** The written bytes; the writer must not be used afterwards (no copy is made). */
  finish(): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}

/** A zeroed array of `n` bytes. */
function alloc(n: number): Uint8Array {
  return new Uint8Array(n);
}
