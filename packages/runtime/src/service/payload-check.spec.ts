import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { RuntimeError } from '../errors/runtime-error.js';
import { checkPayload } from './payload-check.js';
import { fastCheckOf } from './payload-fast-check.js';
import { messageProblem } from './payload-problems.js';

const root = protobuf.parse(
  `syntax = "proto3";
  package t;
  enum Mode { MODE_OFF = 0; MODE_ON = 1; }
  message Inner { string label = 1; }
  message All {
    int32 i32 = 1; uint32 u32 = 2; sint32 s32 = 3; fixed32 f32 = 4;
    int64 i64 = 5; uint64 u64 = 6; double d = 7; float f = 8; bool b = 9;
    string s = 10; bytes raw = 11; Mode mode = 12; Inner inner = 13;
    repeated uint32 list = 14; map<string, Inner> byName = 15; map<uint32, string> byId = 16;
    oneof pick { string a = 17; uint32 n = 18; }
    All self = 19;
  }
  message SetVolumeRequest { uint32 volume = 1; }`,
  { keepCase: true },
).root;
const All = root.lookupType('t.All');
const SetVolume = root.lookupType('t.SetVolumeRequest');

/** The ERR_BAD_PAYLOAD message `checkPayload` throws for `payload`, or undefined. */
function refusal(type: protobuf.Type, payload: unknown): string | undefined {
  try {
    checkPayload(type, payload, "request of 'SetVolume' on 'AudioVolume'");
    return undefined;
  } catch (e) {
    expect(RuntimeError.is(e), String(e)).to.equal(true);
    expect((e as RuntimeError).code).to.equal('ERR_BAD_PAYLOAD');
    return (e as Error).message;
  }
}

describe('payload check (ERR_BAD_PAYLOAD before encoding)', () => {
  it('refuses a wrong type, naming the field, what it takes and what it got', () => {
    expect(refusal(SetVolume, { volume: 'loud' })).to.equal(
      "request of 'SetVolume' on 'AudioVolume' (t.SetVolumeRequest): field 'volume' must be a uint32 (an integer 0..4294967295), got the string 'loud'",
    );
  });

  it('refuses an unknown field, suggesting the near one and listing the fields', () => {
    expect(refusal(SetVolume, { volumee: 3 })).to.match(
      /SetVolumeRequest has no field 'volumee' \(did you mean 'volume'\?\); its fields: volume$/,
    );
  });

  it('refuses integers out of their range or not whole', () => {
    for (const [payload, field] of [
      [{ u32: -1 }, 'u32'],
      [{ u32: 2 ** 32 }, 'u32'],
      [{ f32: 1.5 }, 'f32'],
      [{ i32: 2 ** 31 }, 'i32'],
      [{ s32: -(2 ** 31) - 1 }, 's32'],
      [{ u64: -1 }, 'u64'],
      [{ u64: '18446744073709551616' }, 'u64'],
      [{ i64: 2 ** 60 }, 'i64'], // not a safe integer: the encoder would round it
      [{ i64: '12a' }, 'i64'],
      [{ i64: 5n }, 'i64'], // the encoder writes a bigint as 0
    ] as const) {
      expect(
        refusal(All, payload),
        JSON.stringify(payload, (_, v: unknown) => String(v)),
      ).to.match(new RegExp(`field '${field}' must be a`));
    }
  });

  it('refuses an enum by name or outside int32, listing its values; takes any int32 (open)', () => {
    expect(refusal(All, { mode: 'MODE_ON' })).to.equal(
      "request of 'SetVolume' on 'AudioVolume' (t.All): field 'mode' must be a number of enum Mode (an int32; its values: 0 (MODE_OFF), 1 (MODE_ON)), got the string 'MODE_ON'",
    );
    expect(refusal(All, { mode: 2 ** 31 })).to.match(/field 'mode' must be a number of enum Mode/);
    expect(refusal(All, { mode: 1.5 })).to.match(/field 'mode'/);
    // proto3 enums are open: a value a newer peer knows is legal on the wire.
    expect(refusal(All, { mode: 7 })).to.equal(undefined);
  });

  it('names the path of a problem inside nested messages, lists and maps', () => {
    expect(refusal(All, { inner: { label: 3 } })).to.match(/field 'inner.label' must be a string/);
    expect(refusal(All, { list: [1, 2, -3] })).to.match(/field 'list\[2\]' must be a uint32/);
    expect(refusal(All, { byName: { x: { labl: 'a' } } })).to.match(
      /Inner has no field 'labl' in 'byName\['x'\]'/,
    );
    expect(refusal(All, { byId: { abc: 'x' } })).to.match(/byId key' must be a uint32/);
    expect(refusal(All, { self: { self: { u32: -1 } } })).to.match(/field 'self.self.u32'/);
    expect(refusal(All, { list: 3 })).to.match(/field 'list' must be an array/);
  });

  it('refuses two members of one oneof set, and a payload that is no object', () => {
    expect(refusal(All, { a: 'x', n: 1 })).to.match(/oneof pick has a and n set; set one/);
    expect(refusal(SetVolume, 7)).to.match(/the payload must be a SetVolumeRequest message/);
    expect(refusal(SetVolume, null)).to.match(/must be a SetVolumeRequest message/);
    expect(refusal(SetVolume, [1])).to.match(/got an array/);
  });

  it('passes every form the encoder takes as written', () => {
    const good = [
      {},
      { volume: 0 },
      { volume: 4294967295 },
      { volume: undefined }, // not set
      { volume: null }, // not set
    ];
    for (const p of good) expect(refusal(SetVolume, p), JSON.stringify(p)).to.equal(undefined);
    const all = {
      i32: -5,
      u32: 7,
      s32: -(2 ** 31),
      f32: 0,
      i64: '-9223372036854775808',
      u64: { low: -1, high: -1, unsigned: true },
      d: NaN,
      f: 1.5,
      b: false,
      s: '',
      raw: Buffer.from([1]),
      mode: 1,
      inner: { label: 'x' },
      list: [1, 2],
      byName: { k: { label: 'v' } },
      byId: { '12': 'x' },
      a: 'only one',
      self: { u64: 2 ** 53 - 1 },
    };
    expect(refusal(All, all)).to.equal(undefined);
    // A decoded message (a class instance with defaults on its prototype) passes too.
    expect(refusal(All, All.decode(All.encode(all).finish()))).to.equal(undefined);
    expect(refusal(SetVolume, SetVolume.create({ volume: 3 }))).to.equal(undefined);
    // Fields a decoder kept unparsed are written back as they are.
    expect(refusal(SetVolume, { volume: 1, $unknowns: [Uint8Array.of(16, 1)] })).to.equal(
      undefined,
    );
  });

  it('the fast predicate never passes what the field-by-field check refuses', () => {
    const value = fc.oneof(
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 3 }),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.constant(-1),
      fc.constant(2 ** 32),
      fc.array(fc.integer({ min: -2, max: 3 }), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('label', 'x'), fc.string({ maxLength: 2 }), { maxKeys: 2 }),
    );
    const key = fc.constantFrom(...All.fieldsArray.map((f) => f.name), 'pick', 'u3', 'extra');
    const fast = fastCheckOf(All);
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 4 }), (payload) => {
        if (fast(payload)) expect(messageProblem(All, payload, '')).to.equal(undefined);
      }),
      { numRuns: 2000 },
    );
  });
});
