import { expect } from 'chai';

import { PAGE_SIZE, WindowLayout, writableRanges } from './region-layout.js';

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
