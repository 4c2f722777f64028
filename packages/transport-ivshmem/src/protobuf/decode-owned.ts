import protobuf from 'protobufjs';
import { decodeCopy, decodeFrom } from './decode-from.js';
import type { MessageCodec } from './message-codec.js';

/**
 * Where the `bytes` values of a message type sit: the only parts of a message decoded in place
 * that still alias the record (scalars and strings are read into JS values). An empty list
 * means the in-place decode is already safe to keep.
 */
interface BytesStep {
  readonly name: string;
  /** `bytes` itself, or a message field whose type holds `bytes` somewhere below. */
  readonly bytes: boolean;
  readonly repeated: boolean;
  readonly map: boolean;
  /** The nested message's steps (message fields only). */
  readonly nested: BytesStep[] | undefined;
}

const plans = new WeakMap<protobuf.Type, BytesStep[]>();

/**
 * The steps of `type`, built once per type. A recursive type meets its own (still filling)
 * list and keeps the step: copying a field that turns out to hold no `bytes` is only wasted
 * work, never an alias kept.
 */
function planOf(type: protobuf.Type): BytesStep[] {
  const known = plans.get(type);
  if (known !== undefined) return known;
  const steps: BytesStep[] = [];
  plans.set(type, steps);
  for (const field of type.fieldsArray) {
    field.resolve();
    const isMap = field instanceof protobuf.MapField;
    const repeated = !isMap && field.repeated;
    if (field.type === 'bytes') {
      steps.push({ name: field.name, bytes: true, repeated, map: isMap, nested: undefined });
    } else if (field.resolvedType instanceof protobuf.Type) {
      const nested = planOf(field.resolvedType);
      if (nested.length > 0 || plans.get(field.resolvedType) === nested) {
        steps.push({ name: field.name, bytes: false, repeated, map: isMap, nested });
      }
    }
  }
  // Drop message steps whose type finished with nothing to copy (not a recursion in progress).
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i] as BytesStep;
    if (!s.bytes && s.nested !== undefined && s.nested !== steps && s.nested.length === 0)
      steps.splice(i, 1);
  }
  return steps;
}

// %TypedArray%#slice: a fresh, non-shared ArrayBuffer, never the record's memory (also for a
// Buffer, whose own slice would alias). From shared memory it copies in one block, where
// `new Uint8Array(view)` goes element by element (docs/performance.md §5).
const sliceBytes = Uint8Array.prototype.slice;
const copyBytes = (v: Uint8Array): Uint8Array => sliceBytes.call(v);

function detachValue(value: unknown, step: BytesStep): unknown {
  if (step.bytes) return value instanceof Uint8Array ? copyBytes(value) : value;
  if (typeof value === 'object' && value !== null) detach(value, step.nested as BytesStep[]);
  return value;
}

/** Replaces every `bytes` value of `message` (own fields, at any depth) with a private copy. */
function detach(message: object, steps: readonly BytesStep[]): void {
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

/**
 * Decodes one message straight from `view` (a ring record's payload, no copy of it first) and
 * copies only what would otherwise alias it: its `bytes` values. The result is safe to keep
 * after the record is released, like {@link decodeCopy}'s, at the cost of the in-place decode
 * plus one copy per `bytes` value (none for a type without `bytes`).
 *
 * Use it for the default receive lanes (`ServiceConsumer.event`, call responses, requests at
 * the provider). Each field is read from the record once, so a peer that changes the bytes
 * while they are decoded can only yield `ERR_DECODE` or odd values, never a message that
 * changes afterwards. Codecs other than a reflection `protobuf.Type` (pbjs static classes) have
 * no field list to walk: they are decoded from one copy of the payload ({@link decodeCopy}).
 *
 * @example
 * ```ts
 * declare const VehicleSignal: MessageCodec, record: RingRecord;
 * const signal = decodeOwned<{ id: Uint8Array }>(VehicleSignal, record.payload);
 * // record released: signal.id is still intact
 * ```
 */
export function decodeOwned<T extends object = Record<string, unknown>>(
  type: MessageCodec,
  view: Uint8Array,
): T {
  if (!(type instanceof protobuf.Type)) return decodeCopy<T>(type, view);
  const message = decodeFrom<T>(type, view);
  const steps = planOf(type);
  if (steps.length > 0) detach(message, steps);
  return message;
}
