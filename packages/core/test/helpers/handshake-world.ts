// A complete, deterministic handshake world for tests: a CA/broker, a provider VM, a consumer
// VM and a rogue VM, with a message router that lets a test tamper with any hop.
import { CertificateAuthority } from '../../src/cert/certificate-authority.js';
import type { Certificate } from '../../src/cert/certificate.js';
import type { Rights } from '../../src/cert/rights.js';
import type { CryptoBackend } from '../../src/crypto/crypto-backend.js';
import type { ChannelMode } from '@sivshm/abi';
import type { BrokerLimits } from '../../src/handshake/broker-budgets.js';
import { BrokerHandshakes } from '../../src/handshake/broker-handshake.js';
import type {
  BrokerChannel,
  BrokerEffect,
  OfferedService,
  Window,
} from '../../src/handshake/broker-types.js';
import { ConsumerHandshake } from '../../src/handshake/consumer-handshake.js';
import type {
  EndpointEffect,
  EndpointIdentity,
  TrustAnchors,
} from '../../src/handshake/handshake-types.js';
import { ProviderHandshakes, type ProviderPolicy } from '../../src/handshake/provider-handshake.js';

export const SERVICE = 0x1234;
export const INSTANCE = 1;
export const MAJOR = 1;
export const PROVIDER_VM = 1;
export const CONSUMER_VM = 2;
export const ROGUE_VM = 3;
export const CONSUMER2_VM = 4;
export const WINDOW_LENGTH = 2n * (8192n + 65536n);
export const T0 = 1_700_000_000_000n;

/** Deterministic byte source (xorshift), so runs are reproducible. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

const allOf = (service: number): Rights => ({
  offers: [],
  requests: [{ service, instanceLo: 1, instanceHi: 0xfffe, methodLo: 0, methodHi: 0xffff }],
});

export interface WorldOptions {
  readonly crypto: CryptoBackend;
  readonly minMode?: ChannelMode;
  readonly providerMinMode?: ChannelMode;
  readonly providerRights?: Rights;
  readonly limits?: Partial<BrokerLimits>;
  /** Per-VM limits handed to the broker as `limitsOf`. */
  readonly limitsOf?: (vmId: number) => Partial<BrokerLimits> | undefined;
  /** Bind certificates to links: an M1 must name the one a test `enrolled` on the link. */
  readonly linkBoundCertificates?: boolean;
  readonly seed?: number;
  readonly regionWindows?: number;
  /** The broker's `deviceWindowOffset`: channels whose memory is their own (issue 18). */
  readonly deviceWindowOffset?: (channel: BrokerChannel) => bigint | undefined;
}

/** What became of a window, as the broker's effects said (`window-free`/`window-quarantine`). */
export interface WindowRelease {
  readonly channelId: bigint;
  readonly consumerVm: number;
  /** `aborted`: the handshake failed; `closed`: an active channel was torn down. */
  readonly cause: 'aborted' | 'closed';
  /** The consumer held (or may have held) a grant for it. */
  readonly grantIssued: boolean;
}

export type Hop = 'C->H' | 'H->P' | 'P->H' | 'H->C';
export type Tamper = (hop: Hop, type: number, bytes: Uint8Array) => Uint8Array | undefined;

/** Everything a handshake test needs, wired together. */
export class HandshakeWorld {
  readonly crypto: CryptoBackend;
  readonly clock = { now: T0 };
  readonly nowMs = (): bigint => this.clock.now;
  readonly random: (n: number) => Uint8Array;
  readonly caSecretKey: Uint8Array;
  readonly brokerSecretKey: Uint8Array;
  readonly ca: CertificateAuthority;
  readonly trust: TrustAnchors;
  readonly grantKeys = new Map<number, Uint8Array>();
  readonly broker: BrokerHandshakes;
  readonly provider: EndpointIdentity;
  readonly consumer: EndpointIdentity;
  readonly rogue: EndpointIdentity;
  readonly consumer2: EndpointIdentity;
  readonly providerMachine: ProviderHandshakes;
  readonly reserved: Window[] = [];
  readonly released: Window[] = [];
  /** What the broker said about each released window, in the order of `released`. */
  readonly releases: WindowRelease[] = [];
  readonly offered: OfferedService;
  private nextWindow = 0n;
  private readonly windowsLeft: { n: number };
  private reqSeq = 0n;
  readonly providerKn = new Map<bigint, Uint8Array>();

