import type { Certificate } from '../cert/certificate.js';
import { CoreError } from '../errors/core-error.js';
import { ChannelModeCode, GrantLayout, type ChannelMode } from '@sivshm/abi';
import { decodeProto, encodeProto, type ProtoObject } from '../wire/proto-codec.js';

/** Message types of the handshake envelope (docs/protocol.md §6). */
export const MessageType = { m1: 1, m2: 2, m3: 3, m4: 4, m5: 5, m6: 6, abort: 7 } as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

/** The envelope: a body and the sender's signature (empty for ABORT). */
export interface HandshakeMessage {
  readonly type: MessageTypeCode;
  readonly body: Uint8Array;
  readonly sig: Uint8Array;
}

export interface RequestBody {
  readonly version: 1;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  readonly reqSeq: bigint;
  readonly nonceC: Uint8Array;
  /** X25519 public key, keyed modes only (else empty). */
  readonly eC: Uint8Array;
  readonly knC: Uint8Array;
  readonly certHashC: Uint8Array;
}

export interface OfferBody {
  readonly channelId: bigint;
  readonly epoch: bigint;
  readonly cVm: number;
  readonly pVm: number;
  readonly windowOffset: bigint;
  readonly windowLength: bigint;
  readonly mode: ChannelMode;
  readonly nonceH: Uint8Array;
  readonly certC: Certificate;
  readonly m1: HandshakeMessage;
}

export interface AcceptBody {
  readonly channelId: bigint;
  readonly nonceP: Uint8Array;
  readonly eP: Uint8Array;
  readonly knP: Uint8Array;
  readonly certHashP: Uint8Array;
}

export interface GrantConsumerBody {
  /** M2's body bytes exactly as hostd sent them to the provider. */
  readonly m2Body: Uint8Array;
  readonly certP: Certificate;
  readonly m3: HandshakeMessage;
  readonly grantToken: Uint8Array;
  readonly grantTag: Uint8Array;
}

export interface FinishBody {
  readonly channelId: bigint;
}

export interface GrantProviderBody {
  readonly m5: HandshakeMessage;
  readonly grantToken: Uint8Array;
  readonly grantTag: Uint8Array;
}

export interface AbortBody {
  readonly channelId: bigint;
  readonly reqSeq: bigint;
  readonly reason: number;
  readonly detail: string;
}

/**
 * Largest handshake envelope accepted: M4 carries M2's body (with the consumer's certificate)
 * and the provider's certificate, two certificates of up to `MAX_CERT_BYTES`, and it must
 * still fit a control frame (64 KiB).
 */
export const MAX_HANDSHAKE_BYTES = 40 * 1024;
const NONCE = 32;
const KN = 16;
const HASH = 32;

function fail(what: string): never {
  throw new CoreError('ERR_DECODE', what);
}

function modeName(code: unknown): ChannelMode {
  const m = (Object.keys(ChannelModeCode) as ChannelMode[]).find(
    (k) => ChannelModeCode[k] === code,
  );
  return m ?? fail(`mode ${String(code)} is not plain(0), mac(1) or aead(2)`);
}

function bytesOf(
  o: ProtoObject,
  key: string,
  len: number | 'any' | 'opt32',
  what: string,
): Uint8Array {
  const v = new Uint8Array(o[key] as Uint8Array);
  if (len === 'any') return v;
  if (len === 'opt32') {
    if (v.length === 0 || v.length === 32) return v;
    return fail(`${what} must be empty or 32 bytes, got ${v.length}`);
  }
  if (v.length !== len) fail(`${what} must be ${len} bytes, got ${v.length}`);
  return v;
}

