import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { nodeBackend } from '@sivshm/core/testing';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import { TransportError } from '../../src/errors/transport-error.js';
import { deviceContract } from './device-contract.js';
import { createRegionFixture } from './region-fixture.js';
import { signTestGrant } from './test-grant.js';

const KEY = new Uint8Array(32).fill(0x42);

deviceContract({
  name: 'EmulatedDevice',
  create() {
    const region = createRegionFixture();
    const device = new EmulatedDevice({
      regionPath: region.path,
      vmId: 2,
      grantKey: KEY,
      crypto: nodeBackend,
    });
    return {
      device,
      grantKey: KEY,
      vmId: 2,
      epoch: 3n,
      dataOffset: region.layout.dataOffset,
      dataSize: region.layout.dataSize,
      readRegion: region.read,
      teardown: () => {
        device.close();
        region.remove();
      },
    };
  },
});

describe('EmulatedDevice', () => {
  describe('constructor', () => {
    it('should refuse a missing region and a short key', () => {
      expect(
        () => new EmulatedDevice({ regionPath: '/dev/shm/does-not-exist', vmId: 1, grantKey: KEY }),
      ).to.throw(TransportError, /cannot open the region/);
      const r = createRegionFixture();
      try {
        expect(
          () => new EmulatedDevice({ regionPath: r.path, vmId: 1, grantKey: new Uint8Array(16) }),
        ).to.throw(TransportError, /32 bytes/);
      } finally {
        r.remove();
      }
    });
  });

  describe('epoch', () => {
    it('case 23: should refuse a grant of the previous epoch after hostd restarts', () => {
      const r = createRegionFixture();
      const dev = new EmulatedDevice({ regionPath: r.path, vmId: 2, grantKey: KEY });
      try {
        const f = dev.open();
        const g = signTestGrant(KEY, {
          role: 'provider',
          vmId: 2,
          channelId: 9n,
          windowOffset: r.layout.dataOffset,
          windowLength: WindowLayout.windowLength(PAGE_SIZE),
          kn: f.nonce,
          lifetimeMs: 10_000,
        });
        r.setEpoch(4n);
        expect(() => f.presentGrant(g.token, g.tag)).to.throw(TransportError, /epoch/);
      } finally {
        dev.close();
        r.remove();
      }
    });
  });

  describe('.revoke', () => {
    it('case 31: should make the next access to a revoked mapping fault, in a separate process', function () {
      this.timeout(20_000);
      const child = fileURLToPath(new URL('./revoke-fault-child.js', import.meta.url));
      const r = spawnSync(process.execPath, [child], { encoding: 'utf8', timeout: 15_000 });
      expect(r.stdout, r.stderr).to.match(/mapped ok/);
      expect(r.stdout).to.match(/revoked/);
      expect(r.stdout).to.not.match(/read after revoke/);
      expect(r.signal, `status ${r.status} stderr ${r.stderr}`).to.be.oneOf(['SIGSEGV', 'SIGBUS']);
    });
  });
});
