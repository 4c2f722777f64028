// The infotainment VM of the demo, as its own OS process: offers VehicleSpeed (events at
// 100 Hz, method "reset") and MediaControl (method "control", event "nowPlaying") through
// Node.open, and reports its figures to the demo once a second.
import { Node } from '@sivshm/runtime';
import { onQuiesceRequest, onStopRequest, report, vmArgs } from './vm-report.js';

interface MediaControlRequest {
  command?: number;
  volume?: number;
}

const COMMAND = { play: 1, pause: 2, next: 3, previous: 4, setVolume: 5 } as const;
const TRACKS = ['Autobahn', 'Radar Love', 'Drive', 'Roadrunner'];

const { config, runDir } = vmArgs();
try {
  const node = await Node.open({ config, vm: 'infotainment', runDir });
  let odometer = 12_345_000;
  let tripStart = odometer;
  const speed = await node.offer('VehicleSpeed', {
    instance: 1,
    methods: {
      reset: (req: { odometer_m?: unknown }) => {
        const previous = odometer - tripStart;
        tripStart = odometer - Number(String(req.odometer_m ?? 0)); // uint64 arrives as a decimal string
        return { previous_odometer_m: previous };
      },
    },
  });
  let playing = false;
  let track = 0;
  let volume = 30;
  let mediaCalls = 0;
  const state = (): object => ({
    playing,
    title: TRACKS[track % TRACKS.length],
    artist: 'demo',
    position_ms: 0,
  });
  const media = await node.offer('MediaControl', {
    instance: 1,
    methods: {
      control: (req: MediaControlRequest) => {
        mediaCalls++;
        switch (req.command ?? 0) {
          case COMMAND.play:
            playing = true;
            break;
          case COMMAND.pause:
            playing = false;
            break;
          case COMMAND.next:
            track++;
            break;
          case COMMAND.previous:
            track = Math.max(0, track - 1);
            break;
          case COMMAND.setVolume:
            if ((req.volume ?? 0) > 100) {
              return { accepted: false, reason: 'volume is 0..100', state: state() };
            }
            volume = req.volume ?? 0;
            volumeEvents.publish({ volume, muted: volume === 0 });
            break;
          default:
            return { accepted: false, reason: 'unknown command', state: state() };
        }
        nowPlaying.publish(state());
        return { accepted: true, reason: '', state: state() };
      },
    },
  });
  const nowPlaying = media.publisher<object>('nowPlaying');
  const volumeEvents = media.publisher<object>('volume');
  const speedEvents = speed.publisher<object>('speed');
  const started = performance.now();
  let published = 0;
  let dropped = 0;
  let sent = 0;
  // 100 Hz: a timer per sample would drift on a loaded machine, so each tick publishes the
  // samples that are due by the clock.
  const tick = setInterval(() => {
    const due = Math.floor((performance.now() - started) / 10);
    while (published < due) {
      published++;
      odometer += 1;
      if (speedEvents.consumers > 0) sent++;
      const kph = 80 + 30 * Math.sin(published / 300);
      if (
        !speedEvents.publish({
          timestamp_ms: published * 10,
          kph,
          odometer_m: odometer,
          gear: 4,
        })
      ) {
        dropped++;
      }
    }
  }, 10);
  const sendStats = (): void =>
    report({
      kind: 'infotainment',
      published,
      sent,
      dropped,
      consumers: { VehicleSpeed: speed.consumers, MediaControl: media.consumers },
      mediaCalls,
    });
  const stats = setInterval(sendStats, 1000);
  onQuiesceRequest(() => {
    clearInterval(tick);
    sendStats();
  });
  onStopRequest(async () => {
    clearInterval(tick);
    clearInterval(stats);
    sendStats();
    await node.close();
  });
  report({ kind: 'ready', vm: 'infotainment' });
} catch (e) {
  report({ kind: 'failed', vm: 'infotainment', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
