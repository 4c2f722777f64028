// Child process of export-tp.int.spec.ts, run inside a private network namespace (lo up,
// multicast on, 127.0.0.2 added). Starts hostd, the media provider VM and the gateway on
// 127.0.0.1, exporting MediaControl instance 1 with `tp: true` and instance 2 without. An
// external SOME/IP peer on 127.0.0.2, built from raw sockets, subscribes to both and calls
// `control` on instance 1; it reassembles the SOME/IP-TP segments with its own code below.
// Captures the traffic on lo with tshark and prints a JSON report.
import { join } from 'node:path';
import { loadConfig } from '@sivshm/core';
import { sleep, waitFor } from '@sivshm/testing';
import { runScenario, startExportDeployment } from './export-deployment.js';
import {
  SD_GROUP,
  SD_PORT,
  findMessage,
  openSocket,
  parseSd,
  parseSomeIp,
  someIp,
  subscribeMessage,
  splitDatagram,
  type RawSdEntry,
} from './raw-someip-peer.js';

const outDir = process.argv[2] ?? '/tmp';
const rawPcap = join(outDir, 'raw.pcap');
const pcap = join(outDir, 'gateway-tp.pcap');
const PEER = '127.0.0.2';
const TP_PORT = 30511;
const PLAIN_PORT = 30512;
const TP_DATA_PORT = 40010;
const PLAIN_DATA_PORT = 40011;
const SERVICE_ID = 0x1235;
const log: string[] = [];
const note = (s: string): void => void log.push(`${Math.round(performance.now())} ${s}`);

const GATEWAY_SECTION = `
gateway:
  unicast: 127.0.0.1
  export:
    - { service: MediaControl, instance: 1, udp: ${TP_PORT}, tp: true }
    - { service: MediaControl, instance: 2, udp: ${PLAIN_PORT} }
`;

/** One datagram as the peer got it: its messages, as the peer's own parser reads them. */
interface Datagram {
  readonly bytes: Buffer;
  readonly from: string;
}

/** A segment's header fields and TP header, for the report. */
interface SegmentInfo {
  messageType: number;
  clientId: number;
  sessionId: number;
  length: number;
  offset: number;
  more: boolean;
  reserved: number;
  messagesInDatagram: number;
}

/** A message the peer rebuilt from its segments (PRS SOME/IP-TP), with what the segments were. */
export interface Reassembled {
  messageType: number;
  sessionId: number;
  payload: string;
  segments: SegmentInfo[];
}

/**
 * The peer's own SOME/IP-TP reassembly: datagrams in arrival order; segments of one message
 * share Message ID and Request ID, their offsets run on without gap, the last has More Segments
 * clear. Returns the complete messages; a gap or a segment whose datagram held other messages
 * is reported as it is, for the spec to see.
 */
function reassemble(datagrams: readonly Datagram[]): Reassembled[] {
  const open = new Map<string, { parts: Buffer[]; at: number; segments: SegmentInfo[] }>();
  const done: Reassembled[] = [];
  for (const d of datagrams) {
    const messages = splitDatagram(d.bytes);
    for (const bytes of messages) {
      const m = parseSomeIp(bytes);
      if ((m.messageType & 0x20) === 0) continue;
      const word = m.payload.readUInt32BE(0);
      const info: SegmentInfo = {
        messageType: m.messageType,
        clientId: m.clientId,
        sessionId: m.sessionId,
        length: m.length,
        offset: (word >>> 4) * 16,
        more: (word & 1) === 1,
        reserved: (word >>> 1) & 7,
        messagesInDatagram: messages.length,
      };
      const key = `${m.serviceId}/${m.methodId}/${m.clientId}/${m.sessionId}`;
      if (info.offset === 0) open.set(key, { parts: [], at: 0, segments: [] });
      const o = open.get(key);
      if (o === undefined || o.at !== info.offset) {
        note(`segment ${key} at ${info.offset} out of order`);
        open.delete(key);
        continue;
      }
      o.parts.push(m.payload.subarray(4));
      o.at += m.payload.length - 4;
      o.segments.push(info);
      if (info.more) continue;
      open.delete(key);
      done.push({
        messageType: m.messageType & ~0x20,
        sessionId: m.sessionId,
        payload: Buffer.concat(o.parts).toString('hex'),
        segments: o.segments,
      });
    }
  }
  return done;
}

