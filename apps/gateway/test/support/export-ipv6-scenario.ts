// Child process of export-ipv6.int.spec.ts, run in a private network namespace with fd00::1
// (the gateway) and fd00::2 (an external SOME/IP peer of raw sockets) on a veth end, SD group
// ff14::4:0. hostd and the provider VM run as processes; the peer finds the export, subscribes
// (UDP, and the multicast eventgroup of instance 2), calls over UDP and TCP. Prints a JSON report.
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '@sivshm/testing';
import { runScenario, startExportDeployment } from './export-deployment.js';
import {
  SD_GROUP_V6,
  SD_PORT,
  findMessage,
  openSocket,
  parseSd,
  parseSomeIp,
  someIp,
  subscribeMessage,
  type RawSdEntry,
} from './raw-someip-peer.js';

const outDir = process.argv[2] ?? '/tmp';
const GATEWAY = 'fd00::1';
const PEER = 'fd00::2';
const EVENT_GROUP = 'ff14::1:1';
const PORTS = { udp: 30511, tcp: 30512, udp2: 30513, group: 30610, data: 40100 };

const GATEWAY_SECTION = `
gateway:
  unicast: ${GATEWAY}
  sd: { group: ${SD_GROUP_V6} }
  export:
    - { service: VehicleSpeed, instance: 1, udp: ${PORTS.udp}, tcp: ${PORTS.tcp} }
    - service: VehicleSpeed
      instance: 2
      udp: ${PORTS.udp2}
      multicast: { group: ${EVENT_GROUP}, port: ${PORTS.group} }
`;

const RESET = {
  serviceId: 0x1234,
  methodId: 0x0001,
  clientId: 0x0042,
  interfaceVersion: 1,
  messageType: 0x00,
  returnCode: 0,
};

async function main(): Promise<void> {
  const ports = [SD_PORT, PORTS.udp, PORTS.udp2, PORTS.group, PORTS.data];
  const x = await startExportDeployment({
    label: 'gateway-v6',
    services: [{ name: 'VehicleSpeed', consumers: ['gateway'], instances: [1, 2] }],
    gatewaySection: GATEWAY_SECTION,
    providerEntry: 'provider-vm',
    capture: {
      filter: [...ports.map((p) => `udp port ${p}`), `tcp port ${PORTS.tcp}`].join(' or '),
      rawPcap: join(outDir, 'raw.pcap'),
      interface: 'any',
    },
    allowLoopbackEndpoints: false,
    log: (l) => process.stderr.write(`gateway: ${l}\n`),
  });
  try {
    const report = await peer().catch((e: unknown) => {
      throw new Error(
        `${(e as Error).message}; gateway counters ${JSON.stringify(x.gateway.counters)}`,
      );
    });
    const pcap = join(outDir, 'gateway-v6.pcap');
    const udp = ports.map((p) => `udp.port == ${p}`).join(' or ');
    await x.capture.finish(`${udp} or tcp.port == ${PORTS.tcp}`, pcap);
    process.stdout.write(JSON.stringify({ pcap, ...report, counters: x.gateway.counters }));
  } finally {
    await x.close();
  }
}

/** The external ECU: find, subscribe (unicast and multicast), events, a call over UDP and TCP. */
async function peer() {
  const sd = await openSocket(PEER, SD_PORT);
  const data = await openSocket(PEER, PORTS.data);
  const group = await openSocket(PEER, PORTS.group, EVENT_GROUP);
  const sdGroup = await openSocket(PEER, SD_PORT, SD_GROUP_V6);
  const entries = (): RawSdEntry[] =>
    [...sd.received, ...sdGroup.received].flatMap((m) => parseSd(m.bytes));
  sd.socket.send(findMessage(1, 0x1234), SD_PORT, SD_GROUP_V6);
  await waitFor(
    () =>
      [1, 2].every((i) =>
        entries().some((e) => e.type === 0x01 && e.instanceId === i && e.ttl > 0),
      ),
    'Offers of both instances (the answer to the Find, or cyclic ones)',
    15_000,
    10,
  );
  const offer = entries().find((e) => e.type === 0x01 && e.instanceId === 1)!;
  const svc = { serviceId: 0x1234, instanceId: 1, major: 1, eventgroupId: 1, ttl: 3 };
  sd.socket.send(subscribeMessage(2, svc, { address: PEER, port: PORTS.data }), SD_PORT, GATEWAY);
  sd.socket.send(
    subscribeMessage(3, { ...svc, instanceId: 2 }, { address: PEER, port: PORTS.data + 1 }),
    SD_PORT,
    GATEWAY,
  );
  await waitFor(
    () => entries().filter((e) => e.type === 0x07 && e.ttl > 0).length >= 2,
    'two SubscribeAcks',
    5_000,
    10,
  );
  const multicastAck = entries().find((e) => e.type === 0x07 && e.instanceId === 2)!;
  await waitFor(() => data.received.length >= 3, 'three events over UDP', 5_000, 10);
  await waitFor(() => group.received.length >= 3, 'three events on the group', 5_000, 10);
  const events = data.received.slice(0, 3).map((m) => ({ from: m.from, ...parseSomeIp(m.bytes) }));
  data.received.length = 0;
  data.socket.send(
    someIp({ ...RESET, sessionId: 1 }, Buffer.from([0x08, 0x05])),
    PORTS.udp,
    GATEWAY,
  );
  await waitFor(
    () => data.received.some((m) => m.bytes[14] === 0x80),
    'the UDP response',
    5_000,
    5,
  );
  const udpResponse = parseSomeIp(data.received.find((m) => m.bytes[14] === 0x80)!.bytes);
  const tcpResponse = await callOverTcp();
  return {
    offer,
    multicastAck,
    events,
    multicastEvents: group.received.length,
    udpResponse,
    tcpResponse,
  };
}

async function callOverTcp() {
  const socket = connect({ host: GATEWAY, port: PORTS.tcp, localAddress: PEER });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let got = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
  socket.write(someIp({ ...RESET, clientId: 0x43, sessionId: 9 }, Buffer.from([0x08, 0x07])));
  await waitFor(
    () => got.length >= 16 && got.length >= 8 + got.readUInt32BE(4),
    'the TCP response',
    5_000,
    5,
  );
  socket.end();
  await new Promise((r) => socket.once('close', r));
  return parseSomeIp(got);
}

runScenario('ipv6 export scenario', main);
