import { TransportError } from '../errors/transport-error.js';
import { withDecimalLongs } from './decode-plan.js';
import { assertCodec, codecName } from './message-codec.js';
import type { MessageCodec } from './message-codec.js';

function checkView(view: Uint8Array): void {
  if (!(view instanceof Uint8Array)) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `view must be a Uint8Array (a ring record's payload), got ${view === null ? 'null' : typeof view}`,
    );
  }
}

function decode<T extends object>(type: MessageCodec, view: Uint8Array): T {
  try {
    return type.decode(view) as T;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new TransportError(
      'ERR_DECODE',
      `${view.length} bytes are not a valid ${codecName(type)}: ${why}`,
      { cause: e },
    );
  }
}

/**
 * {@link decodeFrom} without the 64-bit step: for {@link decodeOwned}, whose own walk turns
 * the 64-bit integers into decimal strings along with copying `bytes`.
 */
export function decodeInPlace<T extends object>(type: MessageCodec, view: Uint8Array): T {
  assertCodec(type);
  checkView(view);
  return decode<T>(type, view);
}

/**
 * Decodes one message from the whole of `view` in place, without copying it.
 *
 * Use it on a ring record's payload for the zero-copy receive lane. protobufjs reads the view
 * through a `Reader` over the same memory, so every `bytes` field (and any preserved unknown
 * field) of the result is a subarray of `view`: it aliases ring memory and is valid only until
 * the record is released — wrap the result in a `Sample`, or use {@link decodeCopy} /
 * `toOwned()` for a message to keep. Scalars and strings are copies; 64-bit integers are
 * decimal strings (like every decode here: see `decodeOwned`). Throws `ERR_DECODE` (with
 * protobufjs's error as `cause`) for truncated or malformed bytes.
 *
 * The producer is untrusted and, in shared memory, can change the bytes while they are decoded
 * or read: every read stays inside `view` (protobufjs bounds-checks each length against the
 * view, and typed arrays bound every access), and the worst outcome is `ERR_DECODE` or a
 * message with odd values. Validate-then-act logic on `bytes` fields must use a copy
 * ({@link decodeCopy}), never the aliased view twice.
 *
 * The generic parameter is not checked: protobufjs reflection types are untyped.
 *
 * @example
 * ```ts
 * interface VehicleSignal { speedKph: number }
 * declare const VehicleSignalType: MessageCodec, record: RingRecord;
 * const signal = decodeFrom<VehicleSignal>(VehicleSignalType, record.payload);
 * ```
 */
export function decodeFrom<T extends object = Record<string, unknown>>(
  type: MessageCodec,
  view: Uint8Array,
): T {
  return withDecimalLongs(type, decodeInPlace<T>(type, view));
}

/**
 * Copies `view` once and decodes the copy: a message that is safe to keep, whose `bytes`
 * fields alias only that private copy.
 *
 * Use it for the copying lane (`ServiceConsumer.event`) when the record is released right
 * after; it does one `memcpy` of the payload instead of a deep copy of the decoded object
 * (`toOwned`), and a peer changing the ring bytes meanwhile cannot affect the result.
 */
export function decodeCopy<T extends object = Record<string, unknown>>(
  type: MessageCodec,
  view: Uint8Array,
): T {
  assertCodec(type);
  checkView(view);
  // new Uint8Array(view) always copies; Buffer#slice would alias.
  return withDecimalLongs(type, decode<T>(type, new Uint8Array(view)));
}
