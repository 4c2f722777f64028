import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { RuntimeError } from '../errors/runtime-error.js';
import { CONTROL_PORT_NAME, findControlPort, isCharDevice } from './control-port.js';

describe('findControlPort', () => {
  let sysfs: string;
  beforeEach(() => {
    // The layout of /sys/class/virtio-ports: one folder per port, its name in `name`.
    sysfs = mkdtempSync(path.join(tmpdir(), 'sivshm-vports-'));
    for (const [port, name] of [
      ['vport1p1', 'org.qemu.guest_agent.0'],
      ['vport1p2', CONTROL_PORT_NAME],
    ]) {
      mkdirSync(path.join(sysfs, port!));
      writeFileSync(path.join(sysfs, port!, 'name'), `${name}\n`);
    }
    mkdirSync(path.join(sysfs, 'vport0p0')); // a console: no name file
  });
  afterEach(() => rmSync(sysfs, { recursive: true, force: true }));

  describe('.call', () => {
    it('should return the device node of the port with the name', () => {
      expect(findControlPort(CONTROL_PORT_NAME, sysfs)).to.equal('/dev/vport1p2');
    });

    it('should reject with ERR_CONNECT listing the ports when none has the name', () => {
      let e: unknown;
      try {
        findControlPort('org.example.none', sysfs);
      } catch (x) {
        e = x;
      }
      expect(RuntimeError.is(e)).to.equal(true);
      expect((e as RuntimeError).code).to.equal('ERR_CONNECT');
      expect((e as Error).message).to.contain('vport1p1=org.qemu.guest_agent.0');
    });
  });
});

describe('isCharDevice', () => {
  describe('.call', () => {
    it('should tell a character device from a regular file and a missing path', () => {
      expect(isCharDevice('/dev/null')).to.equal(true);
      expect(isCharDevice('/etc/hostname')).to.equal(false);
      expect(isCharDevice('/nonexistent/port')).to.equal(false);
    });
  });
});
