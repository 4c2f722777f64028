import { edit, expectIssue } from '../../test/helpers/config-text.js';

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
  });
});
