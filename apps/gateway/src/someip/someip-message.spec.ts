import { expect } from 'chai';
import fc from 'fast-check';
import {
  MessageType,
  ReturnCode,
  encodeSomeIp,
  isMagicCookie,
  replyTo,
  splitSomeIpDatagram,
  type SomeIpMessage,
} from './someip-message.js';

const MESSAGE = {
  serviceId: 0x1234,
  methodId: 0x0001,
  clientId: 0x0042,
  sessionId: 7,
  interfaceVersion: 1,
  messageType: MessageType.request,
  returnCode: ReturnCode.ok,
  payload: Uint8Array.of(0x08, 0x05),
};

describe('SOME/IP messages', () => {
  it('should lay out the 16-byte header big-endian as PRS_SOMEIP gives it', () => {
    expect(Buffer.from(encodeSomeIp(MESSAGE)).toString('hex')).to.equal(
      '12340001' + '0000000a' + '00420007' + '01010000' + '0805',
    );
  });

  it('should split a datagram carrying two messages and read every field back', () => {
    const two = Buffer.concat([encodeSomeIp(MESSAGE), encodeSomeIp({ ...MESSAGE, sessionId: 8 })]);
    const split = splitSomeIpDatagram(two, 1024);
    expect(split.malformed).to.equal(undefined);
    expect(split.messages.map((m) => m.sessionId)).to.deep.equal([7, 8]);
    expect({ ...split.messages[0], payload: [...split.messages[0]!.payload] }).to.deep.equal({
      ...MESSAGE,
      protocolVersion: 1,
      payload: [0x08, 0x05],
    });
  });

  it('should answer with the request id and message id, 0x80 on E_OK and 0x81 otherwise', () => {
    const request = splitSomeIpDatagram(encodeSomeIp(MESSAGE), 1024).messages[0]!;
    const ok = splitSomeIpDatagram(replyTo(request, ReturnCode.ok, Uint8Array.of(1)), 9)
      .messages[0]!;
    expect(ok).to.include({ messageType: 0x80, returnCode: 0, clientId: 0x42, sessionId: 7 });
    const err = splitSomeIpDatagram(replyTo(request, ReturnCode.unknownMethod), 9).messages[0]!;
    expect(err).to.include({ messageType: 0x81, returnCode: 0x03, methodId: 1 });
    expect(err.payload.byteLength).to.equal(0);
  });

  it('should call a cut header short, a Length past the datagram or below 8 a length error, and a big payload too large', () => {
    const bytes = encodeSomeIp(MESSAGE);
    expect(splitSomeIpDatagram(bytes.subarray(0, 15), 1024)).to.deep.equal({
      messages: [],
      malformed: 'short',
    });
    expect(splitSomeIpDatagram(bytes.subarray(0, 17), 1024).malformed).to.equal('length');
    const low = Uint8Array.from(bytes);
    low[7] = 7;
    expect(splitSomeIpDatagram(low, 1024).malformed).to.equal('length');
    expect(splitSomeIpDatagram(bytes, 1).malformed).to.equal('tooLarge');
  });

  it('should keep the messages before a malformed tail and drop the tail', () => {
    const bytes = Buffer.concat([encodeSomeIp(MESSAGE), Buffer.from([1, 2, 3])]);
    const split = splitSomeIpDatagram(bytes, 1024);
    expect(split.messages).to.have.length(1);
    expect(split.malformed).to.equal('short');
  });

  it('should never throw on arbitrary bytes, and every message it returns re-encodes to its own bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const split = splitSomeIpDatagram(bytes, 64);
        let at = 0;
        for (const m of split.messages) {
          const again = encodeSomeIp(m as SomeIpMessage);
          // protocolVersion is always written as 1; compare everything else byte for byte.
          again[12] = bytes[at + 12]!;
          expect(
            Buffer.from(again).equals(Buffer.from(bytes.subarray(at, at + again.length))),
          ).to.equal(true);
          at += again.length;
        }
        expect(at === bytes.length).to.equal(split.malformed === undefined);
      }),
      { numRuns: 2000 },
    );
  });

  it('should tell the two Magic Cookies of PRS_SOMEIP_00159ff from every message that differs in one field', () => {
    const [client, server] = splitSomeIpDatagram(
      Buffer.from('ffff000000000008deadbeef01010100ffff800000000008deadbeef01010200', 'hex'),
      64,
    ).messages;
    expect([client, server].map((m) => isMagicCookie(m!))).to.deep.equal([true, true]);
    const c = client!;
    for (const other of [
      { ...c, serviceId: 0xfffe },
      { ...c, methodId: 0x0001 },
      { ...c, clientId: 0xdeae },
      { ...c, sessionId: 0xbeee },
      { ...c, payload: Uint8Array.of(0) },
    ])
      expect(isMagicCookie(other), JSON.stringify(other)).to.equal(false);
  });
});