async function main(): Promise<void> {
  const x = await startExportDeployment({
    label: 'gateway-tp',
    services: [
      { name: 'MediaControl', consumers: ['gateway'], instances: [1, 2], ringDataSize: '64KiB' },
    ],
    gatewaySection: GATEWAY_SECTION,
    providerEntry: 'media-provider-vm',
    capture: {
      filter: `udp port ${SD_PORT} or udp port ${TP_PORT} or udp port ${PLAIN_PORT} or udp port ${TP_DATA_PORT} or udp port ${PLAIN_DATA_PORT}`,
      rawPcap,
    },
  });
  try {
    const result = await peerExchange(x.configPath);
    await x.capture.finish('udp', pcap);
    process.stdout.write(
      JSON.stringify({
        pcap,
        log,
        gatewayLog: x.gatewayLog,
        ...result,
        counters: x.gateway.counters,
      }),
    );
  } finally {
    await x.close();
  }
}

/** The external ECU: find, subscribe to both instances, call `control` on the TP one. */
async function peerExchange(configPath: string) {
  // The payloads are the service's protobuf bytes: decoded here with the config's .proto files.
  const root = (await loadConfig(configPath)).protoRoot;
  const state = root.lookupType('sivshm.demo.MediaState');
  const answer = root.lookupType('sivshm.demo.MediaControlResponse');
  const sd = await openSocket(PEER, SD_PORT);
  const sdGroup = await openSocket(PEER, SD_PORT, SD_GROUP);
  const tpData = await openSocket(PEER, TP_DATA_PORT);
  const plainData = await openSocket(PEER, PLAIN_DATA_PORT);
  const sdEntries = (): RawSdEntry[] =>
    [...sd.received, ...sdGroup.received].flatMap((m) => parseSd(m.bytes));
  let session = 1;
  sd.socket.send(findMessage(session++, SERVICE_ID), SD_PORT, SD_GROUP);
  const offered = (instance: number) => (e: RawSdEntry) =>
    e.type === 0x01 && e.serviceId === SERVICE_ID && e.instanceId === instance && e.ttl > 0;
  await waitFor(() => sdEntries().some(offered(1)), 'an Offer of instance 1', 15_000, 10);
  await waitFor(() => sdEntries().some(offered(2)), 'an Offer of instance 2', 15_000, 10);
  const svc = (instanceId: number, ttl: number) => ({
    serviceId: SERVICE_ID,
    instanceId,
    major: 1,
    eventgroupId: 1,
    ttl,
  });
  const subscribe = (instance: number, port: number, ttl: number): void =>
    void sd.socket.send(
      subscribeMessage(session++, svc(instance, ttl), { address: PEER, port }),
      SD_PORT,
      '127.0.0.1',
    );
  subscribe(1, TP_DATA_PORT, 5);
  await waitFor(
    () => reassemble(tpData.received).filter((m) => m.messageType === 0x02).length >= 3,
    'three segmented events rebuilt',
    10_000,
    10,
  );
  subscribe(1, TP_DATA_PORT, 0);
  await sleep(200);
  const events = reassemble(tpData.received)
    .filter((m) => m.messageType === 0x02)
    .map((m) => {
      const s = state.decode(Buffer.from(m.payload, 'hex')) as unknown as {
        title: string;
        playing: boolean;
      };
      return { ...m, title: s.title.length, playing: s.playing };
    });
  note(`events: ${events.length} from ${tpData.received.length} datagrams`);
  tpData.received.length = 0;
  // `control` (MediaControlRequest { command: PLAY }): its response leaves as segments.
  tpData.socket.send(
    someIp(
      {
        serviceId: SERVICE_ID,
        methodId: 0x0001,
        clientId: 0x0051,
        sessionId: 3,
        interfaceVersion: 1,
        messageType: 0x00,
        returnCode: 0,
      },
      Buffer.from([0x08, 0x01]),
    ),
    TP_PORT,
    '127.0.0.1',
  );
  await waitFor(
    () => reassemble(tpData.received).some((m) => m.messageType === 0x80),
    'the segmented response rebuilt',
    10_000,
    10,
  );
  const rebuilt = reassemble(tpData.received).find((m) => m.messageType === 0x80)!;
  const decoded = answer.decode(Buffer.from(rebuilt.payload, 'hex')) as unknown as {
    accepted: boolean;
    reason: string;
  };
  const response = { ...rebuilt, accepted: decoded.accepted, reason: decoded.reason };
  // Instance 2 has no tp: its events arrive unsegmented, larger than the datagram budget.
  subscribe(2, PLAIN_DATA_PORT, 5);
  await waitFor(() => plainData.received.length >= 2, 'two unsegmented events', 10_000, 10);
  subscribe(2, PLAIN_DATA_PORT, 0);
  await sleep(200);
  const plain = plainData.received.slice(0, 2).map((d) => ({
    datagramBytes: d.bytes.length,
    messages: splitDatagram(d.bytes).map((b) => {
      const m = parseSomeIp(b);
      return { messageType: m.messageType, length: m.length };
    }),
  }));
  for (const s of [sd, sdGroup, tpData, plainData]) s.socket.close();
  return { events, response, plain };
}

runScenario('gateway TP scenario', main, log);
