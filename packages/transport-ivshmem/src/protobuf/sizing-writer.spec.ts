import { expect } from 'chai';
import protobuf from 'protobufjs';
import { SizingWriter, varint32Size } from './sizing-writer.js';

/** Runs the same calls on a stock writer and a sizer; returns both lengths. */
function both(calls: (w: protobuf.Writer) => void): [number, number] {
  const stock = protobuf.Writer.create();
  calls(stock);
  const sizer = new SizingWriter();
  calls(sizer.asWriter());
  return [stock.finish().length, sizer.pos];
}

describe('SizingWriter', () => {
  it('should implement every method of protobufjs Writer and BufferWriter (guards a protobufjs upgrade)', () => {
    const names = new Set<string>();
    for (const proto of [protobuf.Writer.prototype, protobuf.BufferWriter.prototype]) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        const desc = Object.getOwnPropertyDescriptor(proto, name);
        if (name !== 'constructor' && typeof desc?.value === 'function') names.add(name);
      }
    }
    const missing = [...names].filter(
      (n) =>
        typeof (SizingWriter.prototype as unknown as Record<string, unknown>)[n] !== 'function',
    );
    expect(missing).to.deep.equal([]);
  });

  describe('.uint32 / .int32 / .sint32', () => {
    it('should count varints at every length boundary like the stock writer', () => {
      for (const v of [
        0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0xffffffff,
      ]) {
        expect(both((w) => w.uint32(v))).to.deep.equal([varint32Size(v), varint32Size(v)]);
        expect(both((w) => w.int32(v | 0))[1]).to.equal(both((w) => w.int32(v | 0))[0]);
        expect(both((w) => w.sint32(v | 0))[1]).to.equal(both((w) => w.sint32(v | 0))[0]);
      }
    });
  });

  describe('.fork / .ldelim / .reset', () => {
    it('should widen the length prefix exactly where the stock writer does', () => {
      for (const n of [0, 126, 127, 128, 16382, 16383, 16384]) {
        const [stock, sized] = both((w) => w.uint32(10).fork().raw(new Uint8Array(n)).ldelim());
        expect(sized, `content ${n}`).to.equal(stock);
      }
    });

    it('should drop a forked part on reset and prefix the whole buffer on an unforked ldelim', () => {
      expect(both((w) => w.uint32(1).fork().uint32(300).reset().uint32(2))).to.deep.equal([2, 2]);
      const [stock, sized] = both((w) => w.raw(new Uint8Array(200)).ldelim());
      expect(sized).to.equal(stock);
    });
  });

  describe('.string / .bytes', () => {
    it('should count UTF-8 (lone surrogates included) and base64 input like BufferWriter', () => {
      for (const s of [
        '',
        'a',
        '\ud800',
        'é'.repeat(39),
        'é'.repeat(40),
        '😀'.repeat(64),
        'z'.repeat(200),
      ]) {
        const [stock, sized] = both((w) => w.string(s));
        expect(sized, JSON.stringify(s.slice(0, 8))).to.equal(stock);
      }
      for (const b of ['', 'AQID', 'AQ==', 'not base64!!']) {
        const [stock, sized] = both((w) => w.bytes(b as unknown as Uint8Array));
        expect(sized, b).to.equal(stock);
      }
    });
  });

  describe('.finish', () => {
    it('should refuse to finish: a sizer has no bytes', () => {
      expect(() => new SizingWriter().finish()).to.throw(/only counts bytes/);
    });
  });
});
