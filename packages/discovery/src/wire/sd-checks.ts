import { configurationKeyProblem } from './configuration-option.js';
import type { EndpointOption } from './endpoint-option.js';
import { SENDABLE_ENTRY_TYPES, isServiceEntry, type SdEntry } from './entry.js';
import { isIPv4Multicast, isIPv6Multicast, parseIPv4, parseIPv6 } from './ip-address.js';
import { OPTION_TYPE_CODE, isIpOption, optionKey, type SdOption } from './option.js';
import type { SdMessage } from './sd-message.js';
import { SD_MAX_SESSION } from './someip-header.js';

/** The rule a problem breaks; names follow the conformance checklist (docs/protocol.md §8; conformance.spec.ts). */
export type SdRule =
  | 'session-id-range'
  | 'entries-not-empty'
  | 'unicast-flag-set'
  | 'entry-type-sendable'
  | 'field-range'
  | 'ttl-matches-type'
  | 'no-wildcards-outside-find'
  | 'option-reference-exists'
  | 'no-endpoint-on-find'
  | 'offer-has-endpoint'
  | 'one-endpoint-per-protocol'
  | 'one-ip-version'
  | 'multicast-only-in-ack'
  | 'no-endpoint-in-ack-or-nack'
  | 'at-most-one-configuration'
  | 'at-most-one-load-balancing'
  | 'sd-endpoint-first-and-unreferenced'
  | 'option-valid';

/** One broken rule: which entry (if any) and a sentence a person can act on. */
export interface SdProblem {
  readonly rule: SdRule;
  readonly entry?: number;
  readonly message: string;
}

/**
 * The options an entry references, run 1 then run 2, with identical duplicates removed
 * (redundant options are ignored, SD-1144), plus problems for references past the array.
 */
export function entryOptions(
  msg: SdMessage,
  entry: SdEntry,
): { options: SdOption[]; missing: boolean } {
  const { run1, run2 } = entry;
  // One referenced option (the usual Offer or Subscribe) has no duplicate to drop: skip the keys.
  if (run1.count + run2.count === 1) {
    const o = msg.options[run1.count === 1 ? run1.index : run2.index];
    return o === undefined ? { options: [], missing: true } : { options: [o], missing: false };
  }
  const seen = new Set<string>();
  const options: SdOption[] = [];
  let missing = false;
  for (const run of [run1, run2]) {
    for (let i = run.index; i < run.index + run.count; i++) {
      const o = msg.options[i];
      if (o === undefined) {
        missing = true;
        continue;
      }
      const k = optionKey(o);
      if (!seen.has(k)) {
        seen.add(k);
        options.push(o);
      }
    }
  }
  return { options, missing };
}

/**
 * Semantic problems of entry `i` of a message: the rules a receiver enforces by ignoring
 * the entry or answering a Subscribe with a Nack (SD-946 allowed options, SD-780, SD-1233's
 * syntactic part). An empty list means the entry may be processed.
 */
export function checkEntry(msg: SdMessage, i: number): SdProblem[] {
  const e = msg.entries[i];
  if (e === undefined) return [];
  const out: SdProblem[] = [];
  const add: AddProblem = (rule, message) => {
    out.push({ rule, entry: i, message: `entry ${i} (${e.type}): ${message}` });
  };
  const { options, missing } = entryOptions(msg, e);
  if (missing)
    add('option-reference-exists', 'references options past the end of the options array');
  checkSdEndpointReferences(msg, e, add);
  if (e.type === 'find' && e.ttl === 0) add('ttl-matches-type', 'a Find must have TTL > 0');
  const count = (t: SdOption['type']): number => options.filter((o) => o.type === t).length;
  if (count('configuration') > 1)
    add('at-most-one-configuration', 'references more than one configuration option');
  if (count('loadBalancing') > 1)
    add('at-most-one-load-balancing', 'references more than one load balancing option');
  checkAllowedOptions(e, options, add);
  checkWildcards(e, add);
  return out;
}

/** Reports one problem of the entry being checked. */
type AddProblem = (rule: SdRule, message: string) => void;

/** SD endpoint options are never referenced by entries. */
function checkSdEndpointReferences(msg: SdMessage, e: SdEntry, add: AddProblem): void {
  for (const run of [e.run1, e.run2]) {
    for (let k = run.index; k < run.index + run.count; k++) {
      const o = msg.options[k];
      if (o !== undefined && (o.type === 'ipv4SdEndpoint' || o.type === 'ipv6SdEndpoint'))
        add(
          'sd-endpoint-first-and-unreferenced',
          `references SD endpoint option ${k}; SD endpoint options are never referenced by entries`,
        );
    }
  }
}

