import { join } from 'node:path';
import protobuf from 'protobufjs';
import { CoreError } from '../errors/core-error.js';
import { packageRoot } from '../util/package-root.js';

/** Hard cap on any single protocol message we decode (before allocation, case 45). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

let root: protobuf.Root | undefined;

/** The parsed `proto/sivshm.proto`, loaded once. */
export function protoRoot(): protobuf.Root {
  root ??= protobuf.loadSync(join(packageRoot(import.meta.url), 'proto', 'sivshm.proto'));
  return root;
}

// Looked up once per name: protobufjs walks the namespace on every lookup.
const types = new Map<string, protobuf.Type>();

function type(name: string): protobuf.Type {
  let t = types.get(name);
  if (t === undefined) {
    t = protoRoot().lookupType(`sivshm.v1.${name}`);
    types.set(name, t);
  }
  return t;
}

/** A plain object as protobufjs sees it: camelCase keys, u64 as decimal strings, bytes. */
export type ProtoObject = { [key: string]: ProtoValue };
export type ProtoValue = string | number | boolean | Uint8Array | ProtoObject | ProtoValue[];

/** 64-bit integer field types: protobufjs objects carry them as decimal strings. */
const LONG_TYPES = new Set(['uint64', 'int64', 'sint64', 'fixed64', 'sfixed64']);

/**
 * Drops fields equal to their proto3 default (0, "", empty bytes, empty list) so that our
 * encoder emits exactly one byte string per value; the canonical check relies on that.
 * `"0"` is the default only of a 64-bit integer field: a string field holding "0" is kept.
 */
function stripDefaults(t: protobuf.Type, obj: ProtoObject): ProtoObject {
  const out: ProtoObject = {};
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (v === null || v === undefined) continue;
    if (v === 0 || v === '' || v === false) continue;
    const field = t.fields[k];
    if (v === '0' && field !== undefined && LONG_TYPES.has(field.type)) continue;
    if (v instanceof Uint8Array) {
      if (v.length > 0) out[k] = v;
      continue;
    }
    if (typeof v !== 'object') {
      out[k] = v;
      continue;
    }
    const nested = field?.resolve().resolvedType;
    const strip = (e: ProtoValue): ProtoValue =>
      isObject(e) && nested instanceof protobuf.Type ? stripDefaults(nested, e) : e;
    if (Array.isArray(v)) {
      if (v.length > 0) out[k] = v.map(strip);
      continue;
    }
    out[k] = strip(v);
  }
  return out;
}

function isObject(v: ProtoValue): v is ProtoObject {
  return typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v);
}

/** Encodes `obj` as message `name` in canonical form. */
export function encodeProto(name: string, obj: ProtoObject): Uint8Array {
  const t = type(name);
  const msg = t.fromObject(stripDefaults(t, obj));
  const bytes = t.encode(msg).finish();
  // protobufjs may hand back a view into a shared pool; return an exact copy.
  return new Uint8Array(bytes);
}

/**
 * Decodes message `name` and insists on canonical form: re-encoding the decoded value must give
 * back the same bytes (no unknown fields, no duplicates, no odd varints), and no field may be
 * written with its default value (proto3 leaves those out). Throws `ERR_DECODE` for malformed
 * input and `ERR_NON_CANONICAL` for the rest.
 */
export function decodeProto(
  name: string,
  bytes: Uint8Array,
  maxBytes = MAX_MESSAGE_BYTES,
): ProtoObject {
  if (bytes.length > maxBytes) {
    throw new CoreError(
      'ERR_DECODE',
      `${name} is ${bytes.length} bytes, over the cap of ${maxBytes}`,
    );
  }
  const t = type(name);
  let msg: protobuf.Message;
  let obj: ProtoObject;
  try {
    msg = t.decode(bytes);
    obj = t.toObject(msg, {
      longs: String,
      bytes: Uint8Array as unknown as typeof String,
      defaults: true,
      arrays: true,
    }) as ProtoObject;
  } catch (e) {
    throw new CoreError('ERR_DECODE', `${name} does not decode: ${(e as Error).message}`, {
      cause: e,
    });
  }
  // The decoded message is re-encoded as it is (protobufjs writes exactly the fields the bytes
  // set), and explicit defaults, which that would write back unchanged, are looked for apart:
  // the same verdicts as re-encoding the plain object with its defaults dropped, without the
  // object conversion that was most of a handshake message's decode (hostd-bench --trace).
  if (!sameBytes(t.encode(msg).finish(), bytes) || hasExplicitDefault(t, msg)) {
    throw new CoreError('ERR_NON_CANONICAL', `${name} is not in canonical encoding`);
  }
  return obj;
}

/** True when a field of `m` (or of a message inside it) was set to its proto3 default. */
function hasExplicitDefault(t: protobuf.Type, m: protobuf.Message): boolean {
  const fields = m as unknown as Record<string, unknown>;
  for (const f of t.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(m, f.name)) continue;
    const v = fields[f.name];
    if (v === null || v === undefined) continue;
    const nested = f.resolve().resolvedType;
    if (f.repeated) {
      // An empty list is never written; a list's scalar elements may be anything.
      if (nested instanceof protobuf.Type) {
        for (const e of v as protobuf.Message[]) if (hasExplicitDefault(nested, e)) return true;
      }
      continue;
    }
    if (nested instanceof protobuf.Type) {
      if (hasExplicitDefault(nested, v as protobuf.Message)) return true;
      continue;
    }
    if (isDefaultScalar(v)) return true;
  }
  return false;
}

function isDefaultScalar(v: unknown): boolean {
  if (v === 0 || v === '' || v === false) return true;
  if (v instanceof Uint8Array) return v.length === 0;
  // 64-bit integers come as Long objects
  if (typeof v === 'object') {
    const long = v as { low?: unknown; high?: unknown };
    return long.low === 0 && long.high === 0;
  }
  return false;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
