import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { TransportError } from '../errors/transport-error.js';
import { DEFAULT_DEVICE_PATH, KernelDevice } from '../device/kernel-device.js';
import type { DeviceFile } from '../device/channel-device.js';
import { KernelDoorbells } from './kernel-doorbells.js';

// Needs sivshm.ko's device: inside a QEMU guest (the tier-3 run in apps/hostd/test/qemu rings
// real doorbells between two guests through this class). On a host without it, skipped.
describe('KernelDoorbells', () => {
  let device: KernelDevice | undefined;
  beforeEach(function () {
    if (!existsSync(DEFAULT_DEVICE_PATH)) {
      console.log(`    (skipped: ${DEFAULT_DEVICE_PATH} is missing; load sivshm.ko in a guest)`);
      this.skip();
    }
    device = new KernelDevice();
  });
  afterEach(() => device?.close());

  describe('constructor', () => {
    it('should take its id from the device IVPosition', () => {
      const d = new KernelDoorbells(device!);
      try {
        expect(d.id).to.equal(device!.doorbellInfo().ivPosition);
      } finally {
        d.close();
      }
    });
  });

  describe('.waker', () => {
    it('should not ring through a file without a grant and resolve a wait false on timeout', async () => {
      const d = new KernelDoorbells(device!);
      const file = device!.open();
      try {
        const w = d.waker(file);
        w.wake();
        expect(d.ringFailures).to.equal(d.vectors === 0 ? 0 : 1);
        expect(await w.wait(20)).to.equal(false);
        w.close();
      } finally {
        d.close();
        file.close();
      }
    });

    it('should refuse a file that is not a KernelDevice file', () => {
      const d = new KernelDoorbells(device!);
      try {
        expect(() => d.waker({} as DeviceFile)).to.throw(TransportError, /KernelDevice file/);
      } finally {
        d.close();
      }
    });
  });
});
