// `npm run bench -- gateway`: what the SOME/IP gateway adds, against a plain Node UDP relay
// measured in the same run. hostd, the gateway and the relay are their own processes; the
// providing VM (MediaControl, in-process Node) and the network side (an SD agent subscribed on
// 127.0.0.2, a UDP sink, a SOME/IP client) run here, so each latency is read on one clock:
// - event: publish over sivshm → gateway → SOME/IP notification on UDP, against UDP → relay → UDP;
// - method: SOME/IP request on UDP → gateway → sivshm call → response on UDP, against
//   UDP → relay → UDP server → relay → UDP;
// - throughput: 64 B events published as fast as the rings take them, counted at the sink.
// Targets: gateway ≤ 1.5× the relay's latency; ≥ 100 000 events/s of 64 B.
import { createSocket, type Socket } from 'node:dgram';
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { loadConfig } from '@sivshm/core';
import { SdAgent, UdpSdTransport, endpointOption } from '@sivshm/discovery';
import { Node, type ServicePublisher } from '@sivshm/runtime';
import {
  forkChild,
  makeDeployment,
  siblingEntry,
  startHostd,
  waitFor,
  type ForkedChild,
} from '@sivshm/testing';
import { MessageType, encodeSomeIp } from '../src/someip/someip-message.js';

export const TARGET_LATENCY_RATIO = 1.5;
export const TARGET_EVENTS_PER_SECOND = 100_000;
const EVENT_BYTES = 64;

export interface GatewayBenchResult {
  readonly runs: number;
  readonly load: number;
  /** Medians over the runs of each run's median, µs. */
  readonly eventLatencyUs: { readonly gateway: number; readonly relay: number };
  readonly callLatencyUs: { readonly gateway: number; readonly relay: number };
  /** Median over the runs of each run's gateway / relay latency. */
  readonly eventRatio: number;
  readonly callRatio: number;
  /** Median over the runs of 64 B events per second received at the UDP sink. */
  readonly eventsPerSecond: number;
  /** Every run's figures, for the spread. */
  readonly perRun: ReadonlyArray<{
    eventGatewayUs: number;
    eventRelayUs: number;
    callGatewayUs: number;
    callRelayUs: number;
    eventsPerSecond: number;
  }>;
  readonly targets: { readonly latencyRatio: number; readonly eventsPerSecond: number };
  readonly met: { readonly latency: boolean; readonly eventsPerSecond: boolean };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** A UDP socket on 127.0.0.2 whose next datagram one awaits. */
async function waitingSocket(address: string): Promise<{
  socket: Socket;
  next: () => Promise<Buffer>;
  count: () => number;
  lastAt: () => number;
}> {
  const socket = createSocket('udp4');
  let waiter: ((b: Buffer) => void) | undefined;
  let n = 0;
  let last = 0;
  socket.on('message', (b) => {
    // Count messages, not datagrams: the gateway sends the events of one turn in one datagram.
    for (let at = 0; at + 16 <= b.length; at += 8 + b.readUInt32BE(at + 4)) n++;
    last = performance.now();
    const w = waiter;
    waiter = undefined;
    w?.(b);
  });
  await new Promise<void>((r) => socket.bind(0, address, r));
  return {
    socket,
    next: () =>
      new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no datagram within 2 s')), 2000);
        waiter = (b) => {
          clearTimeout(t);
          resolve(b);
        };
      }),
    count: () => n,
    lastAt: () => last,
  };
}

type MediaState = { playing: boolean; title: string; artist: string; position_ms: number };

