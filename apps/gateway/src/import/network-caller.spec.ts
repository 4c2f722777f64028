import { expect } from 'chai';
import { GatewayError } from '../errors/gateway-error.js';
import { splitSomeIpDatagram, type SomeIpMessage } from '../someip/someip-message.js';
import { NetworkCaller } from './network-caller.js';

const REQUEST = {
  serviceId: 0x1234,
  methodId: 1,
  interfaceVersion: 1,
  payload: new Uint8Array([8, 5]),
};

function sentMessage(bytes: Uint8Array): SomeIpMessage {
  return splitSomeIpDatagram(bytes, 1024).messages[0]!;
}

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    if (GatewayError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('NetworkCaller', () => {
  it('should send a request with its client id and session ids from 1, and settle each call by its request id', async () => {
    const caller = new NetworkCaller(7, 5_000);
    const sent: SomeIpMessage[] = [];
    const a = caller.call(REQUEST, (b) => sent.push(sentMessage(b)));
    const b = caller.call(REQUEST, (b) => sent.push(sentMessage(b)));
    expect(sent.map((m) => [m.clientId, m.sessionId, m.messageType])).to.deep.equal([
      [7, 1, 0x00],
      [7, 2, 0x00],
    ]);
    // An answer for another client, method or session settles nothing.
    expect(caller.answer({ ...sent[1]!, clientId: 8, messageType: 0x80 })).to.equal(false);
    expect(caller.answer({ ...sent[1]!, methodId: 2, messageType: 0x80 })).to.equal(false);
    expect(caller.answer({ ...sent[1]!, sessionId: 9, messageType: 0x80 })).to.equal(false);
    expect(caller.answer({ ...sent[1]!, messageType: 0x81, returnCode: 4 })).to.equal(true);
    expect(caller.answer({ ...sent[0]!, messageType: 0x80 })).to.equal(true);
    expect((await a).messageType).to.equal(0x80);
    expect((await b).returnCode).to.equal(4);
    expect(caller.inFlight).to.equal(0);
    expect(caller.answer({ ...sent[0]!, messageType: 0x80 }), 'a late answer').to.equal(false);
  });

  it('should fail an unanswered call with ERR_TIMEOUT, and every waiting call with ERR_NETWORK on failAll', async () => {
    const caller = new NetworkCaller(7, 20);
    const e = await rejection(caller.call(REQUEST, () => undefined));
    expect(e.code).to.equal('ERR_TIMEOUT');
    const waiting = new NetworkCaller(7, 5_000);
    const calls = [1, 2, 3].map(() => rejection(waiting.call(REQUEST, () => undefined)));
    waiting.failAll('the provider went away');
    for (const c of await Promise.all(calls)) expect(c).to.include({ code: 'ERR_NETWORK' });
    expect(waiting.inFlight).to.equal(0);
  });

  it('should fail a call whose request cannot be sent with ERR_NETWORK, at once', async () => {
    const caller = new NetworkCaller(7, 5_000);
    const e = await rejection(
      caller.call(REQUEST, () => {
        throw new Error('socket closed');
      }),
    );
    expect(e.code).to.equal('ERR_NETWORK');
    expect(e.message).to.contain('socket closed');
    expect(caller.inFlight).to.equal(0);
  });
});
