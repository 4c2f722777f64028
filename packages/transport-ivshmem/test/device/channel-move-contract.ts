// Part of the ChannelDevice contract (device-contract.ts), so it runs on EmulatedDevice here and
// on KernelDevice over sivshm.ko inside a QEMU guest (`npm run test:vm`, kernel-module tier):
// a live channel grows into a successor window and shrinks into another while records flow
// both ways (docs/protocol.md §11), in plain, mac and aead. Each window is a real grant under
// its own channel id on the SAME two device files; the window left behind is revoked on the
// device, whose receipt must verify, while the channel goes on in the new one. Both ends are in
// this VM (two files, one per role), which the device allows.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  GrantPerm,
  PAGE_SIZE,
  WindowLayout,
  writableRanges,
  type GrantRoleName,
} from '@sivshm/abi';
import { signRevoke, verifyRevokeReceipt } from '@sivshm/core';
import { nodeBackend, signGrant } from '@sivshm/core/testing';
import { Channel, dispatchKey } from '../../src/channel/channel.js';
import type { DeviceFile } from '../../src/device/channel-device.js';
import { LocalWaker } from '../../src/notify/local-waker.js';
import type { DeviceUnderTest } from './device-contract.js';

const HEADER = {
  service: 0x1919,
  method: 0x8001,
  client: 0,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};
const REQUEST = { ...HEADER, method: 0x0001, messageType: 0x00 };
const ROLES = ['consumer', 'provider'] as const;

interface Placement {
  readonly id: bigint;
  readonly at: number;
  readonly ring: number;
}

/** Registers the move tests against the contract's current device (`get()`). */
export function channelMoveTests(get: () => DeviceUnderTest): void {
  // Every record protection (issue 19: plain, mac and aead): mac and aead keep their keys, id and
  // sequence across the windows, so a record replayed or lost at a move would fail last+1.
  for (const mode of ['plain', 'mac', 'aead'] as const) {
    it(`channel-resizes-under-load-without-loss (${mode})`, async function () {
      // A fresh Node process per test in a TCG guest: generous, within the runner's child bound.
      this.timeout(50_000);
      const d = get();
      // Three windows side by side: 24 KiB, 48 KiB, 24 KiB.
      if (d.dataSize < 192 * 1024) this.skip();
      let serial = 5000n;
      const files = { consumer: d.device.open(), provider: d.device.open() };
      const grant = (role: GrantRoleName, file: DeviceFile, p: Placement) => {
        const g = signGrant(nodeBackend, d.grantKey, {
          role,
          perms: GrantPerm.map,
          epoch: d.epoch,
          grantSerial: ++serial,
          vmId: d.vmId,
          channelId: p.id,
          windowOffset: BigInt(d.dataOffset + p.at),
          windowLength: BigInt(WindowLayout.windowLength(p.ring)),
          kn: file.nonce,
          notAfterNs: BigInt(Date.now() + 60_000) * 1_000_000n,
          mode,
        });
        file.presentGrant(g.token, g.tag);
        const mem = file.mapWindow(p.id);
        // hostd hands out zeroed windows; the region here is the contract's, which earlier tests
        // wrote into. The two roles' writable pages cover the window: each end zeroes its own.
        for (const r of writableRanges(role, p.ring))
          mem.shared.fill(0, r.offset, r.offset + r.length);
        return mem;
      };
      const first: Placement = { id: 0x1900n, at: 0, ring: PAGE_SIZE };
      const keys = { c2p: randomBytes(32), p2c: randomBytes(32) };
      const bells = { c2p: new LocalWaker(), p2c: new LocalWaker() };
      const channel = (role: GrantRoleName): Channel =>
        new Channel({
          window: windows0[role],
          role,
          ownWaker: role === 'consumer' ? bells.p2c : bells.c2p,
          peerWaker: role === 'consumer' ? bells.c2p : bells.p2c,
          ...(mode === 'plain' ? {} : { protection: { mode, channelId: first.id, keys } }),
        });
      const windows0 = {
        consumer: grant('consumer', files.consumer, first),
        provider: grant('provider', files.provider, first),
      };
      const ends = { consumer: channel('consumer'), provider: channel('provider') };
      const events: number[] = [];
      const requests: number[] = [];
      ends.consumer.on(dispatchKey(0x02, HEADER.method), (r) => {
        events.push(new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true));
      });
      ends.provider.on(dispatchKey(0x00, REQUEST.method), (r) => {
        requests.push(new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(0, true));
      });
      let sent = 0;
      let asked = 0;
      const payload = new Uint8Array(300);
      const view = new DataView(payload.buffer);
      /** `count` events one way and a request every tenth, waiting for room when full. */
      const traffic = async (count: number): Promise<void> => {
        for (const end = sent + count; sent < end;) {
          view.setUint32(0, sent, true);
          if (!ends.provider.sendCopy(HEADER, payload)) {
            await new Promise<void>((r) => setImmediate(r));
            continue;
          }
          sent++;
          if (sent % 10 === 0) {
            view.setUint32(0, asked, true);
            await ends.consumer.sendCopyWait(REQUEST, payload.subarray(0, 4), 5000);
            asked++;
          }
        }
      };
      let revokeSerial = 500n;
      let current = first;
      const move = async (to: Placement): Promise<void> => {
        const windows = ROLES.map((role) => grant(role, files[role], to));
        await Promise.all(ROLES.map((role, i) => ends[role].moveTo(windows[i]!, to.id)));
        // The device revokes the window left behind; the channel goes on in the new one.
        const r = signRevoke(nodeBackend, d.grantKey, {
          epoch: d.epoch,
          revokeSerial: ++revokeSerial,
          vmId: d.vmId,
          channelId: current.id,
        });
        const receipt = d.device.revoke(r.token, r.tag);
        expect(verifyRevokeReceipt(nodeBackend, d.grantKey, r.token, receipt.receipt)).to.equal(
          true,
        );
        current = to;
      };
      try {
        const small = ends.provider.maxPayload;
        await traffic(20); // idle
        const saturating = traffic(300); // saturated, growing meanwhile
        await move({ id: 0x1901n, at: 64 * 1024, ring: 4 * PAGE_SIZE });
        await saturating;
        expect(ends.provider.maxPayload, 'grew').to.be.greaterThan(small);
        await traffic(150);
        await move({ id: 0x1902n, at: 128 * 1024, ring: PAGE_SIZE }); // quiet again
        expect(ends.provider.maxPayload, 'shrank').to.equal(small);
        await traffic(30);
        const deadline = Date.now() + 20_000;
        while ((events.length < sent || requests.length < asked) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 5));
        expect(events.length).to.equal(sent);
        expect(
          events.every((n, i) => n === i),
          'events once and in order',
        ).to.equal(true);
        expect(requests.length).to.equal(asked);
        expect(
          requests.every((n, i) => n === i),
          'requests once and in order',
        ).to.equal(true);
        expect(ends.consumer.state).to.equal('open');
        expect(ends.provider.state).to.equal('open');
      } finally {
        await ends.consumer.close();
        await ends.provider.close();
        files.consumer.close();
        files.provider.close();
      }
    });
  }
}