export async function run(o: { quick?: boolean; log?: (s: string) => void }) {
  const log = o.log ?? (() => undefined);
  const runs = o.quick ? 2 : 5;
  const samples = o.quick ? 100 : 300;
  const sdPort = 31000 + Math.floor(Math.random() * 2000);
  const gwPort = sdPort + 2001;
  const relayPort = sdPort + 2002;
  const d = makeDeployment({
    label: 'gateway-bench',
    vms: [
      { id: 1, name: 'infotainment' },
      { id: 2, name: 'gateway' },
    ],
    services: [{ name: 'MediaControl', consumers: ['gateway'] }],
  });
  appendFileSync(
    d.configPath,
    `\ngateway:\n  unicast: 127.0.0.1\n  sd: { port: ${sdPort} }\n  export:\n    - { service: MediaControl, instance: 1, udp: ${gwPort}, eventgroups: [1] }\n`,
  );
  const config = await loadConfig(d.configPath);
  const media = config.services.find((s) => s.name === 'MediaControl')!;
  const stateType = config.protoRoot.lookupType('sivshm.demo.MediaState');
  const requestType = config.protoRoot.lookupType('sivshm.demo.MediaControlRequest');
  // A title long enough that each event's protobuf payload is 64 bytes.
  let title = '';
  while (stateType.encode(state(title, 1_000_000)).finish().length < EVENT_BYTES) title += 't';
  const hostd = await startHostd(d);
  const children: ForkedChild<{ event: string }>[] = [];
  let provider: Node | undefined;
  let agent: SdAgent | undefined;
  try {
    // The provider waits parked on its doorbell, as the relay's UDP server waits parked in
    // epoll: the same waiting regime on both sides. (Adaptive mode would spin after each answer
    // while traffic is hot, on the thread that also runs this bench's UDP client.)
    provider = await Node.open({
      config: d.configPath,
      vm: 'infotainment',
      runDir: d.runDir,
      notify: 'event',
    });
    const offered = await provider.offer('MediaControl', {
      instance: 1,
      methods: { control: () => ({ accepted: true }) },
    });
    const publisher = offered.publisher<MediaState>('nowPlaying');
    const fork = async (entry: string, args: string[]): Promise<void> => {
      children.push(
        await forkChild<{ event: string }>({
          entry: siblingEntry(import.meta.url, entry),
          args,
          what: entry,
          ready: (r) => r.some((m) => m.event === 'ready'),
          failed: (r) => r.some((m) => m.event === 'error'),
          pipeStderr: true,
        }),
      );
    };
    await fork('gateway-process', [d.configPath, d.runDir]);
    const server = await waitingSocket('127.0.0.1');
    const serverPort = (server.socket.address() as { port: number }).port;
    await fork('udp-relay', [String(relayPort), String(serverPort)]);
    const sink = await waitingSocket('127.0.0.2');
    const client = await waitingSocket('127.0.0.2');
    agent = new SdAgent({
      transport: await UdpSdTransport.open({ unicast: '127.0.0.2', port: sdPort }),
      allowLoopbackEndpoints: true,
      timing: { initialDelayMin: 10, initialDelayMax: 30, repetitionsBaseDelay: 50 },
    });
    let subscribed = false;
    agent
      .subscribe({
        serviceId: media.id,
        instanceId: 1,
        majorVersion: media.major,
        eventgroupId: 1,
        endpoints: [
          endpointOption('127.0.0.2', 'udp', (sink.socket.address() as { port: number }).port),
        ],
      })
      .subscribe((e) => (subscribed = e.state === 'subscribed'));
    await waitFor(
      () => subscribed && publisher.consumers > 0,
      'the gateway subscribed and the bench subscribed to it',
      20_000,
      10,
    );
    log(`subscribed; ${runs} runs of ${samples} samples each`);
    const request = Buffer.from(
      encodeSomeIp({
        serviceId: media.id,
        methodId: media.methods.find((m) => m.name === 'control')!.id,
        clientId: 0x77,
        sessionId: 1,
        interfaceVersion: media.major,
        messageType: MessageType.request,
        returnCode: 0,
        payload: requestType.encode({ command: 1 }).finish(),
      }),
    );
    const datagram = Buffer.alloc(16 + EVENT_BYTES, 1);
    const eventViaGateway = async (): Promise<void> => {
      const got = sink.next();
      publisher.publish(state(title, 1));
      await got;
    };
    const eventViaRelay = async (): Promise<void> => {
      const got = server.next();
      client.socket.send(datagram, relayPort, '127.0.0.3');
      await got;
    };
    const callViaGateway = async (): Promise<void> => {
      const got = client.next();
      client.socket.send(request, gwPort, '127.0.0.1');
      await got;
    };
    // The relay's server answers each request at once, back through the relay.
    const echo = (b: Buffer): void => void server.socket.send(b, relayPort, '127.0.0.3');
    const callViaRelay = async (): Promise<void> => {
      server.socket.on('message', echo);
      try {
        const got = client.next();
        client.socket.send(request, relayPort, '127.0.0.3');
        await got;
      } finally {
        server.socket.off('message', echo);
      }
    };
    // Warm-up, every path alike and until it runs optimised code: steady state is compared
    // with steady state. A method call runs far more JavaScript in the gateway and the provider
    // than in the relay (a few thousand calls pass before it stops getting faster), so a short
    // warm-up measured the gateway's unoptimised code against the relay's optimised code.
    const warmMs = o.quick ? 600 : 2000;
    for (const path of [callViaGateway, callViaRelay, eventViaGateway, eventViaRelay])
      await warmUp(warmMs, path);
    await throughput(publisher, sink, title, 300);
    const perRun: GatewayBenchResult['perRun'][number][] = [];
    for (let r = 0; r < runs; r++) {
      const eventGatewayUs = await latency(samples, eventViaGateway);
      const eventRelayUs = await latency(samples, eventViaRelay);
      const callGatewayUs = await latency(samples, callViaGateway);
      const callRelayUs = await latency(samples, callViaRelay);
      const eventsPerSecond = await throughput(publisher, sink, title, o.quick ? 500 : 1000);
      perRun.push({ eventGatewayUs, eventRelayUs, callGatewayUs, callRelayUs, eventsPerSecond });
      log(`run ${r + 1}: ${JSON.stringify(perRun.at(-1))}`);
    }
    for (const s of [server, sink, client]) s.socket.close();
    return summarise(perRun);
  } finally {
    await agent?.stop().catch(() => undefined);
    for (const c of children.reverse()) await c.stop();
    await provider?.close();
    await hostd.stop();
    d.cleanup();
  }
}

