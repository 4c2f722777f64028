// The gateway as its own process for the gateway bench: Gateway.start on the bench's config as
// VM 'gateway' (loopback endpoints allowed: the bench runs on 127.0.0.1/127.0.0.2), short SD
// phases. Reports {event:'ready'} over IPC and closes on {cmd:'exit'} or a disconnect.
import { Gateway } from '../src/gateway.js';

const [configPath, runDir] = process.argv.slice(2);
if (configPath === undefined || runDir === undefined)
  throw new Error('usage: gateway-process <services.yaml> <run-dir>');
const report = (m: Record<string, unknown>): void => void process.send?.(m);

try {
  const gateway = await Gateway.start({
    config: configPath,
    vm: 'gateway',
    runDir,
    allowLoopbackEndpoints: true,
    // The bench sends as fast as the gateway takes it: the per-peer rate is not what is measured.
    peerBudget: { messagesPerSecond: 10_000_000, burst: 1_000_000, callsInFlight: 1024 },
    sdTiming: { initialDelayMin: 10, initialDelayMax: 30, repetitionsBaseDelay: 50 },
    log: () => undefined,
  });
  const stop = async (): Promise<void> => {
    report({ event: 'counters', counters: gateway.counters });
    await gateway.close();
    process.disconnect?.();
  };
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'exit') void stop();
    if (m.cmd === 'counters') report({ event: 'counters', counters: gateway.counters });
  });
  process.on('disconnect', () => void stop().catch(() => process.exit(1)));
  report({ event: 'ready' });
} catch (e) {
  report({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
  process.disconnect?.();
}
