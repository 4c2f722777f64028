// A live channel moves between windows of a real region file (docs/protocol.md §11): each
// window is granted to both ends by a real grant under a successor channel id, on the same
// device files, and the old one is revoked with receipts that must verify. Records keep flowing
// both ways through every move, in plain, mac and aead channels.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  GrantPerm,
  PAGE_SIZE,
  RingPageLayout,
  WindowLayout,
  type GrantRoleName,
} from '@sivshm/abi';
import { signRevoke, verifyRevokeReceipt } from '@sivshm/core';
import { nodeBackend, signGrant } from '@sivshm/core/testing';
import protobuf from 'protobufjs';
import type { Subscription } from 'rxjs';
import { EmulatedDevice } from '../../src/device/emulated-device.js';
import type { DeviceFile } from '../../src/device/channel-device.js';
import { LocalWaker } from '../../src/notify/local-waker.js';
import { DataPlane } from '../../src/channel/data-plane.js';
import type { Channel } from '../../src/channel/channel.js';
import { mapFile, unmap } from '../../src/native/map-file.js';
import { RingProducer } from '../../src/ring/ring-producer.js';
import { ringViews } from '../../src/ring/ring-views.js';
import { createRegionFixture, type RegionFixture } from '../device/region-fixture.js';

const root = protobuf.parse(
  'syntax = "proto3"; package mv; message E { uint32 n = 1; bytes pad = 2; } message R { uint32 n = 1; }',
).root;
const E = root.lookupType('mv.E');
const R = root.lookupType('mv.R');
const KEYS = { consumer: new Uint8Array(32).fill(7), provider: new Uint8Array(32).fill(8) };
const VMS = { consumer: 2, provider: 1 };
const ADDRESS = { service: 0x5151, major: 1, client: 4 };
const EVENT = 0x8001;
const SMALL = PAGE_SIZE; // ring data size of a small window
const LARGE = 16 * PAGE_SIZE;
type Mode = 'plain' | 'mac' | 'aead';
/** A notification of EVENT as a hostile provider writes it by hand into a ring. */
const HOSTILE_HEADER = {
  service: ADDRESS.service,
  method: EVENT,
  client: 0,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

/** Waits until `cond` holds, looking every 5 ms; throws naming `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Placement {
  readonly id: bigint;
  readonly offset: number;
  readonly dataSize: number;
}

/** Plays hostd for one channel between two emulated VMs: grants, moves, revokes with receipts. */
class MoveWorld {
  readonly devices: Record<GrantRoleName, EmulatedDevice>;
  readonly planes: Record<GrantRoleName, DataPlane>;
  readonly files: Record<GrantRoleName, DeviceFile>;
  readonly channels: Record<GrantRoleName, Channel>;
  current: Placement;
  #serial = 1n;
  #revokeSerial = 1n;

  constructor(
    readonly region: RegionFixture,
    readonly mode: Mode,
    first: Placement,
  ) {
    const device = (role: GrantRoleName): EmulatedDevice =>
      new EmulatedDevice({ regionPath: region.path, vmId: VMS[role], grantKey: KEYS[role] });
    this.devices = { consumer: device('consumer'), provider: device('provider') };
    this.planes = {
      consumer: new DataPlane(this.devices.consumer),
      provider: new DataPlane(this.devices.provider),
    };
    this.files = {
      consumer: this.planes.consumer.openFile(),
      provider: this.planes.provider.openFile(),
    };
    const c2p = new LocalWaker();
    const p2c = new LocalWaker();
    const keys = { c2p: randomBytes(32), p2c: randomBytes(32) };
    const attach = (role: GrantRoleName, peerWaker: LocalWaker, ownWaker: LocalWaker): Channel =>
      this.planes[role].attach(
        this.files[role],
        { ...this.grant(role, first), ...(mode === 'plain' ? {} : { keys }) },
        { notify: 'adaptive', peerWaker, ownWaker },
      );
    this.channels = {
      consumer: attach('consumer', c2p, p2c),
      provider: attach('provider', p2c, c2p),
    };
    this.current = first;
  }

  grant(role: GrantRoleName, p: Placement) {
    const g = signGrant(nodeBackend, KEYS[role], {
      role,
      perms: GrantPerm.map,
      epoch: 3n,
      grantSerial: this.#serial++,
      vmId: VMS[role],
      channelId: p.id,
      windowOffset: BigInt(p.offset),
      windowLength: BigInt(WindowLayout.windowLength(p.dataSize)),
      kn: this.files[role].nonce,
      notAfterNs: BigInt(Date.now() + 60_000) * 1_000_000n,
      mode: this.mode,
    });
    return { channelId: p.id, grantToken: g.token, grantTag: g.tag };
  }

  /** Grants `to` to one end and maps it there. */
  mapSuccessor(role: GrantRoleName, to: Placement) {
    const g = this.grant(role, to);
    this.files[role].presentGrant(g.grantToken, g.grantTag);
    return this.files[role].mapWindow(to.id);
  }

  /** The whole move as hostd runs it: both grants, both ends moved, old id revoked, receipts. */
  async move(to: Placement): Promise<void> {
    const windows = {
      consumer: this.mapSuccessor('consumer', to),
      provider: this.mapSuccessor('provider', to),
    };
    await Promise.all([
      this.channels.consumer.moveTo(windows.consumer, to.id),
      this.channels.provider.moveTo(windows.provider, to.id),
    ]);
    this.revokeEverywhere(this.current.id);
    this.current = to;
  }

  revokeEverywhere(id: bigint): void {
    const serial = this.#revokeSerial++;
    for (const role of ['consumer', 'provider'] as const) {
      const t = signRevoke(nodeBackend, KEYS[role], {
        epoch: 3n,
        revokeSerial: serial,
        vmId: VMS[role],
        channelId: id,
      });
      const r = this.devices[role].revoke(t.token, t.tag);
      expect(
        verifyRevokeReceipt(nodeBackend, KEYS[role], t.token, r.receipt),
        `${role} receipt`,
      ).to.equal(true);
    }
  }

  async close(): Promise<void> {
    await this.planes.consumer.close();
    await this.planes.provider.close();
  }
}

describe('channel move between windows', function () {
  this.timeout(30_000);
  let region: RegionFixture;
  beforeEach(() => {
    region = createRegionFixture(4 << 20);
  });
  afterEach(() => region.remove());

  const at = (k: number): number => region.layout.dataOffset + k * 256 * 1024;

  for (const mode of ['plain', 'mac', 'aead'] as const) {
    it(`should deliver every event and call exactly once and in order from idle to saturated and back, growing then shrinking the window (${mode})`, async () => {
      const w = new MoveWorld(region, mode, { id: 0x100n, offset: at(0), dataSize: SMALL });
      const provider = w.planes.provider.provide(w.channels.provider, ADDRESS);
      const consumer = w.planes.consumer.consume(w.channels.consumer, ADDRESS);
      provider.serve<{ n: number }, { n: number }>(1, R, R, (r) => ({ n: r.n + 1 }));
      const got: number[] = [];
      const sub: Subscription = consumer
        .event<{ n: number }>(EVENT, E)
        .subscribe((e) => got.push(e.n));
      const pub = provider.publisher<{ n: number; pad: Uint8Array }>(EVENT, E);
      let next = 0;
      const pad = new Uint8Array(200);
      const burst = async (count: number): Promise<void> => {
        for (const end = next + count; next < end;) {
          if (pub.publish({ n: next, pad })) next++;
          else await new Promise<void>((r) => setImmediate(r));
        }
      };
      const calls: Promise<void>[] = [];
      // A call made during the move waits behind thousands of events on the same ring: its
      // bound is the machine's (two busy cores), not the default 1 s, which this test is not about.
      const call = (n: number): void => {
        calls.push(
          consumer
            .call<{ n: number }, { n: number }>(1, R, R, { n }, { timeoutMs: 20_000 })
            .then((r) => {
              expect(r.n).to.equal(n + 1);
            }),
        );
      };
      const maxSmall = w.channels.provider.maxPayload;
      await burst(5); // idle: a few events
      call(1);
      // Saturated: a burst into the small ring, moved to a large window while it runs.
      const saturating = burst(3000);
      await w.move({ id: 0x101n, offset: at(1), dataSize: LARGE });
      call(2);
      await saturating;
      expect(w.channels.provider.maxPayload, 'grew').to.be.greaterThan(maxSmall);
      expect(w.channels.consumer.maxPayload, 'grew').to.be.greaterThan(maxSmall);
      await burst(2000);
      // Back to idle: shrink into a small window again.
      await w.move({ id: 0x102n, offset: at(2), dataSize: SMALL });
      expect(w.channels.provider.maxPayload, 'shrank').to.equal(maxSmall);
      call(3);
      await burst(300);
      await Promise.all(calls);
      await until(() => got.length >= next, 'every event');
      sub.unsubscribe();
      expect(got.length).to.equal(next);
      expect(
        got.every((n, i) => n === i),
        'exactly once and in order',
      ).to.equal(true);
      expect(w.channels.consumer.state).to.equal('open');
      expect(w.channels.provider.state).to.equal('open');
      await w.close();
    });
  }

  it('should refuse a move bound that is not a whole number of ms in range, before moving', async () => {
    const w = new MoveWorld(region, 'plain', { id: 0x280n, offset: at(0), dataSize: SMALL });
    const successor = w.mapSuccessor('provider', { id: 0x281n, offset: at(1), dataSize: LARGE });
    for (const bad of [Number.NaN, 0, -5, 1.5, 600_001]) {
      expect(() => w.channels.provider.moveTo(successor, 0x281n, bad), String(bad))
        .to.throw(/boundMs/)
        .with.property('code', 'ERR_BAD_ARGUMENT');
    }
    expect(w.channels.provider.state, 'nothing moved').to.equal('open');
    await w.close();
  });

  it('should tear both ends down cleanly when the peer never follows the move', async () => {
    const w = new MoveWorld(region, 'mac', { id: 0x200n, offset: at(0), dataSize: SMALL });
    const provider = w.planes.provider.provide(w.channels.provider, ADDRESS);
    const consumer = w.planes.consumer.consume(w.channels.consumer, ADDRESS);
    const got: number[] = [];
    consumer.event<{ n: number }>(EVENT, E).subscribe((e) => got.push(e.n));
    const pub = provider.publisher<{ n: number; pad: Uint8Array }>(EVENT, E);
    for (let n = 0; n < 5; n++) expect(pub.publish({ n, pad: new Uint8Array(0) })).to.equal(true);
    // Only the provider is granted the successor; the consumer never gets (or follows) it.
    const moved = w.channels.provider.moveTo(
      w.mapSuccessor('provider', { id: 0x201n, offset: at(1), dataSize: LARGE }),
      0x201n,
      400,
    );
    for (let n = 5; n < 8; n++) expect(pub.publish({ n, pad: new Uint8Array(0) })).to.equal(true);
    const err = await moved.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err, 'the move fails at its bound').to.have.property('code', 'ERR_TIMEOUT');
    expect(w.channels.provider.state).to.equal('failed');
    // The consumer met the marker without a successor grant: it ends too, after what came before.
    const deadline = Date.now() + 5000;
    while (w.channels.consumer.state === 'open' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(w.channels.consumer.state).to.equal('failed');
    expect(w.channels.consumer.failure?.code).to.equal('ERR_RING_VIOLATION');
    expect(got).to.deep.equal([0, 1, 2, 3, 4]);
    // hostd's teardown, as the runtime applies it: each end releases its channel, then both ids
    // are revoked on both devices and the receipts verify.
    await w.planes.consumer.detach(w.channels.consumer);
    await w.planes.provider.detach(w.channels.provider);
    w.revokeEverywhere(0x200n);
    w.revokeEverywhere(0x201n);
    await w.close();
  });

  it('should never deliver what the peer writes into the old window after its move marker', async () => {
    const w = new MoveWorld(region, 'plain', { id: 0x300n, offset: at(0), dataSize: SMALL });
    const provider = w.planes.provider.provide(w.channels.provider, ADDRESS);
    const consumer = w.planes.consumer.consume(w.channels.consumer, ADDRESS);
    const got: number[] = [];
    consumer.event<{ n: number }>(EVENT, E).subscribe((e) => got.push(e.n));
    const pub = provider.publisher<{ n: number; pad: Uint8Array }>(EVENT, E);
    for (let n = 0; n < 3; n++) expect(pub.publish({ n, pad: new Uint8Array(0) })).to.equal(true);
    const m = mapFile(region.path, at(0), WindowLayout.windowLength(SMALL), { writable: true });
    try {
      const old = ringViews({ shared: new Uint8Array(m.shared) }, 'p2c', SMALL);
      const index = (page: Uint32Array, byte: number): number => Atomics.load(page, byte / 4) >>> 0;
      const producerIndex = (): number => index(old.producerPage, RingPageLayout.producer.index);
      const consumerIndex = (): number => index(old.consumerPage, RingPageLayout.consumer.index);
      // A hostile provider writes into the old window after its marker (its own mapping of the
      // region file: emulated mode is no security boundary), from the index it finds there.
      let hostile: RingProducer | undefined;
      const bytes = E.encode({ n: 999 }).finish();
      let session = 0;
      const writeHostile = (count: number): void => {
        for (let i = 0; i < count; i++) {
          const header = { ...HOSTILE_HEADER, session: ++session };
          hostile ??= new RingProducer(old);
          expect(hostile.sendCopy(header, bytes), 'room in the old ring').to.equal(true);
        }
      };
      // The provider moves alone: its marker ends the old p2c ring, and the consumer, not
      // granted the successor yet, stays on the old window at the marker (as while hostd's grant
      // to it is on its way).
      const to = { id: 0x301n, offset: at(1), dataSize: LARGE };
      const beforeMarker = producerIndex();
      // Bounded by the machine, not by this test: the consumer follows only after the checks.
      const providerMoved = w.channels.provider.moveTo(
        w.mapSuccessor('provider', to),
        to.id,
        15_000,
      );
      const afterMarker = producerIndex();
      expect(afterMarker, 'the marker is in the old ring').to.be.above(beforeMarker);
      // Right behind the marker, in the same turn: there before the consumer reads the marker.
      writeHostile(2);
      // At the marker or (a consumer that does not stop there) past it.
      const reached = (): boolean => ((consumerIndex() - afterMarker) | 0) >= 0;
      await until(() => got.length >= 3 && reached(), 'the consumer to read up to the marker');
      // And while the consumer waits at the marker for its own grant.
      writeHostile(3);
      // The honest provider's next events ring the consumer's doorbell (in the new window): a
      // consumer that read on past the marker would take the hostile records now.
      for (let n = 3; n < 6; n++) expect(pub.publish({ n, pad: new Uint8Array(0) })).to.equal(true);
      // A negative can only be watched for a while: long enough for a doorbell's turn, well
      // inside the consumer's wait at the marker for its own grant.
      await until(() => consumerIndex() !== afterMarker, 'a read past the marker', 200).catch(
        () => undefined,
      );
      expect(consumerIndex(), 'nothing read past the marker').to.equal(afterMarker);
      expect(got, 'nothing from the old window after the marker').to.deep.equal([0, 1, 2]);
      // Then the consumer is granted the successor and follows.
      await Promise.all([
        w.channels.consumer.moveTo(w.mapSuccessor('consumer', to), to.id),
        providerMoved,
      ]);
    } finally {
      unmap(m.handle);
    }
    w.revokeEverywhere(0x300n);
    await until(() => got.length >= 6, 'the events sent in the new window');
    expect(got).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(w.channels.consumer.state).to.equal('open');
    await w.close();
  });

  it('should end cleanly when a revoke races the move', async () => {
    const w = new MoveWorld(region, 'aead', { id: 0x400n, offset: at(0), dataSize: SMALL });
    const provider = w.planes.provider.provide(w.channels.provider, ADDRESS);
    const consumer = w.planes.consumer.consume(w.channels.consumer, ADDRESS);
    const got: number[] = [];
    consumer.event<{ n: number }>(EVENT, E).subscribe((e) => got.push(e.n));
    const pub = provider.publisher<{ n: number; pad: Uint8Array }>(EVENT, E);
    const to = { id: 0x401n, offset: at(1), dataSize: LARGE };
    const windows = {
      consumer: w.mapSuccessor('consumer', to),
      provider: w.mapSuccessor('provider', to),
    };
    const moves = [
      w.channels.consumer.moveTo(windows.consumer, to.id).then(
        () => 'moved',
        (e: Error & { code?: string }) => e.code,
      ),
      w.channels.provider.moveTo(windows.provider, to.id).then(
        () => 'moved',
        (e: Error & { code?: string }) => e.code,
      ),
    ];
    for (let n = 0; n < 4; n++) expect(pub.publish({ n, pad: new Uint8Array(0) })).to.equal(true);
    // hostd revokes the channel while it moves (the consumer's certificate was revoked): each
    // runtime detaches its channel, then applies the revoke of both ids; receipts verify.
    await w.planes.consumer.detach(w.channels.consumer);
    await w.planes.provider.detach(w.channels.provider);
    w.revokeEverywhere(0x400n);
    w.revokeEverywhere(0x401n);
    const outcomes = await Promise.all(moves);
    for (const o of outcomes) expect(['moved', 'ERR_CLOSED']).to.include(o);
    expect(w.channels.consumer.state).to.equal('closed');
    expect(w.channels.provider.state).to.equal('closed');
    expect(
      got.every((n, i) => n === i),
      'in order, nothing twice',
    ).to.equal(true);
    // No grant of either id is taken again.
    const g = w.grant('consumer', to);
    expect(() => w.files.consumer.presentGrant(g.grantToken, g.grantTag)).to.throw(/revoked/);
    await w.close();
  });
});
