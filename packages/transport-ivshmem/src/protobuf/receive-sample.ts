import type { RingConsumer } from '../ring/ring-consumer.js';
import { decodeFrom } from './decode-from.js';
import { codecName } from './message-codec.js';
import type { MessageCodec } from './message-codec.js';
import { Sample } from './sample.js';
import type { SampleLedger } from './sample-ledger.js';

/** Options of {@link receiveSample}. */
export interface ReceiveSampleOptions {
  /** Counts the samples and reports those dropped without `release()`. */
  readonly ledger?: SampleLedger;
}

/**
 * Takes the next record of `consumer` and decodes its payload in place as a {@link Sample}
 * whose `release()` releases the record; undefined when the ring has nothing (or has failed).
 *
 * Use it for the zero-copy receive lane (what `ServiceConsumer.samples` delivers). The ring
 * stays blocked on this record until the sample is released, so release it promptly. A
 * payload that does not decode is a bad message, not a broken ring: its record is released
 * and `ERR_DECODE` is thrown, and the next call continues with the next record.
 *
 * @example
 * ```ts
 * declare const consumer: RingConsumer, VehicleSignal: MessageCodec;
 * declare function render(kph: number): void;
 * const next = () => receiveSample<{ speedKph: number }>(consumer, VehicleSignal);
 * for (let s = next(); s; s = next()) {
 *   try {
 *     render(s.message.speedKph);
 *   } finally {
 *     s.release();
 *   }
 * }
 * ```
 */
export function receiveSample<T extends object = Record<string, unknown>>(
  consumer: RingConsumer,
  type: MessageCodec,
  options: ReceiveSampleOptions = {},
): Sample<T> | undefined {
  const record = consumer.receive();
  if (record === undefined) return undefined;
  let message: T;
  try {
    message = decodeFrom<T>(type, record.payload);
  } catch (e) {
    consumer.release();
    throw e;
  }
  const sampleOptions = {
    header: record.header,
    onRelease: () => consumer.release(),
    label: codecName(type),
  };
  return new Sample<T>(
    message,
    options.ledger === undefined ? sampleOptions : { ...sampleOptions, ledger: options.ledger },
  );
}