/** Which endpoint and multicast options each entry type may reference (SD-946). */
function checkAllowedOptions(e: SdEntry, options: SdOption[], add: AddProblem): void {
  const endpoints = options.filter(
    (o): o is EndpointOption => o.type === 'ipv4Endpoint' || o.type === 'ipv6Endpoint',
  );
  const multicasts = options.filter(
    (o) => o.type === 'ipv4Multicast' || o.type === 'ipv6Multicast',
  );
  switch (e.type) {
    case 'find':
      if (endpoints.length + multicasts.length > 0)
        add('no-endpoint-on-find', 'a Find carries no endpoint or multicast options');
      break;
    case 'offer':
    case 'stopOffer':
      if (endpoints.length === 0)
        add('offer-has-endpoint', 'an Offer / StopOffer references at least one endpoint option');
      if (multicasts.length > 0)
        add('multicast-only-in-ack', 'an Offer carries no multicast option');
      checkEndpointSet(endpoints, add);
      break;
    case 'subscribe':
    case 'stopSubscribe':
      if (multicasts.length > 0)
        add('multicast-only-in-ack', 'a Subscribe carries no multicast option');
      checkEndpointSet(endpoints, add);
      break;
    case 'subscribeAck':
      if (endpoints.length > 0)
        add('no-endpoint-in-ack-or-nack', 'an Ack carries no endpoint option');
      if (multicasts.length > 1)
        add('multicast-only-in-ack', 'an Ack references at most one multicast option');
      break;
    case 'subscribeNack':
      if (endpoints.length + multicasts.length > 0)
        add('no-endpoint-in-ack-or-nack', 'a Nack carries no endpoint or multicast option');
      break;
    default:
      break;
  }
}

/** At most one UDP and one TCP endpoint, all of one IP version. */
function checkEndpointSet(endpoints: EndpointOption[], add: AddProblem): void {
  const udp = endpoints.filter((o) => o.protocol === 'udp').length;
  const tcp = endpoints.filter((o) => o.protocol === 'tcp').length;
  if (udp > 1 || tcp > 1)
    add(
      'one-endpoint-per-protocol',
      `references ${udp} UDP and ${tcp} TCP endpoints; at most one of each`,
    );
  if (new Set(endpoints.map((o) => o.type)).size > 1)
    add('one-ip-version', 'mixes IPv4 and IPv6 endpoint options');
}

/** The "any" instance and versions are allowed only in a Find. */
function checkWildcards(e: SdEntry, add: AddProblem): void {
  if (e.type === 'find' || e.type === 'findEventgroup') return;
  if (e.instanceId === 0xffff)
    add('no-wildcards-outside-find', 'instance 0xFFFF (any) is allowed only in a Find');
  if (e.majorVersion === 0xff)
    add('no-wildcards-outside-find', 'major version 0xFF (any) is allowed only in a Find');
  if (isServiceEntry(e) && e.minorVersion === 0xffffffff)
    add('no-wildcards-outside-find', 'minor version 0xFFFFFFFF (any) is allowed only in a Find');
}

/**
 * Every rule a sender must keep (the "Wire" items of the conformance checklist): field ranges, sendable entry types,
 * TTL consistent with the entry name, unicast flag set, session id 1..0xFFFF, the SD
 * endpoint option first and unreferenced, valid option contents, and `checkEntry` for each
 * entry. `encodeSdMessage` refuses a message with any problem.
 */
