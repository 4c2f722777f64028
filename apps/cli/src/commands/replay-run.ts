// `sivshm replay` at work: reads a recording, offers its services as the named VM through the
// runtime (enrolment, certificate, SD, channels like any provider) and publishes the recorded
// events at the recorded pace. Loaded by the command's action only (commands/replay.ts).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Node, type OfferedService, type ServicePublisher } from '@sivshm/runtime';
import { loadDiagConfig } from '../diag/diagnostics-vm.js';
import { readPcapng } from '../diag/pcapng.js';
import { recordedEvents, type RecordedEvent } from '../diag/recorded-events.js';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';

/** The options of `sivshm replay`, parsed. */
export interface ReplayOptions {
  as: string;
  config: string;
  runDir: string;
  rate: number;
  wait: boolean;
  startDelay: number;
}

function readRecording(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_IO', `cannot read recording ${file}: ${why}`, { cause: e });
  }
}

/** Replays `file` as VM `o.as`; ends after the last event or on Ctrl-C. */
export async function replay(file: string, o: ReplayOptions): Promise<void> {
  const config = await loadDiagConfig(o.config);
  if (!config.vms.some((v) => v.name === o.as)) {
    throw new CliError(
      'ERR_USAGE',
      `--as ${o.as}: ${config.file} has no such VM; its VMs: ${config.vms.map((v) => v.name).join(', ')}`,
    );
  }
  const recording = recordedEvents(readPcapng(readRecording(file), file), config, o.as, file);
  if (recording.events.length === 0) {
    throw new CliError(
      'ERR_INPUT',
      `${file} holds no events of plain channels to replay` +
        (recording.sealed > 0
          ? ` (${recording.sealed} records of mac/aead channels are sealed)`
          : ''),
    );
  }
  const node = await Node.open({ config, vm: o.as, runDir: o.runDir, reconnect: false });
  let stop = false;
  let onSignal = (): void => void (stop = true);
  const signalled = new Promise<void>((resolve) => {
    onSignal = () => {
      stop = true;
      resolve();
    };
  });
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const offers = await offerAll(node, recording.events);
    if (o.wait) {
      console.error(`offering ${[...offers.keys()].join(', ')} as ${o.as}; waiting for consumers`);
      await Promise.race([Promise.all([...offers.values()].map(aConsumer)), signalled]);
      if (!stop) await sleep(o.startDelay);
    }
    const played = stop
      ? { published: 0, dropped: 0 }
      : await play(recording.events, offers, o.rate, signalled);
    const skipped = [
      recording.sealed > 0 ? `${recording.sealed} sealed mac/aead records skipped` : '',
      recording.duplicates > 0
        ? `${recording.duplicates} copies from a second channel skipped`
        : '',
      played.dropped > 0 ? `${played.dropped} missed by a consumer whose ring was full` : '',
    ].filter((s) => s !== '');
    console.error(
      `replayed ${played.published} of ${recording.events.length} events from ${file} as ${o.as}` +
        (skipped.length > 0 ? ` (${skipped.join('; ')})` : ''),
    );
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await node.close();
  }
}

/** Resolves once the offer has a consumer. */
function aConsumer(offer: OfferedService): Promise<void> {
  return new Promise<void>((resolve) => {
    const sub = offer.consumers$.subscribe((n) => {
      if (n === 0) return;
      resolve();
      queueMicrotask(() => sub.unsubscribe());
    });
  });
}

/** Offers every service instance the events come from; keyed `Service/instance`. */
async function offerAll(
  node: Node,
  events: readonly RecordedEvent[],
): Promise<Map<string, OfferedService>> {
  const offers = new Map<string, OfferedService>();
  for (const e of events) {
    const key = `${e.service.name}/${e.instance}`;
    if (!offers.has(key))
      offers.set(key, await node.offer(e.service.name, { instance: e.instance }));
  }
  return offers;
}

/** Publishes each event at its recorded time (scaled by `rate`) after the first. */
async function play(
  events: readonly RecordedEvent[],
  offers: ReadonlyMap<string, OfferedService>,
  rate: number,
  signalled: Promise<void>,
): Promise<{ published: number; dropped: number }> {
  const publishers = new Map<string, ServicePublisher<object>>();
  const publisherOf = (e: RecordedEvent): ServicePublisher<object> => {
    const key = `${e.service.name}/${e.instance}/${e.event.name}`;
    let p = publishers.get(key);
    if (p === undefined) {
      p = offers.get(`${e.service.name}/${e.instance}`)!.publisher<object>(e.event.name);
      publishers.set(key, p);
    }
    return p;
  };
  const first = events[0]!.timestampUs;
  const started = performance.now();
  let published = 0;
  let dropped = 0;
  let stopped = false;
  // Ctrl-C ends a recorded pause at once, and leaves no timer holding the process.
  const interrupt = new AbortController();
  void signalled.then(() => {
    stopped = true;
    interrupt.abort();
  });
  for (const e of events) {
    if (stopped) break;
    const dueMs = Number(e.timestampUs - first) / 1000 / rate;
    const wait = dueMs - (performance.now() - started);
    if (wait > 1) await sleep(wait, undefined, { signal: interrupt.signal }).catch(() => undefined);
    if (stopped) break;
    if (!publisherOf(e).publish(e.type.decode(e.payload))) dropped++;
    published++;
  }
  return { published, dropped };
}
