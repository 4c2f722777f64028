// Child process of export.int.spec.ts, run inside a private network namespace (lo up,
// multicast on, 127.0.0.2 added). Starts hostd and the provider VM (emulated mode), the gateway
// as its own VM on 127.0.0.1, and an external SOME/IP peer on 127.0.0.2 built from raw sockets.
// Captures the traffic on lo with tshark and prints a JSON report.
import { join } from 'node:path';
import { loadConfig } from '@sivshm/core';
import { sleep, type LiveCapture, waitFor } from '@sivshm/testing';
import type { Gateway } from '../../src/gateway.js';
import { runScenario, startExportDeployment } from './export-deployment.js';
import {
  SD_GROUP,
  SD_PORT,
  findMessage,
  messagesOf,
  openSocket,
  parseSd,
  parseSomeIp,
  someIp,
  subscribeMessage,
  type RawSdEntry,
} from './raw-someip-peer.js';
import { TCP_JUNK_PORT, TCP_PORT, callOverTcp, openTcp } from './tcp-peer.js';
import { tpSegments } from './tp-segments.js';
import { encodeSomeIp } from '../../src/someip/someip-message.js';

const outDir = process.argv[2] ?? '/tmp';
const rawPcap = join(outDir, 'raw.pcap');
const pcap = join(outDir, 'gateway.pcap');
const JUNK_PORT = 40001;
const PEER = '127.0.0.2';
const DATA_PORT = 40000;
const SERVICE_PORT = 30501;
const MULTICAST_SERVICE_PORT = 30503;
const EVENT_GROUP = '239.1.1.1';
const EVENT_GROUP_PORT = 30600;
const log: string[] = [];
const note = (s: string): void => void log.push(`${Math.round(performance.now())} ${s}`);

/** Stops tshark; keeps the SOME/IP traffic, leaving out the probes and the deliberate junk. */
function finishCapture(capture: LiveCapture): Promise<void> {
  return capture.finish(`not udp.port == ${JUNK_PORT} and not tcp.port == ${TCP_JUNK_PORT}`, pcap);
}

const GATEWAY_SECTION = `
gateway:
  unicast: 127.0.0.1
  export:
    - { service: VehicleSpeed, instance: 1, udp: ${SERVICE_PORT}, tcp: ${TCP_PORT} }
    - service: VehicleSpeed
      instance: 2
      udp: ${MULTICAST_SERVICE_PORT}
      multicast: { group: ${EVENT_GROUP}, port: ${EVENT_GROUP_PORT} }
`;

async function main(): Promise<void> {
  const x = await startExportDeployment({
    label: 'gateway',
    services: [{ name: 'VehicleSpeed', consumers: ['gateway'], instances: [1, 2] }],
    gatewaySection: GATEWAY_SECTION,
    providerEntry: 'provider-vm',
    capture: {
      filter: `udp port ${SD_PORT} or udp port ${SERVICE_PORT} or udp port ${DATA_PORT} or tcp port ${TCP_PORT} or udp port ${MULTICAST_SERVICE_PORT} or udp port ${EVENT_GROUP_PORT}`,
      rawPcap,
    },
  });
  try {
    const result = await peerExchange(x.gateway, x.provider.messages, x.configPath, () =>
      x.provider.stop(),
    );
    await finishCapture(x.capture);
    const calls = x.provider.messages.filter((m) => m.event === 'call').length;
    process.stdout.write(
      JSON.stringify({
        pcap,
        log,
        gatewayLog: x.gatewayLog,
        ...result,
        providerCalls: calls,
        counters: x.gateway.counters,
      }),
    );
  } finally {
    await x.close();
  }
}

