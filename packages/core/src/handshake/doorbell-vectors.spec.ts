import { expect } from 'chai';
import type { BrokerChannel } from './broker-types.js';
import { doorbellRouteOf, pickDoorbellVector } from './doorbell-vectors.js';

const channel = (
  consumerVm: number,
  providerVm: number,
  doorbellVector?: number,
): BrokerChannel => ({
  channelId: 1n,
  consumerVm,
  providerVm,
  service: 1,
  instance: 1,
  major: 1,
  mode: 'plain',
  window: { offset: 0n, length: 0n },
  consumerSerial: 1n,
  providerSerial: 1n,
  ...(doorbellVector === undefined ? {} : { doorbellVector }),
});

describe('doorbell vectors of channels', () => {
  it('should give a channel no vector when the devices have none', () => {
    expect(pickDoorbellVector(0, 1, 2, [])).to.equal(undefined);
  });

  it('should spread channels of the same VMs over the vectors, then share the least used', () => {
    const live: BrokerChannel[] = [];
    const picked: number[] = [];
    for (let i = 0; i < 5; i++) {
      const v = pickDoorbellVector(2, 1, 2, live);
      picked.push(v ?? -1);
      live.push(channel(1, 2, v));
    }
    expect(picked).to.deep.equal([0, 1, 0, 1, 0]);
  });

  it('should count only channels of either VM', () => {
    // VMs 3 and 4 use vector 0 twice; VM 1's channel with VM 2 does not care
    const live = [channel(3, 4, 0), channel(4, 3, 0), channel(1, 5, 1)];
    expect(pickDoorbellVector(2, 1, 2, live)).to.equal(0);
    expect(pickDoorbellVector(2, 3, 2, live)).to.equal(1);
  });

  it('should route ring and observe to the channel vector, and ring nobody without a peer', () => {
    expect(doorbellRouteOf(channel(1, 2, 1), 7)).to.deep.equal({ peer: 7, ring: 2, observe: 2 });
    expect(doorbellRouteOf(channel(1, 2, 1), undefined)).to.deep.equal({
      peer: undefined,
      ring: 0,
      observe: 2,
    });
    expect(doorbellRouteOf(channel(1, 2), 7)).to.deep.equal({
      peer: undefined,
      ring: 0,
      observe: 0,
    });
  });
});
