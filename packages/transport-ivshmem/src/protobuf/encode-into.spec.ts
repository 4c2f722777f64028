import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { encodeInto, encodedLength } from './encode-into.js';
import { allMessage } from './fixtures/arbitraries.js';
import { long, schemas, smallVehicleSignal } from './fixtures/test-schemas.js';
import type { MessageCodec } from './message-codec.js';

const { All, Inner, P2, VehicleSignal } = schemas;
const CANARY = 0xa5;

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** Encodes with encodeInto into an exact-size slot between canaries; returns the slot bytes. */
function viaSlot(type: MessageCodec, message: object, pad = 16): Uint8Array {
  const expected = type.encode(message as never).finish();
  const buf = new Uint8Array(pad + expected.length + pad).fill(CANARY);
  const slot = buf.subarray(pad, pad + expected.length);
  const n = encodeInto(type, message, slot);
  expect(n).to.equal(expected.length);
  for (let i = 0; i < pad; i++) {
    expect(buf[i], `canary before the slot at ${i}`).to.equal(CANARY);
    expect(buf[pad + expected.length + i], `canary after the slot at ${i}`).to.equal(CANARY);
  }
  return slot;
}

function expectSameAsStock(type: MessageCodec, message: object): void {
  const expected = type.encode(message as never).finish();
  expect(hex(viaSlot(type, message))).to.equal(hex(expected));
  expect(encodedLength(type, message)).to.equal(expected.length);
}

