// The instrument-cluster VM of the demo, as its own OS process: finds VehicleSpeed and
// MediaControl through hostd with Node.open, shows the speed events (counted), calls the media
// method once a second (round trip measured), and reports its figures to the demo once a
// second. One event subscription for the whole run: it outlives channels (a provider or hostd
// restart brings a new one underneath; status$ shows the gap).
import { Node, type ConsumedService } from '@sivshm/runtime';
import { onStopRequest, report, vmArgs } from './vm-report.js';

interface VehicleSpeed {
  kph: number;
}

const { config, runDir } = vmArgs();
try {
  const node = await Node.open({ config, vm: 'cluster', runDir });
  const speed = await node.consume('VehicleSpeed', { instance: 1 });
  let events = 0;
  let lastKph: number | undefined;
  let failedCalls = 0;
  const rttMs: number[] = [];
  const events$ = speed.event<VehicleSpeed>('speed').subscribe((e) => {
    events++;
    lastKph = e.kph;
  });
  // Only now the second service: speed events that arrive while its handshake runs are
  // counted (an event with no subscriber yet is not kept).
  const media = await node.consume('MediaControl', { instance: 1 });
  let commands = 0;
  const caller = setInterval(() => {
    const command = [1, 3, 2][commands++ % 3]!;
    const t0 = performance.now();
    media.call('control', { command }, { timeoutMs: 900 }).then(
      () => {
        rttMs.push(performance.now() - t0);
        if (rttMs.length > 1000) rttMs.shift(); // the view shows a recent window
      },
      () => failedCalls++,
    );
  }, 1000);
  const statusOf = (s: ConsumedService): string => s.status;
  const sendStats = (): void =>
    report({
      kind: 'cluster',
      events,
      rttMs,
      failedCalls,
      handshakeMs: { VehicleSpeed: speed.handshakeMs, MediaControl: media.handshakeMs },
      status: { VehicleSpeed: statusOf(speed), MediaControl: statusOf(media) },
      modes: { VehicleSpeed: speed.mode, MediaControl: media.mode },
      reconnects: speed.connections - 1 + media.connections - 1,
      ...(lastKph === undefined ? {} : { lastKph }),
    });
  const stats = setInterval(sendStats, 1000);
  onStopRequest(async () => {
    clearInterval(caller);
    clearInterval(stats);
    events$.unsubscribe();
    sendStats(); // the demo's summary uses the last report
    await node.close();
  });
  report({ kind: 'ready', vm: 'cluster' });
} catch (e) {
  report({ kind: 'failed', vm: 'cluster', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
