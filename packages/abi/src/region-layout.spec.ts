import { expect } from 'chai';

import { minWindowSize, regionSections } from './region-budget.js';
import {
  ControlFileLayout,
  PAGE_GRANULES,
  RegionHeaderLayout,
  PAGE_SIZE,
  WindowLayout,
  isPageGranule,
  layoutVersionFor,
  windowLayout,
  writableRanges,
} from './region-layout.js';

describe('region layout', () => {
  describe('WindowLayout', () => {
    it('should size a window as two directions of producer page, consumer page and data', () => {
      expect(WindowLayout.directionSize(PAGE_SIZE)).to.equal(3 * PAGE_SIZE);
      expect(WindowLayout.windowLength(1 << 16)).to.equal(2 * (2 * PAGE_SIZE + (1 << 16)));
    });

    it('should recover the data size from a valid window length only', () => {
      expect(WindowLayout.dataSizeOf(WindowLayout.windowLength(1 << 16))).to.equal(1 << 16);
      expect(WindowLayout.dataSizeOf(WindowLayout.windowLength(3 * PAGE_SIZE))).to.equal(undefined);
      expect(WindowLayout.dataSizeOf(4 * PAGE_SIZE)).to.equal(undefined); // data area of 0
      expect(WindowLayout.dataSizeOf(WindowLayout.windowLength(PAGE_SIZE) + 2)).to.equal(undefined);
    });
  });

  describe('writableRanges', () => {
    const data = 2 * PAGE_SIZE;
    const dir = WindowLayout.directionSize(data);

    it('should let the consumer write the c2p producer side and the p2c consumer page', () => {
      expect(writableRanges('consumer', data)).to.deep.equal([
        { offset: 0, length: PAGE_SIZE },
        { offset: 2 * PAGE_SIZE, length: data },
        { offset: dir + PAGE_SIZE, length: PAGE_SIZE },
      ]);
    });

    it('should give the provider the mirror image', () => {
      expect(writableRanges('provider', data)).to.deep.equal([
        { offset: dir, length: PAGE_SIZE },
        { offset: dir + 2 * PAGE_SIZE, length: data },
        { offset: PAGE_SIZE, length: PAGE_SIZE },
      ]);
    });

    it('should never give both roles the same byte', () => {
      const bytes = (role: 'consumer' | 'provider'): Set<number> => {
        const s = new Set<number>();
        for (const r of writableRanges(role, data)) {
          for (let i = 0; i < r.length; i += PAGE_SIZE) s.add(r.offset + i);
        }
        return s;
      };
      const provider = bytes('provider');
      expect([...bytes('consumer')].filter((p) => provider.has(p))).to.deep.equal([]);
    });
  });
});

describe('page granules (layout version 2)', () => {
  it('should keep granule 4 KiB byte-identical to layout v1', () => {
    expect(windowLayout(4096)).to.deep.include({
      producerPage: 0,
      consumerPage: 4096,
      dataArea: 8192,
    });
    expect(windowLayout(4096).windowLength(1 << 16)).to.equal(WindowLayout.windowLength(1 << 16));
    expect(layoutVersionFor(4096)).to.equal(1);
    expect(regionSections(1 << 22, 64)).to.deep.equal(regionSections(1 << 22, 64, 4096));
  });

  for (const g of [16384, 65536] as const) {
    it(`should give every role part its own granules with granule ${g}`, () => {
      const l = windowLayout(g);
      expect([l.producerPage, l.consumerPage, l.dataArea]).to.deep.equal([0, g, 2 * g]);
      expect(l.windowLength(g)).to.equal(6 * g);
      expect(l.dataSizeOf(l.windowLength(4 * g))).to.equal(4 * g);
      expect(l.dataSizeOf(l.windowLength(g / 2))).to.equal(undefined); // data under one granule
      expect(layoutVersionFor(g)).to.equal(2);
      for (const role of ['consumer', 'provider'] as const) {
        for (const r of writableRanges(role, 2 * g, g)) {
          expect(r.offset % g, `${role} range at ${r.offset}`).to.equal(0);
          expect(r.length % g).to.equal(0);
        }
      }
    });

    it(`should start the data section on a ${g}-byte boundary`, () => {
      const s = regionSections(1 << 22, 64, g);
      expect(s.dataOffset % g).to.equal(0);
      expect(s.controlOffset + s.controlSize).to.equal(s.dataOffset);
      expect(s.dataSize % g).to.equal(0);
      expect(minWindowSize(g)).to.equal(6 * g);
    });
  }

  it('should know exactly the three granules', () => {
    expect(PAGE_GRANULES.filter(isPageGranule)).to.deep.equal([4096, 16384, 65536]);
    expect([0, 8192, 4095, '4096', 131072].some(isPageGranule)).to.equal(false);
  });
});

describe('ControlFileLayout', () => {
  it("should have a magic of its own, never the region's", () => {
    expect(Buffer.from(ControlFileLayout.magic).toString('latin1')).to.equal('SIVCTL\0\u0001');
    const same = Buffer.from(ControlFileLayout.magic).equals(Buffer.from(RegionHeaderLayout.magic));
    expect(same).to.equal(false);
  });

  it('should size the file as the smallest power of two holding header and table, >= 64 KiB', () => {
    expect(ControlFileLayout.sizeFor(2 * PAGE_SIZE)).to.equal(64 * 1024);
    expect(ControlFileLayout.sizeFor(64 * 1024)).to.equal(64 * 1024);
    expect(ControlFileLayout.sizeFor(64 * 1024 + PAGE_SIZE)).to.equal(128 * 1024);
  });
});
