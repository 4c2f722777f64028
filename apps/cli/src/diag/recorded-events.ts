// The events of a recording, in the order and at the times they were recorded, resolved against
// services.yaml: what `sivshm replay` re-offers. Only plain channels' records can be replayed
// (a mac or aead record carries a tag or ciphertext for the channel's own keys).
import type protobuf from 'protobufjs';
import type { EventDefinition, ServiceConfig, ServiceDefinition } from '@sivshm/core';
import { CliError } from '../errors/cli-error.js';
import type { PcapngFile } from './pcapng.js';
import { messageOf, recordedChannelFrom, type RecordedChannel } from './recorded-channel.js';

/** SOME/IP message type of a notification (an event). */
const NOTIFICATION = 0x02;
const HEADER = 16;

/** One recorded event, ready to publish again. */
export interface RecordedEvent {
  readonly timestampUs: bigint;
  readonly service: ServiceDefinition;
  readonly instance: number;
  readonly event: EventDefinition;
  readonly type: protobuf.Type;
  readonly payload: Uint8Array;
}

/** The events, and what was left out and why (for the summary line). */
export interface RecordedEvents {
  readonly events: RecordedEvent[];
  /** Records of mac/aead channels, which cannot be replayed. */
  readonly sealed: number;
  /** The same event recorded again on a second channel of the same service instance. */
  readonly duplicates: number;
}

/**
 * The recording's events that VM `as` may offer again. A service it does not provide is
 * refused in one line (the replaying VM must be the configured provider: the policy applies to
 * a replay as to any offer).
 */
export function recordedEvents(
  file: PcapngFile,
  config: ServiceConfig,
  as: string,
  name: string,
): RecordedEvents {
  const channels = file.interfaces.map(recordedChannelFrom);
  /** The interface that carries each service instance (the first one seen). */
  const carrier = new Map<string, number>();
  const events: RecordedEvent[] = [];
  let sealed = 0;
  let duplicates = 0;
  for (const p of file.packets) {
    const c = channels[p.interfaceId];
    const message = messageOf(p.data);
    if (c === undefined || message === undefined || message.length < HEADER) continue;
    const method = new DataView(message.buffer, message.byteOffset).getUint16(2);
    if ((method & 0x8000) === 0 || message[14] !== NOTIFICATION) continue;
    if (c.mode !== 'plain') {
      sealed++;
      continue;
    }
    const key = `${c.service}/${c.instance}`;
    if ((carrier.get(key) ?? p.interfaceId) !== p.interfaceId) {
      duplicates++;
      continue;
    }
    carrier.set(key, p.interfaceId);
    const { service, event } = resolve(config, c, method, as, name);
    events.push({
      timestampUs: p.timestampUs,
      service,
      instance: c.instance,
      event,
      type: config.protoRoot.lookupType(event.type),
      payload: message.subarray(HEADER),
    });
  }
  return { events, sealed, duplicates };
}

function resolve(
  config: ServiceConfig,
  c: RecordedChannel,
  method: number,
  as: string,
  name: string,
): { service: ServiceDefinition; event: EventDefinition } {
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const service = config.services.find((s) => s.id === c.service);
  if (service === undefined) {
    throw new CliError(
      'ERR_INPUT',
      `${name} carries service ${hex(c.service)}, which ${config.file} does not define`,
    );
  }
  if (service.provider !== as) {
    throw new CliError(
      'ERR_REFUSED',
      `policy: ${config.file} names '${service.provider}' as the provider of '${service.name}', not '${as}'; replay it --as ${service.provider}`,
    );
  }
  const event = service.eventgroups.flatMap((g) => g.events).find((e) => e.id === method);
  if (event === undefined) {
    throw new CliError(
      'ERR_INPUT',
      `${name} carries event ${hex(method)} of '${service.name}', which ${config.file} does not define`,
    );
  }
  return { service, event };
}
