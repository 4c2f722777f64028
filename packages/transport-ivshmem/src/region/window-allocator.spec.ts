import { expect } from 'chai';
import fc from 'fast-check';
import { PAGE_SIZE } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { WindowAllocator } from './window-allocator.js';

const PAGES = 128;
const BASE = 2 * PAGE_SIZE;

/** Reference model: one state per page, plain best-fit scan over runs. Obviously right, slow. */
class PageModel {
  readonly pages: ('free' | 'used' | 'quarantined')[] = new Array(PAGES).fill('free');
  readonly owners = new Map<number, number>(); // first page → page count

  /** Free runs of pages, in address order. */
  runs(): { first: number; n: number }[] {
    const out: { first: number; n: number }[] = [];
    for (let p = 0; p < PAGES; p++) {
      if (this.pages[p] !== 'free') continue;
      const last = out.at(-1);
      if (last !== undefined && last.first + last.n === p) last.n++;
      else out.push({ first: p, n: 1 });
    }
    return out;
  }

  /** The smallest run that holds `n` pages, the lowest among equals. */
  allocate(n: number): number | undefined {
    let best: { first: number; n: number } | undefined;
    for (const r of this.runs()) if (r.n >= n && (best === undefined || r.n < best.n)) best = r;
    if (best === undefined) return undefined;
    for (let q = best.first; q < best.first + n; q++) this.pages[q] = 'used';
    this.owners.set(best.first, n);
    return BASE + best.first * PAGE_SIZE;
  }

  set(offset: number, state: 'free' | 'used' | 'quarantined'): void {
    const first = (offset - BASE) / PAGE_SIZE;
    const n = this.owners.get(first)!;
    for (let q = first; q < first + n; q++) this.pages[q] = state;
    if (state === 'free') this.owners.delete(first);
  }

  count(state: 'free' | 'used' | 'quarantined'): number {
    return this.pages.filter((s) => s === state).length * PAGE_SIZE;
  }
}

type Op =
  | { kind: 'alloc'; pages: number }
  | { kind: 'free'; pick: number }
  | { kind: 'quarantine'; pick: number }
  | { kind: 'release'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('alloc' as const),
      pages: fc.integer({ min: 1, max: 40 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('quarantine' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
);

describe('WindowAllocator', () => {
  describe('model', () => {
    it('should match a best-fit page model under thousands of random alloc/free/quarantine/release operations: no overlap, zeroed on reuse, space conserved', function () {
      this.timeout(60_000);
      let ops = 0;
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 50, maxLength: 300 }), (program) => {
          const memory = new Uint8Array(BASE + PAGES * PAGE_SIZE);
          const alloc = new WindowAllocator({
            dataOffset: BASE,
            dataSize: PAGES * PAGE_SIZE,
            memory,
          });
          const model = new PageModel();
          const live: number[] = [];
          let stamp = 1;
          for (const op of program) {
            ops++;
            if (op.kind === 'alloc') {
              const got = alloc.allocate(op.pages * PAGE_SIZE);
              expect(got).to.equal(model.allocate(op.pages));
              if (got !== undefined) {
                const win = memory.subarray(got, got + op.pages * PAGE_SIZE);
                expect(
                  win.every((b) => b === 0),
                  'a reused window must read as zeros',
                ).to.equal(true);
                // The owner scribbles over its whole window so a missing zeroing shows up later.
                win.fill(stamp++ & 0xff || 1);
                live.push(got);
              }
            } else if (op.kind === 'free' && live.length > 0) {
              const [off] = live.splice(op.pick % live.length, 1) as [number];
              alloc.free(off);
              model.set(off, 'free');
            } else if (op.kind === 'quarantine' && live.length > 0) {
              const [off] = live.splice(op.pick % live.length, 1) as [number];
              alloc.quarantine(off);
              model.set(off, 'quarantined');
              // A rogue VM keeps writing into its quarantined window.
              memory.fill(0xee, off, off + alloc.lengthOf(off)!);
            } else if (op.kind === 'release') {
              const q = [...model.owners.keys()]
                .map((first) => BASE + first * PAGE_SIZE)
                .filter((o) => model.pages[(o - BASE) / PAGE_SIZE] === 'quarantined');
              if (q.length > 0) {
                const off = q[op.pick % q.length]!;
                alloc.release(off);
                model.set(off, 'free');
              }
            }
            const s = alloc.stats();
            expect(s.free + s.allocated + s.quarantined).to.equal(s.total);
            expect(s.free).to.equal(model.count('free'));
            expect(s.allocated).to.equal(model.count('used'));
            expect(s.quarantined).to.equal(model.count('quarantined'));
          }
          // Every byte outside live and quarantined windows is zero again (no leak of old data).
          const held = new Uint8Array(memory.length);
          for (let p = 0; p < PAGES; p++) {
            if (model.pages[p] !== 'free')
              held.fill(1, BASE + p * PAGE_SIZE, BASE + (p + 1) * PAGE_SIZE);
          }
          for (let i = BASE; i < memory.length; i += 64) {
            if (held[i] === 0) expect(memory[i]).to.equal(0);
          }
          // Free everything: the free list must coalesce back into one extent.
          for (const off of live) alloc.free(off);
          for (const [first] of model.owners) {
            if (model.pages[first] === 'quarantined') alloc.release(BASE + first * PAGE_SIZE);
          }
          const end = alloc.stats();
          expect(end.free).to.equal(end.total);
          expect(end.freeExtents).to.equal(1);
        }),
        { numRuns: 60 },
      );
      expect(ops).to.be.greaterThan(3000);
    });
  });

  describe('.allocate', () => {
    it('should refuse lengths that are not whole pages and report no room as undefined', () => {
      const a = new WindowAllocator({ dataOffset: BASE, dataSize: 8 * PAGE_SIZE });
      expect(() => a.allocate(100)).to.throw(TransportError, /multiple of 4096/);
      expect(a.allocate(8 * PAGE_SIZE)).to.equal(BASE);
      expect(a.allocate(PAGE_SIZE)).to.equal(undefined);
      // A window larger than the whole data section is "no room" too, not an exception.
      const empty = new WindowAllocator({ dataOffset: BASE, dataSize: 8 * PAGE_SIZE });
      expect(empty.allocate(64 * PAGE_SIZE)).to.equal(undefined);
    });
  });

  describe('.free', () => {
    it('should refuse a double free and a free of a quarantined window', () => {
      const a = new WindowAllocator({ dataOffset: BASE, dataSize: 8 * PAGE_SIZE });
      const x = a.allocate(PAGE_SIZE)!;
      const y = a.allocate(PAGE_SIZE)!;
      a.free(x);
      expect(() => a.free(x)).to.throw(TransportError, /no allocated window/);
      a.quarantine(y);
      expect(() => a.free(y)).to.throw(TransportError, /quarantined/);
      expect(a.allocate(7 * PAGE_SIZE)).to.equal(undefined); // y still blocks the middle
      a.release(y);
      expect(a.allocate(8 * PAGE_SIZE)).to.equal(BASE);
    });
  });
});
