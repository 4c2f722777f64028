#!/usr/bin/env node
// `npm start`: the foundation demo. hostd, the VM runtime and the live demo of issue 6 are not
// built yet; until they are, this runs the best end-to-end path that exists, for real:
//   - loads examples/services.yaml (validated, with its .proto types and dev grant keys),
//   - creates a CA (fresh epoch) and a layout-v1 region file under /dev/shm,
//   - starts the infotainment VM as a separate OS process that enrols by CSR and runs the
//     provider side of the six-message handshake; this process plays hostd's broker and the
//     cluster VM's consumer side,
//   - both VMs present their grant tokens to their own (emulated) device and map the window,
//   - the infotainment VM publishes VehicleSpeed events at 100 Hz into the channel's ring; the
//     cluster side decodes and shows them,
//   - at the end it revokes the grants, zeroes the window and removes the region.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BrokerHandshakes,
  ConsumerHandshake,
  createCsr,
  cryptoBackend,
  decodeCertificateBody,
  initCaDirectory,
  loadConfig,
  openCaDirectory,
  packageRoot,
  resolveGrantKey,
  configRights,
  signRevoke,
  type BrokerEffect,
  type ChannelGrant,
} from '@sivshm/core';
import { WindowLayout } from '@sivshm/kmod';
import {
  closeFd,
  createRegionFile,
  EmulatedDevice,
  mapFile,
  RegionLayout,
  RingConsumer,
  ringViews,
  unmap,
  WindowAllocator,
  writeRegionHeader,
} from '@sivshm/transport-ivshmem';
import { hex, unhex, type HostToVm, type VmToHost } from './control-messages.js';

const HELP = `usage: npm start [-- --duration SECONDS] [--config FILE]

Runs the sivshm foundation demo (see README.md): two OS processes, a real handshake, real
grants, a real shared-memory ring carrying VehicleSpeed events at 100 Hz.

  --duration SECONDS  stop after this many seconds (default 10; 0 = until Ctrl-C)
  --config FILE       services.yaml to use (default examples/services.yaml)
`;

function parseArgs(argv: string[]): { durationS: number; config: string } {
  const root = path.resolve(packageRoot(import.meta.url), '..', '..');
  let durationS = 10;
  let config = path.join(root, 'examples', 'services.yaml');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else if (a === '--duration') {
      durationS = Number(argv[++i]);
      if (!Number.isFinite(durationS) || durationS < 0) {
        process.stderr.write(`--duration must be a number of seconds ≥ 0\n\n${HELP}`);
        process.exit(2);
      }
    } else if (a === '--config') {
      config = path.resolve(argv[++i] ?? '');
    } else {
      process.stderr.write(`unknown argument ${a}\n\n${HELP}`);
      process.exit(2);
    }
  }
  return { durationS, config };
}