function rejection(fn: () => unknown): TransportError {
  try {
    fn();
  } catch (e) {
    if (TransportError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a TransportError');
}

const longString = 'x'.repeat(300);
/** One case per field kind and per branch protobufjs's writer takes. */
const CASES: [string, protobuf.Type, Record<string, unknown>][] = [
  ['empty message', All, {}],
  [
    'double, float incl. -0, NaN, Infinity',
    All,
    { d: -0, f: Number.NaN, pD: [Infinity, -1.5e300, 5e-324] },
  ],
  ['float rounding', All, { f: 0.1, pF: [1e-45, 3.4e38, -0] }],
  [
    'int32 positive, negative (10-byte varint), max',
    All,
    { i32: -1, pI32: [0, 127, 128, 0x7fffffff, -0x80000000] },
  ],
  [
    'uint32 varint boundaries',
    All,
    { u32: 0xffffffff, pU32: [127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456] },
  ],
  ['sint32 zig-zag', All, { s32: -0x80000000, pS32: [-1, 1, -64, 64, 0x7fffffff] }],
  [
    'fixed32 / sfixed32',
    All,
    { fx32: 0xffffffff, sf32: -2, pFx32: [1, 2, 3], pSf32: [-1, 0x7fffffff] },
  ],
  [
    'int64 as Long, string, number',
    All,
    { i64: long('-9223372036854775808'), pI64: ['9223372036854775807', -1, 0] },
  ],
  [
    'uint64 maximum',
    All,
    { u64: long('18446744073709551615', true), pU64: ['18446744073709551615', 1] },
  ],
  [
    'sint64 zig-zag',
    All,
    { s64: '-9223372036854775808', pS64: [long('-1'), '9223372036854775807'] },
  ],
  [
    'fixed64 / sfixed64',
    All,
    {
      fx64: '18446744073709551615',
      sf64: long('-5'),
      pFx64: ['1', 2],
      pSf64: ['-9223372036854775808'],
    },
  ],
  ['bool', All, { b: true, pB: Array.from({ length: 130 }, (_, i) => i % 3 === 0) }],
  ['enum incl. negative', All, { color: -1, rc: [0, 1, 2, -1] }],
  [
    'strings: ASCII, 2/3/4-byte UTF-8, lone surrogates, long',
    All,
    {
      s: 'aé€😀',
      rs: ['\ud800', 'x\udc00y', longString, 'é'.repeat(39), 'é'.repeat(41), '€'.repeat(127)],
    },
  ],
  [
    'string whose UTF-8 length needs a 2-byte prefix though it has < 128 code units',
    All,
    { s: '😀'.repeat(40) },
  ],
  [
    'bytes: empty, Buffer, Uint8Array, base64 string, 2-byte length prefix',
    All,
    { by: new Uint8Array(200).fill(7), rb: [new Uint8Array(0), Buffer.from('abc'), 'AQID'] },
  ],
  [
    'nested message, recursion, empty nested',
    All,
    { inner: { a: 1, children: [{ s: 'c', children: [{}] }, {}] } },
  ],
  [
    'nested message over 127 and over 16383 bytes (wider length prefix)',
    All,
    {
      inner: {
        b: new Uint8Array(20000),
        children: [{ b: new Uint8Array(126) }, { b: new Uint8Array(127) }],
      },
    },
  ],
  ['repeated messages', All, { ri: [{ a: 1 }, {}, { s: 'z', b: new Uint8Array([1]) }] }],
  ['unpacked repeated', All, { uI32: [-1, 2], uD: [0.5, -0.5], uS64: ['-3', 3] }],
  [
    'maps with every key kind',
    All,
    {
      mSi: { a: 1, '': -1 },
      mLs: { '-5': 'x', '9223372036854775807': '' },
      mBb: { true: new Uint8Array([1]), false: new Uint8Array(0) },
      mUi: { 0: {}, 4294967295: { a: 2 } },
      mSd: { '-1': 1.5 },
      mFc: { '18446744073709551615': -1 },
    },
  ],
  ['oneof: string', All, { oS: 'one' }],
  ['oneof: message', All, { oInner: { a: 5 } }],
  ['oneof: int64', All, { oI64: '-7' }],
  ['oneof: bytes', All, { oB: new Uint8Array([9, 9]) }],
  ['proto3 optional set to its default', All, { opt: 0 }],
  [
    'proto3 scalars at their defaults are skipped',
    All,
    { i32: 0, s: '', by: new Uint8Array(0), b: false, d: 0, i64: '0' },
  ],
  [
    'proto2 required, default, group, packed and plain repeated',
    P2,
    {
      id: 0,
      name: 'x',
      g: { gv: -3 },
      packedI: [1, 300],
      plainI: [-1, 7],
      blob: new Uint8Array(0),
    },
  ],
  ['VehicleSignal (demo small message)', VehicleSignal, smallVehicleSignal()],
];

describe('encodeInto', () => {
  describe('.encodeInto', () => {
    for (const [name, type, message] of CASES) {
      it(`should match encode().finish() byte for byte: ${name}`, () => {
        expectSameAsStock(type, message);
        expectSameAsStock(type, type.fromObject(message)); // message instances as well as plain objects
      });
    }

    it('should produce the 38-byte golden encoding of the demo VehicleSignal', () => {
      const slot = new Uint8Array(38);
      expect(encodeInto(VehicleSignal, smallVehicleSignal(), slot)).to.equal(38);
      // Derived by hand from the wire format: tag, then value, for each non-default field.
      const golden =
        '08' +
        '959ac7ffb3c08a8518' + // 1: uint64 1732243200123456789 as a varint
        '12' +
        '10' +
        '0102030405060708090a0b0c0d0e0f10' + // 2: 16 bytes
        '1d' +
        '0000af42' + // 3: float 87.5, little-endian
        '20' +
        '9213' + // 4: uint32 2450
        '28' +
        '08'; // 5: sint32 4 zig-zagged to 8
      expect(hex(slot)).to.equal(golden);
    });

    it('should write only the encoded length into a larger target and leave the rest untouched', () => {
      const target = new Uint8Array(100).fill(CANARY);
      const n = encodeInto(VehicleSignal, smallVehicleSignal(), target);
      expect(n).to.equal(38);
      expect([...target.subarray(38)].every((b) => b === CANARY)).to.equal(true);
    });

    it('should encode into a view over a SharedArrayBuffer (a ring window)', () => {
      const sab = new SharedArrayBuffer(256);
      const slot = new Uint8Array(sab, 64, 38);
      encodeInto(VehicleSignal, smallVehicleSignal(), slot);
      expect(hex(slot)).to.equal(hex(VehicleSignal.encode(smallVehicleSignal()).finish()));
    });

    it('should throw ERR_BAD_ARGUMENT naming both sizes and write nothing when the target is one byte short', () => {
      for (const [, type, message] of CASES) {
        const size = encodedLength(type, message);
        if (size === 0) continue;
        const buf = new Uint8Array(size + 8).fill(CANARY);
        const err = rejection(() => encodeInto(type, message, buf.subarray(4, 4 + size - 1)));
        expect(err.code).to.equal('ERR_BAD_ARGUMENT');
        expect(err.message).to.contain(`target of ${size - 1} bytes is too small`);
        expect(err.message).to.contain(`encodes to ${size} bytes`);
        expect(buf.every((b) => b === CANARY)).to.equal(true);
      }
    });

    it('should reject a target that is not a Uint8Array, a message that is not an object, and a type without encode/decode', () => {
      const m = smallVehicleSignal();
      expect(
        rejection(() => encodeInto(VehicleSignal, m, [0, 0] as unknown as Uint8Array)).message,
      ).to.match(/target must be a Uint8Array/);
      expect(
        rejection(() => encodeInto(VehicleSignal, m, new ArrayBuffer(64) as unknown as Uint8Array))
          .code,
      ).to.equal('ERR_BAD_ARGUMENT');
      expect(
        rejection(() => encodeInto(VehicleSignal, null as unknown as object, new Uint8Array(8)))
          .message,
      ).to.match(/message must be an object of auto.VehicleSignal, got null/);
      expect(
        rejection(() => encodeInto({} as MessageCodec, m, new Uint8Array(8))).message,
      ).to.match(/type must be a protobufjs message type/);
    });

    it('should wrap an encoding failure as ERR_BAD_ARGUMENT with the cause and leave the target untouched', () => {
      const target = new Uint8Array(64).fill(CANARY);
      const err = rejection(() => encodeInto(All, { s: 'first', pU64: [1, null] }, target));
      expect(err.code).to.equal('ERR_BAD_ARGUMENT');
      expect(err.message).to.match(/^t\.All cannot be encoded: /);
      expect(err.cause).to.be.instanceOf(Error);
      expect(target.every((b) => b === CANARY)).to.equal(true);
    });

    it('should write a message of 64-bit fields given as bigint-free strings identically on repeated use (shared writers reset)', () => {
      const a = { u64: '123', s: 'a'.repeat(50), inner: { a: 1 } };
      const b = { d: 1.5 };
      const first = hex(viaSlot(All, a));
      viaSlot(All, b);
      expect(hex(viaSlot(All, a))).to.equal(first);
    });

    it('should stay correct when encoding the message re-enters encodeInto (a getter that encodes)', () => {
      let nested = '';
      const message = {
        get s(): string {
          const t = new Uint8Array(38);
          encodeInto(VehicleSignal, smallVehicleSignal(), t);
          nested = hex(t);
          return 'outer';
        },
        rpm: 1,
      };
      const plain = { s: 'outer', rpm: 1 };
      const t = new Uint8Array(encodedLength(All, plain));
      encodeInto(All, message, t);
      expect(hex(t)).to.equal(hex(All.encode(plain).finish()));
      expect(nested).to.equal(hex(VehicleSignal.encode(smallVehicleSignal()).finish()));
    });

    it('should refuse a message that changes size between sizing and writing, without writing past the target', () => {
      // protobufjs reads a field more than once per pass: count the reads of one pass first.
      let reads = 0;
      const probe = {
        get s(): string {
          reads++;
          return 'short';
        },
      };
      encodedLength(All, probe);
      const perPass = reads;
      let calls = 0;
      const message = {
        get s(): string {
          return ++calls <= perPass ? 'short' : 'much longer than before';
        },
      };
      const buf = new Uint8Array(64).fill(CANARY);
      const slot = buf.subarray(8, 8 + encodedLength(All, { s: 'short' }));
      const err = rejection(() => encodeInto(All, message, slot));
      expect(err.message).to.match(/changed while it was encoded/);
      expect(buf.subarray(8 + slot.length).every((b) => b === CANARY)).to.equal(true);
      expect(buf.subarray(0, 8).every((b) => b === CANARY)).to.equal(true);
    });

    it('should skip re-sizing with options.length and still verify it', () => {
      const m = smallVehicleSignal();
      const length = encodedLength(VehicleSignal, m);
      const buf = new Uint8Array(length + 8).fill(CANARY);
      const slot = buf.subarray(4, 4 + length);
      expect(encodeInto(VehicleSignal, m, slot, { length })).to.equal(length);
      expect(hex(slot)).to.equal(hex(VehicleSignal.encode(m).finish()));
      const wrong = rejection(() => encodeInto(VehicleSignal, m, slot, { length: length - 1 }));
      expect(wrong.message).to.match(/sized 37 bytes, wrote 38/);
      expect(buf.subarray(0, 4).every((b) => b === CANARY)).to.equal(true);
      expect(buf.subarray(4 + length).every((b) => b === CANARY)).to.equal(true);
      const tooSmall = new Uint8Array(length - 1).fill(CANARY);
      expect(
        rejection(() => encodeInto(VehicleSignal, m, tooSmall, { length })).message,
      ).to.contain(`target of ${length - 1} bytes is too small`);
      expect(tooSmall.every((b) => b === CANARY)).to.equal(true);
      for (const bad of [-1, 1.5, Number.NaN]) {
        expect(
          rejection(() => encodeInto(VehicleSignal, m, slot, { length: bad })).message,
        ).to.match(/options.length must be the integer encodedLength\(\) returned/);
      }
    });

    it('should drive a hand-written encoder in the style of pbjs static code', () => {
      const Static: MessageCodec = {
        name: 'Static',
        encode(m: { a: number; s: string }, w?: protobuf.Writer): protobuf.Writer {
          const writer = w ?? protobuf.Writer.create();
          writer.uint32(8).int32(m.a);
          writer.uint32(18).fork().uint32(10).string(m.s).ldelim();
          return writer;
        },
        decode: () => ({}),
      } as unknown as MessageCodec;
      expectSameAsStock(Static, { a: -3, s: 'nested' });
    });

    it('should equal encode().finish() for random messages of every field kind (property)', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(allMessage, (message) => {
          const expected = All.encode(message).finish();
          const buf = new Uint8Array(expected.length + 8).fill(CANARY);
          const n = encodeInto(All, message, buf.subarray(4, 4 + expected.length));
          return (
            n === expected.length &&
            Buffer.compare(expected, buf.subarray(4, 4 + n)) === 0 &&
            buf.subarray(0, 4).every((b) => b === CANARY) &&
            buf.subarray(4 + n).every((b) => b === CANARY)
          );
        }),
        { numRuns: 400 },
      );
    });
  });

  describe('.encodedLength', () => {
    it('should equal the length of encode().finish() for every case', () => {
      for (const [name, type, message] of CASES) {
        expect(encodedLength(type, message), name).to.equal(type.encode(message).finish().length);
      }
    });

    it('should size a nested message without the nested type being called separately', () => {
      expect(encodedLength(Inner, { children: [{ children: [{ a: 1 }] }] })).to.equal(
        Inner.encode({ children: [{ children: [{ a: 1 }] }] }).finish().length,
      );
    });

    it('should reject what cannot be encoded with ERR_BAD_ARGUMENT', () => {
      expect(rejection(() => encodedLength(All, { pI64: [undefined] })).code).to.equal(
        'ERR_BAD_ARGUMENT',
      );
      expect(rejection(() => encodedLength(All, 5 as unknown as object)).message).to.match(
        /got number/,
      );
    });
  });
});
