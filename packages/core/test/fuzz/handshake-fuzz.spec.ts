// docs/security.md#t41: structure-aware fuzzing of M1–M6 and of CSR/certificate parsing.
// Each run takes a real handshake (the deterministic world of ../helpers), mutates one message on
// its hop — bit flips, truncation, extension, overwritten ranges, a field's bytes replaced, a
// whole random body behind a valid header — and delivers it. What must hold: no state machine
// throws, nothing downstream of the mutated hop is granted, and every refusal is a defined abort
// reason or a typed CoreError.
import { expect } from 'chai';
import fc from 'fast-check';
import { createCsr, verifyCsr } from '../../src/cert/csr.js';
import { decodeCertificate } from '../../src/cert/certificate.js';
import { nodeBackend } from '../../src/crypto/node-backend.js';
import { CoreError } from '../../src/errors/core-error.js';
import { AbortReason } from '../../src/handshake/abort-reason.js';
import { MessageType } from '../../src/handshake/handshake-messages.js';
import {
  HandshakeWorld,
  SERVICE,
  aborted,
  granted,
  runHandshake,
  type Hop,
} from '../helpers/handshake-world.js';

const crypto = nodeBackend;

/** One way to damage a message; `at`/`len` are scaled to the message's length. */
type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'extend'; readonly extra: Uint8Array }
  | { readonly op: 'overwrite'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'shift'; readonly at: number; readonly delta: number }
  | { readonly op: 'body'; readonly bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant('flip' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({
    op: fc.constant('truncate' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  }),
  fc.record({
    op: fc.constant('extend' as const),
    extra: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    op: fc.constant('overwrite' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  }),
  // A varint/length byte nudged: the protobuf structure shifts under the parser.
  fc.record({
    op: fc.constant('shift' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
  }),
  fc.record({
    op: fc.constant('body' as const),
    bytes: fc.uint8Array({ minLength: 0, maxLength: 600 }),
  }),
);

function apply(m: Mutation, bytes: Uint8Array): Uint8Array {
  const pos = (at: number): number => Math.min(bytes.length - 1, Math.floor(at * bytes.length));
  switch (m.op) {
    case 'flip': {
      const out = bytes.slice();
      out[pos(m.at)]! ^= 1 << m.bit;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, pos(m.at));
    case 'extend': {
      const out = new Uint8Array(bytes.length + m.extra.length);
      out.set(bytes);
      out.set(m.extra, bytes.length);
      return out;
    }
    case 'overwrite': {
      const out = bytes.slice();
      out.set(m.bytes.subarray(0, out.length - pos(m.at)), pos(m.at));
      return out;
    }
    case 'shift': {
      const out = bytes.slice();
      const i = pos(m.at);
      out[i] = (out[i]! + m.delta) & 0xff;
      return out;
    }
    case 'body': {
      // Keep the envelope's first two bytes (version, type) so the message reaches the parser
      // of its own type rather than the cheap type check.
      const out = new Uint8Array(Math.min(2, bytes.length) + m.bytes.length);
      out.set(bytes.subarray(0, 2));
      out.set(m.bytes, Math.min(2, bytes.length));
      return out;
    }
  }
}

const TARGETS: readonly { readonly hop: Hop; readonly type: number; readonly name: string }[] = [
  { hop: 'C->H', type: MessageType.m1, name: 'M1' },
  { hop: 'H->P', type: MessageType.m2, name: 'M2' },
  { hop: 'P->H', type: MessageType.m3, name: 'M3' },
  { hop: 'H->C', type: MessageType.m4, name: 'M4' },
  { hop: 'C->H', type: MessageType.m5, name: 'M5' },
  { hop: 'H->P', type: MessageType.m6, name: 'M6' },
];

/** Every refusal must carry one of the protocol's named reasons (never 'unknown'). */
const ABORT_REASONS = new Set<string>(Object.keys(AbortReason));
/** Runs per message type; each is a whole handshake (about a millisecond with node:crypto). */
const RUNS = 150;

describe('handshake fuzzing (docs/security.md#t41)', function () {
  this.timeout(120_000);

  for (const t of TARGETS) {
    it(`should refuse every mutated ${t.name} without throwing and grant nothing downstream`, () => {
      // One world for all runs: each run is a fresh handshake with a new request sequence.
      const world = new HandshakeWorld({ crypto, seed: 4100 + t.type });
      let mutated = 0;
      fc.assert(
        fc.property(mutation, (m) => {
          // A second later each time: the broker's per-VM token bucket refills and the
          // half-open handshakes a damaged message left behind pass their deadline.
          world.clock.now += 10_000n;
          world.broker.tick();
          world.providerMachine.tick();
          // hostd tears down what ended (here: every channel of the previous run), so the
          // consumer's window quota does not fill up with runs whose provider refused M6.
          for (const c of world.broker.activeChannels()) world.broker.closeChannel(c.channelId);
          let changed = false;
          const r = runHandshake(world, {
            tamper: (hop, type, bytes) => {
              if (hop !== t.hop || type !== t.type) return undefined;
              const out = apply(m, bytes);
              changed = out.length !== bytes.length || out.some((b, i) => b !== bytes[i]);
              return out;
            },
          });
          if (!changed) return; // the mutation happened to be a no-op: nothing to check
          mutated++;
          const consumerGrant = granted(r.consumerEffects);
          const providerGrant = granted(r.providerEffects);
          // The provider's grant comes with M6 only: any damage from M1 to M6 must stop it.
          expect(providerGrant, `provider granted after a mutated ${t.name}`).to.equal(undefined);
          if (t.type <= MessageType.m4) {
            expect(consumerGrant, `consumer granted after a mutated ${t.name}`).to.equal(undefined);
          }
          // hostd never activates a channel whose M1..M5 was damaged (M6 is hostd's own).
          if (t.type !== MessageType.m6 && t.type !== MessageType.m4 && t.type !== MessageType.m2) {
            expect(r.brokerEffects.some((e) => e.kind === 'channel-active')).to.equal(false);
          }
          for (const e of r.brokerEffects) {
            if (e.kind === 'rejected' || e.kind === 'channel-aborted') {
              expect(ABORT_REASONS.has(e.reason), `broker reason ${String(e.reason)}`).to.equal(
                true,
              );
            }
          }
          for (const a of [aborted(r.consumerEffects), aborted(r.providerEffects)]) {
            if (a !== undefined) {
              expect(ABORT_REASONS.has(a.reason), `endpoint reason ${String(a.reason)}`).to.equal(
                true,
              );
            }
          }
        }),
        { numRuns: RUNS, seed: 41_000 + t.type },
      );
      expect(mutated, 'runs that really changed the message').to.be.greaterThan(RUNS / 2);
      // The same world still completes an undamaged handshake: the refusals above were the
      // mutations' doing, not an expired certificate or an exhausted limit.
      world.clock.now += 10_000n;
      world.broker.tick();
      const clean = runHandshake(world);
      expect(granted(clean.consumerEffects)?.service, 'clean consumer grant').to.equal(SERVICE);
      expect(granted(clean.providerEffects)?.service, 'clean provider grant').to.equal(SERVICE);
    });
  }

  describe('CSR and certificate parsing', () => {
    const secretKey = new Uint8Array(32).fill(7);
    const csr = createCsr(crypto, secretKey, {
      subject: 'fuzz',
      nonce: new Uint8Array(16).fill(1),
      rights: { offers: [], requests: [] },
    });

    it('should refuse every mutated CSR with a CoreError', () => {
      fc.assert(
        fc.property(mutation, (m) => {
          const bytes = apply(m, csr);
          if (bytes.length === csr.length && bytes.every((b, i) => b === csr[i])) return;
          let error: unknown;
          try {
            verifyCsr(crypto, bytes);
          } catch (e) {
            error = e;
          }
          expect(CoreError.is(error), `mutated CSR: ${String(error)}`).to.equal(true);
        }),
        { numRuns: 500, seed: 4142 },
      );
    });

    it('should decode any bytes as a certificate or refuse them with a CoreError', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
          try {
            decodeCertificate(bytes);
          } catch (e) {
            expect(CoreError.is(e), String(e)).to.equal(true);
          }
        }),
        { numRuns: 1000, seed: 4143 },
      );
    });
  });
});