function state(title: string, n: number): MediaState {
  return { playing: true, title, artist: 'sivshm', position_ms: 1_000_000 + n };
}

/** Runs `once` back to back for `ms`. */
async function warmUp(ms: number, once: () => Promise<void>): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) await once();
}

/** The median of `n` sequential round trips of `once`, µs (after a short warm-up). */
async function latency(n: number, once: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 20; i++) await once();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    xs.push((performance.now() - t0) * 1000);
  }
  return median(xs);
}

/**
 * Publishes 64 B events for `ms` as fast as the gateway's ring takes them (a full ring drops
 * an event, as for any consumer), yielding to the event loop between bursts so the sink reads;
 * events/s is what arrived at the sink over the time from the first publish to the last arrival.
 */
async function throughput(
  publisher: ServicePublisher<MediaState>,
  sink: { count: () => number; lastAt: () => number },
  title: string,
  ms: number,
): Promise<number> {
  const before = sink.count();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 64; i++) publisher.publish(state(title, n++));
    await new Promise((r) => setImmediate(r));
  }
  // Let the gateway drain what it took.
  let last = -1;
  while (sink.count() !== last) {
    last = sink.count();
    await new Promise((r) => setTimeout(r, 50));
  }
  return Math.round((sink.count() - before) / ((sink.lastAt() - t0) / 1000));
}

function summarise(perRun: GatewayBenchResult['perRun']): GatewayBenchResult {
  const m = (k: keyof GatewayBenchResult['perRun'][number]): number =>
    Math.round(median(perRun.map((x) => x[k])));
  const eventLatencyUs = { gateway: m('eventGatewayUs'), relay: m('eventRelayUs') };
  const callLatencyUs = { gateway: m('callGatewayUs'), relay: m('callRelayUs') };
  // Each run's gateway figure over the relay's of the same run, then the median of those
  // pairs: a change of load between runs falls on both sides of a pair alike.
  const ratio = (g: number[], r: number[]): number =>
    +median(g.map((x, i) => x / r[i]!)).toFixed(2);
  const eventRatio = ratio(
    perRun.map((x) => x.eventGatewayUs),
    perRun.map((x) => x.eventRelayUs),
  );
  const callRatio = ratio(
    perRun.map((x) => x.callGatewayUs),
    perRun.map((x) => x.callRelayUs),
  );
  const eventsPerSecond = m('eventsPerSecond');
  return {
    runs: perRun.length,
    load: +loadavg()[0]!.toFixed(2),
    eventLatencyUs,
    callLatencyUs,
    eventRatio,
    callRatio,
    eventsPerSecond,
    perRun,
    targets: { latencyRatio: TARGET_LATENCY_RATIO, eventsPerSecond: TARGET_EVENTS_PER_SECOND },
    met: {
      latency: eventRatio <= TARGET_LATENCY_RATIO && callRatio <= TARGET_LATENCY_RATIO,
      eventsPerSecond: eventsPerSecond >= TARGET_EVENTS_PER_SECOND,
    },
  };
}

export function format(r: GatewayBenchResult): string {
  const yes = (b: boolean): string => (b ? 'met' : 'MISSED');
  return [
    `gateway (medians of ${r.runs} runs; load ${r.load})`,
    `  event sivshm → UDP      ${r.eventLatencyUs.gateway} µs   plain UDP relay ${r.eventLatencyUs.relay} µs   ratio ${r.eventRatio} (target ≤ ${r.targets.latencyRatio}: ${yes(r.eventRatio <= r.targets.latencyRatio)})`,
    `  method UDP → sivshm → UDP ${r.callLatencyUs.gateway} µs   plain UDP relay ${r.callLatencyUs.relay} µs   ratio ${r.callRatio} (target ≤ ${r.targets.latencyRatio}: ${yes(r.callRatio <= r.targets.latencyRatio)})`,
    `  events/s of ${EVENT_BYTES} B through the gateway: ${r.eventsPerSecond} (target ≥ ${r.targets.eventsPerSecond}: ${yes(r.met.eventsPerSecond)})`,
  ].join('\n');
}
