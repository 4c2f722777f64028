// `sivshm … | head -1`: a reader that closes the pipe has what it wanted. Every binary of the
// repo then ends silently with exit 0: no EPIPE line, no stack trace. Each test closes a real
// pipe: the test's read end of the child's stdout (or stderr) is destroyed, so the child's next
// write fails with EPIPE exactly as it does under `head`.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import {
  cliEntry,
  makeDeployment,
  nodeEntry,
  startHostd,
  workspaceDir,
  type Deployment,
  type HostdProcess,
  type NodeEntry,
} from '@sivshm/testing';

/** How a child ended, and everything it said on the stream the test kept open. */
interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly said: string;
}

/**
 * Starts `entry` with stdout and stderr piped; `closeAfter` chunks (0: before any) arrive on
 * `closed` before its read end is destroyed. The child is killed if it outlives `boundMs`.
 */
function runWithClosedReader(
  entry: NodeEntry,
  args: readonly string[],
  o: { closed: 'stdout' | 'stderr'; closeAfter: number; boundMs?: number },
): { child: ChildProcess; ended: Promise<Ended> } {
  const child = spawn(process.execPath, [...entry.execArgv, entry.script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closed = child[o.closed]!;
  const open = o.closed === 'stdout' ? child.stderr! : child.stdout!;
  let said = '';
  open.setEncoding('utf8').on('data', (s: string) => (said += s));
  let chunks = 0;
  if (o.closeAfter === 0) closed.destroy();
  else closed.on('data', () => ++chunks >= o.closeAfter && closed.destroy());
  const bound = setTimeout(() => child.kill('SIGKILL'), o.boundMs ?? 20_000);
  const ended = new Promise<Ended>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(bound);
      resolve({ code, signal, said });
    }),
  );
  return { child, ended };
}

const BINARIES: readonly { name: string; entry: () => NodeEntry; args: string[] }[] = [
  { name: 'sivshm --help', entry: cliEntry, args: ['--help'] },
  // call's help is written in two parts (the examples after the options).
  { name: 'sivshm call --help', entry: cliEntry, args: ['call', '--help'] },
  { name: 'sivshm --version', entry: cliEntry, args: ['--version'] },
  {
    name: 'sivshm-hostd --help',
    entry: () => nodeEntry(workspaceDir('@sivshm/hostd'), 'src/bin.ts'),
    args: ['--help'],
  },
  {
    name: 'sivshm-gateway --help',
    entry: () => nodeEntry(workspaceDir('@sivshm/gateway'), 'src/bin.ts'),
    args: ['--help'],
  },
  {
    name: 'the demo (npm start) --help',
    entry: () => nodeEntry(workspaceDir('@sivshm/demo'), 'src/main.ts'),
    args: ['--help'],
  },
];

describe('a reader that closed the pipe', function () {
  this.timeout(60_000);

  for (const b of BINARIES) {
    it(`should end ${b.name} silently with exit 0`, async () => {
      const r = await runWithClosedReader(b.entry(), b.args, { closed: 'stdout', closeAfter: 0 })
        .ended;
      expect(r, JSON.stringify(r)).to.deep.equal({ code: 0, signal: null, said: '' });
    });
  }

  describe('of a command that keeps writing', () => {
    let d: Deployment;
    let hostd: HostdProcess | undefined;

    beforeEach(() => {
      d = makeDeployment({
        label: 'cli-closed-reader',
        vms: [
          { id: 1, name: 'infotainment' },
          { id: 2, name: 'cluster' },
        ],
        services: ['VehicleSpeed'],
      });
    });

    afterEach(async () => {
      await hostd?.stop();
      hostd = undefined;
      d.cleanup();
    });

    it('should end `sivshm top --json` silently with exit 0 after its first frame', async () => {
      hostd = await startHostd(d, [], { logLevel: 'info' });
      const args = ['top', '--run-dir', d.runDir, '--json', '--interval', '100'];
      const r = await runWithClosedReader(cliEntry(), args, { closed: 'stdout', closeAfter: 1 })
        .ended;
      expect(r, JSON.stringify(r)).to.deep.equal({ code: 0, signal: null, said: '' });
    });

    it("should stop sivshm-hostd cleanly with exit 0 when its log's reader went away", async () => {
      const hostdEntry = nodeEntry(workspaceDir('@sivshm/hostd'), 'src/bin.ts');
      const args = ['--config', d.configPath, '--state-dir', d.stateDir, '--run-dir', d.runDir];
      // Its first log chunk is read, then the pipe is closed; a peer joining its ivshmem server
      // makes it log again (at debug), into the closed pipe.
      const run = runWithClosedReader(hostdEntry, [...args, '--log-level', 'debug'], {
        closed: 'stderr',
        closeAfter: 1,
      });
      const ivshmemSocket = path.join(d.runDir, 'ivshmem.sock');
      const peers: net.Socket[] = [];
      const poke = setInterval(() => {
        const s = net.connect(ivshmemSocket).on('error', () => undefined);
        peers.push(s);
      }, 200);
      const r = await run.ended.finally(() => clearInterval(poke));
      for (const s of peers) s.destroy();
      expect(r, JSON.stringify(r)).to.deep.equal({ code: 0, signal: null, said: '' });
    });
  });
});
