// The gateway section under fuzzed input: any mix of addresses (IPv4, IPv6, junk), ports,
// instances, eventgroups and peers in gateway.export and gateway.import either parses into a
// section whose endpoints never share a port, or fails as ERR_CONFIG with file:line issues.
import { expect } from 'chai';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { CoreError } from '../errors/core-error.js';
import { isConfigError } from './config-issue.js';
import { parseConfig } from './parse-config.js';

const BASE = `version: 1
region: { size: 1MiB, channelCapacity: 8 }
vms:
  - { id: 1, name: a, grantKey: { hex: "${'12'.repeat(32)}" } }
  - { id: 2, name: b, grantKey: { hex: "${'34'.repeat(32)}" } }
protos: [t.proto]
services:
  - name: S
    id: 0x10
    instances: [1, 2, 3]
    major: 1
    provider: a
    consumers: [b]
    eventgroups:
      - { id: 1, name: g, events: [{ id: 0x8001, name: e, type: t.M }] }
    methods:
      - { id: 1, name: m, request: t.M, response: t.M }
`;

const readFile = (p: string): string => {
  if (p === '/f/t.proto') return 'syntax = "proto3"; package t; message M { uint32 x = 1; }';
  throw new Error(`ENOENT ${p}`);
};

const address = fc.constantFrom(
  '10.0.0.5',
  '127.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '239.1.1.1',
  'fd00::1',
  'ff14::4:0',
  '::',
  'FD00:0::5',
  '10.0.0.300',
  'not-an-address',
  '',
);
const port = fc.oneof(fc.integer({ min: 30400, max: 30420 }), fc.constantFrom(0, 30490, 70000, -1));
const anyScalar = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean());
const entry = fc.record(
  {
    service: fc.oneof(fc.constant('S'), fc.constant('Nope'), anyScalar),
    instance: fc.oneof(fc.integer({ min: 0, max: 4 }), anyScalar),
    udp: fc.oneof(port, anyScalar),
    tcp: port,
    eventgroups: fc.oneof(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), anyScalar),
    peers: fc.oneof(fc.array(address, { maxLength: 2 }), anyScalar),
    multicast: fc.record({ group: address, port }),
    extra: anyScalar,
  },
  { requiredKeys: [] },
);
const gateway = fc.record(
  {
    unicast: address,
    sd: fc.record({ group: address, port }, { requiredKeys: [] }),
    export: fc.oneof(fc.array(entry, { maxLength: 3 }), anyScalar),
    import: fc.oneof(fc.array(entry, { maxLength: 3 }), anyScalar),
  },
  { requiredKeys: [] },
);

type Section = typeof gateway extends fc.Arbitrary<infer T> ? T : never;
const VALID_SECTIONS: [Section][] = [
  [
    {
      unicast: '10.0.0.5',
      sd: { group: '239.1.1.1', port: 30490 },
      export: [{ service: 'S', instance: 1, udp: 30401 }],
    },
  ],
  [
    {
      unicast: 'fd00::1',
      sd: { group: 'ff14::4:0', port: 30490 },
      import: [{ service: 'S', instance: 2, udp: 30402, tcp: 30403 }],
    },
  ],
];

describe('parseConfig .gateway under fuzzed input', () => {
  it('should parse into endpoints that never share a port, or fail as ERR_CONFIG with file:line issues', () => {
    let parsed = 0;
    fc.assert(
      fc.property(gateway, (g) => {
        // Imports carry no multicast: a generated one stays, to be refused as an unknown key.
        const text = BASE + stringify({ gateway: g });
        try {
          const c = parseConfig(text, { file: 'fuzz.yaml', baseDir: '/f', readFile });
          parsed++;
          const gw = c.gateway!;
          const used = [`udp${gw.sdPort}`];
          for (const e of [...gw.exports, ...gw.imports]) {
            used.push(`udp${e.udpPort}`);
            if (e.tcpPort !== undefined) used.push(`tcp${e.tcpPort}`);
          }
          expect(new Set(used).size, 'no port used twice').to.equal(used.length);
          expect(gw.unicast.includes(':')).to.equal(gw.sdGroup.includes(':'));
        } catch (e) {
          if (!CoreError.is(e) || e.code !== 'ERR_CONFIG') throw e;
          expect(isConfigError(e)).to.equal(true);
          if (!isConfigError(e)) return;
          for (const i of e.issues) {
            expect(i.line).to.be.at.least(1);
            expect(i.column).to.be.at.least(1);
            expect(i.path).to.match(/^gateway/);
          }
        }
      }),
      // Valid sections are rare among the generated ones (a run of 300 can hold none), so two
      // known-valid ones always run, keeping the parsed branch's assertions exercised.
      { numRuns: 300, examples: VALID_SECTIONS },
    );
    expect(parsed, 'the valid sections parsed').to.be.at.least(VALID_SECTIONS.length);
  });
});
