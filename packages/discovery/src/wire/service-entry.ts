import type { OptionRun } from './option-run.js';

/**
 * Names of the service entry types (16-byte service entry format, SD-47):
 * 0x00 `find`, 0x01 `offer` (TTL > 0) / `stopOffer` (TTL 0), and the legacy 0x02
 * `requestService`, which is decoded but never sent.
 */
export type ServiceEntryType = 'find' | 'offer' | 'stopOffer' | 'requestService';

/**
 * A FindService, OfferService, StopOfferService (or legacy RequestService) entry.
 * Wildcards: instance 0xFFFF, major 0xFF and minor 0xFFFFFFFF mean "any" in a Find only.
 */
export interface ServiceEntry {
  readonly type: ServiceEntryType;
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  /** Seconds, 24 bit; 0xFFFFFF = until the sender reboots; 0 = stop. */
  readonly ttl: number;
  readonly minorVersion: number;
  readonly run1: OptionRun;
  readonly run2: OptionRun;
}

/** Wire Type byte of each service entry name. */
export const SERVICE_ENTRY_CODE: Readonly<Record<ServiceEntryType, number>> = {
  find: 0x00,
  offer: 0x01,
  stopOffer: 0x01,
  requestService: 0x02,
};

/** The entry name for a service entry Type byte and TTL. */
export function serviceEntryType(code: 0x00 | 0x01 | 0x02, ttl: number): ServiceEntryType {
  if (code === 0x00) return 'find';
  if (code === 0x02) return 'requestService';
  return ttl === 0 ? 'stopOffer' : 'offer';
}

/** True for the entry types with the service entry format. */
export function isServiceEntryType(t: string): t is ServiceEntryType {
  return t === 'find' || t === 'offer' || t === 'stopOffer' || t === 'requestService';
}
