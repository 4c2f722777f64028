// The infotainment VM's side: offers AudioVolume, answers SetVolume and publishes the volume.
// Run: node dist/provider.js <run-dir>   (hostd must be running with the same --run-dir)
import { Node } from '@sivshm/runtime';
import { offerAudioVolume, type MediaVolume } from './services.gen.js';

const runDir = process.argv[2] ?? '/run/sivshm';
const node = await Node.open({ config: 'services.yaml', vm: 'infotainment', runDir });

let current: MediaVolume = { volume: 0, muted: false };
const audio = await offerAudioVolume(node, {
  instance: 1,
  methods: {
    SetVolume: (req) => {
      const previous = current.volume ?? 0;
      current = { volume: req.volume ?? 0, muted: (req.volume ?? 0) === 0 };
      volume.publish(current);
      return { previous };
    },
  },
});
const volume = audio.publisher('volume');
// Late subscribers get the current value within 100 ms.
const tick = setInterval(() => volume.publish(current), 100);
process.stdout.write('provider ready\n');

process.once('SIGTERM', () => {
  clearInterval(tick);
  void node.close().then(() => process.exit(0));
});
