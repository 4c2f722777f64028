import protobuf from 'protobufjs';
import type { MessageCodec } from './message-codec.js';

/**
 * Where the `bytes` values of a message type sit — the only parts of a message decoded in place
 * that still alias the record (scalars and strings are read into JS values) — and its 64-bit
 * integer fields, which protobufjs decodes to `Long` objects and the runtime hands out as
 * decimal strings. An empty list means the in-place decode is already what an app receives.
 */
export interface BytesStep {
  readonly name: string;
  /** `bytes` itself, or a message field whose type holds `bytes` somewhere below. */
  readonly bytes: boolean;
  /** An int64/uint64/sint64/fixed64/sfixed64 field: its values become decimal strings. */
  readonly long: boolean;
  readonly repeated: boolean;
  readonly map: boolean;
  /** The nested message's steps (message fields only). */
  readonly nested: BytesStep[] | undefined;
}

const plans = new WeakMap<protobuf.Type, BytesStep[]>();

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/**
 * An absent field reads its default from the message class's prototype, a frozen `Long` for a
 * 64-bit field: it is replaced, once per type, by the same default as a decimal string, so a
 * 64-bit field reads as a string whether it was on the wire or not. The encoders write only own
 * fields, so the prototype's value never reaches a wire.
 */
function decimalDefault(type: protobuf.Type, field: protobuf.Field): void {
  if (field.repeated || field instanceof protobuf.MapField) return;
  const proto = type.ctor.prototype as Record<string, unknown>;
  const value = proto[field.name];
  if (typeof value === 'object' && value !== null) proto[field.name] = String(value);
}

// protobufjs's JSON options, except `longs`: its toObject would call Long methods on the
// decimal strings; without `longs` it copies them as they are (they already are JSON).
const jsonOptions: protobuf.IConversionOptions = { ...protobuf.util.toJSONOptions };
delete jsonOptions.longs;

/** `JSON.stringify(message)` of a type holding 64-bit fields (at any depth) keeps working. */
function jsonWithDecimalLongs(type: protobuf.Type): void {
  const proto = type.ctor.prototype as { toJSON: () => unknown; $type: protobuf.Type };
  proto.toJSON = function toJSON(this: typeof proto) {
    return this.$type.toObject(this as unknown as protobuf.Message, jsonOptions);
  };
}

/**
 * The steps of `type`, built once per type. A recursive type meets its own (still filling)
 * list and keeps the step: copying a field that turns out to hold no `bytes` is only wasted
 * work, never an alias kept.
 */
export function planOf(type: protobuf.Type): BytesStep[] {
  const known = plans.get(type);
  if (known !== undefined) return known;
  const steps: BytesStep[] = [];
  plans.set(type, steps);
  for (const field of type.fieldsArray) {
    field.resolve();
    const isMap = field instanceof protobuf.MapField;
    const repeated = !isMap && field.repeated;
    const step = { name: field.name, repeated, map: isMap, nested: undefined };
    if (field.type === 'bytes') {
      steps.push({ ...step, bytes: true, long: false });
    } else if (LONG_TYPES.has(field.type)) {
      decimalDefault(type, field);
      steps.push({ ...step, bytes: false, long: true });
    } else if (field.resolvedType instanceof protobuf.Type) {
      const nested = planOf(field.resolvedType);
      if (nested.length > 0 || plans.get(field.resolvedType) === nested) {
        steps.push({ ...step, bytes: false, long: false, nested });
      }
    }
  }
  // Drop message steps whose type finished with nothing to copy (not a recursion in progress).
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i] as BytesStep;
    if (
      !s.bytes &&
      !s.long &&
      s.nested !== undefined &&
      s.nested !== steps &&
      s.nested.length === 0
    )
      steps.splice(i, 1);
  }
  if (steps.length > 0) jsonWithDecimalLongs(type);
  return steps;
}

// %TypedArray%#slice: a fresh, non-shared ArrayBuffer, never the record's memory (also for a
// Buffer, whose own slice would alias). From shared memory it copies in one block, where
// `new Uint8Array(view)` goes element by element (docs/performance.md §5).
const sliceBytes = Uint8Array.prototype.slice;
const copyBytes = (v: Uint8Array): Uint8Array => sliceBytes.call(v);

function detachValue(value: unknown, step: BytesStep): unknown {
  if (step.bytes) return value instanceof Uint8Array ? copyBytes(value) : value;
  // A Long (or a number, when protobufjs runs without the long package) → its decimal string.
  if (step.long) return decimalOf(value);
  if (typeof value === 'object' && value !== null) detach(value, step.nested as BytesStep[]);
  return value;
}

/**
 * Replaces every `bytes` value of `message` (own fields, at any depth) with a private copy and
 * every 64-bit integer with its decimal string.
 */
