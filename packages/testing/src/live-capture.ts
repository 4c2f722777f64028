// A live tshark capture on `lo` for network tests run in a private namespace (net-namespace.ts),
// shared by discovery's SD scenario and the gateway's export scenario.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Readable } from 'node:stream';
import { sleep, waitFor } from './wait.js';

/** A side UDP port the capture is probed on; `finish` leaves its packets out. */
export const CAPTURE_PROBE_PORT = 30999;

export interface LiveCaptureOptions {
  /** Capture (BPF) filter of the traffic to keep, e.g. `udp port 30490`. */
  readonly filter: string;
  /** Where tshark writes everything it captured. */
  readonly rawPcap: string;
  /**
   * Interface to capture on (default `lo`); `any` also sees a veth pair's IPv6 multicast
   * (IPV6_NAMESPACE_SETUP), and the probes still reach it on lo.
   */
  readonly interface?: string;
}

/** A running capture. */
export interface LiveCapture {
  /** Stops tshark and writes the packets matching `displayFilter` (probes left out) to `pcap`. */
  finish(displayFilter: string, pcap: string): Promise<void>;
}

/**
 * Starts tshark on lo. tshark says "Capturing on" a little before packets are really captured:
 * probe a side port until a probe shows up in its live output.
 */
export async function startLiveCapture(o: LiveCaptureOptions): Promise<LiveCapture> {
  const filter = `${o.filter} or udp port ${CAPTURE_PROBE_PORT}`;
  const capture: ChildProcessByStdio<null, Readable, Readable> = spawn(
    'tshark',
    ['-i', o.interface ?? 'lo', '-f', filter, '-w', o.rawPcap, '-P', '-l'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  capture.stdout.on('data', (d: Buffer) => (out += d.toString()));
  capture.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const probe = createSocket('udp4');
  const probing = setInterval(() => probe.send('probe', CAPTURE_PROBE_PORT, '127.0.0.1'), 20);
  try {
    await waitFor(
      () => out.includes(String(CAPTURE_PROBE_PORT)),
      `tshark to capture (${out})`,
      20_000,
      10,
    );
  } finally {
    clearInterval(probing);
    probe.close();
  }
  return {
    async finish(displayFilter: string, pcap: string): Promise<void> {
      await sleep(300);
      capture.kill('SIGINT');
      await new Promise((r) => capture.once('exit', r));
      const keep = `(${displayFilter}) and not udp.port == ${CAPTURE_PROBE_PORT}`;
      const r = spawnSync('tshark', ['-r', o.rawPcap, '-Y', keep, '-w', pcap], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (r.status !== 0) throw new Error(`tshark could not filter the capture: ${r.stderr}`);
    },
  };
}
