// The ChannelDevice contract: every device (EmulatedDevice here, KernelDevice inside a QEMU
// guest) must pass it. A harness gives a fresh device over a fresh region whose grant key,
// VM id and epoch it knows, so the suite can sign real tokens with @sivshm/core.
import { expect } from 'chai';
import {
  GrantPerm,
  PAGE_SIZE,
  WindowLayout,
  writableRanges,
  type ChannelMode,
  type GrantRoleName,
} from '@sivshm/abi';
import { signRevoke, verifyRevokeReceipt, type GrantToken } from '@sivshm/core';
import { nodeBackend, signGrant } from '@sivshm/core/testing';
import type { ChannelDevice } from '../../src/device/channel-device.js';
import { TransportError } from '../../src/errors/transport-error.js';
import { channelMoveTests } from './channel-move-contract.js';

export interface DeviceUnderTest {
  readonly device: ChannelDevice;
  readonly grantKey: Uint8Array;
  readonly vmId: number;
  readonly epoch: bigint;
  readonly dataOffset: number;
  readonly dataSize: number;
  /** Reads `length` bytes of the region at `offset` behind the device's back (hostd's view). */
  readRegion(offset: number, length: number): Uint8Array;
  teardown(): void;
}

export interface DeviceHarness {
  readonly name: string;
  create(): DeviceUnderTest;
}

const WINDOW = WindowLayout.windowLength(PAGE_SIZE * 4);

function reasonOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(TransportError.is(e), String(e)).to.equal(true);
    expect((e as TransportError).code).to.equal('ERR_GRANT');
    return (e as { reason?: string }).reason;
  }
  return undefined;
}