export function checkSdMessage(msg: SdMessage): SdProblem[] {
  const out: SdProblem[] = [];
  if (!isUint(msg.sessionId, 0xffff) || msg.sessionId < 1)
    out.push({
      rule: 'session-id-range',
      message: `session id ${String(msg.sessionId)} is outside 1..${SD_MAX_SESSION}`,
    });
  if (msg.entries.length === 0)
    out.push({
      rule: 'entries-not-empty',
      message: 'an SD message carries at least one entry (Wireshark: "Empty Entry Array")',
    });
  if (msg.flags.unicast !== true)
    out.push({
      rule: 'unicast-flag-set',
      message: 'the unicast flag must be set: every sender here receives unicast SD',
    });
  msg.options.forEach((o, k) => {
    for (const message of optionProblems(o))
      out.push({ rule: 'option-valid', message: `option ${k} (${o.type}): ${message}` });
    if ((o.type === 'ipv4SdEndpoint' || o.type === 'ipv6SdEndpoint') && k !== 0)
      out.push({
        rule: 'sd-endpoint-first-and-unreferenced',
        message: `option ${k}: an SD endpoint option must be option 0 and occur at most once`,
      });
  });
  msg.entries.forEach((e, i) => {
    const add = (rule: SdRule, message: string): void => {
      out.push({ rule, entry: i, message: `entry ${i} (${e.type}): ${message}` });
    };
    if (!SENDABLE_ENTRY_TYPES.has(e.type)) {
      add('entry-type-sendable', 'legacy entry types are decoded but never sent');
      return;
    }
    const ranges: Array<[string, unknown, number]> = [
      ['serviceId', e.serviceId, 0xffff],
      ['instanceId', e.instanceId, 0xffff],
      ['majorVersion', e.majorVersion, 0xff],
      ['ttl', e.ttl, 0xffffff],
      ['run1.index', e.run1.index, 0xff],
      ['run1.count', e.run1.count, 0x0f],
      ['run2.index', e.run2.index, 0xff],
      ['run2.count', e.run2.count, 0x0f],
    ];
    if (isServiceEntry(e)) ranges.push(['minorVersion', e.minorVersion, 0xffffffff]);
    else ranges.push(['eventgroupId', e.eventgroupId, 0xffff], ['counter', e.counter, 0x0f]);
    let bad = false;
    for (const [name, v, max] of ranges) {
      if (!isUint(v, max)) {
        add('field-range', `${name} ${String(v)} is outside 0..0x${max.toString(16)}`);
        bad = true;
      }
    }
    if (bad) return;
    const stop = e.type === 'stopOffer' || e.type === 'stopSubscribe' || e.type === 'subscribeNack';
    if (stop && e.ttl !== 0) add('ttl-matches-type', `a ${e.type} has TTL 0, not ${e.ttl}`);
    if (!stop && e.ttl === 0 && e.type !== 'find')
      add(
        'ttl-matches-type',
        `a ${e.type} has TTL > 0 (TTL 0 means ${e.type === 'offer' ? 'stopOffer' : e.type === 'subscribe' ? 'stopSubscribe' : 'subscribeNack'})`,
      );
    out.push(...checkEntry(msg, i));
  });
  return out;
}

/** Why option `o` cannot be encoded (empty when it can). */
export function optionProblems(o: SdOption): string[] {
  const out: string[] = [];
  switch (o.type) {
    case 'unknown':
      if (!isUint(o.optionType, 0xff))
        out.push(`option type ${String(o.optionType)} is outside 0..0xff`);
      else if (Object.values(OPTION_TYPE_CODE).includes(o.optionType))
        out.push(`type 0x${o.optionType.toString(16)} is a known option type; use its named form`);
      if (!(o.data instanceof Uint8Array) || o.data.length < 1 || o.data.length > 0xffff)
        out.push('data must be 1..65535 bytes (the reserved byte included)');
      break;
    case 'configuration':
      o.items.forEach((item, i) => {
        const p = configurationKeyProblem(item.key);
        if (p !== undefined) out.push(`item ${i}: ${p}`);
      });
      break;
    case 'loadBalancing':
      if (!isUint(o.priority, 0xffff))
        out.push(`priority ${String(o.priority)} is outside 0..65535`);
      if (!isUint(o.weight, 0xffff)) out.push(`weight ${String(o.weight)} is outside 0..65535`);
      break;
    default: {
      if (!isIpOption(o)) break;
      const v4 = o.type.startsWith('ipv4');
      let raw: Uint8Array | undefined;
      try {
        raw = v4 ? parseIPv4(o.address) : parseIPv6(o.address);
      } catch {
        out.push(`"${String(o.address)}" is not an ${v4 ? 'IPv4' : 'IPv6'} address`);
      }
      if (!isUint(o.port, 0xffff)) out.push(`port ${String(o.port)} is outside 0..65535`);
      if (o.protocol !== 'udp' && o.protocol !== 'tcp')
        out.push(`protocol ${String(o.protocol)} is not udp or tcp`);
      const multicastType = o.type === 'ipv4Multicast' || o.type === 'ipv6Multicast';
      if ((multicastType || o.type.endsWith('SdEndpoint')) && o.protocol !== 'udp')
        out.push('multicast and SD endpoint options carry UDP only');
      if (raw !== undefined) {
        const isMc = v4 ? isIPv4Multicast(raw) : isIPv6Multicast(raw);
        if (multicastType && !isMc) out.push(`${o.address} is not a multicast address`);
        if (!multicastType && isMc)
          out.push(`${o.address} is a multicast address; an endpoint needs a unicast one`);
      }
    }
  }
  return out;
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}
