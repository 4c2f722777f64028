import { expect } from 'chai';
import { CoreError } from '../errors/core-error.js';
import { formatConfigIssue, isConfigError } from './config-issue.js';
import type { ConfigIssue } from './config-issue.js';
import { configLocationOf } from './config-location.js';
import { parseConfig } from './parse-config.js';

const KEY1 = '11'.repeat(32);
const KEY3 = '33'.repeat(32);

// Line numbers below are the ones the tests assert; keep them in step when editing BASE.
const BASE = [
  'version: 1', //                                                          1
  'region:', //                                                             2
  '  size: 16MiB', //                                                       3
  '  channelCapacity: 64', //                                               4
  'vms:', //                                                                5
  '  - id: 1', //                                                           6
  '    name: infotainment', //                                              7
  `    grantKey: { hex: "${KEY1}" }`, //                                    8
  '  - id: 2', //                                                           9
  '    name: cluster', //                                                   10
  '    grantKey: { env: SIVSHM_KEY_CLUSTER }', //                           11
  'protos: [test.proto]', //                                                12
  'services:', //                                                           13
  '  - name: VehicleSpeed', //                                              14
  '    id: 0x1234', //                                                      15
  '    instances: [1, 2]', //                                               16
  '    major: 1', //                                                        17
  '    minor: 0', //                                                        18
  '    provider: infotainment', //                                          19
  '    consumers: [cluster]', //                                            20
  '    minMode: mac', //                                                    21
  '    eventgroups:', //                                                    22
  '      - id: 1', //                                                       23
  '        name: speed', //                                                 24
  '        events:', //                                                     25
  '          - { id: 0x8001, name: speed, type: t.Speed }', //              26
  '    methods:', //                                                        27
  '      - { id: 0x0001, name: reset, request: t.Req, response: t.Res }', // 28
  '',
].join('\n');

const SECOND_SERVICE = [
  '  - name: Media', //                                                     29
  '    id: 0x1235', //                                                      30
  '    instances: [1]', //                                                  31
  '    major: 1', //                                                        32
  '    provider: infotainment', //                                          33
  '',
].join('\n');

const PROTO = `
syntax = "proto3";
package t;
message Speed { float kph = 1; }
message Req { uint64 odometer_m = 1; }
message Res { uint64 previous_odometer_m = 1; }
enum Mode { MODE_UNSPECIFIED = 0; }
`;

const FILES: Record<string, string> = { '/cfg/test.proto': PROTO };
const readFile = (p: string): string => {
  const text = FILES[p];
  if (text === undefined) throw new Error(`ENOENT: no such file, open '${p}'`);
  return text;
};

function parse(text: string) {
  return parseConfig(text, { file: 'services.yaml', baseDir: '/cfg', readFile });
}

