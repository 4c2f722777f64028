// The protocol-vector set (docs/security.md#t50): fixed keys, nonces and clock → the exact
// bytes of M1..M6, every transcript hash and both grant tags, for each mode. Regenerate with
// `npx tsx packages/core/test/vectors/generate-protocol-vectors.ts`; a change is a wire change.
import type { CryptoBackend } from '../../src/crypto/crypto-backend.js';
import type { ChannelMode } from '@sivshm/abi';
import {
  decodeGrantConsumerBody,
  decodeGrantProviderBody,
  decodeHandshakeMessage,
} from '../../src/handshake/handshake-messages.js';
import { extendTranscript, initialTranscript } from '../../src/handshake/transcript.js';
import { granted, HandshakeWorld, runHandshake } from '../helpers/handshake-world.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export interface ProtocolVector {
  mode: ChannelMode;
  seed: number;
  nowMs: string;
  keys: Record<string, string>;
  certificates: Record<string, string>;
  messages: Record<string, string>;
  transcript: Record<string, string>;
  grants: Record<string, { token: string; tag: string; key: string }>;
  channelKeys?: { c2p: string; p2c: string };
}

/** Runs the fixed handshake of `mode` and records everything on the wire. */
export function buildProtocolVector(crypto: CryptoBackend, mode: ChannelMode): ProtocolVector {
  const seed = 20261122;
  const w = new HandshakeWorld({ crypto, seed });
  const r = runHandshake(w, {
    mode,
    reqSeq: 1n,
    kn: Uint8Array.from({ length: 16 }, (_, i) => 0xc0 + i),
  });
  const msgs = r.wire.map((m) => decodeHandshakeMessage(m.bytes));
  const [m1, m2, m3, m4, m5, m6] = msgs;
  if (
    m1 === undefined ||
    m6 === undefined ||
    m2 === undefined ||
    m3 === undefined ||
    m4 === undefined ||
    m5 === undefined
  ) {
    throw new Error(`handshake did not complete: ${msgs.length} messages`);
  }
  const th0 = initialTranscript(crypto);
  const th1 = extendTranscript(crypto, th0, 1, m1.body);
  const th2 = extendTranscript(crypto, th1, 2, m2.body);
  const th3 = extendTranscript(crypto, th2, 3, m3.body);
  const th4 = extendTranscript(crypto, th3, 4, m4.body);
  const th5 = extendTranscript(crypto, th3, 5, m5.body);
  const th6 = extendTranscript(crypto, th5, 6, m6.body);
  const gC = decodeGrantConsumerBody(m4.body);
  const gP = decodeGrantProviderBody(m6.body);
  const keys = granted(r.consumerEffects)?.keys;
  return {
    mode,
    seed,
    nowMs: w.clock.now.toString(),
    keys: {
      caSecretKey: hex(w.caSecretKey),
      brokerSecretKey: hex(w.brokerSecretKey),
      providerSecretKey: hex(w.provider.secretKey),
      consumerSecretKey: hex(w.consumer.secretKey),
    },
    certificates: {
      broker: hex(w.trust.brokerCertificate.tbs) + hex(w.trust.brokerCertificate.sig),
      provider: hex(w.provider.certificate.tbs) + hex(w.provider.certificate.sig),
      consumer: hex(w.consumer.certificate.tbs) + hex(w.consumer.certificate.sig),
    },
    messages: Object.fromEntries(r.wire.map((m, i) => [`m${i + 1}`, hex(m.bytes)])),
    transcript: {
      th0: hex(th0),
      th1: hex(th1),
      th2: hex(th2),
      th3: hex(th3),
      th4: hex(th4),
      th5: hex(th5),
      th6: hex(th6),
    },
    grants: {
      consumer: { token: hex(gC.grantToken), tag: hex(gC.grantTag), key: hex(w.grantKeys.get(2)!) },
      provider: { token: hex(gP.grantToken), tag: hex(gP.grantTag), key: hex(w.grantKeys.get(1)!) },
    },
    ...(keys === undefined ? {} : { channelKeys: { c2p: hex(keys.c2p), p2c: hex(keys.p2c) } }),
  };
}
