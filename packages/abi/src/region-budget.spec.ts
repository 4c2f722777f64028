import { expect } from 'chai';

import { ChannelEntryLayout } from './channel-table-layout.js';
import {
  MAX_CHANNEL_CAPACITY,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  MIN_WINDOW_SIZE,
  regionSections,
  roundUpToPage,
} from './region-budget.js';
import { PAGE_SIZE, RegionHeaderLayout, WindowLayout } from './region-layout.js';

describe('region budget', () => {
  describe('regionSections', () => {
    it('should put the header page first, then a page-rounded table, then the data section', () => {
      const s = regionSections(4 << 20, 64);
      expect(s).to.deep.equal({
        headerSize: PAGE_SIZE,
        controlOffset: PAGE_SIZE,
        controlSize: PAGE_SIZE, // 64 entries of 64 bytes
        dataOffset: 2 * PAGE_SIZE,
        dataSize: (4 << 20) - 2 * PAGE_SIZE,
      });
    });

    it('should round a table that spills into another page up to whole pages', () => {
      const entriesPerPage = PAGE_SIZE / ChannelEntryLayout.size;
      expect(regionSections(1 << 20, entriesPerPage + 1).controlSize).to.equal(2 * PAGE_SIZE);
    });

    it('should report a negative data section when the table does not fit', () => {
      expect(regionSections(MIN_REGION_SIZE, MAX_CHANNEL_CAPACITY).dataSize).to.be.below(0);
    });
  });

  describe('bounds', () => {
    it('should let the smallest region hold the header, a one-page table and a minimal window', () => {
      expect(regionSections(MIN_REGION_SIZE, 1).dataSize).to.be.at.least(MIN_WINDOW_SIZE);
    });

    it('should keep the largest region, and offsets within it, exact as numbers', () => {
      expect(Number.isSafeInteger(MAX_REGION_SIZE * 2)).to.equal(true);
      expect(MIN_REGION_SIZE & (MIN_REGION_SIZE - 1)).to.equal(0);
      expect(Math.log2(MAX_REGION_SIZE) % 1).to.equal(0);
    });

    it('should make a minimal window two directions of two pages and one data page', () => {
      expect(MIN_WINDOW_SIZE).to.equal(WindowLayout.windowLength(PAGE_SIZE));
      expect(MIN_WINDOW_SIZE).to.equal(6 * PAGE_SIZE);
      expect(RegionHeaderLayout.size).to.equal(PAGE_SIZE);
    });
  });

  describe('roundUpToPage', () => {
    it('should leave whole pages alone and round everything else up', () => {
      expect([0, 1, PAGE_SIZE, PAGE_SIZE + 1].map(roundUpToPage)).to.deep.equal([
        0,
        PAGE_SIZE,
        PAGE_SIZE,
        2 * PAGE_SIZE,
      ]);
    });
  });
});
