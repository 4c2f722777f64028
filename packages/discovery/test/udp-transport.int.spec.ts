import { expect } from 'chai';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { DiscoveryError } from '../src/errors/discovery-error.js';
import type { SdDatagram } from '../src/transport/sd-transport.js';
import { UdpSdTransport } from '../src/transport/udp-transport.js';

async function rejection(p: Promise<unknown>): Promise<DiscoveryError> {
  try {
    await p;
  } catch (e) {
    if (DiscoveryError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('UdpSdTransport', function () {
  this.timeout(20_000);

  describe('.open', () => {
    it('should reject a unicast that is no IP address, a non-multicast group and a bad port, saying what is allowed', async () => {
      expect((await rejection(UdpSdTransport.open({ unicast: 'ecu-1' }))).message).to.match(
        /not an IPv4 or IPv6 address/,
      );
      expect((await rejection(UdpSdTransport.open({ unicast: '::1' }))).message).to.match(
        /IPv6 SD transport needs its multicastGroup/,
      );
      expect(
        (await rejection(UdpSdTransport.open({ unicast: '::1', multicastGroup: '224.0.0.1' })))
          .message,
      ).to.match(/ff00::\/8/);
      expect(
        (await rejection(UdpSdTransport.open({ unicast: '127.0.0.1', multicastGroup: '10.1.1.1' })))
          .message,
      ).to.match(/224\.0\.0\.0\/4/);
      expect(
        (await rejection(UdpSdTransport.open({ unicast: '127.0.0.1', port: 0 }))).message,
      ).to.match(/1\.\.65535/);
    });
  });

  describe('.send / .messages$ (loopback, a random port)', () => {
    let a: UdpSdTransport | undefined;
    let b: UdpSdTransport | undefined;
    const port = 40000 + Math.floor(Math.random() * 20000);

    before(async function () {
      try {
        a = await UdpSdTransport.open({ unicast: '127.0.0.1', port });
        b = await UdpSdTransport.open({ unicast: '127.0.0.2', port });
      } catch (e) {
        console.log(
          `      pending: UDP sockets on 127.0.0.1/127.0.0.2 are not available here: ${String(e)}`,
        );
        await a?.close();
        this.skip();
      }
    });

    after(async () => {
      await a?.close();
      await b?.close();
    });

    it('should deliver unicast to the addressed node, marked unicast, from the SD port', async () => {
      const got = firstValueFrom(
        b!.messages$.pipe(
          filter((d) => !d.multicast),
          timeout(5000),
        ),
      );
      await a!.send(new Uint8Array([1, 2, 3]), { address: '127.0.0.2', port });
      const d: SdDatagram = await got;
      expect([...d.bytes]).to.deep.equal([1, 2, 3]);
      expect(d.from).to.deep.equal({ address: '127.0.0.1', port });
    });

    it('should deliver multicast to the others and drop our own looped-back copy', async function () {
      const seenByA: SdDatagram[] = [];
      const sub = a!.messages$.subscribe((d) => seenByA.push(d));
      const got = firstValueFrom(
        b!.messages$.pipe(
          filter((d) => d.multicast),
          timeout(3000),
        ),
      ).catch(() => undefined);
      await a!.send(new Uint8Array([9, 9]));
      const d = await got;
      sub.unsubscribe();
      if (d === undefined) {
        console.log('      pending: multicast on lo is not routed here (the netns test covers it)');
        this.skip();
      }
      expect([...d.bytes]).to.deep.equal([9, 9]);
      expect(seenByA).to.deep.equal([]);
    });

    it('should refuse to send once closed', async () => {
      const c = await UdpSdTransport.open({ unicast: '127.0.0.3', port });
      await c.close();
      await c.close();
      expect((await rejection(c.send(new Uint8Array([1])))).code).to.equal('ERR_SD_TRANSPORT');
    });
  });
});
