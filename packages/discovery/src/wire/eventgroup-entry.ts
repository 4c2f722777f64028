import type { OptionRun } from './option-run.js';

/**
 * Names of the eventgroup entry types (16-byte eventgroup entry format, SD-109):
 * 0x06 `subscribe` (TTL > 0) / `stopSubscribe` (TTL 0), 0x07 `subscribeAck` (TTL > 0) /
 * `subscribeNack` (TTL 0), and the legacy 0x04 `findEventgroup` and 0x05
 * `publishEventgroup`, which are decoded but never sent.
 */
export type EventgroupEntryType =
  | 'subscribe'
  | 'stopSubscribe'
  | 'subscribeAck'
  | 'subscribeNack'
  | 'findEventgroup'
  | 'publishEventgroup';

/**
 * A SubscribeEventgroup, StopSubscribeEventgroup, SubscribeEventgroupAck or Nack entry.
 * Byte 12 is reserved (sent 0, ignored); byte 13 holds the Initial Data Requested flag
 * (bit 7, Open spec; removed in AUTOSAR R21-11) and the 4-bit counter that tells parallel
 * subscriptions apart that differ only in endpoint.
 */
export interface EventgroupEntry {
  readonly type: EventgroupEntryType;
  readonly serviceId: number;
  readonly instanceId: number;
  readonly majorVersion: number;
  /** Seconds, 24 bit; 0xFFFFFF = until the sender reboots; 0 = stop / nack. */
  readonly ttl: number;
  readonly initialDataRequested: boolean;
  /** 0..15. */
  readonly counter: number;
  readonly eventgroupId: number;
  readonly run1: OptionRun;
  readonly run2: OptionRun;
}

/** Wire Type byte of each eventgroup entry name. */
export const EVENTGROUP_ENTRY_CODE: Readonly<Record<EventgroupEntryType, number>> = {
  findEventgroup: 0x04,
  publishEventgroup: 0x05,
  subscribe: 0x06,
  stopSubscribe: 0x06,
  subscribeAck: 0x07,
  subscribeNack: 0x07,
};

/** The entry name for an eventgroup entry Type byte and TTL. */
export function eventgroupEntryType(
  code: 0x04 | 0x05 | 0x06 | 0x07,
  ttl: number,
): EventgroupEntryType {
  if (code === 0x04) return 'findEventgroup';
  if (code === 0x05) return 'publishEventgroup';
  if (code === 0x06) return ttl === 0 ? 'stopSubscribe' : 'subscribe';
  return ttl === 0 ? 'subscribeNack' : 'subscribeAck';
}
