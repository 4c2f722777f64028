import { expect } from 'chai';
import { parseConfig, vmLoad, type ServiceConfig } from '@sivshm/core';
import { encodeSdMessage, packSdMessage, type PackEntry } from '@sivshm/discovery';
import { sdEntryCount } from './sd-entry-limit.js';

/** hostd's per-message entry cap of a VM (vm-registry.ts takes it from core's `vmLoad`). */
const sdEntriesPerMessage = (config: ServiceConfig, vmId: number): number =>
  vmLoad(config, vmId).sdEntriesPerMessage;

const CONFIG = `version: 1
region: { size: 1MiB, path: /dev/shm/unused, channelCapacity: 8 }
vms:
  - { id: 1, name: p, grantKey: { hex: ${'11'.repeat(32)} } }
  - { id: 2, name: c, grantKey: { hex: ${'22'.repeat(32)} } }
  - { id: 3, name: x, grantKey: { hex: ${'33'.repeat(32)} } }
services:
  - { name: S, id: 0x1234, instances: [1, 2], major: 1, minor: 0, provider: p, consumers: [c, x] }
`;

describe('SD entry limit', () => {
  const config = parseConfig(CONFIG, { file: 'services.yaml', baseDir: '/' });

  describe('sdEntriesPerMessage', () => {
    it('should allow a provider its offers and answers and a consumer its finds and subscriptions, and a VM outside the service one entry', () => {
      // Provider: 2 instances × (2 + 2 × 1 eventgroup × 2 consumers).
      expect(sdEntriesPerMessage(config, 1)).to.equal(2 * (2 + 2 * 1 * 2));
      // Consumer: 2 instances × (1 + 2 × 1 eventgroup).
      expect(sdEntriesPerMessage(config, 2)).to.equal(2 * (1 + 2));
      expect(sdEntriesPerMessage(config, 9)).to.equal(1);
    });
  });

  describe('sdEntryCount', () => {
    it('should read the entry count from the header without decoding, and say nothing for a short message', () => {
      const find: PackEntry = {
        entry: {
          type: 'find',
          serviceId: 0x1234,
          instanceId: 0xffff,
          majorVersion: 0xff,
          minorVersion: 0xffff_ffff,
          ttl: 3,
        },
        options: [],
      };
      const bytes = encodeSdMessage(
        packSdMessage({
          sessionId: 1,
          flags: { reboot: true, unicast: true, explicitInitialDataControl: false },
          entries: Array.from({ length: 37 }, () => find),
        }),
      );
      expect(sdEntryCount(bytes)).to.equal(37);
      expect(sdEntryCount(bytes.subarray(0, 10))).to.equal(undefined);
    });
  });
});
