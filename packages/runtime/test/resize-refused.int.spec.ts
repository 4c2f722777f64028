// A move an end cannot begin (docs/protocol.md §11): hostd (its own OS process) grows an elastic
// channel and grants the successor window to both ends, and both ends' devices refuse their
// grants (one bit of the tag flipped on the way in: a hostile grant, checked by the real emulated
// device). Each end must fail the channel at once — closing it, which unmaps the successor with
// the old window — so the consumer re-establishes it by the usual path, and not leave it to
// hostd's move bound. (With one end refusing, the other end's move marker already ends the
// channel within the follow wait; with both, nothing but this mend does before the bound.)
import { expect } from 'chai';
import { makeDeployment as makeTestDeployment } from '@sivshm/testing';
import { EmulatedDevice, type DeviceFile } from '@sivshm/transport-ivshmem';
import type { Node } from '../src/index.js';
import { readStatus, setUpEachTest, waitFor } from './support/deployment.js';

type Speed = { kph: number; odometer_m: number | string; timestamp_ms: number };

/** hostd's move bound: long enough that a channel re-established before it was not its work. */
const MOVE_TIMEOUT_MS = 20_000;

/**
 * Makes the first successor grant each of the first two device files given one receives (its
 * second presentGrant: the first was the channel's own grant) arrive with one bit of its tag
 * flipped: both ends of the first channel that moves. Returns the undo and how many it refused.
 */
function refuseFirstSuccessorGrants(): { undo: () => void; refused: () => number } {
  const open = EmulatedDevice.prototype.open;
  let refused = 0;
  EmulatedDevice.prototype.open = function (this: EmulatedDevice): DeviceFile {
    const file = open.call(this);
    const present = file.presentGrant.bind(file);
    let grants = 0;
    file.presentGrant = (token, tag) => {
      grants++;
      if (grants !== 2 || refused >= 2) return present(token, tag);
      refused++;
      const hostile = Uint8Array.from(tag);
      hostile[0] = hostile[0]! ^ 1;
      return present(token, hostile);
    };
    return file;
  };
  return {
    undo: () => void (EmulatedDevice.prototype.open = open),
    refused: () => refused,
  };
}

describe('elastic channel whose successor grant an end refuses (hostd and two VMs)', function () {
  this.timeout(90_000);
  const rig = setUpEachTest({
    deployment: () =>
      makeTestDeployment({
        label: 'resize-refused',
        vms: [
          { id: 1, name: 'infotainment' },
          { id: 2, name: 'cluster' },
        ],
        services: [
          {
            name: 'VehicleSpeed',
            ringDataSize: '4KiB',
            elastic: { maxRingDataSize: '64KiB', growAfterMs: 100, moveTimeoutMs: MOVE_TIMEOUT_MS },
          },
        ],
      }),
  });

  it('should fail the channel at once and re-establish it before hostd gives the move up, leaving no window behind', async () => {
    const hostile = refuseFirstSuccessorGrants();
    try {
      const provider: Node = await rig.openNode({ vm: 'infotainment' });
      const svc = await provider.offer('VehicleSpeed', {
        instance: 1,
        methods: { reset: () => ({ previous_odometer_m: 0 }) },
      });
      const consumer = await rig.openNode();
      const speed = await consumer.consume('VehicleSpeed', { instance: 1 });
      const got: number[] = [];
      speed.event<Speed>('speed').subscribe((e) => got.push(Number(String(e.odometer_m))));
      const first = speed.channelId;
      expect(first).to.not.equal(undefined);
      const pub = svc.publisher<Speed>('speed');
      const logged = (name: string) => rig.hostd.logs.filter((l) => l['event'] === name);
      // Saturated until hostd decides to grow (and the hostile grant is refused), bounded.
      const until = Date.now() + 30_000;
      let sent = 0;
      while (hostile.refused() < 2 && Date.now() < until) {
        for (let i = 0; i < 200 && pub.publish({ kph: 1, odometer_m: sent, timestamp_ms: 0 }); i++)
          sent++;
        await new Promise<void>((r) => setImmediate(r));
      }
      expect(hostile.refused(), 'hostd started a move and both ends refused its grant').to.equal(2);
      expect(logged('channel-resize').length).to.be.at.least(1);
      // The usual path: the channel ends and the consumer gets a new one (a new id).
      await waitFor(
        () => speed.status === 'connected' && speed.channelId !== first,
        'a new channel',
        MOVE_TIMEOUT_MS * 2,
        20,
      );
      // Ordering, not timing: it came before hostd's bound gave the move up.
      expect(logged('channel-resize-failed'), "re-established before hostd's bound").to.deep.equal(
        [],
      );
      // Events flow on the new channel.
      const before = got.length;
      await waitFor(
        () => {
          pub.publish({ kph: 2, odometer_m: sent++, timestamp_ms: 0 });
          return got.length > before;
        },
        'an event on the new channel',
        10_000,
        20,
      );
      // hostd's bound tears the abandoned successor down: every window but the live channel's is
      // freed with receipts that verify, none quarantined.
      await waitFor(
        () => logged('channel-resize-failed').length === 1,
        "hostd's bound",
        MOVE_TIMEOUT_MS * 2,
        100,
      );
      await waitFor(
        async () => (await readStatus(rig.d)).channels.length === 1,
        'one channel left in the table',
        10_000,
        50,
      );
      const doc = (await readStatus(rig.d)) as unknown as { quarantinedWindows: number };
      expect(doc.quarantinedWindows).to.equal(0);
      expect(logged('revoke-receipt-refused')).to.deep.equal([]);
    } finally {
      hostile.undo();
    }
  });
});
