// The infotainment VM as a real app in its own OS process (the runtime's Node.open on the
// deployment's config): offers VehicleSpeed and MediaControl, publishes `speed` every 10 ms and
// `volume` every 5 ms, answers `reset` and `control`. It measures itself while consumers abuse
// it (issue 13 case 1): event-loop delay (perf_hooks monitorEventLoopDelay), the longest gap
// between the ticks of a 10 ms timer, and its RSS. `{cmd:'junk'}` sends one `speed` record
// whose payload is one byte no protobuf reader accepts (case 2: a hostile or broken provider)
// on the copy lane, the lane that still calls the type's encoder. Reports over IPC;
// ends on {cmd:'exit'}.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig, type ServiceConfig } from '@sivshm/core';
import { Node } from '@sivshm/runtime';
import { report, reportStartFailure, serveTest } from './vm-app-process.js';

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined) {
  throw new Error('usage: provider-app <services.yaml> <run-dir>');
}
const rssMiB = (): number => process.memoryUsage.rss() / 2 ** 20;

/** What this process measures about itself between `measure` and `report`. */
class SelfMeasure {
  readonly #delay = monitorEventLoopDelay({ resolution: 5 });
  #lastTick = performance.now();
  #maxTickGapMs = 0;
  #rssPeak = rssMiB();
  #rssStart = rssMiB();
  readonly #ticker = setInterval(() => {
    const now = performance.now();
    this.#maxTickGapMs = Math.max(this.#maxTickGapMs, now - this.#lastTick);
    this.#lastTick = now;
    this.#rssPeak = Math.max(this.#rssPeak, rssMiB());
  }, 10);

  constructor() {
    this.#delay.enable();
  }

  reset(): void {
    this.#delay.reset();
    this.#lastTick = performance.now();
    this.#maxTickGapMs = 0;
    this.#rssStart = rssMiB();
    this.#rssPeak = this.#rssStart;
  }

  figures(): Record<string, number> {
    return {
      lagP50Ms: this.#delay.percentile(50) / 1e6,
      lagP99Ms: this.#delay.percentile(99) / 1e6,
      lagMaxMs: this.#delay.max / 1e6,
      maxTickGapMs: this.#maxTickGapMs,
      rssStartMiB: this.#rssStart,
      rssPeakMiB: this.#rssPeak,
      rssMiB: rssMiB(),
    };
  }

  stop(): void {
    clearInterval(this.#ticker);
    this.#delay.disable();
  }
}

/**
 * Wraps the encoder of `typeName` in `config`'s protos (the one the node publishes with): while
 * the returned function runs `send`, the next message the encoder's caller finishes is the byte
 * 0x0F — field 1 with wire type 7, which does not exist. Before and after, and when `send`
 * encoded nothing (no open channel), messages are encoded as usual.
 */
function junkable(config: ServiceConfig, typeName: string): (send: () => boolean) => boolean {
  const type = config.protoRoot.lookupType(typeName).setup();
  const encode = type.encode.bind(type);
  let junk = false;
  type.encode = (message, writer) => {
    if (!junk) return encode(message, writer);
    junk = false;
    return { finish: () => Uint8Array.of(0x0f) } as ReturnType<typeof encode>;
  };
  return (send) => {
    junk = true;
    try {
      return send();
    } finally {
      junk = false;
    }
  };
}

try {
  const measure = new SelfMeasure();
  const config = await loadConfig(configPath);
  const withJunk = junkable(config, 'sivshm.demo.VehicleSpeed');
  const node = await Node.open({ config, vm: 'infotainment', runDir });
  let served = 0;
  let odometer = 0;
  const speedSvc = await node.offer('VehicleSpeed', {
    instance: 1,
    methods: {
      reset: () => {
        served++;
        return { previous_odometer_m: odometer };
      },
    },
  });
  const media = await node.offer('MediaControl', {
    instance: 1,
    methods: {
      control: () => {
        served++;
        return { accepted: true, reason: '' };
      },
    },
  });
  const speed = speedSvc.publisher<{ kph: number; odometer_m: number }>('speed');
  // The default lane encodes straight into the ring without calling `type.encode`, so the bad
  // record goes out on the copy lane (same event, same channels), whose encoder is wrapped.
  const speedCopyLane = speedSvc.publisher<{ kph: number; odometer_m: number }>('speed', {
    inPlace: false,
  });
  // A full ring (a descheduled consumer) keeps the record out: try again on the next tick.
  const publishJunk = (): void => {
    const sent = withJunk(() => speedCopyLane.publish({ kph: 50, odometer_m: odometer }));
    if (!sent) setTimeout(publishJunk, 10);
  };
  const volume = media.publisher<{ volume: number }>('volume');
  // `speed` records published while some consumer was connected (what one could receive).
  let published = 0;
  const speedTimer = setInterval(() => {
    if (speed.consumers > 0) published++;
    speed.publish({ kph: 50, odometer_m: ++odometer });
  }, 10);
  let level = 0;
  const volumeTimer = setInterval(() => volume.publish({ volume: ++level % 100 }), 5);
  const close = async (): Promise<void> => {
    clearInterval(speedTimer);
    clearInterval(volumeTimer);
    measure.stop();
    await node.close();
  };
  serveTest(close, {
    measure: () => measure.reset(),
    junk: () => publishJunk(),
    report: () =>
      report({
        event: 'figures',
        ...measure.figures(),
        served,
        published,
        consumers: volume.consumers,
      }),
  });
} catch (e) {
  reportStartFailure(e);
}
