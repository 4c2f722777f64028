import { TransportError } from '../errors/transport-error.js';
import { unwrapGuard } from './sample-guard.js';

/**
 * Nesting bound of a copy. protobufjs limits messages to 100 levels; each level can add an
 * array or a map object, so 1000 is ample for real messages and stops a cyclic object.
 */
const MAX_DEPTH = 1000;

function copyView(view: ArrayBufferView): ArrayBufferView {
  if (Buffer.isBuffer(view)) return Buffer.from(view); // Buffer#slice would alias
  if (view instanceof DataView) {
    const bytes = new Uint8Array(view.byteLength);
    bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    return new DataView(bytes.buffer);
  }
  // %TypedArray%#slice allocates a fresh, non-shared ArrayBuffer, even for a shared source.
  return (view as Uint8Array).slice();
}

function copyValue(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_DEPTH) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `toOwned: the message nests deeper than ${MAX_DEPTH} levels (a cycle?)`,
    );
  }
  const raw = unwrapGuard(value) ?? value; // a guard of a released sample throws ERR_CLOSED here
  if (ArrayBuffer.isView(raw)) return copyView(raw);
  if (Array.isArray(raw)) {
    const out: unknown[] = new Array<unknown>(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = copyValue(raw[i], depth + 1);
    return out;
  }
  // Keep the prototype (the protobufjs message class, Long) and every own property, including
  // non-enumerable ones such as `$unknowns`, whose raw bytes also alias the source.
  const out = Object.create(Object.getPrototypeOf(raw) as object | null) as Record<
    string | symbol,
    unknown
  >;
  const src = raw as Record<string, unknown>;
  const keys = Object.keys(raw);
  const all = Reflect.ownKeys(raw);
  if (all.length === keys.length) {
    // Common case: only enumerable fields. Plain assignment creates own data properties (the
    // prototype holds writable defaults and oneof accessors, which are never own keys).
    for (const key of keys) {
      if (key === '__proto__') {
        Object.defineProperty(out, key, {
          value: copyValue(src[key], depth + 1),
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else {
        out[key] = copyValue(src[key], depth + 1);
      }
    }
    return out;
  }
  for (const key of all) {
    const desc = Reflect.getOwnPropertyDescriptor(raw, key) as PropertyDescriptor;
    if ('value' in desc) desc.value = copyValue(desc.value, depth + 1);
    if (
      desc.writable === true &&
      desc.enumerable === true &&
      desc.configurable === true &&
      key !== '__proto__'
    ) {
      out[key] = desc.value;
    } else {
      Object.defineProperty(out, key, desc);
    }
  }
  return out;
}

/**
 * A deep copy of a decoded message that shares no memory with its source: every `bytes` field
 * (and preserved unknown field) is a fresh copy, nested messages, arrays, maps and Longs are
 * new objects with the same prototypes.
 *
 * Use it to keep a message decoded in place (a `Sample`'s, or `decodeFrom`'s) beyond the
 * release of its ring record — the `ServiceConsumer.event` lane. Accepts a `Sample`'s guarded
 * message while the sample lives (`ERR_CLOSED` afterwards).
 *
 * @example
 * ```ts
 * declare const VehicleSignal: MessageCodec, record: RingRecord, consumer: RingConsumer;
 * const kept = toOwned(decodeFrom(VehicleSignal, record.payload));
 * consumer.release();               // kept.id stays valid
 * ```
 */
export function toOwned<T>(message: T): T {
  if (typeof message !== 'object' || message === null) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `toOwned takes a decoded message object, got ${message === null ? 'null' : typeof message}`,
    );
  }
  return copyValue(message, 0) as T;
}