const certObj = (c: Certificate): ProtoObject => ({ tbs: c.tbs, sig: c.sig });
const certFrom = (o: ProtoObject | undefined): Certificate => {
  if (o === undefined || o === null) return fail('certificate missing');
  return {
    tbs: new Uint8Array(o['tbs'] as Uint8Array),
    sig: new Uint8Array(o['sig'] as Uint8Array),
  };
};
const msgObj = (m: HandshakeMessage): ProtoObject => ({ type: m.type, body: m.body, sig: m.sig });
const msgFrom = (o: ProtoObject | undefined): HandshakeMessage => {
  if (o === undefined || o === null) return fail('embedded message missing');
  const type = o['type'] as number;
  if (type < 1 || type > 7) fail(`message type ${type} is unknown`);
  return {
    type: type as MessageTypeCode,
    body: new Uint8Array(o['body'] as Uint8Array),
    sig: new Uint8Array(o['sig'] as Uint8Array),
  };
};

/** Encodes the envelope. */
export function encodeHandshakeMessage(m: HandshakeMessage): Uint8Array {
  return encodeProto('HandshakeMessage', msgObj(m));
}

/** Decodes an envelope (size-capped, canonical); signatures must be 64 bytes except ABORT's. */
export function decodeHandshakeMessage(bytes: Uint8Array): HandshakeMessage {
  const m = msgFrom(decodeProto('HandshakeMessage', bytes, MAX_HANDSHAKE_BYTES));
  if (m.type === MessageType.abort ? m.sig.length !== 0 : m.sig.length !== 64) {
    fail(`message type ${m.type} has a ${m.sig.length}-byte signature`);
  }
  return m;
}

export function encodeRequestBody(b: RequestBody): Uint8Array {
  return encodeProto('RequestBody', {
    version: b.version,
    service: b.service,
    instance: b.instance,
    major: b.major,
    mode: ChannelModeCode[b.mode],
    reqSeq: b.reqSeq.toString(),
    nonceC: b.nonceC,
    eC: b.eC,
    knC: b.knC,
    certHashC: b.certHashC,
  });
}

export function decodeRequestBody(bytes: Uint8Array): RequestBody {
  const o = decodeProto('RequestBody', bytes, MAX_HANDSHAKE_BYTES);
  if (o['version'] !== 1)
    throw new CoreError('ERR_DECODE', `request version ${String(o['version'])} is not 1`);
  const service = o['service'] as number;
  const instance = o['instance'] as number;
  const major = o['major'] as number;
  if (service > 0xffff || instance > 0xffff || major > 0xff)
    fail('service, instance or major out of range');
  return {
    version: 1,
    service,
    instance,
    major,
    mode: modeName(o['mode']),
    reqSeq: BigInt(o['reqSeq'] as string),
    nonceC: bytesOf(o, 'nonceC', NONCE, 'nonce_C'),
    eC: bytesOf(o, 'eC', 'opt32', 'e_C'),
    knC: bytesOf(o, 'knC', KN, 'kn_C'),
    certHashC: bytesOf(o, 'certHashC', HASH, 'cert hash'),
  };
}

export function encodeOfferBody(b: OfferBody): Uint8Array {
  return encodeProto('OfferBody', {
    channelId: b.channelId.toString(),
    epoch: b.epoch.toString(),
    cVm: b.cVm,
    pVm: b.pVm,
    windowOffset: b.windowOffset.toString(),
    windowLength: b.windowLength.toString(),
    mode: ChannelModeCode[b.mode],
    nonceH: b.nonceH,
    certC: certObj(b.certC),
    m1: msgObj(b.m1),
  });
}

export function decodeOfferBody(bytes: Uint8Array): OfferBody {
  const o = decodeProto('OfferBody', bytes, MAX_HANDSHAKE_BYTES);
  return {
    channelId: BigInt(o['channelId'] as string),
    epoch: BigInt(o['epoch'] as string),
    cVm: o['cVm'] as number,
    pVm: o['pVm'] as number,
    windowOffset: BigInt(o['windowOffset'] as string),
    windowLength: BigInt(o['windowLength'] as string),
    mode: modeName(o['mode']),
    nonceH: bytesOf(o, 'nonceH', NONCE, 'nonce_H'),
    certC: certFrom(o['certC'] as ProtoObject | undefined),
    m1: msgFrom(o['m1'] as ProtoObject | undefined),
  };
}

