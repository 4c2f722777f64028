import { expect } from 'chai';
import fc from 'fast-check';
import { PAGE_GRANULES, PAGE_SIZE, WindowLayout, windowLayout } from '@sivshm/abi';
import { WindowAllocator } from './window-allocator.js';

/** A 4 MiB data section after a header page and a one-page table, as a small region has. */
const BASE = 2 * PAGE_SIZE;
const PAGES = 1024;
const RUNS = 10;
const OPS_PER_RUN = 1000;

/** Window lengths hostd hands out: ring data areas of 4 KiB to 256 KiB per direction. */
const LENGTHS = [4, 8, 16, 32, 64, 128, 256].map((kib) => WindowLayout.windowLength(kib * 1024));

type Op =
  | { kind: 'open'; length: number }
  | { kind: 'close'; pick: number }
  | { kind: 'quarantine'; pick: number }
  | { kind: 'release'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      length: fc.constantFrom(...LENGTHS),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('quarantine' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
);

/** Who holds each page: 0 free, otherwise 1 + the window's first page (negated: quarantined). */
class PageOwners {
  readonly owner = new Int32Array(PAGES);

  take(offset: number, length: number, mark: number): void {
    const first = (offset - BASE) / PAGE_SIZE;
    for (let p = first; p < first + length / PAGE_SIZE; p++) this.owner[p] = mark;
  }

  /** The longest run of free pages, in bytes. */
  largestFreeRun(): number {
    let best = 0;
    let run = 0;
    for (let p = 0; p < PAGES; p++) {
      run = this.owner[p] === 0 ? run + 1 : 0;
      if (run > best) best = run;
    }
    return best * PAGE_SIZE;
  }
}

/** Checks the free extents against the page owners and the allocator's counters. */
function checkInvariants(alloc: WindowAllocator, pages: PageOwners): void {
  const extents = alloc.freeExtents();
  const freePage = new Uint8Array(PAGES);
  let freeBytes = 0;
  let largest = 0;
  let prevEnd = -1;
  for (const e of extents) {
    expect(e.offset % PAGE_SIZE, 'extent page-aligned').to.equal(0);
    expect(e.offset >= BASE && e.offset + e.length <= BASE + PAGES * PAGE_SIZE).to.equal(true);
    // Coalesced: sorted, and a gap (a held page) between any two free extents.
    expect(e.offset, 'two free extents touch or overlap').to.be.greaterThan(prevEnd);
    prevEnd = e.offset + e.length;
    freeBytes += e.length;
    largest = Math.max(largest, e.length);
    for (let p = (e.offset - BASE) / PAGE_SIZE; p < (prevEnd - BASE) / PAGE_SIZE; p++) {
      freePage[p] = 1;
    }
  }
  // The free extents are exactly the pages nobody holds (plain loop: chai per page is slow).
  let mismatch = -1;
  for (let p = 0; p < PAGES && mismatch < 0; p++) {
    if ((freePage[p] === 1) !== (pages.owner[p] === 0)) mismatch = p;
  }
  expect(mismatch, 'first page whose free/held state differs').to.equal(-1);
  const s = alloc.stats();
  expect(s.free + s.allocated + s.quarantined).to.equal(s.total);
  expect(s.free).to.equal(freeBytes);
  expect(s.largestFree).to.equal(largest);
  expect(s.freeExtents).to.equal(extents.length);
}

describe('WindowAllocator properties', () => {
  it('should keep 10 000 random opens and closes of mixed window sizes apart, inside the data section and coalesced, and fail an open only when no free extent is large enough', function () {
    this.timeout(120_000);
    let ops = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: OPS_PER_RUN, maxLength: OPS_PER_RUN }),
        (program) => {
          const alloc = new WindowAllocator({ dataOffset: BASE, dataSize: PAGES * PAGE_SIZE });
          const pages = new PageOwners();
          const live: number[] = [];
          const held: number[] = [];
          let allocated = 0;
          let quarantined = 0;
          for (const op of program) {
            ops++;
            if (op.kind === 'open') {
              const roomFor = pages.largestFreeRun() >= op.length;
              const got = alloc.allocate(op.length);
              // Never fails while one free extent is large enough; never invents room.
              expect(got !== undefined, `open of ${op.length} bytes`).to.equal(roomFor);
              if (got === undefined) {
                refused++;
              } else {
                expect(got % PAGE_SIZE).to.equal(0);
                expect(got >= BASE && got + op.length <= BASE + PAGES * PAGE_SIZE).to.equal(true);
                const first = (got - BASE) / PAGE_SIZE;
                const overlaps = pages.owner
                  .subarray(first, first + op.length / PAGE_SIZE)
                  .some((o) => o !== 0);
                expect(overlaps, 'a new window overlaps a held page').to.equal(false);
                pages.take(got, op.length, first + 1);
                live.push(got);
                allocated += op.length;
              }
            } else if (op.kind === 'close' && live.length > 0) {
              const [off] = live.splice(op.pick % live.length, 1) as [number];
              const length = alloc.lengthOf(off)!;
              alloc.free(off);
              pages.take(off, length, 0);
              allocated -= length;
            } else if (op.kind === 'quarantine' && live.length > 0) {
              const [off] = live.splice(op.pick % live.length, 1) as [number];
              const length = alloc.lengthOf(off)!;
              alloc.quarantine(off);
              // A quarantined window is not free: its pages stay held.
              pages.take(off, length, -1);
              held.push(off);
              allocated -= length;
              quarantined += length;
            } else if (op.kind === 'release' && held.length > 0) {
              const [off] = held.splice(op.pick % held.length, 1) as [number];
              const length = alloc.lengthOf(off)!;
              alloc.release(off);
              pages.take(off, length, 0);
              quarantined -= length;
            }
            checkInvariants(alloc, pages);
            expect(alloc.stats().allocated).to.equal(allocated);
            expect(alloc.stats().quarantined).to.equal(quarantined);
          }
          for (const off of live) alloc.free(off);
          for (const off of held) alloc.release(off);
          expect(alloc.freeExtents()).to.deep.equal([{ offset: BASE, length: PAGES * PAGE_SIZE }]);
        },
      ),
      { numRuns: RUNS },
    );
    expect(ops).to.equal(RUNS * OPS_PER_RUN);
    // The mix must reach a full region, or "fails only without room" was never exercised.
    expect(refused).to.be.greaterThan(0);
  });

  it('should keep every window on the region granule when the data section and all window lengths are multiples of it', () => {
    for (const granule of PAGE_GRANULES) {
      const layout = windowLayout(granule);
      const lengths = [1, 2, 4, 8].map((n) => layout.windowLength(n * granule));
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.constantFrom(...lengths), fc.nat()), { maxLength: 200 }),
          (program) => {
            const a = new WindowAllocator({ dataOffset: granule, dataSize: 256 * granule });
            const live: number[] = [];
            for (const step of program) {
              // A length from the granule's layout opens; any other number closes one window.
              if (lengths.includes(step)) {
                const got = a.allocate(step);
                if (got !== undefined) live.push(got);
              } else if (live.length > 0) {
                a.free(live.splice(step % live.length, 1)[0]!);
              }
              for (const off of live) expect(off % granule, `offset ${off}`).to.equal(0);
            }
          },
        ),
        { numRuns: 20 },
      );
    }
  });

  it('should take the smallest free extent that fits, leaving the large one whole', () => {
    const a = new WindowAllocator({ dataOffset: BASE, dataSize: 32 * PAGE_SIZE });
    const w = [6, 2, 8, 2].map((n) => a.allocate(n * PAGE_SIZE)!);
    a.free(w[0]!); // a 6-page hole at the start, a 14-page tail at the end
    a.free(w[2]!); // an 8-page hole
    expect(a.allocate(7 * PAGE_SIZE)).to.equal(w[2]);
    expect(a.stats().largestFree).to.equal(14 * PAGE_SIZE);
    expect(a.allocate(6 * PAGE_SIZE)).to.equal(w[0]);
  });
});
