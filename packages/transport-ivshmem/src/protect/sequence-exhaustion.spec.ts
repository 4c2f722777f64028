import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { firstValueFrom, filter } from 'rxjs';
import { Channel, dispatchKey } from '../channel/channel.js';
import { TransportError } from '../errors/transport-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { MAX_RECORD_SEQUENCE } from './record-format.js';

const EVENT: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 0,
  session: 0,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

/** A provider and a consumer on one heap window, both starting `after` records into the stream. */
function pair(mode: 'mac' | 'aead', after: number): { provider: Channel; consumer: Channel } {
  const window = {
    shared: new Uint8Array(new SharedArrayBuffer(WindowLayout.windowLength(4 * PAGE_SIZE))),
  };
  const keys = { c2p: randomBytes(32), p2c: randomBytes(32) };
  const protection = { mode, channelId: 0x5ea2n, keys, startAfterForTest: after };
  return {
    provider: new Channel({ window, role: 'provider', notify: 'spin', protection }),
    consumer: new Channel({ window, role: 'consumer', notify: 'spin', protection }),
  };
}

/** Resolves when `n` records have arrived on `channel`'s event key, with their first bytes. */
function received(channel: Channel, n: number): Promise<number[]> {
  const got: number[] = [];
  return new Promise((resolve) => {
    channel.on(dispatchKey(EVENT.messageType, EVENT.method), (r) => {
      got.push(r.payload[0] ?? -1);
      if (got.length === n) resolve(got);
    });
  });
}

describe('sequence exhaustion of a protected channel (a test hook starts it near 2^53 − 1)', () => {
  for (const mode of ['mac', 'aead'] as const) {
    it(`${mode}: should send up to the last sequence number, then end the channel with ERR_SEQUENCE_EXHAUSTED instead of reusing a nonce, and carry records again on a re-established channel with fresh keys`, async () => {
      const old = pair(mode, MAX_RECORD_SEQUENCE - 2);
      const delivered = received(old.consumer, 2);
      expect(old.provider.sendCopy(EVENT, Uint8Array.of(1))).to.equal(true); // 2^53 − 2
      expect(old.provider.sendCopy(EVENT, Uint8Array.of(2))).to.equal(true); // 2^53 − 1, the last
      expect(await delivered).to.deep.equal([1, 2]);
      const failed = firstValueFrom(old.provider.state$.pipe(filter((s) => s !== 'open')));
      expect(() => old.provider.sendCopy(EVENT, Uint8Array.of(3)))
        .to.throw(TransportError)
        .with.property('code', 'ERR_SEQUENCE_EXHAUSTED');
      expect(await failed).to.equal('failed');
      expect(old.provider.failure?.code).to.equal('ERR_SEQUENCE_EXHAUSTED');
      // The channel stays failed: a later send names the same cause, and nothing more was sent.
      expect(() => old.provider.sendCopy(EVENT, Uint8Array.of(4)))
        .to.throw(TransportError)
        .with.property('code', 'ERR_SEQUENCE_EXHAUSTED');
      expect(old.consumer.state).to.equal('open');
      await old.provider.close();
      await old.consumer.close();

      // The owner's usual path (runtime: close, new handshake) gives a channel with new keys,
      // whose sequence numbers start again at 1.
      const fresh = pair(mode, 0);
      const again = received(fresh.consumer, 1);
      expect(fresh.provider.sendCopy(EVENT, Uint8Array.of(5))).to.equal(true);
      expect(await again).to.deep.equal([5]);
      await fresh.provider.close();
      await fresh.consumer.close();
    });
  }
});
