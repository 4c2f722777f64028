import protobuf from 'protobufjs';
import { decodeCopy, decodeInPlace } from './decode-from.js';
import { detach, planOf } from './decode-plan.js';
import type { MessageCodec } from './message-codec.js';

/**
 * Decodes one message straight from `view` (a ring record's payload, no copy of it first) and
 * copies only what would otherwise alias it: its `bytes` values. The result is safe to keep
 * after the record is released, like {@link decodeCopy}'s, at the cost of the in-place decode
 * plus one copy per `bytes` value (none for a type without `bytes`).
 *
 * 64-bit integers (int64, uint64, sint64, fixed64, sfixed64, also repeated, map values and
 * nested) arrive as decimal strings (`'18446744073709551615'`, `'-9007199254740993'`), never
 * as protobufjs `Long`s, also when absent (the prototype default reads `'0'`). Types without
 * `bytes` or 64-bit fields take no step at all. Other proto3 defaults are not own properties:
 * reading one gives the default (`0`, `''`, `false`), `Object.keys`/JSON omit it.
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
  const message = decodeInPlace<T>(type, view);
  const steps = planOf(type);
  if (steps.length > 0) detach(message, steps);
  return message;
}
