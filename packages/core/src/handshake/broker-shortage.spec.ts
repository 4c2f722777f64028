// The broker's noSpace refusals name exactly what ran out and the setting that changes it.
import { expect } from 'chai';
import { nodeBackend } from '../crypto/node-backend.js';
import {
  CONSUMER_VM,
  HandshakeWorld,
  WINDOW_LENGTH,
  aborted,
  granted,
  runHandshake,
} from '../../test/helpers/handshake-world.js';

describe('BrokerHandshakes: what ran out', () => {
  it('should refuse a channel past the VM’s window quota, naming vms[].limits.windowBytes', () => {
    const w = new HandshakeWorld({
      crypto: nodeBackend,
      limitsOf: (vm) => (vm === CONSUMER_VM ? { windowBytesPerVm: WINDOW_LENGTH } : undefined),
      limits: { requestsPerSecond: 100, burst: 100 },
    });
    expect(granted(runHandshake(w).consumerEffects)).to.not.equal(undefined);
    const refused = aborted(runHandshake(w).consumerEffects);
    expect(refused?.reason).to.equal('noSpace');
    expect(refused?.detail).to.equal(
      `noSpace: VM ${CONSUMER_VM} holds ${WINDOW_LENGTH} window bytes; one more channel of ${WINDOW_LENGTH} would pass its window quota of ${WINDOW_LENGTH} (vms[].limits.windowBytes in services.yaml)`,
    );
  });

  it('should pass hostd’s account of a failed reservation (table full, region full) to the consumer as it is', () => {
    const w = new HandshakeWorld({ crypto: nodeBackend });
    const m1 = w.newConsumer().start(w.plainRequest());
    const reserve = w.broker.receive(CONSUMER_VM, m1).find((e) => e.kind === 'reserve-window');
    expect(reserve?.kind).to.equal('reserve-window');
    const why =
      'the channel table is full: all 8 entries are in use (region.channelCapacity in services.yaml)';
    const effects = w.broker.windowReserved((reserve as { ticket: number }).ticket, undefined, why);
    const rejected = effects.find((e) => e.kind === 'rejected');
    expect(rejected).to.deep.include({ reason: 'noSpace', detail: `noSpace: ${why}` });
  });
});
