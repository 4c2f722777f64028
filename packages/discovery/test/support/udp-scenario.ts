// Child process of udp.int.spec.ts, run inside a private network namespace (IPv4: lo up,
// multicast on, 127.0.0.2 added; IPv6: fd00::1 and fd00::2 on a veth end). Captures SD with
// tshark, runs two SD agents over real UDP (A offers, B finds and subscribes), and prints a
// JSON report. argv: <out dir> [ipv6].
import { join } from 'node:path';
import { sleep, startLiveCapture, waitFor, type LiveCapture } from '@sivshm/testing';
import { SdAgent } from '../../src/sd/sd-agent.js';
import type { SubscriptionEvent } from '../../src/sd/sd-consumer.js';
import type { SubscriberEvent } from '../../src/sd/sd-provider.js';
import type { ServiceAvailability } from '../../src/sd/service-types.js';
import { UdpSdTransport } from '../../src/transport/udp-transport.js';
import { endpointOption } from '../../src/wire/endpoint-option.js';

const outDir = process.argv[2] ?? '/tmp';
const rawPcap = join(outDir, 'raw.pcap');
const pcap = join(outDir, 'sd-udp.pcap');
const V6 = process.argv[3] === 'ipv6';
const ADDRESS_A = V6 ? 'fd00::1' : '127.0.0.1';
const ADDRESS_B = V6 ? 'fd00::2' : '127.0.0.2';
/** The IPv6 SD group of the test (an IPv6 transport names its group). */
const GROUP = V6 ? { multicastGroup: 'ff14::4:0' } : {};
const SERVICE = { serviceId: 0x1234, instanceId: 0x5678, majorVersion: 1, minorVersion: 3 };
const timing = {
  initialDelayMin: 10,
  initialDelayMax: 30,
  repetitionsBaseDelay: 50,
  repetitionsMax: 2,
  cyclicOfferDelay: 500,
  offerTtl: 3,
  subscribeTtl: 3,
};
const log: string[] = [];
const note = (s: string): void => void log.push(`${Math.round(performance.now())} ${s}`);

/** Resolves when `pred` holds, checking every 10 ms; rejects after `ms`. */
const until = (pred: () => boolean, ms: number, what: string): Promise<void> =>
  waitFor(pred, what, ms, 10);

/** What the two agents reported during the exchange. */
interface Observed {
  readonly errors: string[];
  readonly availability: ServiceAvailability[];
  readonly subscriptionEvents: SubscriptionEvent[];
  readonly subscriberEvents: SubscriberEvent[];
}

/** tshark on lo, probed until it really captures SD. */
function startCapture(): Promise<LiveCapture> {
  return startLiveCapture({
    filter: 'udp port 30490',
    rawPcap,
    ...(V6 ? { interface: 'any' } : {}),
  });
}

/** Stops tshark and keeps only SD traffic in `pcap`. */
function finishCapture(capture: LiveCapture): Promise<void> {
  return capture.finish('udp.port == 30490', pcap);
}

/** A will offer; B will find and subscribe. */
async function openAgents(observed: Observed): Promise<{ a: SdAgent; b: SdAgent }> {
  const a = new SdAgent({
    transport: await UdpSdTransport.open({ unicast: ADDRESS_A, ...GROUP }),
    timing,
    allowLoopbackEndpoints: true,
    policy: {
      // Stands in for the broker's handshake: the Ack waits until the "channel" is ready.
      onSubscribe: async (r) => {
        note(`A: onSubscribe from ${r.peer} eventgroup ${r.eventgroupId}`);
        await sleep(50);
        return { accept: true };
      },
    },
  });
  const b = new SdAgent({
    transport: await UdpSdTransport.open({ unicast: ADDRESS_B, ...GROUP }),
    timing,
    allowLoopbackEndpoints: true,
  });
  a.errors$.subscribe((e) => observed.errors.push(`A: ${e.message}`));
  b.errors$.subscribe((e) => observed.errors.push(`B: ${e.message}`));
  a.subscribers$.subscribe((e) => {
    observed.subscriberEvents.push(e);
    note(`A: subscriber ${e.type} ${e.reason ?? ''}`);
  });
  return { a, b };
}

/** Find → offer → subscribe → Ack → unsubscribe → withdraw → stop, waiting for each answer. */
async function exchange(a: SdAgent, b: SdAgent, observed: Observed): Promise<void> {
  const { availability, subscriptionEvents, subscriberEvents } = observed;
  const found = b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => {
    availability.push(x);
    note(`B: available=${x.available}${x.available ? '' : ` (${x.reason})`}`);
  });
  await sleep(120); // B searches first: its Finds go out before anything is offered
  await a.offer({
    ...SERVICE,
    endpoints: [endpointOption(ADDRESS_A, 'udp', 30501)],
    eventgroups: [1],
  });
  note('A: first Offer sent');
  await until(() => availability.some((x) => x.available), 5000, 'B to see the offer');
  const sub = b
    .subscribe({
      ...SERVICE,
      eventgroupId: 1,
      endpoints: [endpointOption(ADDRESS_B, 'udp', 40000)],
    })
    .subscribe((e) => {
      subscriptionEvents.push(e);
      note(`B: subscription ${e.state}`);
    });
  await until(() => subscriptionEvents.some((e) => e.state === 'subscribed'), 5000, 'the Ack');
  sub.unsubscribe();
  await until(
    () => subscriberEvents.some((e) => e.type === 'unsubscribed'),
    5000,
    'StopSubscribe at A',
  );
  await a.withdraw(SERVICE.serviceId, SERVICE.instanceId);
  await until(() => availability.some((x) => !x.available), 5000, 'B to see the StopOffer');
  found.unsubscribe();
  await b.stop();
  await a.stop();
}

async function main(): Promise<void> {
  const capture = await startCapture();
  const observed: Observed = {
    errors: [],
    availability: [],
    subscriptionEvents: [],
    subscriberEvents: [],
  };
  const { a, b } = await openAgents(observed);
  await exchange(a, b, observed);
  await finishCapture(capture);
  const { errors, availability, subscriptionEvents, subscriberEvents } = observed;
  process.stdout.write(
    JSON.stringify({
      pcap,
      log,
      errors,
      availability: availability.map((x) => (x.available ? 'up' : x.reason)),
      subscription: subscriptionEvents.map((e) => e.state),
      subscribers: subscriberEvents.map(
        (e) => `${e.type}${e.reason === undefined ? '' : `:${e.reason}`}`,
      ),
      provider: availability[0]?.service,
    }),
  );
}

const watchdog = setTimeout(() => {
  process.stderr.write(`udp scenario: watchdog expired\n${log.join('\n')}\n`);
  process.exit(3);
}, 40_000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`udp scenario failed: ${String(e)}\n${log.join('\n')}\n`);
    process.exit(1);
  },
);
