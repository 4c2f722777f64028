import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { sizerOf } from './generated-sizer.js';
import { writerOf } from './generated-writer.js';
import { assertCodec, codecName } from './message-codec.js';
import type { MessageCodec } from './message-codec.js';
import { SizingWriter } from './sizing-writer.js';
import { TargetWriter } from './target-writer.js';

// Sizing: reflection types use a generated size function (generated-sizer.ts); other codecs
// (pbjs static classes) run their encoder against one shared counting writer. Writing: a
// generated write function for reflection types, one shared target writer for the others. So
// encoding allocates no payload bytes and, after the first call, no writer either. A nested call (a getter on the message that encodes something itself) gets
// fresh writers instead of clobbering the outer call's state.
const sharedSizer = new SizingWriter();
const sharedTarget = new TargetWriter();
let sizerBusy = false;
let targetBusy = false;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkMessage(type: MessageCodec, message: unknown): void {
  if (typeof message !== 'object' || message === null) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `message must be an object of ${codecName(type)}, got ${message === null ? 'null' : typeof message}`,
    );
  }
}

/** Counts the bytes of `message` with the shared sizer; wraps protobufjs's errors. */
function size(type: MessageCodec, message: object): number {
  const sizer = sizerBusy ? new SizingWriter() : sharedSizer;
  const wasBusy = sizerBusy;
  sizerBusy = true;
  try {
    // Reflection types get a generated size function; anything else (pbjs static classes)
    // runs its own encoder against the counting writer.
    if (type instanceof protobuf.Type) return sizerOf(type)(message, 0);
    sizer.restart();
    type.encode(message as never, sizer.asWriter());
    return sizer.pos;
  } catch (e) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `${codecName(type)} cannot be encoded: ${describe(e)}`,
      { cause: e },
    );
  } finally {
    sizerBusy = wasBusy;
  }
}

/**
 * Encodes `message` into `target[0, length)` where `length` is its exact encoded size, already
 * checked to fit; throws if the encoder wrote a different number of bytes.
 */
function writeSized(
  type: MessageCodec,
  message: object,
  target: Uint8Array,
  length: number,
): number {
  const writer = targetBusy ? new TargetWriter() : sharedTarget;
  const wasBusy = targetBusy;
  targetBusy = true;
  let written: number;
  try {
    // Reflection types get a generated writer (no writer object, no per-value method calls);
    // anything else (pbjs static classes) runs its own encoder against the target writer.
    if (type instanceof protobuf.Type) {
      written = writerOf(type)(message, target, 0, 0);
    } else {
      type.encode(message as never, writer.attach(target));
      written = writer.pos;
    }
  } catch (e) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `${codecName(type)} failed while encoding into the target after sizing succeeded: ${describe(e)}`,
      { cause: e },
    );
  } finally {
    writer.detach();
    targetBusy = wasBusy;
  }
  if (written !== length) {
    // Only a message that changes while it is encoded (a getter, another thread's typed array)
    // gets here; the engine's bounds checks kept every byte inside the target.
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `${codecName(type)} changed while it was encoded: sized ${length} bytes, wrote ${written}`,
    );
  }
  return written;
}

/**
 * The exact number of bytes `type.encode(message).finish()` would produce, computed without
 * writing or allocating them.
 *
 * Use it to size a ring slot before encoding into it: `producer.loan(encodedLength(T, m))`.
 * Throws `ERR_BAD_ARGUMENT` when the message cannot be encoded at all (the protobufjs error is
 * the `cause`).
 *
 * @example
 * ```ts
 * declare const VehicleSignal: MessageCodec, msg: object, producer: RingProducer;
 * const length = encodedLength(VehicleSignal, msg);
 * const slot = producer.loan(length); // undefined while the ring is full
 * if (slot) encodeInto(VehicleSignal, msg, slot.payload, { length });
 * ```
 */
export function encodedLength(type: MessageCodec, message: object): number {
  assertCodec(type);
  checkMessage(type, message);
  return size(type, message);
}

/** Options of {@link encodeInto}. */
export interface EncodeIntoOptions {
  /**
   * The length {@link encodedLength} just returned for this very message, to skip sizing it a
   * second time (the ring lane sizes once to loan the slot). It is still verified: if the
   * message encodes to a different length, `ERR_BAD_ARGUMENT` is thrown after a write that
   * stayed inside `target`.
   */
  readonly length?: number;
}

/**
 * Encodes `message` straight into `target` (for example a loaned ring slot's payload) and
 * returns the number of bytes written, from `target[0]` on.
 *
 * The bytes are identical to `type.encode(message).finish()`, but no intermediate buffer is
 * allocated or copied: the message is sized first, then written into the target (by a write
 * function generated from a reflection type, or by a static codec's own encoder). When the target is too small, it throws `ERR_BAD_ARGUMENT` naming both sizes
 * and writes nothing at all; bytes of `target` past the returned length are never touched.
 *
 * @example
 * ```ts
 * declare const VehicleSignal: MessageCodec, msg: object, producer: RingProducer;
 * const length = encodedLength(VehicleSignal, msg);
 * const slot = producer.loan(length);
 * if (slot) {
 *   encodeInto(VehicleSignal, msg, slot.payload, { length });
 *   producer.send(slot);
 * }
 * ```
 */
export function encodeInto(
  type: MessageCodec,
  message: object,
  target: Uint8Array,
  options?: EncodeIntoOptions,
): number {
  assertCodec(type);
  checkMessage(type, message);
  if (!(target instanceof Uint8Array)) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `target must be a Uint8Array (a ring slot's payload view), got ${target === null ? 'null' : typeof target}`,
    );
  }
  const known = options?.length;
  if (known !== undefined && (!Number.isSafeInteger(known) || known < 0)) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `options.length must be the integer encodedLength() returned, got ${known}`,
    );
  }
  const length = known ?? size(type, message);
  if (length > target.length) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `target of ${target.length} bytes is too small: ${codecName(type)} encodes to ${length} bytes`,
    );
  }
  return writeSized(type, message, target, length);
}
