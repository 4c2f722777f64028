import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdEntry } from '../wire/entry.js';
import type { EventgroupEntryType } from '../wire/eventgroup-entry.js';
import type { SdOption } from '../wire/option.js';
import type { OptionRun } from '../wire/option-run.js';
import type { SdMessage } from '../wire/sd-message.js';
import type { ServiceEntryType } from '../wire/service-entry.js';

/** JSON form of an option: as `SdOption`, but an unknown option's `data` is a hex string. */
export type SdOptionJson =
  | Exclude<SdOption, { type: 'unknown' }>
  | { readonly type: 'unknown'; readonly optionType: number; readonly data: string };

/** The stable JSON shape of an SD message (documented in the package README). */
export interface SdMessageJson {
  readonly sessionId: number;
  readonly flags: SdMessage['flags'];
  readonly entries: readonly SdEntry[];
  readonly options: readonly SdOptionJson[];
}

const SERVICE_TYPES: readonly ServiceEntryType[] = ['find', 'offer', 'stopOffer', 'requestService'];
const EVENTGROUP_TYPES: readonly EventgroupEntryType[] = [
  'subscribe',
  'stopSubscribe',
  'subscribeAck',
  'subscribeNack',
  'findEventgroup',
  'publishEventgroup',
];
const IP_TYPES = [
  'ipv4Endpoint',
  'ipv6Endpoint',
  'ipv4Multicast',
  'ipv6Multicast',
  'ipv4SdEndpoint',
  'ipv6SdEndpoint',
] as const;

/** The JSON shape of a decoded message (plain data, ready for `JSON.stringify`). */
export function sdMessageToJson(msg: SdMessage): SdMessageJson {
  return {
    sessionId: msg.sessionId,
    flags: { ...msg.flags },
    entries: msg.entries.map((e) => ({ ...e, run1: { ...e.run1 }, run2: { ...e.run2 } })),
    options: msg.options.map((o) =>
      o.type === 'unknown'
        ? { type: 'unknown', optionType: o.optionType, data: Buffer.from(o.data).toString('hex') }
        : o.type === 'configuration'
          ? { type: 'configuration', items: o.items.map((i) => ({ ...i })) }
          : { ...o },
    ),
  };
}

/**
 * Reads the JSON shape back into an `SdMessage`, checking every field's presence and type
 * (ranges and specification rules are the encoder's). Integer fields may also be given as
 * `"0x…"` hex strings; `run1` / `run2` may be omitted (empty run).
 *
 * @throws DiscoveryError `ERR_SD_JSON` naming the path of the first bad field.
 */
export function sdMessageFromJson(value: unknown): SdMessage {
  const m = obj(value, '$');
  const flags = obj(m['flags'], '$.flags');
  return {
    sessionId: int(m['sessionId'], '$.sessionId'),
    flags: {
      reboot: bool(flags['reboot'], '$.flags.reboot'),
      unicast: bool(flags['unicast'], '$.flags.unicast'),
      explicitInitialDataControl:
        flags['explicitInitialDataControl'] === undefined
          ? false
          : bool(flags['explicitInitialDataControl'], '$.flags.explicitInitialDataControl'),
    },
    entries: arr(m['entries'], '$.entries').map((v, i) => entryFromJson(v, `$.entries[${i}]`)),
    options: arr(m['options'] ?? [], '$.options').map((v, i) =>
      optionFromJson(v, `$.options[${i}]`),
    ),
  };
}

function entryFromJson(v: unknown, path: string): SdEntry {
  const e = obj(v, path);
  const type = e['type'];
  if (
    !SERVICE_TYPES.includes(type as ServiceEntryType) &&
    !EVENTGROUP_TYPES.includes(type as EventgroupEntryType)
  ) {
    throw fail(
      `${path}.type`,
      `"${String(type)}" is not an entry type (${[...SERVICE_TYPES, ...EVENTGROUP_TYPES].join(', ')})`,
    );
  }
  const common = {
    serviceId: int(e['serviceId'], `${path}.serviceId`),
    instanceId: int(e['instanceId'], `${path}.instanceId`),
    majorVersion: int(e['majorVersion'], `${path}.majorVersion`),
    run1: run(e['run1'], `${path}.run1`),
    run2: run(e['run2'], `${path}.run2`),
  };
  const isStop = type === 'stopOffer' || type === 'stopSubscribe' || type === 'subscribeNack';
  const ttl = e['ttl'] === undefined && isStop ? 0 : int(e['ttl'], `${path}.ttl`);
  if (SERVICE_TYPES.includes(type as ServiceEntryType)) {
    return {
      type: type as ServiceEntryType,
      ...common,
      ttl,
      minorVersion: int(e['minorVersion'], `${path}.minorVersion`),
    };
  }
  return {
    type: type as EventgroupEntryType,
    ...common,
    ttl,
    initialDataRequested:
      e['initialDataRequested'] === undefined
        ? false
        : bool(e['initialDataRequested'], `${path}.initialDataRequested`),
    counter: e['counter'] === undefined ? 0 : int(e['counter'], `${path}.counter`),
    eventgroupId: int(e['eventgroupId'], `${path}.eventgroupId`),
  };
}

function optionFromJson(v: unknown, path: string): SdOption {
  const o = obj(v, path);
  const type = o['type'];
  if (type === 'unknown') {
    const data = o['data'];
    if (typeof data !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(data))
      throw fail(`${path}.data`, 'must be a string of hex byte pairs');
    return {
      type: 'unknown',
      optionType: int(o['optionType'], `${path}.optionType`),
      data: new Uint8Array(Buffer.from(data, 'hex')),
    };
  }
  if (type === 'configuration') {
    return {
      type,
      items: arr(o['items'], `${path}.items`).map((it, i) => {
        const item = obj(it, `${path}.items[${i}]`);
        const key = str(item['key'], `${path}.items[${i}].key`);
        return item['value'] === undefined
          ? { key }
          : { key, value: str(item['value'], `${path}.items[${i}].value`) };
      }),
    };
  }
  if (type === 'loadBalancing') {
    return {
      type,
      priority: int(o['priority'], `${path}.priority`),
      weight: int(o['weight'], `${path}.weight`),
    };
  }
  if ((IP_TYPES as readonly unknown[]).includes(type)) {
    const protocol = o['protocol'];
    if (protocol !== 'udp' && protocol !== 'tcp')
      throw fail(`${path}.protocol`, 'must be "udp" or "tcp"');
    return {
      type,
      address: str(o['address'], `${path}.address`),
      protocol,
      port: int(o['port'], `${path}.port`),
    } as SdOption;
  }
  throw fail(
    `${path}.type`,
    `"${String(type)}" is not an option type (configuration, loadBalancing, ${IP_TYPES.join(', ')}, unknown)`,
  );
}

function run(v: unknown, path: string): OptionRun {
  if (v === undefined) return { index: 0, count: 0 };
  const r = obj(v, path);
  return { index: int(r['index'], `${path}.index`), count: int(r['count'], `${path}.count`) };
}

function fail(path: string, why: string): DiscoveryError {
  return new DiscoveryError('ERR_SD_JSON', `${path}: ${why}`);
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw fail(path, 'must be an object');
  return v as Record<string, unknown>;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw fail(path, 'must be an array');
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw fail(path, 'must be a string');
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw fail(path, 'must be true or false');
  return v;
}

function int(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,8}$/.test(v)) return parseInt(v.slice(2), 16);
  throw fail(path, 'must be a non-negative integer (a number or a "0x…" hex string)');
}
