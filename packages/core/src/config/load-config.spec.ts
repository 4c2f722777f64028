import { expect } from 'chai';
import path from 'node:path';
import { CoreError } from '../errors/core-error.js';
import { packageRoot } from '../util/package-root.js';
import { mayConsume, mayOffer } from './config-policy.js';
import { resolveGrantKey } from './grant-key.js';
import { loadConfig } from './load-config.js';

const ROOT = packageRoot(import.meta.url);
const EXAMPLE = path.resolve(ROOT, '..', '..', 'examples', 'services.yaml');
const MINIMAL = path.join(ROOT, 'test', 'fixtures', 'config', 'minimal', 'services.yaml');

describe('loadConfig', () => {
  describe('.example', () => {
    it('should load examples/services.yaml: two VMs, two services, three eventgroups', async () => {
      const c = await loadConfig(EXAMPLE);
      expect(c.vms.map((v) => `${v.id}:${v.name}`)).to.deep.equal(['1:infotainment', '2:cluster']);
      expect(c.services.map((s) => s.name)).to.deep.equal(['VehicleSpeed', 'MediaControl']);
      expect(c.services.flatMap((s) => s.eventgroups)).to.have.length(3);
      expect(c.region).to.deep.equal({
        size: 16 * 1024 * 1024,
        path: '/dev/shm/sivshm-demo',
        channelCapacity: 64,
        pageGranule: 4096,
      });
      const speed = c.services[0]!;
      expect(speed.id).to.equal(0x1234);
      expect(speed.eventgroups[0]!.events[0]).to.deep.equal({
        id: 0x8001,
        name: 'speed',
        type: 'sivshm.demo.VehicleSpeed',
      });
      expect(c.protoRoot.lookupType('sivshm.demo.VehicleSpeed').fields).to.include.keys(
        'timestamp_ms',
        'kph',
      );
      expect(c.protoRoot.lookupEnum('sivshm.demo.MediaCommand').values).to.have.property(
        'MEDIA_COMMAND_PLAY',
      );
      expect(mayOffer(c, 1, 0x1234, 1)).to.equal(true);
      expect(mayConsume(c, 2, 0x1235, 1)).to.equal(true);
      expect(mayConsume(c, 1, 0x1235, 1)).to.equal(false);
    });

    it('should resolve the example dev keys to distinct 32-byte keys', async () => {
      const c = await loadConfig(EXAMPLE);
      const keys = await Promise.all(c.vms.map((v) => resolveGrantKey(v)));
      expect(keys.map((k) => k.length)).to.deep.equal([32, 32]);
      expect(Buffer.from(keys[0]!).equals(Buffer.from(keys[1]!))).to.equal(false);
    });
  });

  describe('.paths', () => {
    it('should resolve protos, key files and the region path against the config directory', async () => {
      const c = await loadConfig(MINIMAL);
      const dir = path.dirname(MINIMAL);
      expect(c.baseDir).to.equal(dir);
      expect(c.protos).to.deep.equal([path.join(dir, 'proto', 'm.proto')]);
      expect(c.region.path).to.equal(path.join(dir, 'region.bin'));
      expect(c.vms[0]!.grantKey).to.deep.equal({
        kind: 'file',
        path: path.join(dir, 'keys', 'a.key'),
      });
      expect(c.services[0]!.instances).to.deep.equal([0x10, 0x11]);
      expect(c.services[0]!.minMode).to.equal('plain');
      expect(c.services[0]!.eventgroups).to.deep.equal([]);
      const key = await resolveGrantKey(c.vms[1]!);
      expect(key[0]).to.equal(0xa0);
    });
  });

  describe('.errors', () => {
    it('should reject a missing file with ERR_IO naming it', async () => {
      const missing = path.join(ROOT, 'test', 'fixtures', 'config', 'absent.yaml');
      try {
        await loadConfig(missing);
        expect.fail('expected a rejection');
      } catch (e) {
        expect(CoreError.is(e)).to.equal(true);
        expect((e as CoreError).code).to.equal('ERR_IO');
        expect((e as CoreError).message).to.contain(missing);
      }
    });

    it('should reject an empty path with ERR_CONFIG', async () => {
      try {
        await loadConfig('');
        expect.fail('expected a rejection');
      } catch (e) {
        expect((e as CoreError).code).to.equal('ERR_CONFIG');
      }
    });
  });
});