export function detach(message: object, steps: readonly BytesStep[]): void {
  const m = message as Record<string, unknown>;
  for (const step of steps) {
    // Absent fields are the prototype's defaults (frozen, never record memory): skip them.
    if (!Object.hasOwn(m, step.name)) continue;
    const value = m[step.name];
    if (step.repeated && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = detachValue(value[i], step);
    } else if (step.map && typeof value === 'object' && value !== null) {
      const entries = value as Record<string, unknown>;
      for (const key of Object.keys(entries)) entries[key] = detachValue(entries[key], step);
    } else {
      m[step.name] = detachValue(value, step);
    }
  }
}

const TWO_32 = 4294967296;
const SAFE_HIGH = 0x200000; // high word below 2^21: the value is below 2^53, exact as a double
const BASE = 10_000_000;

/** `digits` (below 10^7) as 7 decimal digits when `pad`, else as they are ('' for 0). */
function group(digits: number, pad: boolean): string {
  const s = digits === 0 ? '' : String(digits);
  return pad ? '0000000'.slice(s.length) + s : s;
}

/**
 * The decimal string of the unsigned 64-bit value `high`·2^32 + `low` (both as uint32). Below
 * 2^53 a double is exact; above, the value is split into 24/24/16-bit limbs recombined in base
 * 10^7 (doubles stay exact), as Closure's protobuf runtime does — no Long division, no bigint.
 */
function unsignedDecimal(low: number, high: number): string {
  if (high < SAFE_HIGH) return String(high * TWO_32 + low);
  const lowLimb = low & 0xffffff;
  const midLimb = ((low >>> 24) | (high << 8)) & 0xffffff;
  const highLimb = (high >>> 16) & 0xffff;
  let a = lowLimb + midLimb * 6777216 + highLimb * 6710656;
  let b = midLimb + highLimb * 8147497;
  let c = highLimb * 2;
  if (a >= BASE) {
    b += Math.floor(a / BASE);
    a %= BASE;
  }
  if (b >= BASE) {
    c += Math.floor(b / BASE);
    b %= BASE;
  }
  return group(c, false) + group(b, c !== 0) + group(a, true);
}

/**
 * The decimal string of a decoded 64-bit value (a protobufjs `Long`, or a number when
 * protobufjs runs without the long package). Long#toString divides Longs, several
 * allocations per value; this reads the two words once.
 */
export function decimalOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) {
    return typeof value === 'number' ? String(value) : value;
  }
  const { low, high, unsigned } = value as { low: number; high: number; unsigned: boolean };
  if (unsigned || high >= 0) return unsignedDecimal(low >>> 0, high >>> 0);
  // Negative: the magnitude is the two's complement.
  const negLow = (~low + 1) >>> 0;
  const negHigh = (~high + (negLow === 0 ? 1 : 0)) >>> 0;
  return `-${unsignedDecimal(negLow, negHigh)}`;
}

const holdsLongs = new WeakMap<protobuf.Type, boolean>();

function anyLong(steps: readonly BytesStep[], seen: Set<readonly BytesStep[]>): boolean {
  if (seen.has(steps)) return false;
  seen.add(steps);
  return steps.some((s) => s.long || (s.nested !== undefined && anyLong(s.nested, seen)));
}

/** Like {@link detach}, but only the 64-bit integers: `bytes` values keep aliasing the view. */
function decimalLongs(message: object, steps: readonly BytesStep[]): void {
  const m = message as Record<string, unknown>;
  for (const step of steps) {
    if (step.bytes || !Object.hasOwn(m, step.name)) continue;
    const value = m[step.name];
    if (step.long) {
      if (step.repeated && Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) value[i] = decimalOf(value[i]);
      } else if (step.map && typeof value === 'object' && value !== null) {
        const entries = value as Record<string, unknown>;
        for (const key of Object.keys(entries)) entries[key] = decimalOf(entries[key]);
      } else m[step.name] = decimalOf(value);
    } else {
      const nested = step.nested as BytesStep[];
      for (const v of containedMessages(value, step)) decimalLongs(v, nested);
    }
  }
}

function containedMessages(value: unknown, step: BytesStep): object[] {
  if (typeof value !== 'object' || value === null) return [];
  if (step.repeated && Array.isArray(value)) return value as object[];
  if (step.map) return Object.values(value) as object[];
  return [value];
}

/**
 * Turns the 64-bit integers of a message decoded in place (`decodeFrom`) into decimal strings,
 * as {@link decodeOwned} does, leaving its `bytes` views where they are: the zero-copy lane
 * (`samples()`) hands out the same representation as `event()`. For a type without 64-bit
 * fields (at any depth) it is one lookup.
 */
export function withDecimalLongs<T extends object>(type: MessageCodec, message: T): T {
  if (!(type instanceof protobuf.Type)) return message;
  let longs = holdsLongs.get(type);
  if (longs === undefined) {
    longs = anyLong(planOf(type), new Set());
    holdsLongs.set(type, longs);
  }
  if (longs) decimalLongs(message, planOf(type));
  return message;
}
