// An elastic service end to end (docs/protocol.md §11): hostd as its own OS process samples the
// channel's ring words, decides, reserves a successor window and grants it to both ends; both
// VMs (Nodes in this process) move their channel ends and answer; hostd adopts the successor and
// revokes the old window with receipts. A saturated stream grows the window, a quiet one shrinks
// it, and every event arrives once and in order.
import { expect } from 'chai';
import { elasticDeployment } from '@sivshm/testing';
import type { Node } from '../src/index.js';
import { readStatus, setUpEachTest, waitFor, type StatusLike } from './support/deployment.js';

type Speed = { kph: number; odometer_m: number | string; timestamp_ms: number };

/** The window length of the one ACTIVE channel, if there is exactly one. */
function activeLength(s: StatusLike): number | undefined {
  const active = s.channels.filter((c) => c.state === 'ACTIVE');
  return active.length === 1 ? Number(active[0]!.window.length) : undefined;
}

describe('elastic channels (hostd and two VMs)', function () {
  this.timeout(90_000);
  const rig = setUpEachTest({
    deployment: () => elasticDeployment('elastic'),
  });

  for (const mode of ['plain', 'mac', 'aead'] as const) {
    it(`channel-resizes-under-load-without-loss (${mode}): grows under a saturated stream and shrinks when quiet, every event once and in order`, async () => {
      const provider: Node = await rig.openNode({ vm: 'infotainment' });
      const svc = await provider.offer('VehicleSpeed', {
        instance: 1,
        methods: { reset: () => ({ previous_odometer_m: 0 }) },
      });
      const consumer = await rig.openNode();
      const speed = await consumer.consume('VehicleSpeed', { instance: 1, mode });
      const got: number[] = [];
      speed.event<Speed>('speed').subscribe((e) => got.push(Number(String(e.odometer_m))));
      await waitFor(
        async () => activeLength(await readStatus(rig.d)) !== undefined,
        'the channel',
        20_000,
        50,
      );
      const first = activeLength(await readStatus(rig.d))!;
      expect(speed.mode, 'the handshake agreed on the mode asked for').to.equal(mode);
      const pub = svc.publisher<Speed>('speed');
      let sent = 0;
      const lengths = new Set<number>([first]);
      let largest = first;
      // Saturated: publish as fast as the ring takes it until hostd has grown the window.
      const until = Date.now() + 30_000;
      let growing = true;
      const watch = (async () => {
        while (growing && Date.now() < until) {
          const len = activeLength(await readStatus(rig.d));
          if (len !== undefined) {
            lengths.add(len);
            largest = Math.max(largest, len);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      while (largest <= first && Date.now() < until) {
        for (let i = 0; i < 200; i++) {
          if (pub.publish({ kph: 1, odometer_m: sent, timestamp_ms: 0 })) sent++;
          else break;
        }
        await new Promise<void>((r) => setImmediate(r));
      }
      growing = false;
      await watch;
      expect(largest, 'the window grew').to.be.greaterThan(first);
      // Quiet: the window shrinks back.
      await waitFor(
        async () => activeLength(await readStatus(rig.d)) === first,
        'the window to shrink back',
        30_000,
        50,
      );
      for (let i = 0; i < 20; i++) {
        while (!pub.publish({ kph: 1, odometer_m: sent, timestamp_ms: 0 }))
          await new Promise((r) => setTimeout(r, 1));
        sent++;
      }
      await waitFor(() => got.length >= sent, 'every event', 20_000);
      expect(got.length).to.equal(sent);
      expect(
        got.every((n, i) => n === i),
        'every event once and in order',
      ).to.equal(true);
      // Every old window was revoked with a receipt that verified and freed: only the channel's
      // current window is held.
      await waitFor(
        async () => (await readStatus(rig.d)).channels.length === 1,
        'the old windows freed',
        10_000,
        50,
      );
      // hostd's log names each decision and move: a grow, then a shrink, both completed.
      const events = (name: string) => rig.hostd.logs.filter((l) => l['event'] === name);
      const decided = events('channel-resize').map((l) => l['decision']);
      expect(decided).to.include('grow');
      expect(decided.at(-1)).to.equal('shrink');
      expect(events('channel-resized').length).to.equal(decided.length);
      expect(events('channel-resize-failed')).to.deep.equal([]);
      expect(events('revoke-receipt-refused')).to.deep.equal([]);
      expect(lengths.size, 'a larger window was seen in status').to.be.greaterThan(1);
      // …and hostd's status counts them, newest decision first.
      const doc = (await readStatus(rig.d)) as StatusLike & {
        elastic?: { grown: number; shrunk: number; failed: number; last: { decision: string }[] };
      };
      expect(doc.elastic?.grown, 'grown').to.be.at.least(1);
      expect(doc.elastic?.shrunk, 'shrunk').to.be.at.least(1);
      expect(doc.elastic?.failed).to.equal(0);
      expect(doc.elastic?.last[0]?.decision).to.equal('shrink');
    });
  }
});
