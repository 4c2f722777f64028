import { expect } from 'chai';
import {
  KEY1,
  BASE,
  parse,
  edit,
  issuesOf,
  oneIssue,
  expectIssue,
} from '../../test/helpers/config-text.js';
import { CoreError } from '../errors/core-error.js';
import { formatConfigIssue } from './config-issue.js';
import { configLocationOf } from './config-location.js';
import { parseConfig } from './parse-config.js';

describe('parseConfig', () => {
  describe('.valid input', () => {
    it('should normalize the base config', () => {
      const c = parse(BASE);
      expect(c.version).to.equal(1);
      expect(c.region).to.deep.equal({
        size: 16 * 1024 * 1024,
        channelCapacity: 64,
        pageGranule: 4096,
        path: c.region.path,
      });
      expect(c.region.path).to.match(/^\/dev\/shm\/sivshm-services-[0-9a-f]{8}$/);
      expect(c.vms.map((v) => [v.id, v.name])).to.deep.equal([
        [1, 'infotainment'],
        [2, 'cluster'],
      ]);
      expect(c.vms[0]!.grantKey).to.deep.equal({ kind: 'hex', hex: KEY1 });
      expect(c.vms[1]!.grantKey).to.deep.equal({ kind: 'env', name: 'SIVSHM_KEY_CLUSTER' });
      expect(c.vms[1]!.limits).to.deep.equal({
        handshakesPerSecond: 20,
        burst: 5,
        pendingHandshakes: 8,
        windowBytes: 4 * 1024 * 1024,
      });
      expect(c.protos).to.deep.equal(['/cfg/test.proto']);
      const s = c.services[0]!;
      expect(s).to.deep.include({
        name: 'VehicleSpeed',
        id: 0x1234,
        major: 1,
        minor: 0,
        provider: 'infotainment',
        providerVmId: 1,
        minMode: 'mac',
      });
      expect(s.instances).to.deep.equal([1, 2]);
      expect(s.consumers).to.deep.equal(['cluster']);
      expect(s.consumerVmIds).to.deep.equal([2]);
      expect(s.eventgroups).to.deep.equal([
        { id: 1, name: 'speed', events: [{ id: 0x8001, name: 'speed', type: 't.Speed' }] },
      ]);
      expect(s.methods).to.deep.equal([
        { id: 1, name: 'reset', request: 't.Req', response: 't.Res' },
      ]);
      expect(c.protoRoot.lookupType('t.Speed').fields).to.have.property('kph');
    });

    it('should return frozen objects', () => {
      const c = parse(BASE);
      expect(Object.isFrozen(c)).to.equal(true);
      expect(Object.isFrozen(c.services)).to.equal(true);
      expect(Object.isFrozen(c.services[0]!.instances)).to.equal(true);
      expect(Object.isFrozen(c.vms[0]!.limits)).to.equal(true);
    });

    it('should accept decimal and 0x hex (with _) for the same number', () => {
      const c = parse(edit('id: 0x1234', 'id: 4660'));
      expect(c.services[0]!.id).to.equal(0x1234);
      const d = parse(edit('instances: [1, 2]', 'instances: [0x0_0002, 1]'));
      expect(d.services[0]!.instances).to.deep.equal([1, 2]);
    });

    it('should accept sizes in bytes and in KiB/MiB/GiB', () => {
      expect(parse(edit('size: 16MiB', 'size: 16777216')).region.size).to.equal(16777216);
      expect(parse(edit('size: 16MiB', 'size: 0x1000000')).region.size).to.equal(16777216);
      expect(parse(edit('size: 16MiB', 'size: 1GiB')).region.size).to.equal(1024 ** 3);
      expect(parse(edit('size: 16MiB', 'size: "2048 KiB"')).region.size).to.equal(2 * 1024 ** 2);
    });

    it('should resolve relative paths against baseDir', () => {
      const c = parse(
        edit(
          '  channelCapacity: 64',
          '  channelCapacity: 64\n  path: run/region',
          edit(`{ hex: "${KEY1}" }`, '{ file: keys/a.key }'),
        ),
      );
      expect(c.region.path).to.equal('/cfg/run/region');
      expect(c.vms[0]!.grantKey).to.deep.equal({ kind: 'file', path: '/cfg/keys/a.key' });
    });

    it('should record where each service and vm was defined', () => {
      const c = parse(BASE);
      expect(configLocationOf(c.services[0]!)).to.deep.equal({
        file: 'services.yaml',
        line: 14,
        column: 5,
        path: 'services[0]',
      });
      expect(configLocationOf(c.vms[1]!)).to.include({ line: 9, path: 'vms[1]' });
      expect(configLocationOf(c.vms[1]!.grantKey)).to.include({
        line: 11,
        column: 15,
        path: 'vms[1].grantKey',
      });
      expect(configLocationOf(c.services[0]!.methods[0]!)).to.include({ line: 28 });
    });

    it('should cap the default windowBytes to a small data section', () => {
      const c = parse(edit('size: 16MiB', 'size: 1MiB'));
      // 1 MiB minus the header page and a 64-entry table (one page of 64-byte entries).
      expect(c.vms[1]!.limits.windowBytes).to.equal(1024 * 1024 - 2 * 4096);
    });
  });

  describe('.syntax and document', () => {
    it('should report a YAML syntax error with its line and column', () => {
      const i = oneIssue(edit('  size: 16MiB', '  size: [16MiB'));
      expect(i.path).to.equal('(syntax)');
      expect(i.line).to.be.within(3, 4);
    });

    it('should report an empty file', () => {
      expectIssue('', 1, 1, '(root)', /the file is empty/);
    });

    it('should refuse a second YAML document', () => {
      const i = oneIssue(`${BASE}---\nversion: 1\n`);
      expect(i.path).to.equal('(syntax)');
      expect(i.line).to.equal(29);
    });

    it('should refuse a duplicate key', () => {
      const i = oneIssue(edit('    minor: 0', '    minor: 0\n    minor: 1'));
      expect(i.path).to.equal('(syntax)');
      expect(i.line).to.equal(19);
      expect(i.message).to.match(/unique/);
    });

    it('should refuse an unsupported version', () => {
      expectIssue(
        edit('version: 1', 'version: 2'),
        1,
        10,
        'version',
        'unsupported version 2; this build reads version 1',
      );
    });

    it('should name a missing required key', () => {
      expectIssue(edit('    major: 1\n', ''), 14, 5, 'services[0]', 'missing key major');
    });

    it('should reject an unknown key and list the allowed ones', () => {
      expectIssue(
        edit('    minMode: mac', '    minmod: mac'),
        21,
        5,
        'services[0].minmod',
        "unknown key 'minmod' (did you mean 'minMode'?); allowed: name, id, instances, major, provider, minor, consumers, minMode, eventgroups, methods, ringDataSize, idleTimeoutMs, isolation, elastic",
      );
    });

    it('should report a typo of a required key once', () => {
      const i = oneIssue(edit('    provider: infotainment', '    provder: infotainment'));
      expect(i.path).to.equal('services[0].provder');
      expect(i.message).to.match(/did you mean 'provider'/);
    });

    it('should refuse a list where a mapping belongs', () => {
      expectIssue(
        edit('region:\n  size: 16MiB\n  channelCapacity: 64', 'region: [16MiB]'),
        2,
        9,
        'region',
        'expected a mapping with keys size',
      );
    });
  });

  describe('.numbers', () => {
    it('should refuse an instance out of range with the value as written', () => {
      expectIssue(
        edit('instances: [1, 2]', 'instances: [1, 65536]'),
        16,
        20,
        'services[0].instances[1]',
        '65536 is out of range 0x0001..0xFFFE',
      );
    });

    it('should refuse the reserved instances 0x0000 and 0xFFFF', () => {
      expectIssue(
        edit('instances: [1, 2]', 'instances: [0x0000, 2]'),
        16,
        17,
        'services[0].instances[0]',
        '0x0000 is out of range 0x0001..0xFFFE',
      );
      expectIssue(
        edit('instances: [1, 2]', 'instances: [1, 0xFFFF]'),
        16,
        20,
        'services[0].instances[1]',
        '0xFFFF is out of range 0x0001..0xFFFE',
      );
    });

    it('should refuse a duplicate instance', () => {
      expectIssue(
        edit('instances: [1, 2]', 'instances: [1, 0x1]'),
        16,
        20,
        'services[0].instances[1]',
        'duplicate instance 0x0001 (first at services[0].instances[0], line 16)',
      );
    });

    it('should refuse numbers that are not decimal or 0x hex', () => {
      expectIssue(
        edit('    major: 1', '    major: 1e0'),
        17,
        12,
        'services[0].major',
        '1e0 is not an integer; write decimal or 0x hex',
      );
      expectIssue(
        edit('    major: 1', '    major: 0o1'),
        17,
        12,
        'services[0].major',
        '0o1 is not an integer; write decimal or 0x hex',
      );
      expectIssue(
        edit('    major: 1', '    major: 1.5'),
        17,
        12,
        'services[0].major',
        '1.5 is not an integer; write decimal or 0x hex',
      );
    });

    it('should refuse the SD wildcards as major and minor', () => {
      expectIssue(
        edit('    major: 1', '    major: 0xFF'),
        17,
        12,
        'services[0].major',
        '0xFF is out of range 0..254',
      );
      expectIssue(
        edit('    minor: 0', '    minor: 0xFFFFFFFF'),
        18,
        12,
        'services[0].minor',
        '0xFFFFFFFF is out of range 0..4294967294',
      );
    });
  });

  describe('.input checks', () => {
    it('should reject non-string text with a CoreError', () => {
      expect(() => parseConfig(42 as unknown as string, { file: 'x.yaml' }))
        .to.throw(CoreError)
        .with.property('code', 'ERR_CONFIG');
    });

    it('should report a document that is not a mapping at (root)', () => {
      expect(issuesOf('just text\n').map(formatConfigIssue)).to.deep.equal([
        'services.yaml:1:1: (root): expected a mapping with keys version, region, vms, services',
      ]);
    });

    it('should refuse a .proto path that is not a regular file without reading it', () => {
      const c = parseConfig.bind(null, edit('protos: [test.proto]', 'protos: [/dev/zero]'), {
        file: 'services.yaml',
        baseDir: '/cfg',
      });
      expect(c)
        .to.throw(CoreError)
        .with.property('message')
        .that.matches(/is not a regular file/);
    });

    it('should bound alias expansion', () => {
      // Each level names the previous one ten times: 10^6 nodes from a few lines.
      const lines = ['a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]'];
      for (let i = 1; i <= 6; i++) {
        lines.push(
          `a${i}: &a${i} [${Array(10)
            .fill(`*a${i - 1}`)
            .join(', ')}]`,
        );
      }
      lines.push('services: *a6');
      const issues = issuesOf(lines.join('\n'));
      expect(issues.length).to.be.greaterThan(0);
      expect(issues.length).to.be.at.most(200);
    });
  });
});
