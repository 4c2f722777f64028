import { expect } from 'chai';
import { KEY1, KEY3, parse, edit, issuesOf, expectIssue } from '../../test/helpers/config-text.js';
import { formatConfigIssue } from './config-issue.js';

describe('parseConfig', () => {
  describe('.vms', () => {
    it('should refuse vm id 0 and ids beyond u32', () => {
      expectIssue(
        edit('vms:\n  - id: 1', 'vms:\n  - id: 0'),
        6,
        9,
        'vms[0].id',
        '0 is out of range 1..4294967295',
      );
      expectIssue(
        edit('vms:\n  - id: 1', 'vms:\n  - id: 0x1_0000_0000'),
        6,
        9,
        'vms[0].id',
        '0x1_0000_0000 is out of range 1..4294967295',
      );
    });

    it('should refuse a duplicate vm id', () => {
      expectIssue(
        edit('  - id: 2', '  - id: 1'),
        9,
        9,
        'vms[1].id',
        'duplicate vm id 1 (first at vms[0].id, line 6)',
      );
    });

    it('should refuse a duplicate vm name', () => {
      expectIssue(
        edit(
          '    name: cluster',
          '    name: infotainment',
          edit('consumers: [cluster]', 'consumers: []'),
        ),
        10,
        11,
        'vms[1].name',
        "duplicate vm name 'infotainment' (first at vms[0].name, line 7)",
      );
    });

    it('should refuse a malformed vm name', () => {
      expectIssue(
        edit(
          '    name: cluster',
          '    name: 2cluster',
          edit('consumers: [cluster]', 'consumers: []'),
        ),
        10,
        11,
        'vms[1].name',
        /^2cluster is not a name of letters/,
      );
    });

    it('should refuse a vm list that is empty', () => {
      const i = issuesOf('version: 1\nregion: { size: 1MiB }\nvms: []\nservices: []\n');
      expect(i.map(formatConfigIssue)).to.deep.equal([
        'services.yaml:3:6: vms: list at least one VM',
      ]);
    });
  });

  describe('.grantKey', () => {
    it('should require exactly one source', () => {
      expectIssue(
        edit('{ env: SIVSHM_KEY_CLUSTER }', '{ env: SIVSHM_KEY_CLUSTER, file: k.key }'),
        11,
        15,
        'vms[1].grantKey',
        'give exactly one of file, env, hex (got env, file)',
      );
      expectIssue(
        edit('{ env: SIVSHM_KEY_CLUSTER }', '{}'),
        11,
        15,
        'vms[1].grantKey',
        'give exactly one of file, env, hex (got none)',
      );
    });

    it('should reject an unknown key inside grantKey with the allowed ones', () => {
      expectIssue(
        edit('{ env: SIVSHM_KEY_CLUSTER }', '{ path: k.key }'),
        11,
        17,
        'vms[1].grantKey.path',
        "unknown key 'path'; allowed: file, env, hex",
      );
    });

    it('should require 64 hex digits inline', () => {
      expectIssue(
        edit(`"${KEY1}"`, `"${KEY1.slice(1)}"`),
        8,
        22,
        'vms[0].grantKey.hex',
        /^1{40}… is not 64 hex digits \(a 32-byte key\)$/,
      );
    });

    it('should refuse a malformed environment variable name', () => {
      expectIssue(
        edit('SIVSHM_KEY_CLUSTER', 'SIVSHM-KEY'),
        11,
        22,
        'vms[1].grantKey.env',
        "SIVSHM-KEY is not an environment variable name (letters, digits, '_')",
      );
    });

    it('should refuse two VMs sharing one key source', () => {
      expectIssue(
        edit('{ env: SIVSHM_KEY_CLUSTER }', `{ hex: "${KEY1.toUpperCase()}" }`),
        11,
        15,
        'vms[1].grantKey',
        "same grant key source as vm 'infotainment' (vms[0].grantKey, line 8); every VM needs its own key",
      );
      expect(() => parse(edit('{ env: SIVSHM_KEY_CLUSTER }', `{ hex: "${KEY3}" }`))).not.to.throw();
    });
  });

  describe('.limits', () => {
    const withLimits = (limits: string) =>
      edit(
        '    grantKey: { env: SIVSHM_KEY_CLUSTER }',
        `    grantKey: { env: SIVSHM_KEY_CLUSTER }\n    limits: ${limits}`,
      );

    it('should accept limits and refuse zero rates', () => {
      const c = parse(
        withLimits(
          '{ handshakesPerSecond: 5, burst: 2, pendingHandshakes: 1, windowBytes: 64KiB }',
        ),
      );
      expect(c.vms[1]!.limits).to.deep.equal({
        handshakesPerSecond: 5,
        burst: 2,
        pendingHandshakes: 1,
        windowBytes: 65536,
      });
      expectIssue(
        withLimits('{ handshakesPerSecond: 0 }'),
        12,
        36,
        'vms[1].limits.handshakesPerSecond',
        '0 is out of range 1..10000',
      );
    });

    it('should refuse a window budget beyond the data section', () => {
      expectIssue(
        withLimits('{ windowBytes: 16MiB }'),
        12,
        28,
        'vms[1].limits.windowBytes',
        "16MiB is more than the region's data section (16376 KiB)",
      );
    });

    it('should refuse a window budget that is not whole pages', () => {
      expectIssue(
        withLimits('{ windowBytes: 100000 }'),
        12,
        28,
        'vms[1].limits.windowBytes',
        '100000 must be a whole number of 4 KiB pages and at least 24 KiB (one minimal window)',
      );
    });
  });

  describe('.vms[].diagnostics', () => {
    it('should mark a VM diagnostics only when it says true, granting it nothing more', () => {
      const c = parse(edit('    name: cluster', '    name: cluster\n    diagnostics: true'));
      expect(c.vms.map((v) => v.diagnostics)).to.deep.equal([undefined, true]);
      const off = parse(edit('    name: cluster', '    name: cluster\n    diagnostics: false'));
      expect(off.vms.map((v) => v.diagnostics)).to.deep.equal([undefined, undefined]);
      // The rights still come from the services' lists only.
      expect(c.services[0]!.consumers).to.deep.equal(['cluster']);
    });

    it('should refuse a diagnostics value that is not true or false, at its line', () => {
      expectIssue(
        edit('    name: cluster', '    name: cluster\n    diagnostics: yes'),
        11,
        18,
        'vms[1].diagnostics',
        'expected true or false, got yes',
      );
    });
  });
});
