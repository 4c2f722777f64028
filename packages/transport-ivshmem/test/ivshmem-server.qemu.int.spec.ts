// Interoperability of IvshmemServer and IvshmemClient with a real QEMU ivshmem-doorbell device
// (TCG, no guest OS: SeaBIOS assigns the BARs, QMP's human-monitor-command reads registers).
// Not covered: QEMU ringing us needs a guest that writes the Doorbell register (kmod tier).
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { IvshmemClient } from '../src/ivshmem-server/ivshmem-client.js';
import type { IvshmemPeerEvent } from '../src/ivshmem-server/ivshmem-client.js';
import { IvshmemServer } from '../src/ivshmem-server/ivshmem-server.js';
import { eventfdRead } from '../src/native/eventfd.js';

const QEMU = 'qemu-system-x86_64';
const REGION_SIZE = 1 << 20;

/** Minimal QMP client over the QEMU process's stdio. */
class Qmp {
  #buffer = '';
  #waiters: Array<(m: Record<string, unknown>) => void> = [];

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl).trim();
        this.#buffer = this.#buffer.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        this.#waiters.shift()?.(msg);
      }
    });
  }

  /** Waits for the next non-event message (the greeting, or a command's reply). */
  next(ms = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`QMP: no reply in ${ms} ms`)), ms);
      this.#waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.next();
    this.proc.stdin.write(JSON.stringify({ execute: command, arguments: args ?? {} }) + '\n');
    const m = await reply;
    if ('error' in m) throw new Error(`QMP ${command}: ${JSON.stringify(m.error)}`);
    return m.return;
  }

  hmp(commandLine: string): Promise<string> {
    return this.execute('human-monitor-command', {
      'command-line': commandLine,
    }) as Promise<string>;
  }
}

describe('IvshmemServer with QEMU ivshmem-doorbell', function () {
  this.timeout(60_000);
  const socketPath = `/tmp/sivshm-ivshmem-qemu-${process.pid}.sock`;
  let server: IvshmemServer | undefined;
  let qemu: ChildProcessWithoutNullStreams | undefined;
  const clients: IvshmemClient[] = [];

  before(function () {
    const probe = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      console.log(`      (skipped: ${QEMU} is not installed; apt-get install qemu-system-x86)`);
      this.skip();
    }
  });

  afterEach(() => {
    qemu?.kill('SIGKILL');
    qemu = undefined;
    for (const c of clients.splice(0)) c.close();
    server?.close();
    server = undefined;
  });

  /** Reads the 32-bit register at `offset` of BAR0 (guest-physical `bar0`). */
  const readRegister = async (qmp: Qmp, bar0: number, offset: number): Promise<number> => {
    const out = await qmp.hmp(`xp /1wx 0x${(bar0 + offset).toString(16)}`);
    const m = /: (0x[0-9a-f]+)/.exec(out);
    if (m === null) throw new Error(`unexpected xp output: ${out}`);
    return Number(m[1]);
  };

  it('should hand QEMU its id, the region and doorbells that reach the device', async () => {
    server = IvshmemServer.listen({ socketPath, shm: { memfdSize: REGION_SIZE }, vectors: 1 });
    // Two clients first, so QEMU's id (2) is distinguishable from the reset value 0.
    const a = await IvshmemClient.connect(socketPath);
    clients.push(a);
    clients.push(await IvshmemClient.connect(socketPath));
    const events: IvshmemPeerEvent[] = [];
    a.peerEvents$.subscribe((e) => events.push(e));

    qemu = spawn(
      QEMU,
      [
        ...['-display', 'none', '-nodefaults', '-serial', 'none', '-accel', 'tcg', '-m', '64'],
        ...['-qmp', 'stdio'],
        ...['-chardev', `socket,path=${socketPath},id=ivs`],
        ...['-device', 'ivshmem-doorbell,vectors=1,chardev=ivs'],
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    qemu.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const qmp = new Qmp(qemu);
    await qmp.next(); // greeting
    await qmp.execute('qmp_capabilities');

    // SeaBIOS assigns the BARs shortly after start; poll `info pci` (bounded). Until then
    // QEMU reports them unassigned (0 or all ones).
    let bar0 = 0;
    let bar2: [number, number] = [0, 0];
    let info = '';
    const assigned = (v: number) => v > 0 && v < 0xffff_0000;
    for (let i = 0; i < 100; i++) {
      info = await qmp.hmp('info pci');
      const device = /1af4:1110[\s\S]*?(?=Bus|$)/.exec(info)?.[0] ?? '';
      const b0 = /BAR0: 32 bit memory at (0x[0-9a-f]+)/.exec(device);
      const b2 = /BAR2: 64 bit prefetchable memory at (0x[0-9a-f]+) \[(0x[0-9a-f]+)\]/.exec(device);
      bar0 = Number(b0?.[1] ?? 0);
      bar2 = [Number(b2?.[1] ?? 0), Number(b2?.[2] ?? 0)];
      if (assigned(bar0) && assigned(bar2[0])) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(
      assigned(bar0) && assigned(bar2[0]),
      `BARs never assigned:\n${info}\n${stderr}`,
    ).to.equal(true);

    // BAR2 is the region QEMU got with the -1 message: same size as our memfd.
    expect(bar2[1] - bar2[0] + 1).to.equal(REGION_SIZE);

    // IVPosition (0x08) is the id QEMU parsed from our second message.
    expect(await readRegister(qmp, bar0, 0x08)).to.equal(2);
    expect(server.peerIds()).to.deep.equal([0, 1, 2]);
    expect(events).to.deep.include({ type: 'joined', id: 2 });

    // Our client rings QEMU's vector 0. Under TCG (no irqfd) QEMU watches that eventfd itself
    // and drains it when it fires, so the counter we wrote must be back at 0 soon after.
    const doorbell = a.peerEventfds(2)[0] as number;
    a.ring(2, 0);
    await new Promise((r) => setTimeout(r, 500));
    expect(eventfdRead(doorbell)).to.equal(0n);

    // QEMU going away is a leave for everyone else.
    const left = new Promise<void>((resolve) =>
      a.peerEvents$.subscribe((e) => e.type === 'left' && e.id === 2 && resolve()),
    );
    qemu.kill('SIGTERM');
    await left;
    expect(server.peerIds()).to.deep.equal([0, 1]);
  });
});
