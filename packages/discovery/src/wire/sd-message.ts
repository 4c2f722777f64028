import { DiscoveryError } from '../errors/discovery-error.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { ENTRY_SIZE, readEntry, writeEntry, type SdEntry } from './entry.js';
import { optionSize, readOption, writeOption, type SdOption } from './option.js';
import { checkSdMessage } from './sd-checks.js';
import { flagsFromByte, flagsToByte, type SdFlags } from './sd-flags.js';
import { readSdSomeIpHeader, writeSdSomeIpHeader } from './someip-header.js';

/**
 * One SOME/IP-SD message as it is on the wire: the session id of its SOME/IP header, the
 * flags of its SD header, the entries array and the options array. Entries point into
 * `options` through their two runs; `entryOptions()` resolves them.
 *
 * This is also the JSON shape of `sivshm sd decode` (see the package README).
 */
export interface SdMessage {
  readonly sessionId: number;
  readonly flags: SdFlags;
  readonly entries: readonly SdEntry[];
  readonly options: readonly SdOption[];
}

/**
 * Decodes one SD message (a whole UDP payload or control-link frame).
 *
 * Applies every structural rule of PRS SOME/IP-SD (header fields, array lengths, option
 * lengths, option contents) and throws a `DiscoveryError` naming the byte and the rule on the
 * first violation. It never reads past a declared length. Semantic rules that the receiver
 * answers with a Nack or by ignoring one entry (missing or conflicting options) are not
 * errors here; see `checkEntry`.
 *
 * @example
 * ```ts
 * declare const datagram: Uint8Array; // a UDP payload from port 30490
 * const msg = decodeSdMessage(datagram);
 * for (const e of msg.entries) if (e.type === 'offer') console.log(e.serviceId);
 * ```
 */
export function decodeSdMessage(bytes: Uint8Array): SdMessage {
  const r = new ByteReader(bytes);
  const sessionId = readSdSomeIpHeader(r, bytes.length);
  const flags = flagsFromByte(r.u8('SD flags'));
  r.skip(3, 'SD reserved bytes');
  const entriesAt = r.offset;
  const entriesLength = r.u32('Length of Entries Array');
  if (entriesLength % ENTRY_SIZE !== 0) {
    throw DiscoveryError.at(
      'ERR_SD_LENGTH',
      entriesAt,
      `Length of Entries Array ${entriesLength} is not a multiple of ${ENTRY_SIZE}`,
    );
  }
  if (entriesLength + 4 > r.remaining) {
    throw DiscoveryError.at(
      'ERR_SD_LENGTH',
      entriesAt,
      `Length of Entries Array ${entriesLength} overruns the message (${r.remaining - 4} bytes left for entries)`,
    );
  }
  const entriesReader = r.sub(entriesLength, 'entries array');
  const entries: SdEntry[] = [];
  while (entriesReader.remaining > 0) {
    entries.push(readEntry(entriesReader.sub(ENTRY_SIZE, 'entry')));
  }
  const optionsAt = r.offset;
  const optionsLength = r.u32('Length of Options Array');
  if (optionsLength !== r.remaining) {
    throw DiscoveryError.at(
      'ERR_SD_LENGTH',
      optionsAt,
      optionsLength > r.remaining
        ? `Length of Options Array ${optionsLength} overruns the message (${r.remaining} bytes left)`
        : `Length of Options Array ${optionsLength} leaves ${r.remaining - optionsLength} unexplained bytes at the end of the message`,
    );
  }
  const optionsReader = r.sub(optionsLength, 'options array');
  const options: SdOption[] = [];
  while (optionsReader.remaining > 0) options.push(readOption(optionsReader));
  return { sessionId, flags, entries, options };
}

/**
 * Encodes an SD message after checking it against every sender rule (`checkSdMessage`):
 * throws `DiscoveryError` `ERR_SD_ENCODE` listing what is wrong instead of emitting a packet
 * a conforming peer would drop. Use `packSdMessage` to build the options array and runs.
 */
export function encodeSdMessage(msg: SdMessage): Uint8Array {
  const problems = checkSdMessage(msg);
  if (problems.length > 0) {
    throw new DiscoveryError(
      'ERR_SD_ENCODE',
      `refusing to encode an SD message that breaks the specification: ${problems.map((p) => p.message).join('; ')}`,
    );
  }
  return encodeSdMessageUnchecked(msg);
}

/** Writes `msg` without the rule checks; for benchmarks and for messages already checked. */
export function encodeSdMessageUnchecked(msg: SdMessage): Uint8Array {
  const w = new ByteWriter(sdMessageSize(msg));
  const lengthAt = writeSdSomeIpHeader(w, msg.sessionId);
  w.u8(flagsToByte(msg.flags));
  w.u8(0);
  w.u16(0);
  w.u32(msg.entries.length * ENTRY_SIZE);
  for (const e of msg.entries) writeEntry(w, e);
  const optionsLengthAt = w.reserve(4);
  for (const o of msg.options) writeOption(w, o);
  w.setU32(optionsLengthAt, w.offset - optionsLengthAt - 4);
  w.setU32(lengthAt, w.offset - 8);
  return w.finish();
}

/** The encoded size of `msg` in bytes, so that the encoder allocates once. */
function sdMessageSize(msg: SdMessage): number {
  let n = 28 + msg.entries.length * ENTRY_SIZE;
  for (const o of msg.options) n += optionSize(o);
  return n;
}
