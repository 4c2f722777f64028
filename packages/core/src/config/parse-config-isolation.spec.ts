import { expect } from 'chai';
import { BASE, edit, expectIssue, parse } from '../../test/helpers/config-text.js';

describe('parseConfig', () => {
  describe('.services[].isolation', () => {
    it('should leave a service in the shared region unless it says device', () => {
      expect(parse(BASE).services[0]!.isolation).to.equal(undefined);
      const region = parse(edit('    minMode: mac', '    minMode: mac\n    isolation: region'));
      expect(region.services[0]!.isolation).to.equal(undefined);
      const device = parse(edit('    minMode: mac', '    minMode: mac\n    isolation: device'));
      expect(device.services[0]!.isolation).to.equal('device');
    });

    it('should refuse another word at its line, naming the two it takes', () => {
      expectIssue(
        edit('    minMode: mac', '    minMode: mac\n    isolation: vm'),
        22,
        16,
        'services[0].isolation',
        'vm is not one of region | device',
      );
    });
  });

  describe('.vms[].qmp', () => {
    it('should resolve the QMP socket against the config directory', () => {
      const c = parse(edit('    name: cluster', '    name: cluster\n    qmp: run/cluster.qmp'));
      expect(c.vms.map((v) => v.qmp)).to.deep.equal([undefined, '/cfg/run/cluster.qmp']);
    });

    it('should refuse one socket named by two VMs (devices would reach the wrong QEMU)', () => {
      const text = edit(
        '    name: cluster',
        '    name: cluster\n    qmp: /run/a.qmp',
        edit('    name: infotainment', '    name: infotainment\n    qmp: /run/a.qmp'),
      );
      expectIssue(
        text,
        12,
        10,
        'vms[1].qmp',
        "QMP socket /run/a.qmp is already another VM's; every VM needs its own QEMU (first at vms[0].qmp, line 8)",
      );
    });

    it('should refuse an empty path and one too long for a unix socket', () => {
      expectIssue(
        edit('    name: cluster', "    name: cluster\n    qmp: ''"),
        11,
        10,
        'vms[1].qmp',
        /a non-empty path/,
      );
      const long = `/run/${'q'.repeat(110)}.qmp`;
      expectIssue(
        edit('    name: cluster', `    name: cluster\n    qmp: ${long}`),
        11,
        10,
        'vms[1].qmp',
        `socket path ${long} is ${long.length} bytes; a unix socket path may be at most 107`,
      );
    });
  });
});
