import { expect } from 'chai';
import fc from 'fast-check';
import { abortMessage } from './handshake-failure.js';
import {
  encodeHandshakeMessage,
  encodeRequestBody,
  MessageType,
  type MessageTypeCode,
} from './handshake-messages.js';
import { rateLimitedAbort, rateLimitedAbortTemplate } from './broker-budgets.js';
import { peekControl, peekMessageType, peekRequestSeq } from './peek-control.js';
import { nodeBackend } from '../crypto/node-backend.js';
import { granted, HandshakeWorld, runHandshake } from '../../test/helpers/handshake-world.js';

const request = (reqSeq: bigint): Uint8Array =>
  encodeHandshakeMessage({
    type: MessageType.m1,
    body: encodeRequestBody({
      version: 1,
      service: 0x1234,
      instance: 1,
      major: 1,
      mode: 'plain',
      reqSeq,
      nonceC: new Uint8Array(32).fill(1),
      eC: new Uint8Array(0),
      knC: new Uint8Array(16).fill(2),
      certHashC: new Uint8Array(32).fill(3),
    }),
    sig: new Uint8Array(64).fill(4),
  });

describe('peek-control', () => {
  describe('rateLimitedAbort', () => {
    it('should build the same bytes as abortMessage for any req_seq and detail', () => {
      fc.assert(
        fc.property(
          fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
          fc.string({ maxLength: 300 }),
          (reqSeq, detail) => {
            const mine = rateLimitedAbort(reqSeq, rateLimitedAbortTemplate(detail));
            const theirs = abortMessage(0n, reqSeq, 'rateLimited', detail);
            expect(Buffer.from(mine).toString('hex')).to.equal(Buffer.from(theirs).toString('hex'));
          },
        ),
        { numRuns: 2000 },
      );
    });
  });

  describe('peekRequestSeq / peekMessageType', () => {
    it('should read the req_seq and type of an encoded M1', () => {
      for (const seq of [1n, 127n, 128n, 0xffff_ffff_ffff_ffffn]) {
        expect(peekRequestSeq(request(seq))).to.equal(seq);
        expect(peekMessageType(request(seq))).to.equal(MessageType.m1);
      }
    });

    it('should read the type of every message type', () => {
      for (const t of [1, 2, 3, 4, 5, 6, 7] as MessageTypeCode[]) {
        const bytes = encodeHandshakeMessage({
          type: t,
          body: new Uint8Array(3),
          sig: new Uint8Array(t === MessageType.abort ? 0 : 64),
        });
        expect(peekMessageType(bytes)).to.equal(t);
      }
    });

    it('should give up (0, undefined) on bytes that are not a message, never throw or overrun', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          const seq = peekRequestSeq(bytes);
          expect(seq >= 0n).to.equal(true);
          const t = peekMessageType(bytes);
          expect(t === undefined || (t >= 1 && t <= 7)).to.equal(true);
        }),
        { numRuns: 2000 },
      );
      expect(peekRequestSeq(Uint8Array.of(0x12, 0xff, 0xff, 0xff, 0xff, 0x0f))).to.equal(0n);
      expect(peekMessageType(Uint8Array.of(0x08, 0x09))).to.equal(undefined);
    });
  });

  describe('peekControl', () => {
    it('should route every message of a handshake to its request (M1, M4) or channel (M2, M3, M5, M6)', () => {
      const w = new HandshakeWorld({ crypto: nodeBackend });
      const r = runHandshake(w, { reqSeq: 300n });
      const channelId = granted(r.consumerEffects)!.channelId;
      const routes = r.wire.map((m) => peekControl(m.bytes));
      expect(routes.map((p) => p?.type)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      for (const p of routes) {
        if (p?.type === MessageType.m1 || p?.type === MessageType.m4) {
          expect(p).to.deep.include({ by: 'request', reqSeq: 300n });
        } else {
          expect(p).to.deep.include({ by: 'channel', channelId });
        }
      }
    });

    it('should route an ABORT by its req_seq when it has one, else by its channel', () => {
      expect(peekControl(abortMessage(0n, 9n, 'timeout', 'x'))).to.deep.equal({
        type: MessageType.abort,
        by: 'request',
        reqSeq: 9n,
      });
      expect(peekControl(abortMessage(77n, 0n, 'timeout', 'x'))).to.deep.equal({
        type: MessageType.abort,
        by: 'channel',
        channelId: 77n,
      });
    });

    it('should never throw on bytes that are not a message', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          const p = peekControl(bytes);
          expect(p === undefined || (p.type >= 1 && p.type <= 7)).to.equal(true);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
