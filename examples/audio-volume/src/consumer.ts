// The cluster VM's side: consumes AudioVolume, sets the volume and waits until the event says so.
// Run: node dist/consumer.js <run-dir> [volume]
import { firstValueFrom, filter, timeout } from 'rxjs';
import { Node } from '@sivshm/runtime';
import type { MediaVolume, SetVolumeRequest, SetVolumeResponse } from './messages.js';

const runDir = process.argv[2] ?? '/run/sivshm';
const wanted = Number(process.argv[3] ?? 42);
const node = await Node.open({ config: 'services.yaml', vm: 'cluster', runDir });
try {
  const audio = await node.consume('AudioVolume', { instance: 1, mode: 'mac' });
  const heard = firstValueFrom(
    audio.event<MediaVolume>('volume').pipe(
      filter((v) => v.volume === wanted),
      timeout(10_000),
    ),
  );
  const answer = await audio.call<SetVolumeRequest, SetVolumeResponse>('SetVolume', {
    volume: wanted,
  });
  const event = await heard;
  process.stdout.write(`${JSON.stringify({ answer, event })}\n`);
} finally {
  await node.close();
}