export function encodeAcceptBody(b: AcceptBody): Uint8Array {
  return encodeProto('AcceptBody', {
    channelId: b.channelId.toString(),
    nonceP: b.nonceP,
    eP: b.eP,
    knP: b.knP,
    certHashP: b.certHashP,
  });
}

export function decodeAcceptBody(bytes: Uint8Array): AcceptBody {
  const o = decodeProto('AcceptBody', bytes, MAX_HANDSHAKE_BYTES);
  return {
    channelId: BigInt(o['channelId'] as string),
    nonceP: bytesOf(o, 'nonceP', NONCE, 'nonce_P'),
    eP: bytesOf(o, 'eP', 'opt32', 'e_P'),
    knP: bytesOf(o, 'knP', KN, 'kn_P'),
    certHashP: bytesOf(o, 'certHashP', HASH, 'cert hash'),
  };
}

export function encodeGrantConsumerBody(b: GrantConsumerBody): Uint8Array {
  return encodeProto('GrantConsumerBody', {
    m2Body: b.m2Body,
    certP: certObj(b.certP),
    m3: msgObj(b.m3),
    grantToken: b.grantToken,
    grantTag: b.grantTag,
  });
}

export function decodeGrantConsumerBody(bytes: Uint8Array): GrantConsumerBody {
  const o = decodeProto('GrantConsumerBody', bytes, MAX_HANDSHAKE_BYTES);
  return {
    m2Body: bytesOf(o, 'm2Body', 'any', 'M2 body'),
    certP: certFrom(o['certP'] as ProtoObject | undefined),
    m3: msgFrom(o['m3'] as ProtoObject | undefined),
    grantToken: bytesOf(o, 'grantToken', GrantLayout.size, 'grant token'),
    grantTag: bytesOf(o, 'grantTag', 32, 'grant tag'),
  };
}

export function encodeFinishBody(b: FinishBody): Uint8Array {
  return encodeProto('FinishBody', { channelId: b.channelId.toString() });
}

export function decodeFinishBody(bytes: Uint8Array): FinishBody {
  const o = decodeProto('FinishBody', bytes, MAX_HANDSHAKE_BYTES);
  return { channelId: BigInt(o['channelId'] as string) };
}

export function encodeGrantProviderBody(b: GrantProviderBody): Uint8Array {
  return encodeProto('GrantProviderBody', {
    m5: msgObj(b.m5),
    grantToken: b.grantToken,
    grantTag: b.grantTag,
  });
}

export function decodeGrantProviderBody(bytes: Uint8Array): GrantProviderBody {
  const o = decodeProto('GrantProviderBody', bytes, MAX_HANDSHAKE_BYTES);
  return {
    m5: msgFrom(o['m5'] as ProtoObject | undefined),
    grantToken: bytesOf(o, 'grantToken', GrantLayout.size, 'grant token'),
    grantTag: bytesOf(o, 'grantTag', 32, 'grant tag'),
  };
}

export function encodeAbortBody(b: AbortBody): Uint8Array {
  return encodeProto('AbortBody', {
    channelId: b.channelId.toString(),
    reqSeq: b.reqSeq.toString(),
    reason: b.reason,
    detail: b.detail.slice(0, 200),
  });
}

export function decodeAbortBody(bytes: Uint8Array): AbortBody {
  const o = decodeProto('AbortBody', bytes, 1024);
  return {
    channelId: BigInt(o['channelId'] as string),
    reqSeq: BigInt(o['reqSeq'] as string),
    reason: o['reason'] as number,
    detail: o['detail'] as string,
  };
}

/** True when two envelopes are byte-identical. */
export function sameMessage(a: HandshakeMessage, b: HandshakeMessage): boolean {
  return a.type === b.type && sameBytes(a.body, b.body) && sameBytes(a.sig, b.sig);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
