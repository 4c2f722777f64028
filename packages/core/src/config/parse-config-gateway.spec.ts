import { expect } from 'chai';
import { BASE, expectIssue, parse } from '../../test/helpers/config-text.js';

// BASE ends at line 28; the gateway section starts on line 29.
const gateway = (...lines: string[]): string => BASE + ['gateway:', ...lines, ''].join('\n');

describe('parseConfig', () => {
  describe('.gateway', () => {
    it('should read an export with the SD defaults and every eventgroup of the service', () => {
      const c = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 2, udp: 30501 }',
        ),
      );
      expect(c.gateway).to.deep.equal({
        unicast: '10.0.0.5',
        sdGroup: '224.244.224.245',
        sdPort: 30490,
        exports: [{ service: 'VehicleSpeed', instance: 2, udpPort: 30501, eventgroups: [1] }],
        imports: [],
      });
    });

    it('should have no gateway when the section is absent', () => {
      expect(parse(BASE).gateway).to.equal(undefined);
    });

    it('should read the SD group and port and a peer list', () => {
      const c = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  sd: { group: 239.1.1.1, port: 30491 }',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501, peers: [10.0.0.9] }',
        ),
      );
      expect(c.gateway?.sdGroup).to.equal('239.1.1.1');
      expect(c.gateway?.sdPort).to.equal(30491);
      expect(c.gateway?.exports[0]?.peers).to.deep.equal(['10.0.0.9']);
    });

    it('should refuse an export of a service that does not exist, at its line', () => {
      expectIssue(
        gateway('  unicast: 10.0.0.5', '  export:', '    - { service: Nope, instance: 1, udp: 1 }'),
        32,
        18,
        'gateway.export[0].service',
        "no service named 'Nope' in services",
      );
    });

    it('should refuse an instance the service does not have', () => {
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 3, udp: 1 }',
        ),
        32,
        42,
        'gateway.export[0].instance',
        'VehicleSpeed has no instance 3',
      );
    });

    it('should refuse a multicast unicast address and a unicast SD group', () => {
      expectIssue(
        gateway('  unicast: 224.0.0.1', '  export: []'),
        30,
        12,
        'gateway.unicast',
        '224.0.0.1 is not a unicast IPv4 address',
      );
      expectIssue(
        gateway('  unicast: 10.0.0.5', '  sd: { group: 10.0.0.1 }', '  export: []'),
        31,
        16,
        'gateway.sd.group',
        '10.0.0.1 is not an IPv4 multicast group (224.0.0.0/4)',
      );
    });

    it('should read an import with its ports, eventgroups and peers, and no export', () => {
      const c = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  import:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30701, tcp: 30702, peers: [10.0.0.9] }',
        ),
      );
      expect(c.gateway?.exports).to.deep.equal([]);
      expect(c.gateway?.imports).to.deep.equal([
        {
          service: 'VehicleSpeed',
          instance: 1,
          udpPort: 30701,
          tcpPort: 30702,
          eventgroups: [1],
          peers: ['10.0.0.9'],
        },
      ]);
    });

    it('should refuse an import of an unknown service, an unknown instance or eventgroup, at its line', () => {
      expectIssue(
        gateway('  unicast: 10.0.0.5', '  import:', '    - { service: Nope, instance: 1, udp: 1 }'),
        32,
        18,
        'gateway.import[0].service',
        "no service named 'Nope' in services",
      );
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  import:',
          '    - { service: VehicleSpeed, instance: 3, udp: 30701 }',
        ),
        32,
        42,
        'gateway.import[0].instance',
        'VehicleSpeed has no instance 3',
      );
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  import:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30701, eventgroups: [7] }',
        ),
        32,
        71,
        'gateway.import[0].eventgroups[0]',
        'VehicleSpeed has no eventgroup 7',
      );
    });

    it('should refuse an import port taken by an export or SD, and an instance imported twice or also exported', () => {
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501 }',
          '  import:',
          '    - { service: VehicleSpeed, instance: 2, udp: 30501 }',
        ),
        34,
        7,
        'gateway.import[0].udp',
        'UDP port 30501 is used twice',
      );
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  import:',
          '    - { service: VehicleSpeed, instance: 2, udp: 30490 }',
        ),
        32,
        7,
        'gateway.import[0].udp',
        'UDP port 30490 is the SD port (gateway.sd.port, default 30490); pick another',
      );
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  import:',
          '    - { service: VehicleSpeed, instance: 2, udp: 30701 }',
          '    - { service: VehicleSpeed, instance: 2, udp: 30702 }',
        ),
        33,
        7,
        'gateway.import[1]',
        'VehicleSpeed instance 2 is imported twice; keep one entry',
      );
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501 }',
          '  import:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30701 }',
        ),
        34,
        5,
        'gateway.import',
        'VehicleSpeed instance 1 is both exported and imported; keep one',
      );
    });

    it('should read a TCP port and refuse one TCP port for two exports', () => {
      const c = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501, tcp: 30501 }',
        ),
      );
      expect(c.gateway?.exports[0]?.tcpPort).to.equal(30501);
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501, tcp: 30600 }',
          '    - { service: VehicleSpeed, instance: 2, udp: 30502, tcp: 30600 }',
        ),
        33,
        7,
        'gateway.export[1].tcp',
        'TCP port 30600 is used twice',
      );
    });

    it('should read a multicast eventgroup address and refuse a unicast one', () => {
      const c = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - service: VehicleSpeed',
          '      instance: 1',
          '      udp: 30501',
          '      multicast: { group: 239.0.0.1, port: 30600 }',
        ),
      );
      expect(c.gateway?.exports[0]?.multicast).to.deep.equal({ group: '239.0.0.1', port: 30600 });
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - service: VehicleSpeed',
          '      instance: 1',
          '      udp: 30501',
          '      multicast: { group: 10.0.0.1, port: 30600 }',
        ),
        35,
        27,
        'gateway.export[0].multicast.group',
        '10.0.0.1 is not an IPv4 multicast group (224.0.0.0/4)',
      );
    });

    it('should refuse one UDP port for two exports', () => {
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501 }',
          '    - { service: VehicleSpeed, instance: 2, udp: 30501 }',
        ),
        33,
        7,
        'gateway.export[1].udp',
        'UDP port 30501 is used twice',
      );
    });

    it('should refuse 0.0.0.0 and broadcast as the unicast address or a peer', () => {
      expectIssue(
        gateway('  unicast: 0.0.0.0', '  export: []'),
        30,
        12,
        'gateway.unicast',
        '0.0.0.0 is not a unicast IPv4 address',
      );
      expectIssue(
        gateway('  unicast: 255.255.255.255', '  export: []'),
        30,
        12,
        'gateway.unicast',
        '255.255.255.255 is not a unicast IPv4 address',
      );
      expectIssue(
        gateway('  unicast: 10.0.0.300', '  export: []'),
        30,
        12,
        'gateway.unicast',
        '10.0.0.300 is not an IPv4 address such as 10.0.0.5 or an IPv6 address such as fd00::5',
      );
    });

    it('should refuse one service instance exported twice', () => {
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501 }',
          '    - { service: VehicleSpeed, instance: 1, udp: 30502 }',
        ),
        33,
        7,
        'gateway.export[1]',
        'VehicleSpeed instance 1 is exported twice; keep one entry',
      );
    });

    it('should read an IPv6 gateway with its IPv6 SD group, and refuse one without a group or with an IPv4 group', () => {
      const c = parse(
        gateway(
          '  unicast: fd00::5',
          '  sd: { group: ff14::4:0 }',
          '  export:',
          '    - service: VehicleSpeed',
          '      instance: 1',
          '      udp: 30501',
          '      multicast: { group: ff14::1:1, port: 30600 }',
        ),
      );
      expect(c.gateway).to.include({ unicast: 'fd00::5', sdGroup: 'ff14::4:0' });
      expect(c.gateway?.exports[0]?.multicast).to.deep.equal({ group: 'ff14::1:1', port: 30600 });
      expectIssue(
        gateway('  unicast: fd00::5', '  export: []'),
        30,
        12,
        'gateway.sd.group',
        'an IPv6 gateway.unicast needs gateway.sd.group, an IPv6 multicast group (ff00::/8)',
      );
      expectIssue(
        gateway('  unicast: fd00::5', '  sd: { group: 224.244.224.245 }', '  export: []'),
        31,
        16,
        'gateway.sd.group',
        '224.244.224.245 is not an IPv6 group like gateway.unicast',
      );
      expectIssue(
        gateway('  unicast: ff02::1', '  sd: { group: ff14::4:0 }', '  export: []'),
        30,
        12,
        'gateway.unicast',
        'ff02::1 is not a unicast IPv6 address',
      );
    });

    it("should refuse an export's UDP port that is the SD port", () => {
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  sd: { port: 30501 }',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501 }',
        ),
        33,
        7,
        'gateway.export[0].udp',
        'UDP port 30501 is the SD port (gateway.sd.port, default 30490); pick another',
      );
    });

    it('should read tp on an export and an import: true is the 1 392-byte default, a number its segment size, false off', () => {
      const c = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501, tp: true }',
          '  import:',
          '    - { service: VehicleSpeed, instance: 2, udp: 30701, tp: 1024 }',
        ),
      );
      expect(c.gateway?.exports[0]?.tpSegment).to.equal(1392);
      expect(c.gateway?.imports[0]?.tpSegment).to.equal(1024);
      const off = parse(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501, tp: false }',
        ),
      );
      expect(off.gateway?.exports[0]).to.not.have.property('tpSegment');
    });

    it('should refuse a tp segment size that is not a multiple of 16 or past 1 392, at its line', () => {
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  export:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30501, tp: 1000 }',
        ),
        32,
        61,
        'gateway.export[0].tp',
        '1000 is not a multiple of 16 bytes; write 992 or 1008',
      );
      expectIssue(
        gateway(
          '  unicast: 10.0.0.5',
          '  import:',
          '    - { service: VehicleSpeed, instance: 1, udp: 30701, tp: 1408 }',
        ),
        32,
        61,
        'gateway.import[0].tp',
        '1408 is out of range 16..1392',
      );
    });
  });
});
