// The cluster VM's side: consumes AudioVolume, sets the volume and waits until the event says so.
// Run: node dist/consumer.js <run-dir> [volume]
import { firstValueFrom, filter, timeout } from 'rxjs';
import { Node } from '@sivshm/runtime';
import { consumeAudioVolume } from './services.gen.js';

const runDir = process.argv[2] ?? '/run/sivshm';
const wanted = Number(process.argv[3] ?? 42);
const node = await Node.open({ config: 'services.yaml', vm: 'cluster', runDir });
try {
  const audio = await consumeAudioVolume(node, { instance: 1, mode: 'mac' });
  // Typed from proto/audio.proto by `sivshm gen`: an Observable<MediaVolume>.
  const heard = firstValueFrom(
    audio.event('volume').pipe(
      filter((v) => v.volume === wanted),
      timeout(10_000),
    ),
  );
  const answer = await audio.call('SetVolume', { volume: wanted });
  const event = await heard;
  process.stdout.write(`${JSON.stringify({ answer, event })}\n`);
} finally {
  await node.close();
}
