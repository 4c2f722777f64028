import { DiscoveryError } from '../errors/discovery-error.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import {
  EVENTGROUP_ENTRY_CODE,
  eventgroupEntryType,
  type EventgroupEntry,
} from './eventgroup-entry.js';
import { hex2 } from './ip-option-layout.js';
import { NO_OPTIONS, type OptionRun } from './option-run.js';
import {
  SERVICE_ENTRY_CODE,
  isServiceEntryType,
  serviceEntryType,
  type ServiceEntry,
} from './service-entry.js';

/** Any SD entry, discriminated by `type`. */
export type SdEntry = ServiceEntry | EventgroupEntry;

/** Size of every entry on the wire. */
export const ENTRY_SIZE = 16;

/** The entry types a conforming sender may emit (the legacy ones are receive-only). */
export const SENDABLE_ENTRY_TYPES: ReadonlySet<SdEntry['type']> = new Set([
  'find',
  'offer',
  'stopOffer',
  'subscribe',
  'stopSubscribe',
  'subscribeAck',
  'subscribeNack',
]);

/** True when `e` uses the service entry format. */
export function isServiceEntry(e: SdEntry): e is ServiceEntry {
  return isServiceEntryType(e.type);
}

/**
 * Reads one 16-byte entry (`r` is bounded to exactly 16 bytes by the caller). Unknown Type
 * bytes reject the message, as vsomeip does (one unknown entry drops the whole message).
 * A run with count 0 is read as the empty run whatever its index (SD-1140: receivers accept
 * a non-zero index there).
 */
export function readEntry(r: ByteReader): SdEntry {
  const at = r.offset;
  const code = r.u8('entry Type');
  const index1 = r.u8('entry index 1st options');
  const index2 = r.u8('entry index 2nd options');
  const counts = r.u8('entry number of options');
  const serviceId = r.u16('entry Service ID');
  const instanceId = r.u16('entry Instance ID');
  const majorVersion = r.u8('entry Major Version');
  const ttl = r.u24('entry TTL');
  const run1: OptionRun = counts >> 4 === 0 ? NO_OPTIONS : { index: index1, count: counts >> 4 };
  const run2: OptionRun =
    (counts & 0x0f) === 0 ? NO_OPTIONS : { index: index2, count: counts & 0x0f };
  switch (code) {
    case 0x00:
    case 0x01:
    case 0x02: {
      const minorVersion = r.u32('service entry Minor Version');
      return {
        type: serviceEntryType(code, ttl),
        serviceId,
        instanceId,
        majorVersion,
        ttl,
        minorVersion,
        run1,
        run2,
      };
    }
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x07: {
      r.skip(1, 'eventgroup entry reserved byte');
      const flags = r.u8('eventgroup entry flags and counter');
      const eventgroupId = r.u16('eventgroup entry Eventgroup ID');
      return {
        type: eventgroupEntryType(code, ttl),
        serviceId,
        instanceId,
        majorVersion,
        ttl,
        initialDataRequested: (flags & 0x80) !== 0,
        counter: flags & 0x0f,
        eventgroupId,
        run1,
        run2,
      };
    }
    default:
      throw DiscoveryError.at(
        'ERR_SD_ENTRY',
        at,
        `entry type 0x${hex2(code)} is unknown (known: 0x00 Find, 0x01 Offer, 0x06 Subscribe, 0x07 Ack; legacy 0x02, 0x04, 0x05)`,
      );
  }
}

/** Writes one 16-byte entry. Range checks are the caller's (`checkSdMessage`). */
export function writeEntry(w: ByteWriter, e: SdEntry): void {
  if (isServiceEntry(e)) {
    writeCommon(w, SERVICE_ENTRY_CODE[e.type], e);
    w.u32(e.minorVersion);
  } else {
    writeCommon(w, EVENTGROUP_ENTRY_CODE[e.type], e);
    w.u8(0);
    w.u8((e.initialDataRequested ? 0x80 : 0) | (e.counter & 0x0f));
    w.u16(e.eventgroupId);
  }
}

function writeCommon(w: ByteWriter, code: number, e: SdEntry): void {
  w.u8(code);
  // An empty run is sent with index 0 (SD-1140).
  w.u8(e.run1.count === 0 ? 0 : e.run1.index);
  w.u8(e.run2.count === 0 ? 0 : e.run2.index);
  w.u8((e.run1.count << 4) | e.run2.count);
  w.u16(e.serviceId);
  w.u16(e.instanceId);
  w.u8(e.majorVersion);
  w.u24(e.ttl);
}