/** The external ECU: find, subscribe, receive events, call, and send junk. */
async function peerExchange(
  gateway: Gateway,
  providerMessages: Array<{ event: string }>,
  configPath: string,
  stopProvider: () => Promise<void>,
) {
  // The payloads are the service's protobuf bytes: decoded here with the config's .proto files.
  const speedType = (await loadConfig(configPath)).protoRoot.lookupType('sivshm.demo.VehicleSpeed');
  const sd = await openSocket(PEER, SD_PORT);
  const sdGroup = await openSocket(PEER, SD_PORT, SD_GROUP);
  const data = await openSocket(PEER, DATA_PORT);
  const junk = await openSocket(PEER, JUNK_PORT);
  const sdEntries = (): RawSdEntry[] =>
    [...sd.received, ...sdGroup.received].flatMap((m) => parseSd(m.bytes));
  let session = 1;
  sd.socket.send(findMessage(session++, 0x1234), SD_PORT, SD_GROUP);
  await waitFor(
    () =>
      sdEntries().some(
        (e) => e.type === 0x01 && e.serviceId === 0x1234 && e.instanceId === 1 && e.ttl > 0,
      ),
    'an Offer of 0x1234',
    15_000,
    10,
  );
  const offer = sdEntries().find(
    (e) => e.type === 0x01 && e.serviceId === 0x1234 && e.instanceId === 1,
  )!;
  note(`offer: ${JSON.stringify(offer)}`);
  const svc = {
    serviceId: 0x1234,
    instanceId: offer.instanceId,
    major: offer.major,
    eventgroupId: 1,
    ttl: 3,
  };
  sd.socket.send(
    subscribeMessage(session++, svc, { address: PEER, port: DATA_PORT }),
    SD_PORT,
    '127.0.0.1',
  );
  await waitFor(
    () => sdEntries().some((e) => e.type === 0x07 && e.ttl > 0),
    'SubscribeAck',
    5_000,
    10,
  );
  // A subscribe to an eventgroup the service does not have: Nack (Ack entry with TTL 0).
  sd.socket.send(
    subscribeMessage(session++, { ...svc, eventgroupId: 7 }, { address: PEER, port: DATA_PORT }),
    SD_PORT,
    '127.0.0.1',
  );
  await waitFor(
    () => sdEntries().some((e) => e.type === 0x07 && e.ttl === 0 && e.eventgroupId === 7),
    'SubscribeNack of eventgroup 7',
    5_000,
    10,
  );
  // Events of one turn may share a datagram: count and read them message by message.
  await waitFor(() => messagesOf(data.received).length >= 5, 'five events over UDP', 5_000, 10);
  const events = messagesOf(data.received)
    .slice(0, 5)
    .map((m) => ({
      from: m.from,
      ...parseSomeIp(m.bytes),
      kph: (speedType.decode(m.bytes.subarray(16)) as unknown as { kph: number }).kph,
      payload: m.bytes.subarray(16).toString('hex'),
    }));
  data.received.length = 0;
  const call = async (bytes: Buffer, what: string) => {
    data.socket.send(bytes, SERVICE_PORT, '127.0.0.1');
    await waitFor(
      () => data.received.some((m) => m.bytes[14] === 0x80 || m.bytes[14] === 0x81),
      what,
      5_000,
      5,
    );
    const i = data.received.findIndex((m) => m.bytes[14] === 0x80 || m.bytes[14] === 0x81);
    const r = data.received.splice(i, 1)[0]!;
    return { from: r.from, ...parseSomeIp(r.bytes), payload: r.bytes.subarray(16).toString('hex') };
  };
  const head = {
    serviceId: 0x1234,
    methodId: 0x0001,
    clientId: 0x0042,
    interfaceVersion: 1,
    messageType: 0x00,
    returnCode: 0,
  };
  // ResetRequest { odometer_m: 5 }: field 1, varint 5.
  const ok = await call(
    someIp({ ...head, sessionId: 1 }, Buffer.from([0x08, 0x05])),
    'the reset response',
  );
  // Fire-and-forget (0x01): the VM runs it, and nothing comes back.
  const callsBeforeFireAndForget = providerMessages.filter((m) => m.event === 'call').length;
  data.socket.send(
    someIp({ ...head, messageType: 0x01, sessionId: 6 }, Buffer.from([0x08, 0x06])),
    SERVICE_PORT,
    '127.0.0.1',
  );
  await waitFor(
    () => providerMessages.filter((m) => m.event === 'call').length > callsBeforeFireAndForget,
    'the fire-and-forget request to reach the provider VM',
    5_000,
    5,
  );
  await sleep(100);
  const fireAndForgetReplies = data.received.filter(
    (m) =>
      m.bytes[14] !== 0x02 && m.bytes.readUInt16BE(8) === 0x42 && m.bytes.readUInt16BE(10) === 6,
  ).length;
  const unknownMethod = await call(
    someIp({ ...head, methodId: 0x0099, sessionId: 2 }, Buffer.alloc(0)),
    'unknown method error',
  );
  const callsBefore = providerMessages.filter((m) => m.event === 'call').length;
  // A length-delimited field whose length runs past the payload: not a ResetRequest.
  const undecodable = await call(
    someIp({ ...head, sessionId: 3 }, Buffer.from([0x0a, 0x7f, 0x01])),
    'malformed error',
  );
  const wrongVersion = await call(
    someIp({ ...head, interfaceVersion: 9, sessionId: 4 }, Buffer.from([0x08, 0x01])),
    'wrong interface version',
  );
  for (const j of [
    Buffer.from([1, 2, 3]),
    Buffer.alloc(40, 0xff),
    someIp({ ...head, sessionId: 5 }, Buffer.from([1])).subarray(0, 12),
  ])
    junk.socket.send(j, SERVICE_PORT, '127.0.0.1');
  await waitFor(() => gateway.counters.malformed >= 3, 'the junk to be counted', 5_000, 10);
  const callsAfterJunk = providerMessages.filter((m) => m.event === 'call').length;
  // A request too large for one datagram, as SOME/IP-TP segments (a ResetRequest with an
  // unknown 2 900-byte field, which decoders skip): the gateway reassembles it and answers.
  const bigRequest = Buffer.concat([
    Buffer.from([0x08, 0x07]),
    Buffer.from([0x7a, 0xd4, 0x16]),
    Buffer.alloc(2900, 0x55),
  ]);
  const segments = tpSegments({ ...head, sessionId: 7, payload: bigRequest }, 1392).map((m) =>
    Buffer.from(encodeSomeIp(m)),
  );
  for (const seg of segments.slice(0, -1)) data.socket.send(seg, SERVICE_PORT, '127.0.0.1');
  const tpResponse = await call(segments.at(-1)!, 'the answer to the segmented request');
  sd.socket.send(
    subscribeMessage(session++, { ...svc, ttl: 0 }, { address: PEER, port: DATA_PORT }),
    SD_PORT,
    '127.0.0.1',
  );
  await sleep(200);
  // TCP: a call, then eventgroup 1 subscribed with the connection's endpoint as TCP endpoint.
  const tcp = await openTcp(PEER);
  const tcpResponse = await callOverTcp(tcp);
  sd.socket.send(
    subscribeMessage(session++, svc, {
      address: PEER,
      port: tcp.socket.localPort!,
      protocol: 0x06,
    }),
    SD_PORT,
    '127.0.0.1',
  );
  await waitFor(
    () => tcp.messages.filter((m) => m.messageType === 0x02).length >= 3,
    'three events over TCP',
    5_000,
    10,
  );
  const tcpEvents = tcp.messages
    .filter((m) => m.messageType === 0x02)
    .slice(0, 3)
    .map((m) => ({ ...m, payload: m.payload.toString('hex') }));
  // A broken TCP stream (Length 3): counted, and the gateway closes the connection.
  const malformedBefore = gateway.counters.malformed;
  const broken = await openTcp(PEER, TCP_JUNK_PORT);
  broken.socket.write(Buffer.from('12340001000000030042000101010000', 'hex'));
  await waitFor(() => broken.closed(), 'the gateway to close the broken TCP stream', 5_000, 10);
  const tcpMalformed = gateway.counters.malformed - malformedBefore;
  // Leave cleanly (StopSubscribe, then FIN): a reset would be a TCP warning in the capture.
  sd.socket.send(
    subscribeMessage(
      session++,
      { ...svc, ttl: 0 },
      { address: PEER, port: tcp.socket.localPort!, protocol: 0x06 },
    ),
    SD_PORT,
    '127.0.0.1',
  );
  await sleep(200);
  tcp.socket.end();
  await waitFor(() => tcp.closed(), 'the TCP connection to close', 5_000, 10);
  // A subscription with TTL 1 s that is never renewed: events flow, then stop once it expires.
  const short = await openSocket(PEER, DATA_PORT + 20);
  sd.socket.send(
    subscribeMessage(session++, { ...svc, ttl: 1 }, { address: PEER, port: DATA_PORT + 20 }),
    SD_PORT,
    '127.0.0.1',
  );
  await waitFor(() => short.received.length >= 3, 'events to the TTL-1 subscriber', 5_000, 10);
  await sleep(2_000);
  short.received.length = 0;
  await sleep(500);
  const eventsAfterTtl = short.received.length;
  short.socket.close();
  // The peer reboots (SD session back to 1 with the reboot flag): its subscriptions end.
  const reboot = await openSocket(PEER, DATA_PORT + 30);
  sd.socket.send(
    subscribeMessage(session++, svc, { address: PEER, port: DATA_PORT + 30 }),
    SD_PORT,
    '127.0.0.1',
  );
  await waitFor(() => reboot.received.length >= 3, 'events before the reboot', 5_000, 10);
  sd.socket.send(findMessage(1, 0x1234), SD_PORT, '127.0.0.1');
  await sleep(300);
  reboot.received.length = 0;
  await sleep(500);
  const eventsAfterReboot = reboot.received.length;
  reboot.socket.close();
  session = 2; // the rebooted peer counts on from its new first message
  // Instance 2: its Ack names the multicast group, and its events arrive there.
  const group = await openSocket(PEER, EVENT_GROUP_PORT, EVENT_GROUP);
  const svc2 = { ...svc, instanceId: 2 };
  await waitFor(
    () => sdEntries().some((e) => e.type === 0x01 && e.instanceId === 2 && e.ttl > 0),
    'an Offer of instance 2',
    10_000,
    10,
  );
  sd.socket.send(
    subscribeMessage(session++, svc2, { address: PEER, port: DATA_PORT + 10 }),
    SD_PORT,
    '127.0.0.1',
  );
  await waitFor(
    () => sdEntries().some((e) => e.type === 0x07 && e.instanceId === 2 && e.ttl > 0),
    'the Ack of instance 2',
    5_000,
    10,
  );
  const multicastAck = sdEntries().find((e) => e.type === 0x07 && e.instanceId === 2)!;
  await waitFor(
    () => messagesOf(group.received).length >= 3,
    'three events on the multicast group',
    5_000,
    10,
  );
  const multicastEvents = messagesOf(group.received)
    .slice(0, 3)
    .map((m) => ({
      from: m.from,
      ...parseSomeIp(m.bytes),
      kph: (speedType.decode(m.bytes.subarray(16)) as unknown as { kph: number }).kph,
      payload: '',
    }));
  sd.socket.send(
    subscribeMessage(session++, { ...svc2, ttl: 0 }, { address: PEER, port: DATA_PORT + 10 }),
    SD_PORT,
    '127.0.0.1',
  );
  group.socket.close();
  // Cyclic Offers arrive on the SD group; the first may have been a unicast answer to the Find.
  const multicastOffers = sdGroup.received
    .flatMap((m) => parseSd(m.bytes))
    .filter((e) => e.type === 0x01 && e.ttl > 0).length;
  // The provider VM goes away: the gateway's sivshm channel ends and the network sees StopOffer.
  await stopProvider();
  await waitFor(
    () => sdEntries().some((e) => e.type === 0x01 && e.serviceId === 0x1234 && e.ttl === 0),
    'StopOffer after the provider VM stopped',
    10_000,
    10,
  );
  for (const s of [sd, sdGroup, data, junk]) s.socket.close();
  return {
    multicastOffers,
    fireAndForgetReplies,
    eventsAfterTtl,
    eventsAfterReboot,
    multicastAck,
    multicastEvents,
    stopOfferSeen: true,
    tcpResponse: { ...tcpResponse, payload: tcpResponse.payload.toString('hex') },
    tcpEvents,
    tcpMalformed,
    offer,
    events,
    ok,
    unknownMethod,
    undecodable,
    wrongVersion,
    tpResponse: { ...tpResponse, segments: segments.length },
    callsBefore,
    callsAfterJunk,
    sdTypes: sdEntries().map((e) => `${e.type}/${e.ttl > 0 ? 1 : 0}`),
  };
}

runScenario('gateway scenario', main, log);
