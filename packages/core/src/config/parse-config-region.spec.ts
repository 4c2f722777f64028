import { expect } from 'chai';
import { BASE, edit, expectIssue, parse } from '../../test/helpers/config-text.js';

describe('parseConfig', () => {
  describe('.region', () => {
    it('should refuse a size that is not a power of two', () => {
      expectIssue(
        edit('size: 16MiB', 'size: 24MiB'),
        3,
        9,
        'region.size',
        '24MiB is not a power of two (QEMU requires one)',
      );
    });

    it('should refuse a size below 64 KiB', () => {
      expectIssue(
        edit('size: 16MiB', 'size: 32KiB'),
        3,
        9,
        'region.size',
        '32KiB is out of range 64 KiB..64 GiB',
      );
    });

    it('should refuse decimal units and other suffixes', () => {
      expectIssue(
        edit('size: 16MiB', 'size: 16MB'),
        3,
        9,
        'region.size',
        '16MB is not a size; write bytes (decimal or 0x hex) or a whole number of KiB, MiB or GiB',
      );
    });

    it('should refuse a region too small for its channel table', () => {
      expectIssue(
        edit('size: 16MiB\n  channelCapacity: 64', 'size: 1MiB\n  channelCapacity: 16384'),
        3,
        9,
        'region.size',
        '1 MiB cannot hold the header page, a 16384-entry channel table (1 MiB) and one 24 KiB window; raise region.size or lower region.channelCapacity',
      );
    });

    it('should refuse a channel capacity out of range', () => {
      expectIssue(
        edit('channelCapacity: 64', 'channelCapacity: 0'),
        4,
        20,
        'region.channelCapacity',
        '0 is out of range 1..65536',
      );
    });

    it('should default region.pageGranule to 4096 (layout v1)', () => {
      expect(parse(BASE).region.pageGranule).to.equal(4096);
    });

    it('should read region.pageGranule 16384 and 65536', () => {
      for (const g of [16384, 65536]) {
        const text = edit('channelCapacity: 64', `channelCapacity: 64\n  pageGranule: ${g}`);
        expect(parse(text).region.pageGranule).to.equal(g);
      }
    });

    it('should refuse a page granule that is not 4096, 16384 or 65536, at its line', () => {
      expectIssue(
        edit('channelCapacity: 64', 'channelCapacity: 64\n  pageGranule: 8192'),
        5,
        16,
        'region.pageGranule',
        '8192 is not a page granule: use 4096 (x86-64 and 4 KiB arm64 kernels), 16384 or 65536 (the largest kernel page size among the VMs)',
      );
    });

    it('should count the granule padding when the region is too small', () => {
      expectIssue(
        edit(
          'size: 16MiB\n  channelCapacity: 64',
          'size: 256KiB\n  channelCapacity: 64\n  pageGranule: 65536',
        ),
        3,
        9,
        'region.size',
        '256 KiB cannot hold the header page, a 64-entry channel table (60 KiB padded to the 64 KiB page granule) and one 384 KiB window; raise region.size or lower region.channelCapacity',
      );
    });
  });
});
