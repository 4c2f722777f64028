import { CertificateAuthority } from '../cert/certificate-authority.js';
import type { Rights } from '../cert/rights.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { CoreError } from '../errors/core-error.js';
import type { ChannelMode } from '@sivshm/abi';
import { BrokerHandshakes } from './broker-handshake.js';
import type { BrokerEffect } from './broker-types.js';
import { ConsumerHandshake } from './consumer-handshake.js';
import type { ChannelGrant, EndpointEffect, EndpointIdentity } from './handshake-types.js';
import { ProviderHandshakes } from './provider-handshake.js';

const SERVICE = 0xfff0;
const PROVIDER_VM = 1;
const CONSUMER_VM = 2;

/**
 * Runs whole handshakes in memory between a throwaway CA, broker, provider and consumer (fresh
 * random keys, nothing kept) in each mode, and throws `CoreError('ERR_SELF_TEST')` unless both
 * ends are granted the same channel.
 *
 * Why at start-up: it proves the state machines and the crypto agree on this build before any
 * VM relies on them, and it loads and optimises the handshake code (protobuf codecs, transcript,
 * key schedule) so the first real handshake is not the one paying tens of milliseconds for that.
 */
export function handshakeSelfTest(crypto: CryptoBackend): void {
  const modes: readonly ChannelMode[] = ['plain', 'mac', 'aead'];
  // One throwaway world for the three handshakes: a fresh CA and certificates per mode tripled
  // the key generation and signing without testing anything more (docs/performance.md §4).
  let world: ThrowawayWorld | undefined;
  let worldFailure: string | undefined;
  try {
    world = throwawayWorld(crypto);
  } catch (e) {
    worldFailure = (e as Error).message;
  }
  modes.forEach((mode, i) => {
    let failure = worldFailure;
    try {
      if (world !== undefined) failure = runOnce(crypto, world, mode, BigInt(i + 1));
    } catch (e) {
      failure = (e as Error).message;
    }
    if (failure !== undefined) {
      throw new CoreError(
        'ERR_SELF_TEST',
        `the in-memory ${mode} handshake of the start-up self-test failed: ${failure}; this build cannot establish channels`,
      );
    }
  });
}

function runOnce(
  crypto: CryptoBackend,
  world: ThrowawayWorld,
  mode: ChannelMode,
  reqSeq: bigint,
): string | undefined {
  return compareGrants(routeUntilQuiet(crypto, world, world.consumer(), mode, reqSeq), mode);
}

/**
 * A broker, a provider and a consumer VM under a fresh CA, every key random and kept nowhere;
 * `consumer()` starts one request of that consumer (one `ConsumerHandshake` per request).
 */
interface ThrowawayWorld {
  readonly broker: BrokerHandshakes;
  readonly provider: ProviderHandshakes;
  readonly consumer: () => ConsumerHandshake;
}

function throwawayWorld(crypto: CryptoBackend): ThrowawayWorld {
  const now = BigInt(Date.now());
  const nowMs = (): bigint => now;
  const random = (n: number): Uint8Array => crypto.randomBytes(n);
  const offers: Rights = {
    offers: [{ service: SERVICE, instanceLo: 1, instanceHi: 1 }],
    requests: [],
  };
  const requests: Rights = {
    offers: [],
    requests: [{ service: SERVICE, instanceLo: 1, instanceHi: 1, methodLo: 0, methodHi: 0xffff }],
  };
  const brokerSecretKey = crypto.randomBytes(32);
  const ca = new CertificateAuthority({
    crypto,
    keys: { caSecretKey: crypto.randomBytes(32), brokerSecretKey },
    epoch: 1n,
    nowMs,
    allowedRights: (vm) => (vm === PROVIDER_VM ? offers : requests),
  });
  const trust = { caPublicKey: ca.caPublicKey, brokerCertificate: ca.brokerCertificate, epoch: 1n };
  const identity = (vmId: number, rights: Rights): EndpointIdentity => {
    const secretKey = crypto.randomBytes(32);
    const certificate = ca.issue({
      vmId,
      subject: `self-test-${vmId}`,
      publicKey: crypto.ed25519PublicKey(secretKey),
      rights,
      kind: 'endpoint',
    });
    return { vmId, secretKey, certificate };
  };
  const grantKeys = new Map([
    [PROVIDER_VM, crypto.randomBytes(32)],
    [CONSUMER_VM, crypto.randomBytes(32)],
  ]);
  const broker = new BrokerHandshakes({ crypto, ca, brokerSecretKey, grantKeys, nowMs, random });
  broker.offer(SERVICE, 1, {
    providerVm: PROVIDER_VM,
    major: 1,
    minMode: 'plain',
    windowLength: 1n << 16n,
  });
  const provider = new ProviderHandshakes({
    crypto,
    identity: identity(PROVIDER_VM, offers),
    trust,
    policy: { offeredMajor: (s) => (s === SERVICE ? 1 : undefined), minMode: () => 'plain' },
    nowMs,
    random,
    deviceNonce: () => crypto.randomBytes(16),
  });
  const consumerIdentity = identity(CONSUMER_VM, requests);
  const consumer = (): ConsumerHandshake =>
    new ConsumerHandshake({ crypto, identity: consumerIdentity, trust, nowMs, random });
  return { broker, provider, consumer };
}