  constructor(opts: WorldOptions) {
    this.crypto = opts.crypto;
    this.random = seededRandom(opts.seed ?? 42);
    this.caSecretKey = this.random(32);
    this.brokerSecretKey = this.random(32);
    for (const vm of [PROVIDER_VM, CONSUMER_VM, ROGUE_VM, CONSUMER2_VM])
      this.grantKeys.set(vm, this.random(32));
    const providerRights: Rights = opts.providerRights ?? {
      offers: [{ service: SERVICE, instanceLo: 1, instanceHi: 0xfffe }],
      requests: [],
    };
    this.ca = new CertificateAuthority({
      crypto: this.crypto,
      keys: { caSecretKey: this.caSecretKey, brokerSecretKey: this.brokerSecretKey },
      epoch: 7n,
      nowMs: this.nowMs,
      allowedRights: (vm) =>
        vm === PROVIDER_VM ? providerRights : vm === ROGUE_VM ? allOf(SERVICE) : allOf(SERVICE),
    });
    this.trust = {
      caPublicKey: this.ca.caPublicKey,
      brokerCertificate: this.ca.brokerCertificate,
      epoch: 7n,
    };
    this.provider = this.identity(PROVIDER_VM, 'infotainment', providerRights);
    this.consumer = this.identity(CONSUMER_VM, 'cluster', allOf(SERVICE));
    this.rogue = this.identity(ROGUE_VM, 'rogue', allOf(SERVICE));
    this.consumer2 = this.identity(CONSUMER2_VM, 'cluster-2', allOf(SERVICE));
    this.offered = {
      providerVm: PROVIDER_VM,
      major: MAJOR,
      minMode: opts.minMode ?? 'plain',
      windowLength: WINDOW_LENGTH,
    };
    // Effectively unlimited unless a test sets it: benches and fuzzers that do not route the
    // broker's window effects back must not run the fake region dry.
    this.windowsLeft = { n: opts.regionWindows ?? 1_000_000 };
    this.broker = new BrokerHandshakes({
      crypto: this.crypto,
      ca: this.ca,
      brokerSecretKey: this.brokerSecretKey,
      grantKeys: this.grantKeys,
      nowMs: this.nowMs,
      random: this.random,
      // two doorbell vectors, VM n's doorbell device at IVPosition n + 10
      doorbellVectors: 2,
      doorbellOf: (vm) => vm + 10,
      ...(opts.limits === undefined ? {} : { limits: opts.limits }),
      ...(opts.limitsOf === undefined ? {} : { limitsOf: opts.limitsOf }),
      ...(opts.linkBoundCertificates === undefined
        ? {}
        : { linkBoundCertificates: opts.linkBoundCertificates }),
      ...(opts.deviceWindowOffset === undefined
        ? {}
        : { deviceWindowOffset: opts.deviceWindowOffset }),
    });
    for (const instance of OFFERED_INSTANCES) this.broker.offer(SERVICE, instance, this.offered);
    const policy: ProviderPolicy = {
      offeredMajor: (s) => (s === SERVICE ? MAJOR : undefined),
      minMode: () => opts.providerMinMode ?? opts.minMode ?? 'plain',
    };
    this.providerMachine = this.newProvider(this.provider, policy);
  }

  /** Issues a certificate for a fresh key on `vm`. */
  identity(vmId: number, subject: string, rights: Rights): EndpointIdentity {
    const secretKey = this.random(32);
    const certificate: Certificate = this.ca.issue({
      vmId,
      subject,
      publicKey: this.crypto.ed25519PublicKey(secretKey),
      rights,
      kind: 'endpoint',
    });
    return { vmId, secretKey, certificate };
  }

  newProvider(identity: EndpointIdentity, policy: ProviderPolicy): ProviderHandshakes {
    return new ProviderHandshakes({
      crypto: this.crypto,
      identity,
      trust: this.trust,
      policy,
      nowMs: this.nowMs,
      random: this.random,
      deviceNonce: (id) => {
        const kn = this.random(16);
        this.providerKn.set(id, kn);
        return kn;
      },
    });
  }

  newConsumer(
    identity: EndpointIdentity = this.consumer,
    random: (n: number) => Uint8Array = this.random,
  ): ConsumerHandshake {
    return new ConsumerHandshake({
      crypto: this.crypto,
      identity,
      trust: this.trust,
      nowMs: this.nowMs,
      random,
    });
  }

  nextReqSeq(): bigint {
    return ++this.reqSeq;
  }

  /**
   * A consumer's request for the world's service (instance 1, major 1, plain) with the next
   * request sequence number: what `newConsumer().start()` takes in most broker specs.
   */
  plainRequest(): Parameters<ConsumerHandshake['start']>[0] {
    return {
      service: SERVICE,
      instance: INSTANCE,
      major: MAJOR,
      mode: 'plain',
      reqSeq: this.nextReqSeq(),
      kn: new Uint8Array(16),
    };
  }

  /** Hands `bytes` from the link of `vmId` to the broker and carries out its effects. */
  deliver(vmId: number, bytes: Uint8Array): BrokerEffect[] {
    return this.route(this.broker.receive(vmId, bytes));
  }

