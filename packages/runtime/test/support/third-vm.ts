// A third VM for the device-isolation spec, as its own OS process: consumes MediaControl (a
// region service) and calls `control`; on {cmd:'maps'} it reports the files its process maps
// (from /proc/self/maps), so the spec can show a device channel's memory was never among them.
import { readFileSync } from 'node:fs';
import { Node } from '../../src/index.js';

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined) {
  throw new Error('usage: third-vm <services.yaml> <run-dir>');
}
const report = (m: Record<string, unknown>): void => void process.send?.(m);

const mappedFiles = (): string[] => [
  ...new Set(
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .map((l) => l.split(/\s+/).slice(5).join(' '))
      .filter((p) => p.startsWith('/')),
  ),
];

try {
  const node = await Node.open({ config: configPath, vm: 'third', runDir });
  const media = await node.consume('MediaControl', { instance: 1 });
  const call = async (): Promise<unknown> =>
    media.call('control', { command: 1 }, { timeoutMs: 10_000 });
  report({ event: 'ready', answer: await call() });
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'maps') report({ event: 'maps', files: mappedFiles() });
    if (m.cmd === 'call')
      void call().then(
        (answer) => report({ event: 'answer', answer }),
        (e: Error) => report({ event: 'call-failed', message: e.message }),
      );
    if (m.cmd === 'exit') void node.close().then(() => process.disconnect?.());
  });
  process.on('disconnect', () => void node.close().catch(() => process.exit(1)));
} catch (e) {
  report({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