/** Registers the contract suite for one device harness. */
export function deviceContract(h: DeviceHarness): void {
  describe(`ChannelDevice contract (${h.name})`, () => {
    let d: DeviceUnderTest;
    let serial = 100n;
    beforeEach(() => {
      d = h.create();
    });
    afterEach(() => d.teardown());

    const token = (over: Partial<GrantToken> & { kn: Uint8Array }): GrantToken => ({
      role: 'consumer' as GrantRoleName,
      perms: GrantPerm.map,
      epoch: d.epoch,
      grantSerial: ++serial,
      vmId: d.vmId,
      channelId: 0x51n,
      windowOffset: BigInt(d.dataOffset),
      windowLength: BigInt(WINDOW),
      notAfterNs: BigInt(Date.now() + 60_000) * 1_000_000n,
      mode: 'plain' as ChannelMode,
      ...over,
    });
    const sign = (t: GrantToken, key = d.grantKey) => signGrant(nodeBackend, key, t);
    /** A genuine REVOKE of `channelId` in this VM and epoch. */
    const revokeOf = (channelId: bigint, revokeSerial: bigint) =>
      signRevoke(nodeBackend, d.grantKey, {
        epoch: d.epoch,
        revokeSerial,
        vmId: d.vmId,
        channelId,
      });

    describe('.open', () => {
      it('should give each open file its own 16-byte nonce', () => {
        const a = d.device.open();
        const b = d.device.open();
        expect(a.nonce).to.have.length(16);
        expect(a.nonce).to.not.deep.equal(b.nonce);
      });

      it('should report the region geometry, VM and epoch', () => {
        const i = d.device.info();
        expect(i.vmId).to.equal(d.vmId);
        expect(i.epoch).to.equal(d.epoch);
        expect(i.dataOffset).to.equal(d.dataOffset);
      });
    });

    describe('.presentGrant / .mapWindow', () => {
      it('should map a granted window that hostd sees the writes of', () => {
        const f = d.device.open();
        const g = sign(token({ kn: f.nonce }));
        const w = f.presentGrant(g.token, g.tag);
        expect(w).to.deep.include({
          channelId: 0x51n,
          role: 'consumer',
          offset: d.dataOffset,
          length: WINDOW,
        });
        const mem = f.mapWindow(0x51n);
        expect(mem.shared.byteLength).to.equal(WINDOW);
        // Write only the consumer's own pages (its c2p producer page and data area): a device
        // that enforces page protection refuses writes to the peer's pages with SIGBUS.
        const own = writableRanges('consumer', WindowLayout.dataSizeOf(WINDOW)!);
        const first = own[0]!.offset;
        const last = own[1]!.offset + own[1]!.length - 1;
        mem.shared[first] = 0xab;
        mem.shared[last] = 0xcd;
        expect(d.readRegion(d.dataOffset + first, 1)[0]).to.equal(0xab);
        expect(d.readRegion(d.dataOffset + last, 1)[0]).to.equal(0xcd);
      });

      it('case 26: should refuse to map a window without a grant (EPERM)', () => {
        const f = d.device.open();
        expect(() => f.mapWindow(0x51n)).to.throw(TransportError, /no grant/);
      });

      it('case 20/21/22/23: should refuse forged, replayed, other-VM, other-file and old-epoch grants', () => {
        const f = d.device.open();
        const other = d.device.open();
        const good = sign(token({ kn: f.nonce }));
        const forged = good.tag.slice();
        forged[3] = (forged[3] ?? 0) ^ 1;
        expect(
          reasonOf(() => f.presentGrant(good.token, forged)),
          'forged',
        ).to.equal('tag');
        expect(
          reasonOf(() => other.presentGrant(good.token, good.tag)),
          'other file',
        ).to.equal('kn');
        const wrongKey = sign(token({ kn: f.nonce }), new Uint8Array(32).fill(0x5a));
        expect(
          reasonOf(() => f.presentGrant(wrongKey.token, wrongKey.tag)),
          'other VM key',
        ).to.equal('tag');
        const otherVm = sign(token({ kn: f.nonce, vmId: d.vmId + 1 }));
        expect(
          reasonOf(() => f.presentGrant(otherVm.token, otherVm.tag)),
          'other VM id',
        ).to.equal('vm');
        const oldEpoch = sign(token({ kn: f.nonce, epoch: d.epoch - 1n }));
        expect(
          reasonOf(() => f.presentGrant(oldEpoch.token, oldEpoch.tag)),
          'old epoch',
        ).to.equal('epoch');
        expect(
          reasonOf(() => f.presentGrant(good.token, good.tag)),
          'genuine',
        ).to.equal(undefined);
        expect(
          reasonOf(() => f.presentGrant(good.token, good.tag)),
          'replayed',
        ).to.equal('replay');
      });

      it('case 27/32: should refuse windows over the control section, misaligned, or not a window layout', () => {
        const f = d.device.open();
        const control = sign(
          token({ kn: f.nonce, windowOffset: BigInt(d.dataOffset - PAGE_SIZE) }),
        );
        expect(reasonOf(() => f.presentGrant(control.token, control.tag))).to.equal('window');
        const misaligned = sign(token({ kn: f.nonce, windowOffset: BigInt(d.dataOffset + 8) }));
        expect(reasonOf(() => f.presentGrant(misaligned.token, misaligned.tag))).to.equal('window');
        const beyond = sign(
          token({ kn: f.nonce, windowOffset: BigInt(d.dataOffset + d.dataSize) }),
        );
        expect(reasonOf(() => f.presentGrant(beyond.token, beyond.tag))).to.equal('window');
        const odd = sign(token({ kn: f.nonce, windowLength: BigInt(3 * PAGE_SIZE) }));
        expect(reasonOf(() => f.presentGrant(odd.token, odd.tag))).to.equal('layout');
      });

      it('case 27: should not let a grant for channel A reach channel B', () => {
        const f = d.device.open();
        const a = sign(token({ kn: f.nonce, channelId: 0xaan }));
        f.presentGrant(a.token, a.tag);
        expect(() => f.mapWindow(0xbbn)).to.throw(TransportError, /no grant/);
        const g = d.device.open();
        const overlapping = sign(
          token({ kn: g.nonce, channelId: 0xbbn, windowOffset: BigInt(d.dataOffset + PAGE_SIZE) }),
        );
        expect(reasonOf(() => g.presentGrant(overlapping.token, overlapping.tag))).to.equal(
          'overlap',
        );
      });

      it('should refuse an expired grant', () => {
        const f = d.device.open();
        const g = sign(token({ kn: f.nonce, notAfterNs: BigInt(Date.now() - 1000) * 1_000_000n }));
        expect(reasonOf(() => f.presentGrant(g.token, g.tag))).to.equal('expired');
      });
    });

    describe('.revoke', () => {
      it('case 31: should ignore forged and replayed REVOKEs and stop mapping after a genuine one', () => {
        const f = d.device.open();
        const g = sign(token({ kn: f.nonce, channelId: 0x77n }));
        f.presentGrant(g.token, g.tag);
        f.mapWindow(0x77n);
        const r = revokeOf(0x77n, 1n);
        const forged = r.tag.slice();
        forged[0] = (forged[0] ?? 0) ^ 1;
        expect(reasonOf(() => d.device.revoke(r.token, forged))).to.equal('tag');
        const receipt = d.device.revoke(r.token, r.tag);
        expect(receipt.channelId).to.equal(0x77n);
        expect(verifyRevokeReceipt(nodeBackend, d.grantKey, r.token, receipt.receipt)).to.equal(
          true,
        );
        expect(() => f.mapWindow(0x77n)).to.throw(TransportError, /no grant/);
        expect(reasonOf(() => d.device.revoke(r.token, r.tag))).to.equal('replay');
      });

      it('should refuse a grant for a revoked channel, even one issued before the revoke (grant after revoke)', () => {
        const f = d.device.open();
        const early = sign(token({ kn: f.nonce, channelId: 0x78n }));
        const r = revokeOf(0x78n, 2n);
        d.device.revoke(r.token, r.tag);
        expect(reasonOf(() => f.presentGrant(early.token, early.tag))).to.equal('revoked');
        expect(() => f.mapWindow(0x78n)).to.throw(TransportError, /no grant/);
      });
    });

    describe('.doorbellRoutes', () => {
      it("should route doorbells per grant: a file has its live grants' routes, none after the revoke", () => {
        const f = d.device.open();
        const other = d.device.open();
        const doorbell = { peer: 3, ring: 0b10, observe: 0b10 };
        const g = sign(token({ kn: f.nonce, channelId: 0x79n, doorbell }));
        expect(f.doorbellRoutes()).to.deep.equal([]);
        expect(f.presentGrant(g.token, g.tag).doorbell).to.deep.equal(doorbell);
        expect(f.doorbellRoutes()).to.deep.equal([doorbell]);
        expect(other.doorbellRoutes(), 'another file of the same process').to.deep.equal([]);
        const r = revokeOf(0x79n, 3n);
        d.device.revoke(r.token, r.tag);
        expect(f.doorbellRoutes(), 'after the revoke').to.deep.equal([]);
      });

      it('should drop the routes of a closed file', () => {
        const f = d.device.open();
        const g = sign(token({ kn: f.nonce, doorbell: { peer: 1, ring: 1, observe: 1 } }));
        f.presentGrant(g.token, g.tag);
        f.close();
        expect(f.doorbellRoutes()).to.deep.equal([]);
      });
    });

    describe('.close', () => {
      it('should forget the grants of a closed file', () => {
        const f = d.device.open();
        const g = sign(token({ kn: f.nonce }));
        f.presentGrant(g.token, g.tag);
        f.close();
        expect(() => f.mapWindow(0x51n)).to.throw(TransportError);
        // The window is free again for another channel.
        const f2 = d.device.open();
        const g2 = sign(token({ kn: f2.nonce, channelId: 0x52n }));
        expect(f2.presentGrant(g2.token, g2.tag).channelId).to.equal(0x52n);
      });
    });

    describe('channel moves (protocol section 11)', () => channelMoveTests(() => d));
  });
}
