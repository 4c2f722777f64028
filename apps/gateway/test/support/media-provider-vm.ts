// The infotainment VM for the gateway's SOME/IP-TP test, as its own OS process: offers
// MediaControl instances 1 and 2, publishes `nowPlaying` with a title of TITLE_BYTES on both
// every 20 ms (one event larger than a UDP datagram of the gateway's budget), and answers
// `control` with a reason of REASON_BYTES (a response larger than one datagram). Exits on
// {cmd:'exit'}.
import { Node } from '@sivshm/runtime';
import { REASON_BYTES, titleOf } from './tp-sizes.js';

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined)
  throw new Error('usage: media-provider-vm <services.yaml> <run-dir>');
await run(configPath, runDir);

async function run(config: string, dir: string): Promise<void> {
  const report = (m: Record<string, unknown>): void => void process.send?.(m);
  try {
    const node = await Node.open({ config, vm: 'infotainment', runDir: dir });
    const handlers = {
      control: (req: { command?: number }) => {
        report({ event: 'call', method: 'control', command: req.command ?? 0 });
        return { accepted: true, reason: 'r'.repeat(REASON_BYTES) };
      },
    };
    const services = [
      await node.offer('MediaControl', { instance: 1, methods: handlers }),
      await node.offer('MediaControl', { instance: 2, methods: handlers }),
    ];
    type State = { playing: boolean; title: string; artist: string; position_ms: number };
    const publishers = services.map((s) => s.publisher<State>('nowPlaying'));
    let n = 0;
    const timer = setInterval(() => {
      n += 1;
      for (const p of publishers)
        p.publish({ playing: true, title: titleOf(n), artist: 'a', position_ms: n * 20 });
    }, 20);
    const stop = async (): Promise<void> => {
      clearInterval(timer);
      await node.close();
      process.disconnect?.();
    };
    process.on('message', (m: { cmd?: string }) => {
      if (m.cmd === 'exit') void stop();
    });
    process.on('disconnect', () => void stop().catch(() => process.exit(1)));
    report({ event: 'ready' });
  } catch (e) {
    report({ event: 'error', message: (e as Error).message });
    process.exitCode = 1;
    process.disconnect?.();
  }
}
