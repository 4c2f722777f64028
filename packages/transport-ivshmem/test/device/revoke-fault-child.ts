// Child process of the revoke test: maps a granted window, applies a genuine REVOKE, then
// touches the old mapping. The process must die of SIGSEGV/SIGBUS at that access.
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { signRevoke } from '@sivshm/core';
import { nodeBackend } from '@sivshm/core/testing';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import { createRegionFixture } from './region-fixture.js';
import { signTestGrant } from './test-grant.js';

const KEY = new Uint8Array(32).fill(0x42);
const r = createRegionFixture();
process.on('exit', () => r.remove());
const dev = new EmulatedDevice({ regionPath: r.path, vmId: 2, grantKey: KEY });
const f = dev.open();
const g = signTestGrant(KEY, {
  role: 'consumer',
  vmId: 2,
  channelId: 5n,
  windowOffset: r.layout.dataOffset,
  windowLength: WindowLayout.windowLength(PAGE_SIZE),
  kn: f.nonce,
  lifetimeMs: 10_000,
});
f.presentGrant(g.token, g.tag);
const mem = f.mapWindow(5n);
mem.shared[0] = 1;
console.log('mapped ok');
const rv = signRevoke(nodeBackend, KEY, { epoch: 3n, revokeSerial: 1n, vmId: 2, channelId: 5n });
dev.revoke(rv.token, rv.tag);
console.log('revoked');
r.remove(); // the fault below skips the exit handler
const v = Atomics.load(new Uint8Array(mem.shared.buffer), mem.shared.byteOffset);
console.log(`read after revoke: ${v}`);
