import net from 'node:net';
import path from 'node:path';
import type { Command } from 'commander';

/** The parts of hostd's status document (schema version 1) this command prints. */
interface Status {
  version: number;
  pid: number;
  epoch: string;
  uptimeMs: number;
  config: string;
  region: {
    path: string;
    size: number;
    dataSize: number;
    freeBytes: number;
    allocatedBytes: number;
    quarantinedBytes: number;
  };
  vms: {
    id: number;
    name: string;
    connected: boolean;
    enrolled: boolean;
    certificateSerial?: string;
    refusals: number;
  }[];
  services: {
    service: number;
    instance: number;
    major: number;
    minor: number;
    providerVm: number;
    ttl: number;
  }[];
  channels: {
    channelId: string;
    state: string;
    mode: string;
    consumerVm: number;
    providerVm: number;
    service: number;
    instance: number;
    window: { offset: number; length: number };
    rings?: Record<'c2p' | 'p2c', { producedBytes: number; queuedBytes: number }>;
  }[];
  handshakes: {
    established: number;
    aborted: number;
    rejected: number;
    rateLimited: number;
    signatureVerifications: number;
    pending: number;
    timingMs: { count: number; p50?: number; p99?: number; last?: number };
  };
  sd: { received: number; relayed: number; refused: number; findsAnswered: number };
  quarantinedWindows: number;
}

/** Registers `sivshm status`. */
export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      "show a running hostd's VMs, services, channels and handshake figures (from its status socket)",
    )
    .option('--run-dir <dir>', 'the run dir hostd was started with', '/run/sivshm')
    .option('--json', 'print the status document as JSON')
    .action(async (opts: { runDir: string; json?: boolean }) => {
      const socket = path.join(path.resolve(opts.runDir), 'status.sock');
      let text: string;
      try {
        text = await readStatusSocket(socket);
      } catch (e) {
        process.stderr.write(
          `sivshm: no hostd answers at ${socket} (${(e as Error).message}); is sivshm-hostd running with --run-dir ${opts.runDir}?\n`,
        );
        process.exitCode = 1;
        return;
      }
      if (opts.json === true) {
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return;
      }
      process.stdout.write(render(JSON.parse(text) as Status));
    });
}

function readStatusSocket(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer within 5 s'));
    }, 5000);
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const hex = (n: number, digits = 4): string => `0x${n.toString(16).padStart(digits, '0')}`;
const size = (n: number): string =>
  n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;

const bytes = (n: number): string => (n < 1024 ? `${n} B` : size(n));

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].map((l) => `  ${l}`).join('\n') + '\n';
}

function render(s: Status): string {
  const vmName = (id: number): string => s.vms.find((v) => v.id === id)?.name ?? String(id);
  const h = s.handshakes;
  const t = h.timingMs;
  let out = `hostd pid ${s.pid}, epoch ${s.epoch}, up ${(s.uptimeMs / 1000).toFixed(0)} s, config ${s.config}\n`;
  out += `region ${s.region.path}: ${size(s.region.size)}, data ${size(s.region.dataSize)}, free ${size(s.region.freeBytes)}, in use ${size(s.region.allocatedBytes)}, quarantined ${size(s.region.quarantinedBytes)}\n\n`;
  out += `VMs\n${table(
    ['ID', 'NAME', 'LINK', 'CERT', 'REFUSALS'],
    s.vms.map((v) => [
      String(v.id),
      v.name,
      v.connected ? 'up' : 'down',
      v.enrolled ? `serial ${v.certificateSerial ?? '?'}` : '-',
      String(v.refusals),
    ]),
  )}\n`;
  out += `services offered\n${
    s.services.length === 0
      ? '  (none)\n'
      : table(
          ['SERVICE', 'INSTANCE', 'VERSION', 'PROVIDER', 'TTL'],
          s.services.map((x) => [
            hex(x.service),
            hex(x.instance),
            `${x.major}.${x.minor}`,
            vmName(x.providerVm),
            x.ttl === 0xffffff ? 'forever' : `${x.ttl} s`,
          ]),
        )
  }\n`;
  out += `channels\n${
    s.channels.length === 0
      ? '  (none)\n'
      : table(
          [
            'CHANNEL',
            'STATE',
            'MODE',
            'SERVICE',
            'CONSUMER',
            'PROVIDER',
            'WINDOW',
            'SENT c2p / p2c (QUEUED)',
          ],
          s.channels.map((c) => [
            c.channelId,
            c.state,
            c.mode,
            `${hex(c.service)}/${c.instance}`,
            vmName(c.consumerVm),
            vmName(c.providerVm),
            `${size(c.window.length)} @ ${hex(c.window.offset, 8)}`,
            c.rings === undefined
              ? '-'
              : `${bytes(c.rings.c2p.producedBytes)} (${bytes(c.rings.c2p.queuedBytes)}) / ${bytes(c.rings.p2c.producedBytes)} (${bytes(c.rings.p2c.queuedBytes)})`,
          ]),
        )
  }\n`;
  const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v.toFixed(1)} ms`);
  out += `handshakes: ${h.established} established, ${h.aborted} aborted, ${h.rejected} rejected (${h.rateLimited} rate-limited), ${h.pending} pending, ${h.signatureVerifications} signature checks\n`;
  out += `handshake time (PENDING → ACTIVE, last ${t.count}): p50 ${ms(t.p50)}, p99 ${ms(t.p99)}, last ${ms(t.last)}\n`;
  out += `SD: ${s.sd.received} received, ${s.sd.relayed} relayed, ${s.sd.refused} refused, ${s.sd.findsAnswered} finds answered; ${s.quarantinedWindows} windows quarantined\n`;
  return out;
}
