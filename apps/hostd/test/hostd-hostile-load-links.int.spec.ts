// Issue 13, the connection caps of docs/security.md §11 that bound what hostd holds for
// connections it refuses: extra control connections of a VM that already has its link, and
// ivshmem-server peers across processes. hostd runs as its own OS process; the connecting
// processes are real ones (this one, and forked ones for the ivshmem total).
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { MAX_REFUSED_IN_FLIGHT_PER_VM } from '../src/links/vm-link-server.js';
import { ivshmemPeers, ivshmemPeersPerProcess } from '../src/links/ivshmem-limits.js';
import {
  endHostdTest,
  VM,
  makeDeployment,
  startHostd,
  type Deployment,
  type HostdProcess,
} from './support/test-deployment.js';
import type { TestVm } from './support/test-vm.js';
import { vmRoles } from './support/vm-roles.js';
import { fdCount, sleep } from './support/hostile-load.js';

/** One connection's fate: an answer (bytes) came, or hostd closed it without one. */
interface Probe {
  readonly socket: net.Socket;
  bytes: number;
  ended: boolean;
}

/**
 * Connects to `socketPath` and reads what comes, never ending its own side (allowHalfOpen): a
 * refused connection hostd answers stays open at hostd until this side closes it.
 */
async function probe(socketPath: string): Promise<Probe> {
  const socket = net.connect({ path: socketPath, allowHalfOpen: true });
  const p: Probe = { socket, bytes: 0, ended: false };
  socket.on('error', () => undefined);
  socket.on('data', (b: Buffer) => (p.bytes += b.length));
  socket.on('end', () => (p.ended = true));
  socket.on('close', () => (p.ended = true));
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  return p;
}

/**
 * A process holding `n` ivshmem-server connections: prints how many got the server's greeting
 * (accepted) and how many were closed unanswered (refused), then holds them until killed.
 */
function ivshmemHolder(socketPath: string, n: number): ChildProcess {
  const script = `
    const net = require('node:net');
    const got = [];
    for (let i = 0; i < ${n}; i++) {
      const s = net.connect(${JSON.stringify(socketPath)});
      const c = { bytes: 0, closed: false };
      s.on('error', () => {});
      s.on('data', (b) => (c.bytes += b.length));
      s.on('close', () => (c.closed = true));
      got.push(c);
    }
    setTimeout(() => {
      const accepted = got.filter((c) => c.bytes > 0).length;
      const refused = got.filter((c) => c.bytes === 0 && c.closed).length;
      process.stdout.write(JSON.stringify({ accepted, refused }) + '\\n');
    }, 1500);
    setInterval(() => {}, 1000);`;
  return spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

describe('Hostd under hostile load: connection caps (issue 13)', function () {
  this.timeout(60_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];
  const sockets: net.Socket[] = [];
  const holders: ChildProcess[] = [];
  const { consumer } = vmRoles(() => d, vms);
  const pid = (): number => hostd!.child.pid!;

  beforeEach(async () => {
    d = makeDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms, async () => {
      for (const h of holders.splice(0)) h.kill('SIGKILL');
      for (const s of sockets.splice(0)) s.destroy();
    });
  });

  it(`should keep at most ${MAX_REFUSED_IN_FLIGHT_PER_VM} refused extra control connections of a VM open while their ERR_BUSY drains, closing the rest at once`, async () => {
    await consumer(); // the cluster's one link
    const fdsBefore = fdCount(pid());
    const extra: Probe[] = [];
    for (let i = 0; i < 30; i++) {
      const p = await probe(d.socket('cluster'));
      sockets.push(p.socket);
      extra.push(p);
    }
    await sleep(500);
    const answered = extra.filter((p) => p.bytes > 0).length;
    const closedUnanswered = extra.filter((p) => p.bytes === 0 && p.ended).length;
    const fds = fdCount(pid());
    console.log(
      `      [measured] 30 extra connections that never close: ${answered} answered ERR_BUSY, ${closedUnanswered} closed unanswered; hostd fds ${fdsBefore} → ${fds}`,
    );
    // Before: every one was answered and held open by hostd (30 fds).
    expect(answered, 'answered (held open until they close)').to.equal(
      MAX_REFUSED_IN_FLIGHT_PER_VM,
    );
    expect(closedUnanswered, 'closed at once').to.equal(30 - MAX_REFUSED_IN_FLIGHT_PER_VM);
    expect(fds - fdsBefore, 'fds hostd holds for them').to.be.at.most(
      MAX_REFUSED_IN_FLIGHT_PER_VM + 2,
    );
    // Once those close, the next extra connection is answered again: the count went down.
    for (const p of extra) p.socket.destroy();
    await sleep(300);
    const later = await probe(d.socket('cluster'));
    sockets.push(later.socket);
    await sleep(300);
    expect(later.bytes, 'a later extra connection is answered').to.be.above(0);
  });

  it('should cap ivshmem peers in all at max(16, 2 × VMs), whatever each process holds', async () => {
    const perProcess = ivshmemPeersPerProcess(Object.keys(VM).length);
    const total = ivshmemPeers(Object.keys(VM).length);
    // Each process stays within its own cap; together they ask for half again the total.
    const processes = Math.ceil((total * 1.5) / perProcess);
    const socketPath = path.join(d.runDir, 'ivshmem.sock');
    const results = await Promise.all(
      Array.from({ length: processes }, async () => {
        const h = ivshmemHolder(socketPath, perProcess);
        holders.push(h);
        const line = await new Promise<string>((resolve, reject) => {
          let out = '';
          h.stdout!.setEncoding('utf8').on('data', (s: string) => {
            out += s;
            if (out.includes('\n')) resolve(out.trim());
          });
          h.once('exit', () => reject(new Error(`the ivshmem holder exited: ${out}`)));
        });
        return JSON.parse(line) as { accepted: number; refused: number };
      }),
    );
    const accepted = results.reduce((a, r) => a + r.accepted, 0);
    const refused = results.reduce((a, r) => a + r.refused, 0);
    console.log(
      `      [measured] ${processes} processes × ${perProcess} ivshmem connections: ${accepted} accepted, ${refused} refused (cap ${total})`,
    );
    expect(accepted, 'peers accepted in all').to.equal(total);
    expect(refused, 'refused unanswered').to.equal(processes * perProcess - total);
    expect(hostd!.child.exitCode, 'hostd is running').to.equal(null);
  });
});
