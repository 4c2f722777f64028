import protobuf from 'protobufjs';

const { utf8 } = protobuf.util;
// Node's native UTF-8 writer; it accepts any Uint8Array as `this`, shared memory included.
const utf8Write = (
  Buffer.prototype as unknown as {
    utf8Write(this: Uint8Array, value: string, offset: number): number;
  }
).utf8Write;

/** The fields of protobufjs's writer that this file resets; they are public in protobufjs. */
interface WriterState {
  buf: Uint8Array;
  pos: number;
  view: DataView | null;
  states: number[] | null;
}

/**
 * A protobufjs `BufferWriter` whose backing buffer is the caller's target (a loaned ring slot)
 * instead of a buffer it allocates and grows.
 *
 * Only for use after the exact encoded length is known and checked to fit (see
 * {@link encodeInto}): growing is switched off, so the worst-case reservations the stock writer
 * makes (3 bytes per character of a string, 10 per varint) do not refuse an exact-size target,
 * and every write lands where the stock writer would put it in its own buffer. The bytes are
 * therefore identical to `encode().finish()`. Indexed stores and `set` on a typed array are
 * bounds-checked by the engine, so even a message that changes between sizing and writing cannot
 * write outside the target view.
 */
export class TargetWriter extends protobuf.BufferWriter {
  /** Points the writer at `target`, position 0. */
  attach(target: Uint8Array): this {
    const self = this as unknown as WriterState;
    self.buf = target;
    self.pos = 0;
    self.view = null;
    self.states = null;
    return this;
  }

  /** Drops the reference to the last target so that a finished slot is not kept alive. */
  detach(): void {
    this.attach(EMPTY);
  }

  /** Mirrors `BufferWriter#string` (same branch points, so the same bytes), on a Uint8Array. */
  override string(value: string): this {
    const self = this as unknown as WriterState;
    const n = value.length;
    if (!n) {
      self.buf[self.pos++] = 0;
      return this;
    }
    if (n < 0x80) {
      // Write after one reserved length byte, then let _delim widen the prefix if needed.
      const lenPos = self.pos;
      const len =
        n < 40
          ? utf8.write(value, self.buf, lenPos + 1)
          : utf8Write.call(self.buf, value, lenPos + 1);
      (this as unknown as { _delim(pos: number, len: number): unknown })._delim(lenPos, len);
      return this;
    }
    const len = Buffer.byteLength(value);
    this.uint32(len);
    utf8Write.call(self.buf, value, self.pos);
    self.pos += len;
    return this;
  }
}

const EMPTY = new Uint8Array(0);

// Growing is what makes the stock writer allocate; here the target has the exact size already.
Object.defineProperty(TargetWriter.prototype, '_reserve', {
  value: function reserveNothing(): void {},
  writable: true,
  configurable: true,
});