  /**
   * Carries out the broker's window effects as hostd would (a fake region of `regionWindows`
   * windows; releases recorded) and returns every effect, the answers to `reserve-window`
   * spliced in where they were asked for.
   */
  route(effects: readonly BrokerEffect[]): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const e of effects) {
      out.push(e);
      if (e.kind === 'reserve-window') {
        out.push(...this.route(this.broker.windowReserved(e.ticket, this.reserve(e.length))));
      } else if (e.kind === 'window-free' || e.kind === 'window-quarantine') {
        const ch = e.channel;
        this.released.push(ch.window);
        this.releases.push({
          channelId: ch.channelId,
          consumerVm: ch.consumerVm,
          cause: e.kind === 'window-free' ? e.cause : 'aborted',
          grantIssued: e.kind === 'window-quarantine' || e.cause === 'closed',
        });
        this.windowsLeft.n++;
      }
    }
    return out;
  }

  private reserve(length: bigint): Window | undefined {
    if (this.windowsLeft.n <= 0) return undefined;
    this.windowsLeft.n--;
    const w = { offset: 0x10000n + this.nextWindow, length };
    this.nextWindow += length;
    this.reserved.push(w);
    return w;
  }
}

/** The instances of SERVICE the world's provider offers. */
const OFFERED_INSTANCES = [1, 2, 3, 4];

/** Everything that happened in one run, for assertions. */
export interface RunResult {
  readonly consumerEffects: EndpointEffect[];
  readonly providerEffects: EndpointEffect[];
  readonly brokerEffects: BrokerEffect[];
  /** Every message on every hop, in order (after tampering). */
  readonly wire: Array<{ hop: Hop; bytes: Uint8Array }>;
}

/**
 * Runs one handshake through the world, routing every effect, with an optional tamper hook per
 * hop. Stops when no message is in flight.
 */
export function runHandshake(
  world: HandshakeWorld,
  opts: {
    consumer?: EndpointIdentity;
    mode?: ChannelMode;
    instance?: number;
    reqSeq?: bigint;
    kn?: Uint8Array;
    tamper?: Tamper;
    provider?: ProviderHandshakes;
    /** VM whose link carries the consumer's messages (default: the consumer's own VM). */
    linkVm?: number;
    /** The consumer's nonce and ephemeral-key source (default: the world's). */
    random?: (n: number) => Uint8Array;
  } = {},
): RunResult {
  const identity = opts.consumer ?? world.consumer;
  const consumer = world.newConsumer(identity, opts.random);
  const provider = opts.provider ?? world.providerMachine;
  const linkVm = opts.linkVm ?? identity.vmId;
  const res: RunResult = { consumerEffects: [], providerEffects: [], brokerEffects: [], wire: [] };
  const queue: Array<{ hop: Hop; bytes: Uint8Array }> = [];
  const push = (hop: Hop, bytes: Uint8Array): void => {
    const out = opts.tamper ? (opts.tamper(hop, bytes[1] ?? 0, bytes) ?? bytes) : bytes;
    queue.push({ hop, bytes: out });
  };
  push(
    'C->H',
    consumer.start({
      service: SERVICE,
      instance: opts.instance ?? INSTANCE,
      major: MAJOR,
      mode: opts.mode ?? 'plain',
      reqSeq: opts.reqSeq ?? world.nextReqSeq(),
      kn: opts.kn ?? new Uint8Array(16).fill(0xc0),
    }),
  );
  for (let guard = 0; queue.length > 0 && guard < 100; guard++) {
    const m = queue.shift()!;
    res.wire.push(m);
    if (m.hop === 'C->H' || m.hop === 'P->H') {
      const from = m.hop === 'C->H' ? linkVm : PROVIDER_VM;
      for (const e of world.deliver(from, m.bytes)) {
        res.brokerEffects.push(e);
        if (e.kind !== 'send') continue;
        if (e.vmId === PROVIDER_VM) push('H->P', e.bytes);
        else if (e.vmId === linkVm) push('H->C', e.bytes);
      }
    } else if (m.hop === 'H->P') {
      for (const e of provider.receive(m.bytes)) {
        res.providerEffects.push(e);
        if (e.kind === 'send') push('P->H', e.bytes);
      }
    } else {
      for (const e of consumer.receive(m.bytes)) {
        res.consumerEffects.push(e);
        if (e.kind === 'send') push('C->H', e.bytes);
      }
    }
  }
  return res;
}

export function granted(effects: ReadonlyArray<EndpointEffect>) {
  const g = effects.find((e) => e.kind === 'granted');
  return g?.kind === 'granted' ? g.grant : undefined;
}

export function aborted(effects: ReadonlyArray<EndpointEffect>) {
  const a = effects.find((e) => e.kind === 'aborted');
  return a?.kind === 'aborted' ? a : undefined;
}
