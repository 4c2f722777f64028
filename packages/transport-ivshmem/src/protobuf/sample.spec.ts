import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { decodeFrom } from './decode-from.js';
import { schemas } from './fixtures/test-schemas.js';
import { Sample } from './sample.js';
import { SampleLedger } from './sample-ledger.js';

const { All } = schemas;

interface InnerMsg {
  a: number;
  s: string;
  b: Uint8Array;
  children: InnerMsg[];
}
interface AllMsg {
  s: string;
  i32: number;
  i64: string; // 64-bit integers decode to decimal strings
  by: Uint8Array;
  inner: InnerMsg;
  rb: Uint8Array[];
  pI32: number[];
  mBb: Record<string, Uint8Array>;
  mUi: Record<string, InnerMsg>;
  oS: string;
  kind: string;
}

const SOURCE = {
  s: 'hello',
  i32: -7,
  i64: '-9000000000',
  by: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  inner: { a: 1, b: new Uint8Array([9, 9]), children: [{ s: 'kid', b: new Uint8Array([4]) }] },
  rb: [new Uint8Array([5, 5, 5])],
  pI32: [1, 2, 3],
  mBb: { true: new Uint8Array([6]) },
  mUi: { 7: { a: 77 } },
  oS: 'chosen',
};

/** A sample decoded in place from a SharedArrayBuffer, as from a ring record. */
function sampleInShared(onRelease?: () => void): {
  sab: SharedArrayBuffer;
  view: Uint8Array;
  sample: Sample<AllMsg>;
} {
  const encoded = All.encode(SOURCE).finish();
  const sab = new SharedArrayBuffer(encoded.length + 64);
  const view = new Uint8Array(sab, 32, encoded.length);
  view.set(encoded);
  const sample = new Sample(decodeFrom<AllMsg>(All, view), onRelease ? { onRelease } : {});
  return { sab, view, sample };
}

/** Index in `view` where `needle` (a distinctive byte run) starts. */
function find(view: Uint8Array, needle: number[]): number {
  const at = Buffer.from(view.buffer, view.byteOffset, view.length).indexOf(Buffer.from(needle));
  expect(at, `bytes ${needle.join(',')} in the view`).to.be.at.least(0);
  return at;
}

function expectClosed(fn: () => unknown, what: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(TransportError.is(caught), `${what} should throw a TransportError`).to.equal(true);
  const err = caught as TransportError;
  expect(err.code, what).to.equal('ERR_CLOSED');
  expect(err.message, what).to.equal('sample used after release()');
}

