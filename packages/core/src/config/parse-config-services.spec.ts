import { expect } from 'chai';
import { BASE, SECOND_SERVICE, parse, edit, expectIssue } from '../../test/helpers/config-text.js';

describe('parseConfig', () => {
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
});