/** BASE with `from` (which must occur exactly once) replaced by `to`. */
function edit(from: string, to: string, text = BASE): string {
  const at = text.indexOf(from);
  expect(at, `'${from}' in the base config`).to.be.greaterThan(-1);
  expect(text.indexOf(from, at + 1), `'${from}' occurs once`).to.equal(-1);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

function issuesOf(text: string): readonly ConfigIssue[] {
  try {
    parse(text);
  } catch (e) {
    expect(isConfigError(e), String(e)).to.equal(true);
    if (isConfigError(e)) return e.issues;
  }
  expect.fail('expected the config to be rejected');
}

/** The single issue `text` produces. */
function oneIssue(text: string): ConfigIssue {
  const issues = issuesOf(text);
  expect(issues.map(formatConfigIssue), 'exactly one issue').to.have.length(1);
  return issues[0]!;
}

function expectIssue(
  text: string,
  line: number,
  column: number,
  path: string,
  message: string | RegExp,
): void {
  const i = oneIssue(text);
  expect({ line: i.line, column: i.column, path: i.path }).to.deep.equal({ line, column, path });
  if (typeof message === 'string') expect(i.message).to.equal(message);
  else expect(i.message).to.match(message);
  expect(i.file).to.equal('services.yaml');
}

describe('parseConfig', () => {
  describe('.valid input', () => {
    it('should normalize the base config', () => {
      const c = parse(BASE);
      expect(c.version).to.equal(1);
      expect(c.region).to.deep.equal({
        size: 16 * 1024 * 1024,
        channelCapacity: 64,
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
      // 1 MiB minus the header page and a 64-entry table (2 pages).
      expect(c.vms[1]!.limits.windowBytes).to.equal(1024 * 1024 - 3 * 4096);
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
        "unknown key 'minmod' (did you mean 'minMode'?); allowed: name, id, instances, major, provider, minor, consumers, minMode, eventgroups, methods",
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
        "16MiB is more than the region's data section (16372 KiB)",
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

    it('should refuse a size below 1 MiB', () => {
      expectIssue(
        edit('size: 16MiB', 'size: 512KiB'),
        3,
        9,
        'region.size',
        '512KiB is out of range 1 MiB..1024 GiB',
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
        edit('size: 16MiB\n  channelCapacity: 64', 'size: 1MiB\n  channelCapacity: 8192'),
        3,
        9,
        'region.size',
        '1 MiB cannot hold the header page, a 8192-entry channel table (1 MiB) and one 24 KiB window; raise region.size or lower region.channelCapacity',
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

  describe('.services', () => {
    it('should refuse the reserved service ids', () => {
      expectIssue(
        edit('id: 0x1234', 'id: 0xFFFF'),
        15,
        9,
        'services[0].id',
        '0xFFFF is out of range 0x0001..0xFFFE',
      );
      expectIssue(
        edit('id: 0x1234', 'id: 0'),
        15,
        9,
        'services[0].id',
        '0 is out of range 0x0001..0xFFFE',
      );
    });

    it('should refuse a duplicate service id', () => {
      expectIssue(
        BASE + edit('id: 0x1235', 'id: 4660', SECOND_SERVICE),
        30,
        9,
        'services[1].id',
        'duplicate service id 0x1234 (first at services[0].id, line 15)',
      );
    });

    it('should refuse a duplicate service name', () => {
      expectIssue(
        BASE + edit('name: Media', 'name: VehicleSpeed', SECOND_SERVICE),
        29,
        11,
        'services[1].name',
        "duplicate service name 'VehicleSpeed' (first at services[0].name, line 14)",
      );
    });

    it('should accept a second, distinct service', () => {
      expect(parse(BASE + SECOND_SERVICE).services).to.have.length(2);
    });

    it('should refuse an unknown minMode', () => {
      expectIssue(
        edit('minMode: mac', 'minMode: tls'),
        21,
        14,
        'services[0].minMode',
        'tls is not one of plain | mac | aead',
      );
    });
  });

  describe('.provider and consumers', () => {
    it('should refuse a provider that is not a VM', () => {
      expectIssue(
        edit('provider: infotainment', 'provider: radio'),
        19,
        15,
        'services[0].provider',
        "'radio' is not a VM in vms; VMs: infotainment, cluster",
      );
    });

    it('should refuse a consumer that is not a VM', () => {
      expectIssue(
        edit('consumers: [cluster]', 'consumers: [cluster, hud]'),
        20,
        26,
        'services[0].consumers[1]',
        "'hud' is not a VM in vms; VMs: infotainment, cluster",
      );
    });

    it('should refuse the provider among the consumers', () => {
      expectIssue(
        edit('consumers: [cluster]', 'consumers: [cluster, infotainment]'),
        20,
        26,
        'services[0].consumers[1]',
        "'infotainment' is this service's provider; a VM does not consume its own service over a channel",
      );
    });

    it('should refuse a consumer listed twice', () => {
      expectIssue(
        edit('consumers: [cluster]', 'consumers: [cluster, cluster]'),
        20,
        26,
        'services[0].consumers[1]',
        "'cluster' is listed twice (first at services[0].consumers[0], line 20)",
      );
    });

    it('should not cascade from a VM with a bad id to the services naming it', () => {
      expectIssue(
        edit('  - id: 2', '  - id: -2'),
        9,
        9,
        'vms[1].id',
        '-2 is out of range 1..4294967295',
      );
    });
  });

  describe('.eventgroups, events and methods', () => {
    it('should refuse eventgroup ids 0 and 0xFFFF', () => {
      expectIssue(
        edit('      - id: 1', '      - id: 0'),
        23,
        13,
        'services[0].eventgroups[0].id',
        '0 is out of range 0x0001..0xFFFE',
      );
      expectIssue(
        edit('      - id: 1', '      - id: 0xFFFF'),
        23,
        13,
        'services[0].eventgroups[0].id',
        '0xFFFF is out of range 0x0001..0xFFFE',
      );
    });

    it('should refuse event ids outside 0x8000..0xFFFE', () => {
      expectIssue(
        edit('id: 0x8001', 'id: 0x7FFF'),
        26,
        19,
        'services[0].eventgroups[0].events[0].id',
        '0x7FFF is out of range 0x8000..0xFFFE',
      );
      expectIssue(
        edit('id: 0x8001', 'id: 0xFFFF'),
        26,
        19,
        'services[0].eventgroups[0].events[0].id',
        '0xFFFF is out of range 0x8000..0xFFFE',
      );
    });

    it('should refuse method ids outside 0x0001..0x7FFF', () => {
      expectIssue(
        edit('id: 0x0001', 'id: 0x8000'),
        28,
        15,
        'services[0].methods[0].id',
        '0x8000 is out of range 0x0001..0x7FFF',
      );
      expectIssue(
        edit('id: 0x0001', 'id: 0'),
        28,
        15,
        'services[0].methods[0].id',
        '0 is out of range 0x0001..0x7FFF',
      );
    });

    it('should refuse an event id used twice in a service', () => {
      const text = edit(
        '    methods:',
        [
          '      - id: 2', //                                                 27
          '        name: again', //                                           28
          '        events:', //                                               29
          '          - { id: 0x8001, name: other, type: t.Speed }', //        30
          '    methods:',
        ].join('\n'),
      );
      expectIssue(
        text,
        30,
        19,
        'services[0].eventgroups[1].events[0].id',
        'duplicate event id 0x8001; an event belongs to one eventgroup (first at services[0].eventgroups[0].events[0].id, line 26)',
      );
    });

    it('should refuse a duplicate eventgroup id', () => {
      const text = edit(
        '    methods:',
        [
          '      - id: 1',
          '        name: again',
          '        events:',
          '          - { id: 0x8002, name: other, type: t.Speed }',
          '    methods:',
        ].join('\n'),
      );
      expectIssue(
        text,
        27,
        13,
        'services[0].eventgroups[1].id',
        'duplicate eventgroup id 0x0001 (first at services[0].eventgroups[0].id, line 23)',
      );
    });

    it('should refuse a method id used twice in a service', () => {
      const text = `${BASE}      - { id: 1, name: other, request: t.Req, response: t.Res }\n`;
      expectIssue(
        text,
        29,
        15,
        'services[0].methods[1].id',
        'duplicate method id 0x0001 (first at services[0].methods[0].id, line 28)',
      );
    });

    it('should refuse duplicate eventgroup, event and method names', () => {
      const group = [
        '      - id: 2', //                                                   27
        '        name: speed', //                                             28
        '        events:', //                                                 29
        '          - { id: 0x8002, name: speed, type: t.Speed }', //          30
        '    methods:',
      ].join('\n');
      const issues = issuesOf(edit('    methods:', group)).map(formatConfigIssue);
      expect(issues).to.deep.equal([
        "services.yaml:28:15: services[0].eventgroups[1].name: duplicate eventgroup name 'speed' (first at services[0].eventgroups[0].name, line 24)",
        "services.yaml:30:33: services[0].eventgroups[1].events[0].name: duplicate event name 'speed' (first at services[0].eventgroups[0].events[0].name, line 26)",
      ]);
      expectIssue(
        `${BASE}      - { id: 2, name: reset, request: t.Req, response: t.Res }\n`,
        29,
        24,
        'services[0].methods[1].name',
        "duplicate method name 'reset' (first at services[0].methods[0].name, line 28)",
      );
    });

    it('should refuse an eventgroup without events', () => {
      expectIssue(
        edit(
          '          - { id: 0x8001, name: speed, type: t.Speed }\n',
          '',
          edit('        events:', '        events: []'),
        ),
        25,
        17,
        'services[0].eventgroups[0].events',
        'list at least one event',
      );
    });
  });

  describe('.protobuf types', () => {
    it('should name a missing type and the files searched', () => {
      expectIssue(
        edit('type: t.Speed', 'type: t.Velocity'),
        26,
        46,
        'services[0].eventgroups[0].events[0].type',
        'type t.Velocity is not defined in test.proto',
      );
    });

    it('should refuse an enum where a message belongs', () => {
      expectIssue(
        edit('response: t.Res', 'response: t.Mode'),
        28,
        62,
        'services[0].methods[0].response',
        't.Mode is an enum in test.proto, not a message type',
      );
    });

    it('should refuse a type name that is not a dotted identifier', () => {
      expectIssue(
        edit('request: t.Req', 'request: "t..Req"'),
        28,
        45,
        'services[0].methods[0].request',
        't..Req is not a fully qualified protobuf message name such as sivshm.demo.VehicleSpeed',
      );
    });

    it('should report a .proto file that cannot be read, once', () => {
      expectIssue(
        edit('protos: [test.proto]', 'protos: [nope.proto]'),
        12,
        10,
        'protos[0]',
        /^cannot load nope\.proto: ENOENT/,
      );
    });

    it('should report a .proto syntax error with the proto line', () => {
      FILES['/cfg/broken.proto'] =
        'syntax = "proto3";\npackage t;\nmessage Speed { float kph = ; }\n';
      try {
        expectIssue(
          edit('protos: [test.proto]', 'protos: [broken.proto]'),
          12,
          10,
          'protos[0]',
          /^cannot load broken\.proto: .*broken\.proto, line 3/,
        );
      } finally {
        delete FILES['/cfg/broken.proto'];
      }
    });

    it('should load imports beside the importing file and well-known types', () => {
      FILES['/cfg/sub/main.proto'] =
        'syntax = "proto3";\nimport "dep.proto";\nimport "google/protobuf/timestamp.proto";\npackage t;\nmessage Speed { d.Kph kph = 1; google.protobuf.Timestamp at = 2; }\nmessage Req {}\nmessage Res {}\n';
      FILES['/cfg/sub/dep.proto'] =
        'syntax = "proto3";\npackage d;\nmessage Kph { float v = 1; }\n';
      try {
        const c = parse(edit('protos: [test.proto]', 'protos: [sub/main.proto]'));
        expect(c.protoRoot.lookupType('t.Speed').fieldsArray.map((f) => f.name)).to.deep.equal([
          'kph',
          'at',
        ]);
      } finally {
        delete FILES['/cfg/sub/main.proto'];
        delete FILES['/cfg/sub/dep.proto'];
      }
    });

    it('should say so when types are used but no .proto file is listed', () => {
      const issues = issuesOf(edit('protos: [test.proto]\n', ''));
      expect(issues.map((i) => i.message)).to.include(
        'type t.Speed is not defined: no .proto files are listed in protos',
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