describe('Sample', () => {
  describe('.message', () => {
    it('should read scalars, strings, 64-bit strings, nested messages, arrays, maps and the oneof case', () => {
      const { sample } = sampleInShared();
      const m = sample.message;
      expect(m.s).to.equal('hello');
      expect(m.i32).to.equal(-7);
      expect(m.i64).to.equal('-9000000000');
      expect(m.inner.a).to.equal(1);
      expect(m.inner.children[0]!.s).to.equal('kid');
      expect([...m.pI32]).to.deep.equal([1, 2, 3]);
      expect(m.pI32.map((x) => x * 2)).to.deep.equal([2, 4, 6]);
      expect(Object.keys(m.mUi)).to.deep.equal(['7']);
      expect(m.mUi['7']!.a).to.equal(77);
      expect(m.kind).to.equal('oS');
      expect(m.inner).to.equal(m.inner); // one guard per object
      expect(Array.isArray(m.pI32)).to.equal(true);
      expect(m.by).to.be.instanceOf(Uint8Array);
      expect(All.toObject(m as unknown as protobuf.Message).i64).to.equal('-9000000000');
    });

    it('should alias the ring memory: a write into the buffer is visible through every bytes field', () => {
      const { view, sample } = sampleInShared();
      const m = sample.message;
      const at = find(view, [1, 2, 3, 4, 5, 6, 7, 8]);
      view[at] = 0xee;
      expect(m.by[0]).to.equal(0xee);
      view[find(view, [5, 5, 5])] = 0xdd;
      expect(m.rb[0]![0]).to.equal(0xdd);
      view[find(view, [9, 9])] = 0xcc;
      expect(m.inner.b[0]).to.equal(0xcc);
      expect(m.by.subarray(0, 2)[0]).to.equal(0xee);
      expect([...m.by.subarray(0, 2)]).to.deep.equal([0xee, 2]);
      expect(m.by.length).to.equal(8);
    });

    it('should be read-only: assignments, deletes and writing methods throw', () => {
      const { sample } = sampleInShared();
      const m = sample.message;
      expect(() => {
        m.s = 'x';
      }).to.throw(TransportError, /read-only/);
      expect(() => {
        m.by[0] = 1;
      }).to.throw(TransportError, /read-only/);
      expect(() => m.by.fill(0)).to.throw(TransportError, /read-only/);
      expect(() => m.by.set([1])).to.throw(TransportError, /read-only/);
      expect(() => m.pI32.push(4)).to.throw(TransportError, /read-only/);
      expect(() => delete (m as Partial<AllMsg>).s).to.throw(TransportError, /read-only/);
    });
    it('should keep views of the same memory guarded (Buffer#slice aliases), and copies free', () => {
      const sample = new Sample({ b: Buffer.from([1, 2, 3]) });
      const aliased = sample.message.b.slice(0, 2);
      const copied = Uint8Array.prototype.slice.call(sample.raw(sample.message.b), 0, 2);
      const hex = sample.message.b.toString('hex');
      sample.release();
      expect(hex).to.equal('010203');
      expect([...copied]).to.deep.equal([1, 2]);
      expectClosed(() => aliased[0], 'a Buffer#slice taken before release');
    });
  });

  describe('.release', () => {
    it('should make every access throw ERR_CLOSED, through references taken before release', () => {
      const { sample } = sampleInShared();
      const m = sample.message;
      const inner = m.inner;
      const child = m.inner.children[0]!;
      const by = m.by;
      const sub = m.by.subarray(1, 3);
      const rb = m.rb;
      const map = m.mBb;
      const long = m.i64;
      const iter = by[Symbol.iterator]();
      expect(iter.next().value).to.equal(1);
      sample.release();
      expectClosed(() => sample.message, 'sample.message');
      expectClosed(() => m.s, 'a scalar field');
      expectClosed(() => m.inner, 'a nested message field');
      expectClosed(() => inner.a, 'a nested message held before release');
      expectClosed(() => child.b, 'a repeated nested message');
      expectClosed(() => by[0], 'a bytes element');
      expectClosed(() => by.length, 'a bytes length');
      expectClosed(() => by.subarray(0, 1), 'bytes.subarray');
      expectClosed(() => sub[0], 'a subarray taken before release');
      expectClosed(() => iter.next(), 'an iterator started before release');
      expectClosed(() => Array.from(by), 'Array.from on bytes');
      expectClosed(() => rb[0], 'a repeated bytes element');
      expectClosed(() => rb.length, 'a repeated field length');
      expectClosed(() => map['true'], 'a map value');
      expect(long).to.equal('-9000000000'); // a 64-bit value is a string: safe to keep
      expectClosed(() => Object.keys(m), 'Object.keys');
      expectClosed(() => 's' in m, 'the in operator');
      expectClosed(() => JSON.stringify(m), 'JSON.stringify');
      expectClosed(() => ({ ...m }), 'spreading');
      expectClosed(() => Object.getPrototypeOf(m), 'getPrototypeOf');
      expectClosed(() => {
        m.s = 'x';
      }, 'an assignment');
      expectClosed(() => sample.toOwned(), 'toOwned');
      expectClosed(() => sample.raw(by), 'raw');
    });

    it('should be idempotent and call onRelease exactly once', () => {
      let released = 0;
      const { sample } = sampleInShared(() => released++);
      expect(sample.released).to.equal(false);
      sample.release();
      sample.release();
      expect(released).to.equal(1);
      expect(sample.released).to.equal(true);
    });

    it('should keep the header copy readable after release', () => {
      const header = {
        service: 0x1234,
        method: 0x8001,
        client: 1,
        session: 9,
        interfaceVersion: 1,
        messageType: 0x02,
        returnCode: 0,
      };
      const sample = new Sample({ a: 1 }, { header });
      header.session = 10; // the ring reuses its header object; the sample kept a copy
      sample.release();
      expect(sample.header?.session).to.equal(9);
    });
  });

  describe('.toOwned', () => {
    it('should survive the buffer being overwritten and the sample released', () => {
      const { view, sample } = sampleInShared();
      const owned = sample.toOwned();
      view.fill(0xff);
      sample.release();
      expect([...owned.by]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
      expect([...owned.inner.b]).to.deep.equal([9, 9]);
      expect([...owned.rb[0]!]).to.deep.equal([5, 5, 5]);
      expect([...owned.mBb['true']!]).to.deep.equal([6]);
      expect(owned.s).to.equal('hello');
      expect(owned.i64.toString()).to.equal('-9000000000');
      expect(Buffer.compare(All.encode(owned).finish(), All.encode(SOURCE).finish())).to.equal(0);
    });
  });

  describe('.raw', () => {
    it('should give the real view of a guarded bytes field of this sample only', () => {
      const { sab, sample } = sampleInShared();
      const raw = sample.raw(sample.message.by);
      expect(ArrayBuffer.isView(raw)).to.equal(true);
      expect(raw.buffer).to.equal(sab);
      expect(new TextDecoder().decode(sample.raw(sample.message.inner.children[0]!.b))).to.equal(
        '\u0004',
      );
      const other = sampleInShared().sample;
      expect(() => sample.raw(other.message.by)).to.throw(TransportError, /from this sample/);
      expect(() => sample.raw(new Uint8Array(2))).to.throw(TransportError, /from this sample/);
      expect(() => sample.raw(sample.message.pI32 as unknown as Uint8Array)).to.throw(
        TransportError,
        /bytes view/,
      );
    });
  });

  describe('constructor', () => {
    it('should refuse a message that is not an object', () => {
      expect(() => new Sample(3 as unknown as object)).to.throw(TransportError, /got number/);
    });
  });
});

describe('SampleLedger', () => {
  it('should count live and released samples', () => {
    const ledger = new SampleLedger();
    const a = new Sample({ x: 1 }, { ledger });
    const b = new Sample({ x: 2 }, { ledger });
    expect(ledger.live).to.equal(2);
    a.release();
    a.release();
    expect([ledger.live, ledger.released]).to.deep.equal([1, 1]);
    b.release();
    expect([ledger.live, ledger.released, ledger.leaked]).to.deep.equal([0, 2, 0]);
  });

  it('should report a sample collected without release()', async function () {
    this.timeout(20_000);
    // The collector is reachable without --expose-gc by turning the flag on and fetching gc
    // from a fresh context.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc !== 'function') {
      console.warn('      (no gc function available: cannot force a collection here)');
      this.skip();
    }
    const leaks: string[] = [];
    const ledger = new SampleLedger({ onLeak: (l) => leaks.push(l.description) });
    ((): void => {
      new Sample({ x: 1 }, { ledger, label: 'auto.VehicleSignal' });
    })();
    const deadline = Date.now() + 10_000;
    while (leaks.length === 0 && Date.now() < deadline) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(leaks).to.deep.equal(['auto.VehicleSignal']);
    expect([ledger.live, ledger.leaked]).to.deep.equal([0, 1]);
  });
});