interface Granted {
  consumer?: ChannelGrant;
  provider?: ChannelGrant;
}

/** Routes every message as hostd would, until nothing is in flight (six hops at most). */
function routeUntilQuiet(
  crypto: CryptoBackend,
  { broker, provider }: ThrowawayWorld,
  consumer: ConsumerHandshake,
  mode: ChannelMode,
  reqSeq: bigint,
): Granted {
  const granted: Granted = {};
  const queue: { to: 'broker' | 'provider' | 'consumer'; from: number; bytes: Uint8Array }[] = [
    {
      to: 'broker',
      from: CONSUMER_VM,
      bytes: consumer.start({
        service: SERVICE,
        instance: 1,
        major: 1,
        mode,
        reqSeq,
        kn: crypto.randomBytes(16),
      }),
    },
  ];
  const fromEndpoint = (who: 'consumer' | 'provider', effects: EndpointEffect[]): void => {
    for (const e of effects) {
      if (e.kind === 'send')
        queue.push({
          to: 'broker',
          from: who === 'consumer' ? CONSUMER_VM : PROVIDER_VM,
          bytes: e.bytes,
        });
      else if (e.kind === 'granted') granted[who] = e.grant;
    }
  };
  const fromBroker = (effects: BrokerEffect[]): void => {
    for (const e of effects) {
      if (e.kind === 'reserve-window') {
        fromBroker(broker.windowReserved(e.ticket, { offset: 1n << 16n, length: e.length }));
      }
      if (e.kind !== 'send') continue;
      queue.push({
        to: e.vmId === PROVIDER_VM ? 'provider' : 'consumer',
        from: 0,
        bytes: e.bytes,
      });
    }
  };
  for (let hops = 0; queue.length > 0 && hops < 16; hops++) {
    const m = queue.shift()!;
    if (m.to === 'broker') fromBroker(broker.receive(m.from, m.bytes));
    else if (m.to === 'provider') fromEndpoint('provider', provider.receive(m.bytes));
    else fromEndpoint('consumer', consumer.receive(m.bytes));
  }
  return granted;
}

/** Why the two grants do not describe one channel with the same data keys, or undefined. */
function compareGrants(granted: Granted, mode: ChannelMode): string | undefined {
  const c = granted.consumer;
  const p = granted.provider;
  if (c === undefined) return 'the consumer was not granted';
  if (p === undefined) return 'the provider was not granted';
  if (c.channelId !== p.channelId) return 'the two ends were granted different channels';
  // Keyed modes: nothing in the handshake confirms the derived keys (the signatures bind the
  // transcript, not the X25519 result), so compare what each end would protect records with.
  if (mode !== 'plain') {
    const same = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
      a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
    if (!same(c.keys?.c2p, p.keys?.c2p) || !same(c.keys?.p2c, p.keys?.p2c)) {
      return 'the two ends derived different data keys';
    }
  }
  return undefined;
}
