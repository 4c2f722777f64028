import { expect } from 'chai';
import { BASE, edit, expectIssue, issuesOf, parse } from '../../test/helpers/config-text.js';

/** BASE with `lines` added to the first service after its minMode (line 21): they start at 22. */
const withWindow = (...lines: string[]) =>
  edit('    minMode: mac\n', `    minMode: mac\n${lines.map((l) => `    ${l}\n`).join('')}`);

describe('parseConfig', () => {
  describe('.services[].ringDataSize and idleTimeoutMs', () => {
    it('should read a per-service ring size and idle timeout, and leave both out when absent', () => {
      const c = parse(withWindow('ringDataSize: 16KiB', 'idleTimeoutMs: 30000'));
      expect(c.services[0]!.ringDataSize).to.equal(16 * 1024);
      expect(c.services[0]!.idleTimeoutMs).to.equal(30_000);
      const plain = parse(BASE).services[0]!;
      expect(plain).not.to.have.property('ringDataSize');
      expect(plain).not.to.have.property('idleTimeoutMs');
    });

    it('should refuse a ring size that is not a power of two of at least one page, at its line', () => {
      expectIssue(
        withWindow('ringDataSize: 24KiB'),
        22,
        19,
        'services[0].ringDataSize',
        "24KiB must be a power of two of at least 4 KiB (the ring's data area per direction)",
      );
      expectIssue(
        withWindow('ringDataSize: 2048'),
        22,
        19,
        'services[0].ringDataSize',
        /2048 must be a power of two of at least 4 KiB/,
      );
    });

    it('should refuse a ring size below region.pageGranule and size windows by the granule', () => {
      const granule = (text: string) =>
        edit('channelCapacity: 64', 'channelCapacity: 64\n  pageGranule: 16384', text);
      // one line more above the service: ringDataSize on line 23
      expectIssue(
        granule(withWindow('ringDataSize: 8KiB')),
        23,
        19,
        'services[0].ringDataSize',
        "8KiB must be a power of two of at least 16 KiB (the ring's data area per direction, at least region.pageGranule)",
      );
      expect(parse(granule(withWindow('ringDataSize: 16KiB'))).services[0]!.ringDataSize).to.equal(
        16 * 1024,
      );
    });

    it("should refuse a ring size whose window does not fit the region's data section", () => {
      expectIssue(
        withWindow('ringDataSize: 8MiB'),
        22,
        19,
        'services[0].ringDataSize',
        "8MiB gives a 16400 KiB window, more than the region's data section (16376 KiB); lower it or raise region.size",
      );
    });

    it("should refuse a ring size whose window is more than a consumer's window quota", () => {
      const text = edit(
        '    grantKey: { env: SIVSHM_KEY_CLUSTER }',
        '    grantKey: { env: SIVSHM_KEY_CLUSTER }\n    limits: { windowBytes: 64KiB }',
        withWindow('ringDataSize: 32KiB'),
      );
      expectIssue(
        text,
        23,
        19,
        'services[0].ringDataSize',
        "32KiB gives a 80 KiB window, more than consumer 'cluster' may hold (limits.windowBytes 64 KiB); lower it or raise that VM's windowBytes",
      );
      // 16 KiB per direction is a 48 KiB window: within the quota.
      const fits = edit('ringDataSize: 32KiB', 'ringDataSize: 16KiB', text);
      expect(parse(fits).services[0]!.ringDataSize).to.equal(16 * 1024);
    });

    it('should report a bad ring size and a bad idle timeout of one service together', () => {
      const issues = issuesOf(withWindow('ringDataSize: 24KiB', 'idleTimeoutMs: 50'));
      expect(issues.map((i) => `${i.line}:${i.path}`)).to.deep.equal([
        '22:services[0].ringDataSize',
        '23:services[0].idleTimeoutMs',
      ]);
    });

    it('should refuse an idle timeout out of range', () => {
      expectIssue(
        withWindow('idleTimeoutMs: 50'),
        22,
        20,
        'services[0].idleTimeoutMs',
        '50 is out of range 100..86400000',
      );
    });
  });
});