async function main(): Promise<void> {
  const { durationS, config: configPath } = parseArgs(process.argv.slice(2));
  const crypto = cryptoBackend();
  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  say('sivshm foundation demo — hostd and the live demo are not built yet (issue 6);');
  say('this runs the real handshake, grants and ring between two OS processes.\n');

  const config = await loadConfig(configPath);
  const info = config.vms.find((v) => v.name === 'infotainment');
  const cluster = config.vms.find((v) => v.name === 'cluster');
  const speed = config.services.find((s) => s.name === 'VehicleSpeed');
  if (info === undefined || cluster === undefined || speed === undefined) {
    throw new Error(
      `${configPath} must define VMs infotainment and cluster and service VehicleSpeed`,
    );
  }
  say(`config   ${config.file}: ${config.vms.length} VMs, ${config.services.length} services`);

  // hostd's state: CA (epoch bumped on every start), region, allocator, grant keys.
  const caDir = mkdtempSync(path.join(os.tmpdir(), 'sivshm-demo-ca-'));
  await initCaDirectory(caDir, { crypto });
  const opened = await openCaDirectory(caDir, {
    crypto,
    nowMs: () => BigInt(Date.now()),
    allowedRights: (vm) => configRights(config, vm),
    bumpEpoch: true,
  });
  const ca = opened.ca;
  const regionPath = `${config.region.path}-${process.pid}`;
  closeFd(createRegionFile(regionPath, config.region.size, { exclusive: true }));
  const cleanup: Array<() => void> = [
    () => rmSync(regionPath, { force: true }),
    () => rmSync(caDir, { recursive: true, force: true }),
  ];
  const layout = RegionLayout.compute({
    regionSize: config.region.size,
    channelCapacity: config.region.channelCapacity,
  });
  const region = mapFile(regionPath, 0, config.region.size, { writable: true });
  writeRegionHeader(new Uint8Array(region.shared), layout, ca.epoch);
  const allocator = new WindowAllocator({
    dataOffset: layout.dataOffset,
    dataSize: layout.dataSize,
    memory: new Uint8Array(region.bulk),
  });
  const keys = new Map([
    [info.id, await resolveGrantKey(info)],
    [cluster.id, await resolveGrantKey(cluster)],
  ]);
  say(
    `hostd    epoch ${ca.epoch}, region ${regionPath} (${config.region.size >> 20} MiB), CA in ${caDir}`,
  );

  const child = fork(fileURLToPath(new URL('./infotainment-vm.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  cleanup.unshift(() => child.connected && child.kill());
  const toVm = (m: HostToVm): void => void child.send(m);
  const broker = new BrokerHandshakes({
    crypto,
    ca,
    brokerSecretKey: unhex(
      await import('node:fs/promises')
        .then((fs) => fs.readFile(path.join(caDir, 'broker.key'), 'utf8'))
        .then((t) => t.trim()),
    ),
    nowMs: () => BigInt(Date.now()),
    env: {
      offered: (s, i) =>
        s === speed.id && speed.instances.includes(i)
          ? {
              providerVm: info.id,
              major: speed.major,
              minMode: speed.minMode,
              windowLength: BigInt(WindowLayout.windowLength(64 * 1024)),
            }
          : undefined,
      reserveWindow: (length) => {
        const off = allocator.allocate(Number(length));
        return off === undefined ? undefined : { offset: BigInt(off), length };
      },
      releaseWindow: (w) => allocator.free(Number(w.offset)),
      grantKey: (vm) => keys.get(vm)!,
    },
  });

  // The cluster VM (this process): its own key, device and consumer handshake.
  const clusterDevice = new EmulatedDevice({
    regionPath,
    vmId: cluster.id,
    grantKey: keys.get(cluster.id)!,
    crypto,
  });
  const clusterKey = crypto.ed25519GenerateSecretKey();
  const clusterCert = ca.enrol(
    cluster.id,
    createCsr(crypto, clusterKey, {
      subject: 'cluster',
      nonce: ca.enrolmentNonce(cluster.id),
      rights: configRights(config, cluster.id)!,
    }),
  );
  const file = clusterDevice.open();
  const consumer = new ConsumerHandshake({
    crypto,
    identity: { vmId: cluster.id, secretKey: clusterKey, certificate: clusterCert },
    trust: {
      caPublicKey: ca.caPublicKey,
      brokerCertificate: ca.brokerCertificate,
      epoch: ca.epoch,
    },
    nowMs: () => BigInt(Date.now()),
  });

  let granted: ChannelGrant | undefined;
  let handshakeStart = 0n;
  let handshakeMs = 0;
  const fromBroker = (effects: BrokerEffect[]): void => {
    for (const e of effects) {
      if (e.kind === 'send' && e.vmId === info.id) toVm({ type: 'handshake', bytes: hex(e.bytes) });
      else if (e.kind === 'send' && e.vmId === cluster.id) {
        for (const c of consumer.receive(e.bytes)) {
          if (c.kind === 'send') fromBroker(broker.receive(cluster.id, c.bytes));
          else if (c.kind === 'granted') {
            granted = c.grant;
            file.presentGrant(c.grant.grantToken, c.grant.grantTag);
          } else say(`handshake aborted at the cluster: ${c.reason} ${c.detail}`);
        }
      } else if (e.kind === 'channel-active') {
        handshakeMs = Number(process.hrtime.bigint() - handshakeStart) / 1e6;
        say(
          `broker   channel 0x${e.channel.channelId.toString(16)} ACTIVE: window ${e.channel.window.length} B at 0x${e.channel.window.offset.toString(16)}, mode ${e.channel.mode}`,
        );
      } else if (e.kind === 'rejected' || e.kind === 'channel-aborted')
        say(`broker   ${e.kind}: ${e.reason} ${e.detail}`);
    }
  };

  const published = new Promise<void>((resolve, reject) => {
    child.on('message', (raw) => {
      const m = raw as VmToHost;
      if (m.type === 'csr') {
        const cert = ca.enrol(info.id, unhex(m.csr));
        say(
          `CA       enrolled infotainment (VM ${info.id}) by CSR: serial ${decodeCertificateBody(cert.tbs).serial}`,
        );
        toVm({ type: 'certificate', tbs: hex(cert.tbs), sig: hex(cert.sig) });
        handshakeStart = process.hrtime.bigint();
        fromBroker(
          broker.receive(
            cluster.id,
            consumer.start({
              service: speed.id,
              instance: speed.instances[0]!,
              major: speed.major,
              mode: speed.minMode,
              reqSeq: 1n,
              kn: file.nonce,
            }),
          ),
        );
      } else if (m.type === 'handshake') fromBroker(broker.receive(info.id, unhex(m.bytes)));
      else if (m.type === 'publishing') resolve();
      else if (m.type === 'error') reject(new Error(`infotainment VM: ${m.message}`));
    });
    child.on('exit', (code) => reject(new Error(`infotainment VM exited (${code})`)));
  });
  say(
    `CA       enrolled cluster (VM ${cluster.id}) by CSR: serial ${decodeCertificateBody(clusterCert.tbs).serial}`,
  );
  toVm({
    type: 'attach',
    vmId: info.id,
    regionPath,
    grantKey: hex(keys.get(info.id)!),
    caPublicKey: hex(ca.caPublicKey),
    brokerCertificate: { tbs: hex(ca.brokerCertificate.tbs), sig: hex(ca.brokerCertificate.sig) },
    epoch: ca.epoch.toString(),
    enrolmentNonce: hex(ca.enrolmentNonce(info.id)),
    configPath,
  });
  await published;
  const g = granted!;
  say(
    `handshake complete in ${handshakeMs.toFixed(1)} ms (six messages, two processes, ${crypto.name} crypto)\n`,
  );

  // The cluster side of the data plane: poll the p2c ring (event-driven wake-ups come with the
  // runtime of issue 6) and decode VehicleSpeed events.
  const window = file.mapWindow(g.channelId);
  const ring = new RingConsumer(
    ringViews(window, 'p2c', WindowLayout.dataSizeOf(Number(g.windowLength))!),
  );
  const VehicleSpeed = config.protoRoot.lookupType('sivshm.demo.VehicleSpeed');
  let received = 0;
  let windowCount = 0;
  let last = { kph: 0, odometer_m: 0 };
  const tty = process.stdout.isTTY === true;
  const poll = setInterval(() => {
    for (let r = ring.receive(); r !== undefined; r = ring.receive()) {
      last = VehicleSpeed.toObject(VehicleSpeed.decode(r.payload), {
        longs: Number,
      }) as typeof last;
      ring.release();
      received++;
      windowCount++;
    }
  }, 2);
  const started = Date.now();
  const status = setInterval(() => {
    const line = `cluster  ${windowCount.toString().padStart(3)} events/s  speed ${last.kph.toFixed(1).padStart(5)} km/h  odometer ${last.odometer_m} m  total ${received}`;
    windowCount = 0;
    process.stdout.write(tty ? `\r${line}` : `${line}\n`);
  }, 1000);

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (durationS > 0) setTimeout(stop, durationS * 1000);
  });
  clearInterval(poll);
  clearInterval(status);
  if (tty) process.stdout.write('\n');

  // Teardown: stop the publisher, revoke the cluster's grant (its mapping is zapped), free and
  // zero the window, remove the region and the CA directory.
  const stopped = new Promise<number>((resolve) => {
    child.on('message', (raw) => {
      const m = raw as VmToHost;
      if (m.type === 'stopped') resolve(m.sent);
    });
    setTimeout(() => resolve(-1), 3000);
  });
  toVm({ type: 'stop' });
  const sent = await stopped;
  const rv = signRevoke(crypto, keys.get(cluster.id)!, {
    epoch: ca.epoch,
    revokeSerial: 1n,
    vmId: cluster.id,
    channelId: g.channelId,
  });
  clusterDevice.revoke(rv.token, rv.tag);
  broker.closeChannel(g.channelId);
  clusterDevice.close();
  unmap(region.handle);
  for (const c of cleanup) c();
  say(
    `done     ${received} events received of ${sent} sent in ${((Date.now() - started) / 1000).toFixed(1)} s; grant revoked, window zeroed, region removed`,
  );
}

main().catch((e: unknown) => {
  console.error(`sivshm demo: ${(e as Error).message}`);
  process.exitCode = 1;
});
