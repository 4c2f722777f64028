import { expect } from 'chai';
import { BASE, edit, expectIssue, issuesOf, parse } from '../../test/helpers/config-text.js';

/** BASE with `lines` added to the first service after its minMode (line 21): they start at 22. */
const withLines = (...lines: string[]) =>
  edit('    minMode: mac\n', `    minMode: mac\n${lines.map((l) => `    ${l}\n`).join('')}`);

describe('parseConfig', () => {
  describe('.services[].elastic', () => {
    it('should leave a service fixed when elastic is absent or false, and fill the defaults for true', () => {
      expect(parse(BASE).services[0]).not.to.have.property('elastic');
      expect(parse(withLines('elastic: false')).services[0]).not.to.have.property('elastic');
      expect(parse(withLines('elastic: true')).services[0]!.elastic).to.deep.equal({
        // No ringDataSize: its channels start with hostd's default ring, and never go below it.
        minRingDataSize: 64 * 1024,
        maxRingDataSize: 1024 * 1024,
        growAtPercent: 75,
        shrinkAtPercent: 10,
        growAfterMs: 200,
        shrinkAfterMs: 5000,
        moveTimeoutMs: 2000,
      });
    });

    it('should read bounds and thresholds over the defaults', () => {
      const e = parse(
        withLines(
          'ringDataSize: 8KiB',
          'elastic:',
          '  minRingDataSize: 8KiB',
          '  maxRingDataSize: 256KiB',
          '  growAtPercent: 90',
          '  shrinkAfterMs: 1000',
        ),
      ).services[0]!.elastic!;
      expect(e.minRingDataSize).to.equal(8192);
      expect(e.maxRingDataSize).to.equal(256 * 1024);
      expect(e.growAtPercent).to.equal(90);
      expect(e.shrinkAtPercent).to.equal(10);
      expect(e.shrinkAfterMs).to.equal(1000);
    });

    it('should refuse a bound that is not a power of two of at least one page, at its line', () => {
      expectIssue(
        withLines('elastic:', '  maxRingDataSize: 24KiB'),
        23,
        24,
        'services[0].elastic.maxRingDataSize',
        "24KiB must be a power of two of at least 4 KiB (a ring's data area per direction)",
      );
    });

    it('should refuse a minimum above the maximum and thresholds that would make a channel flap', () => {
      const issues = issuesOf(
        withLines(
          'elastic:',
          '  minRingDataSize: 64KiB',
          '  maxRingDataSize: 16KiB',
          '  growAtPercent: 50',
          '  shrinkAtPercent: 50',
        ),
      );
      expect(issues.map((i) => `${i.line}:${i.path}: ${i.message}`)).to.deep.equal([
        '23:services[0].elastic.minRingDataSize: 64 KiB is more than maxRingDataSize 16 KiB',
        '26:services[0].elastic.shrinkAtPercent: 50 must be below growAtPercent 50, or a channel would grow and shrink in turn',
      ]);
    });

    it("should refuse bounds that leave out the service's ringDataSize", () => {
      expectIssue(
        withLines('ringDataSize: 64KiB', 'elastic:', '  maxRingDataSize: 32KiB'),
        23,
        5,
        'services[0].elastic',
        "the service's ringDataSize 64 KiB (its channels' first window) is outside 64 KiB..32 KiB",
      );
    });

    it("should default the minimum to the service's first ring and refuse one below it, at its line", () => {
      expect(
        parse(withLines('ringDataSize: 16KiB', 'elastic: true')).services[0]!.elastic!
          .minRingDataSize,
      ).to.equal(16 * 1024);
      expectIssue(
        withLines('ringDataSize: 16KiB', 'elastic:', '  minRingDataSize: 4KiB'),
        24,
        24,
        'services[0].elastic.minRingDataSize',
        "4 KiB is below the service's ringDataSize 16 KiB: an event that fits that ring would not fit a channel shrunk below it; leave minRingDataSize out or set it to 16 KiB",
      );
      expectIssue(
        withLines('elastic:', '  minRingDataSize: 4KiB'),
        23,
        24,
        'services[0].elastic.minRingDataSize',
        "4 KiB is below the ring its channels start with (64 KiB, hostd's default; ringDataSize sets another): an event that fits that ring would not fit a channel shrunk below it; leave minRingDataSize out or set it to 64 KiB",
      );
      expectIssue(
        withLines('elastic:', '  maxRingDataSize: 32KiB'),
        23,
        24,
        'services[0].elastic.maxRingDataSize',
        "32 KiB is below the ring its channels start with (64 KiB, hostd's default; ringDataSize sets another); raise it or set a smaller ringDataSize",
      );
    });

    it("should refuse a maximum whose window does not fit the region or a consumer's quota", () => {
      expect(
        issuesOf(withLines('elastic:', '  maxRingDataSize: 8MiB')).map(
          (i) => `${i.line}:${i.path}: ${i.message}`,
        ),
      ).to.deep.equal([
        "23:services[0].elastic.maxRingDataSize: 8 MiB gives a 16400 KiB window, more than the region's data section (16376 KiB); lower it or raise region.size",
        "23:services[0].elastic.maxRingDataSize: 8 MiB gives a 16400 KiB window, more than consumer 'cluster' may hold (limits.windowBytes 4 MiB); lower it or raise that VM's windowBytes",
      ]);
      const quota = edit(
        '    name: cluster\n',
        '    name: cluster\n    limits: { windowBytes: 64KiB }\n',
        withLines('elastic: true'),
      );
      expect(issuesOf(quota).map((i) => i.message)).to.deep.equal([
        "1 MiB gives a 2064 KiB window, more than consumer 'cluster' may hold (limits.windowBytes 64 KiB); lower it or raise that VM's windowBytes",
      ]);
    });

    it('should refuse elastic on an isolation: device service and out-of-range timings', () => {
      expectIssue(
        withLines('isolation: device', 'elastic: true'),
        23,
        5,
        'services[0].elastic',
        'an isolation: device channel keeps the memory plugged for it; remove elastic or use isolation: region',
      );
      expectIssue(
        withLines('elastic: { moveTimeoutMs: 5 }'),
        22,
        31,
        'services[0].elastic.moveTimeoutMs',
        '5 is out of range 100..60000',
      );
    });
  });
});
