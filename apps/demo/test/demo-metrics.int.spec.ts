// `npm start -- --metrics HOST:PORT`: the demo hands the address to its hostd, which serves the
// demo's traffic as Prometheus text there while it runs.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { packageRoot } from '@sivshm/core';

const MAIN = path.join(packageRoot(import.meta.url), 'dist', 'src', 'main.js');

/** A loopback port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('npm start --metrics (demo on hostd)', () => {
  it("should serve the demo's channel bytes at the address it passed to hostd", async function () {
    this.timeout(90_000);
    const port = await freePort();
    const demo = spawn(
      process.execPath,
      [MAIN, '--duration', '8', '--metrics', `127.0.0.1:${port}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    demo.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const exited = new Promise<number | null>((r) => demo.on('exit', (c) => r(c)));
    const killer = setTimeout(() => demo.kill('SIGKILL'), 80_000);
    try {
      let bytes = 0;
      for (let i = 0; i < 140 && bytes === 0 && demo.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 250));
        if (!/\[ *\d+s\]/.test(out)) continue; // traffic flows from the first figures line on
        const text = await fetch(`http://127.0.0.1:${port}/metrics`, {
          signal: AbortSignal.timeout(5000),
        }).then((r) => r.text());
        const m =
          /^sivshm_channel_bytes_total\{service="VehicleSpeed",direction="p2c",mode="plain"\} (\d+)/m.exec(
            text,
          );
        bytes = Number(m?.[1] ?? 0);
      }
      expect(out).to.include(`metrics http://127.0.0.1:${port}/metrics`);
      expect(bytes, out).to.be.above(0);
      expect(await exited).to.equal(0);
    } finally {
      clearTimeout(killer);
      // A failed run still stops cleanly: SIGTERM lets the demo stop hostd and its VMs.
      if (demo.exitCode === null) demo.kill('SIGTERM');
    }
  });
});
