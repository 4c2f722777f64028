// hostd as a separate OS process, driven over its real control sockets by VM stand-ins.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { ControlConnection, decodeGrant, type ControlMessage } from '@sivshm/core';
import { WindowLayout } from '@sivshm/abi';
import { RingConsumer, RingProducer, ringViews } from '@sivshm/transport-ivshmem';
import { IvshmemClient, fileSize } from '@sivshm/transport-ivshmem/testing';
import { firstValueFrom, timeout } from 'rxjs';
import {
  SERVICE,
  VM,
  endHostdTest,
  makeDeployment,
  readStatus,
  runCliStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
  type StatusLike,
  OFFER_ALL,
  REQUEST_ALL,
} from './support/test-deployment.js';
import { TestVm } from './support/test-vm.js';
import { vmRoles } from './support/vm-roles.js';

describe('Hostd', function () {
  this.timeout(30_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];

  const { connect, providerAndConsumer } = vmRoles(() => d, vms);

  beforeEach(async () => {
    d = makeDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms);
  });

  describe('attach and enrolment', () => {
    it('should tell a VM its id from the socket it connected to and enrol it by CSR', async () => {
      const c = await connect('cluster');
      expect(c.attach.vmId).to.equal(VM.cluster);
      expect(c.attach.vmName).to.equal('cluster');
      expect(c.attach.region.path).to.equal(d.regionPath);
      expect(c.attach.grantKey).to.have.length(32);
      const cert = await c.enrol(REQUEST_ALL);
      expect(cert.sig).to.have.length(64);
      const s = await readStatus(d);
      expect(s.vms.find((v) => v.id === VM.cluster)).to.include({
        connected: true,
        enrolled: true,
      });
      expect(s.vms.find((v) => v.id === VM.infotainment)).to.include({ connected: false });
    });

    it('should keep the grant key off the control link in qemu mode', async () => {
      expect(await hostd!.stop()).to.equal(0);
      hostd = await startHostd(d, ['--qemu']);
      const raw = net.connect(d.socket('cluster'));
      await new Promise<void>((r) => raw.once('connect', () => r()));
      const got: ControlMessage[] = [];
      const link = new ControlConnection(raw, { onMessage: (m) => got.push(m) });
      link.send({ kind: 'hello', version: 1, software: 'qemu-guest' });
      await waitFor(() => got.some((m) => m.kind === 'attach'), 'attach');
      const attach = got.find((m) => m.kind === 'attach')!;
      expect(attach).to.not.have.property('grantKey');
      expect(attach).to.include({ vmId: VM.cluster });
      link.destroy();
    });

    it('should refuse a CSR that does not carry the nonce of this link', async () => {
      const c = await connect('cluster');
      const stale = c.attach.enrolmentNonce;
      await c.enrol(REQUEST_ALL);
      const other = await connect('rogue');
      // A CSR signed over cluster's (used) nonce, replayed on rogue's link.
      (other as unknown as { attach: typeof c.attach }).attach = {
        ...other.attach,
        enrolmentNonce: stale,
      };
      const err = await other.enrol(REQUEST_ALL).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(String(err)).to.match(/ERR_CSR: CSR nonce is not the one issued to this link/);
      // hostd hands out a fresh nonce; the VM can enrol with it.
      await waitFor(() => other.attach.enrolmentNonce !== stale, 'a fresh attach');
      const cert = await other.enrol({ offers: [], requests: [] });
      expect(cert.sig).to.have.length(64);
    });

    it('should refuse a second connection for a VM that is connected', async () => {
      await connect('cluster');
      const second = await TestVm.connect(d.socket('cluster')).catch((e: Error) => e);
      expect(second).to.be.instanceOf(Error);
      expect(String(second)).to.match(/ERR_BUSY|already has a control link/);
    });
  });
  describe('SD switch', () => {
    it('should relay an offer to a VM allowed to consume it and not to one that is not', async () => {
      const rogue = await connect('rogue');
      await rogue.enrol(REQUEST_ALL);
      const { c } = await providerAndConsumer();
      await waitFor(() => c.offersSeen(SERVICE.speed) > 0, 'cluster to see the VehicleSpeed offer');
      await waitFor(
        () => rogue.offersSeen(SERVICE.media) > 0,
        'rogue to see the MediaControl offer',
      );
      // rogue may consume MediaControl only: VehicleSpeed is never relayed to it, nor found.
      rogue.find(SERVICE.speed);
      c.find(SERVICE.speed);
      await waitFor(() => c.offersSeen(SERVICE.speed) > 1, "the answer to cluster's Find");
      expect(rogue.offersSeen(SERVICE.speed)).to.equal(0);
    });

    it('should route a Subscribe to the provider and its Ack back to the subscriber only', async () => {
      const { p, c } = await providerAndConsumer();
      const rogue = await connect('rogue');
      await rogue.enrol(REQUEST_ALL);
      c.subscribe(SERVICE.speed, 1);
      await waitFor(() => p.entriesSeen('subscribe') === 1, 'the Subscribe at the provider');
      p.answerSubscribe(SERVICE.speed, 1, true);
      await waitFor(() => c.entriesSeen('subscribeAck') === 1, 'the Ack at the subscriber');
      expect(rogue.entriesSeen('subscribeAck')).to.equal(0);
      // A VM that may not consume the service is refused and the provider never hears of it.
      rogue.subscribe(SERVICE.speed, 1);
      await waitFor(() => rogue.errors.length > 0, 'the refusal');
      expect(rogue.errors[0]!.message).to.match(/may not subscribe to service 0x1234/);
      expect(p.entriesSeen('subscribe')).to.equal(1);
    });

    it('should refuse an offer of a service the VM may not offer (impersonation)', async () => {
      const rogue = await connect('rogue');
      await rogue.enrol(OFFER_ALL); // hostd drops the offer rights: config allows rogue none
      rogue.offer(SERVICE.speed, 1);
      await waitFor(() => rogue.errors.length > 0, 'a refusal');
      expect(rogue.errors[0]!.code).to.equal('ERR_SD_POLICY');
      expect(rogue.errors[0]!.message).to.match(/may not offer service 0x1234/);
      expect((await readStatus(d)).services).to.have.length(0);
    });

    it('should refuse an offer from a VM whose certificate lacks the right', async () => {
      const p = await connect('infotainment');
      await p.enrol({
        offers: [{ service: SERVICE.media, instanceLo: 1, instanceHi: 1 }],
        requests: [],
      });
      p.offer(SERVICE.speed, 1);
      await waitFor(() => p.errors.length > 0, 'a refusal');
      expect(p.errors[0]!.message).to.match(/certificate does not allow offering service 0x1234/);
    });
  });

  describe('handshake', () => {
    it('should grant a channel between two links that both devices accept, ACTIVE in sivshm status', async () => {
      const { p, c } = await providerAndConsumer();
      const out = await c.request(SERVICE.speed);
      expect(out.kind, out.kind === 'aborted' ? `${out.reason}: ${out.detail}` : '').to.equal(
        'granted',
      );
      if (out.kind !== 'granted') return;
      await waitFor(() => p.providerGrants.length === 1, 'the provider grant (M6)');
      const id = out.grant.channelId;
      // Both devices accepted their grant: each maps the window.
      const cw = out.file.mapWindow(id);
      const pw = p.providerFiles.get(id)!.mapWindow(id);
      expect(cw).to.not.equal(undefined);
      expect(pw).to.not.equal(undefined);
      const json = JSON.parse(await runCliStatus(d, ['--json'])) as StatusLike;
      const ch = json.channels.find((x) => x.channelId === `0x${id.toString(16)}`);
      expect(ch).to.include({
        state: 'ACTIVE',
        mode: 'plain',
        consumerVm: VM.cluster,
        providerVm: VM.infotainment,
      });
      expect(ch!.window.offset).to.equal(Number(out.grant.windowOffset));
      expect(json.handshakes.established).to.equal(1);
      // The ring figures in status come from the window's index pages.
      const dataSize = WindowLayout.dataSizeOf(Number(out.grant.windowLength))!;
      const producer = new RingProducer(ringViews(pw, 'p2c', dataSize));
      const header = {
        service: SERVICE.speed,
        method: 0x8001,
        client: 0,
        session: 1,
        interfaceVersion: 1,
        messageType: 0x02,
        returnCode: 0,
      };
      expect(producer.sendCopy(header, new Uint8Array(24))).to.equal(true);
      const rings = async () =>
        (await readStatus(d)).channels.find((x) => x.channelId === ch!.channelId)!.rings!;
      expect((await rings()).p2c.producedBytes).to.equal(40);
      expect((await rings()).p2c.queuedBytes).to.equal(40);
      const consumerRing = new RingConsumer(ringViews(cw, 'p2c', dataSize));
      expect(consumerRing.receive()?.payload.length).to.equal(24);
      consumerRing.release();
      expect((await rings()).p2c.queuedBytes).to.equal(0);
      expect((await rings()).c2p.producedBytes).to.equal(0);
      const human = await runCliStatus(d, []);
      expect(human).to.match(
        /ACTIVE\s+plain\s+VehicleSpeed 0x1234\/0x0001\s+cluster\s+infotainment\s+144 KiB @ 0x[0-9a-f]{8}\s+0 B \(0 B\) \/ 40 B \(0 B\)/,
      );
    });

    it('should revoke both grants, tell the provider, and zero and free the window on close', async () => {
      const { p, c } = await providerAndConsumer();
      const out = await c.request(SERVICE.speed);
      if (out.kind !== 'granted') throw new Error(`${out.reason}: ${out.detail}`);
      await waitFor(() => p.providerGrants.length === 1, 'M6');
      const id = out.grant.channelId;
      expect(() => out.file.mapWindow(id)).to.not.throw();
      const before = await readStatus(d);
      c.send({ kind: 'close', channelId: id });
      await waitFor(() => c.revoked.length === 1 && p.revoked.length === 1, 'REVOKE at both ends');
      expect(c.revoked[0]).to.include({ channelId: id, ok: true });
      expect(p.revoked[0]).to.include({ channelId: id, ok: true });
      await waitFor(() => p.peerGone.length === 1, 'peer_gone at the provider');
      expect(p.peerGone[0]).to.include({ channelId: id, reason: 'closed-by-consumer' });
      expect(c.peerGone).to.have.length(0);
      await waitFor(async () => (await readStatus(d)).channels.length === 0, 'the channel freed');
      const after = await readStatus(d);
      expect(after.region.freeBytes).to.equal(
        before.region.freeBytes + Number(out.grant.windowLength),
      );
      // The consumer's mapping is gone with the revoke.
      expect(() => out.file.mapWindow(id)).to.throw();
    });
  });
  describe('channel lifecycle from SD', () => {
    it('should tear a channel down when its offer TTL expires', async () => {
      const p = await connect('infotainment');
      await p.enrol(OFFER_ALL);
      p.provide();
      p.offer(SERVICE.speed, 1, 1, 1); // TTL 1 s, never renewed
      const c = await connect('cluster');
      await c.enrol(REQUEST_ALL);
      await waitFor(async () => (await readStatus(d)).services.length === 1, 'the offer');
      const out = await c.request(SERVICE.speed);
      if (out.kind !== 'granted') throw new Error(`${out.reason}: ${out.detail}`);
      await waitFor(() => c.peerGone.length === 1, 'peer_gone after the TTL', 4000);
      expect(c.peerGone[0]).to.include({ channelId: out.grant.channelId, reason: 'ttl-expired' });
      await waitFor(() => c.revoked.length === 1 && p.revoked.length === 1, 'REVOKE at both ends');
      await waitFor(async () => (await readStatus(d)).services.length === 0, 'the offer gone');
    });

    it("should tear a VM's channels down when its SD shows a reboot", async () => {
      const p = await connect('infotainment');
      await p.enrol(OFFER_ALL);
      p.provide();
      p.offer(SERVICE.speed, 1);
      const c = await connect('cluster');
      await c.enrol(REQUEST_ALL);
      await waitFor(async () => (await readStatus(d)).services.length === 1, 'the offer');
      const out = await c.request(SERVICE.speed);
      if (out.kind !== 'granted') throw new Error(`${out.reason}: ${out.detail}`);
      await waitFor(() => p.providerGrants.length === 1, 'M6');
      p.rebootSd();
      p.offer(SERVICE.speed, 1); // session 1 with the reboot flag again: the VM rebooted
      await waitFor(() => c.peerGone.length === 1, 'peer_gone after the reboot');
      expect(c.peerGone[0]).to.include({ channelId: out.grant.channelId, reason: 'vm-rebooted' });
      // The rebooted VM's new offer stands; the consumer can build a new channel.
      await waitFor(
        async () => (await readStatus(d)).channels.length === 0,
        'the old channel freed',
      );
      await waitFor(async () => (await readStatus(d)).services.length === 1, 'the new offer');
      const again = await c.request(SERVICE.speed);
      expect(again.kind).to.equal('granted');
    });
  });
  describe('shutdown', () => {
    it('should revoke every grant, withdraw every offer and remove sockets, region and pid file on SIGTERM', async () => {
      const p = await connect('infotainment');
      await p.enrol(OFFER_ALL);
      p.provide();
      p.offer(SERVICE.speed, 1);
      const c = await connect('cluster');
      await c.enrol(REQUEST_ALL);
      await waitFor(async () => (await readStatus(d)).services.length === 1, 'the offer');
      const out = await c.request(SERVICE.speed);
      if (out.kind !== 'granted') throw new Error(`${out.reason}: ${out.detail}`);
      await waitFor(() => p.providerGrants.length === 1, 'M6');
      expect(await hostd!.stop()).to.equal(0);
      await waitFor(() => c.closed && p.closed, 'hostd to close both links');
      for (const vm of [c, p]) {
        expect(vm.revoked).to.deep.include({ channelId: out.grant.channelId, ok: true });
        expect(vm.peerGone.map((g) => g.reason)).to.include('hostd-shutdown');
      }
      expect(
        c.sd.some((m) =>
          m.entries.some((e) => e.type === 'stopOffer' && e.serviceId === SERVICE.speed),
        ),
        'StopOffer relayed to the consumer',
      ).to.equal(true);
      expect(() => out.file.mapWindow(out.grant.channelId)).to.throw();
      expect(readdirSync(d.runDir)).to.deep.equal([]);
      expect(existsSync(d.regionPath)).to.equal(false);
      const err = await runCliStatus(d, []).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(String(err)).to.match(/exited 1: sivshm status: no hostd answers at .*status\.sock/);
    });
  });
  describe('control link hardening', () => {
    it('should drop a link that announces an over-long frame and keep serving the others (45)', async () => {
      const c = await connect('cluster');
      const raw = net.connect(d.socket('rogue'));
      await new Promise<void>((r) => raw.once('connect', () => r()));
      const closed = new Promise<void>((r) => raw.once('close', () => r()));
      raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]));
      await closed;
      await c.enrol(REQUEST_ALL); // hostd is alive and serves cluster
      const s = await readStatus(d);
      expect(s.vms.find((v) => v.id === VM.rogue)).to.include({ connected: false });
      // rogue can connect again afterwards.
      const again = await connect('rogue');
      expect(again.attach.vmId).to.equal(VM.rogue);
    });

    it('should answer an undecodable frame or a message before hello with an error and keep the link', async () => {
      const raw = net.connect(d.socket('rogue'));
      await new Promise<void>((r) => raw.once('connect', () => r()));
      const got: ControlMessage[] = [];
      const link = new ControlConnection(raw, { onMessage: (m) => got.push(m) });
      raw.write(Buffer.from([2, 0, 0, 0, 0xff, 0xff])); // a 2-byte frame that is no ControlMessage
      link.send({ kind: 'close', channelId: 1n }); // before hello
      link.send({ kind: 'hello', version: 1, software: 'raw' });
      await waitFor(() => got.some((m) => m.kind === 'attach'), 'attach after the errors');
      const errors = got.filter((m) => m.kind === 'error').map((m) => (m as { code: string }).code);
      expect(errors).to.deep.equal(['ERR_DECODE', 'ERR_PROTOCOL']);
      link.destroy();
    });

    it('should count a flood of undecodable frames, log and answer only its first refusals, and log the burst once', async () => {
      const raw = net.connect(d.socket('rogue'));
      await new Promise<void>((r) => raw.once('connect', () => r()));
      const got: ControlMessage[] = [];
      const link = new ControlConnection(raw, { onMessage: (m) => got.push(m) });
      link.send({ kind: 'hello', version: 1, software: 'raw' });
      await waitFor(() => got.some((m) => m.kind === 'attach'), 'attach');
      const frame = Buffer.from([2, 0, 0, 0, 0xff, 0xff]); // no ControlMessage
      const t0 = Date.now();
      raw.write(Buffer.concat(Array.from({ length: 3000 }, () => frame)));
      await waitFor(
        () => hostd!.logs.some((l) => l['event'] === 'refusals-over-budget'),
        'the burst',
      );
      const c = await connect('cluster');
      await c.enrol(REQUEST_ALL); // hostd serves the others meanwhile
      await waitFor(
        async () => (await readStatus(d)).vms.find((v) => v.id === VM.rogue)!.refusals >= 3000,
        'every frame counted',
      );
      const logged = (event: string) =>
        hostd!.logs.filter((l) => l['event'] === event && l['vm'] === VM.rogue);
      expect(logged('refusals-over-budget'), 'the burst logged once').to.have.length(1);
      // The burst (20), and what the bucket (20/s) refilled while a loaded machine handled the
      // flood.
      const most = 30 + Math.floor(((Date.now() - t0) / 1000) * 20);
      expect(logged('refused').length).to.be.within(20, most);
      const answered = () => got.filter((m) => m.kind === 'error').length;
      expect(answered()).to.be.within(20, most);
      // Quiet for a second: the burst ends with its count, and refusals are answered again.
      await new Promise((r) => setTimeout(r, 1100));
      const before = answered();
      raw.write(frame);
      await waitFor(() => logged('refusals-back-in-budget').length === 1, 'the end of the burst');
      expect(logged('refusals-back-in-budget')[0]!['suppressed']).to.be.at.least(2900);
      await waitFor(() => answered() === before + 1, 'the answer after the burst');
      link.destroy();
    });

    it('should meter a VM flooding SD and keep serving the others', async () => {
      const rogue = await connect('rogue');
      await rogue.enrol(REQUEST_ALL);
      const t0 = Date.now();
      for (let i = 0; i < 2000; i++) rogue.find(SERVICE.media);
      const c = await connect('cluster');
      await c.enrol(REQUEST_ALL);
      await waitFor(async () => {
        const v = (await readStatus(d)).vms.find((x) => x.id === VM.rogue)!;
        return v.controlMessagesIn >= 2002;
      }, 'hostd to read the whole flood');
      const elapsedS = (Date.now() - t0) / 1000;
      const rogueStatus = (await readStatus(d)).vms.find((x) => x.id === VM.rogue)!;
      expect(rogueStatus.sdDropped).to.be.at.least(2000 - 50 - Math.ceil(elapsedS * 200));
    });

    it('should refuse hostd-only messages from a VM', async () => {
      const c = await connect('cluster');
      c.send({ kind: 'peerGone', channelId: 5n, reason: 'forged' });
      await waitFor(() => c.errors.length > 0, 'the refusal');
      expect(c.errors[0]).to.include({ code: 'ERR_PROTOCOL' });
    });
  });
  describe('doorbells', () => {
    it('should serve the region fd and doorbells between two VMs on the ivshmem socket', async () => {
      const c = await connect('cluster');
      const a = await IvshmemClient.connect(c.attach.ivshmemSocket, { vectors: 2 });
      const b = await IvshmemClient.connect(c.attach.ivshmemSocket, { vectors: 2 });
      try {
        expect(fileSize(a.shmFd)).to.equal(Number(c.attach.region.size));
        await waitFor(() => a.peerIds().includes(b.id), 'b announced to a');
        const rung = firstValueFrom(b.notifications$.pipe(timeout(5000)));
        a.ring(b.id, 1);
        expect((await rung).vector).to.equal(1);
      } finally {
        a.close();
        b.close();
      }
    });

    it('should refuse a doorbell id that another process connected (no VM claimed it yet)', async () => {
      const c = await connect('cluster');
      const own = await IvshmemClient.connect(c.attach.ivshmemSocket, { vectors: 2 });
      // Another OS process joins the ivshmem server and says its id on stdout.
      const stranger = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { IvshmemClient } from '@sivshm/transport-ivshmem/testing';
           const c = await IvshmemClient.connect(${JSON.stringify(c.attach.ivshmemSocket)}, { vectors: 2 });
           console.log(c.id);
           setInterval(() => undefined, 1000);`,
        ],
        { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        const strangerId = await new Promise<number>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('the other process did not join')), 10_000);
          stranger.stdout!.once('data', (b: Buffer) => {
            clearTimeout(t);
            resolve(Number(b.toString().trim()));
          });
        });
        await waitFor(() => own.peerIds().includes(strangerId), 'the other process announced');
        c.send({ kind: 'doorbellId', id: strangerId });
        await waitFor(() => c.errors.length > 0, 'the refusal');
        expect(c.errors[0]).to.include({ code: 'ERR_DOORBELL' });
        expect(c.errors[0]!.message).to.match(/was connected by process \d+, not by the process/);
        // Its own id, connected from this process, is taken.
        c.send({ kind: 'doorbellId', id: own.id });
        await waitFor(
          async () =>
            (await readStatus(d)).vms.find((v) => v.id === VM.cluster)!.doorbellId === own.id,
          'the own id taken',
        );
        expect(c.errors).to.have.length(1);
      } finally {
        stranger.kill('SIGKILL');
        own.close();
      }
    });

    it("should hand each side of a channel its peer's doorbell id with the grant (M4, M6)", async () => {
      const { p, c } = await providerAndConsumer();
      const pb = await IvshmemClient.connect(p.attach.ivshmemSocket, { vectors: 2 });
      const cb = await IvshmemClient.connect(c.attach.ivshmemSocket, { vectors: 2 });
      const other = await IvshmemClient.connect(c.attach.ivshmemSocket, { vectors: 2 });
      try {
        // Before anyone says its id, grants go out without one (the VM rings every peer).
        expect((await c.request(SERVICE.speed)).kind).to.equal('granted');
        await waitFor(() => p.grantFrames.length === 1, 'M6');
        expect(c.grantFrames).to.deep.equal([{ type: 4, peerDoorbell: undefined }]);
        expect(p.grantFrames).to.deep.equal([{ type: 6, peerDoorbell: undefined }]);
        p.send({ kind: 'doorbellId', id: pb.id });
        c.send({ kind: 'doorbellId', id: cb.id });
        await waitFor(
          async () =>
            (await readStatus(d)).vms.filter((v) => v.doorbellId !== undefined).length === 2,
          'both ids in status',
        );
        expect((await c.request(SERVICE.media)).kind).to.equal('granted');
        await waitFor(() => p.grantFrames.length === 2, 'the second M6');
        expect(c.grantFrames[1]).to.deep.equal({ type: 4, peerDoorbell: pb.id });
        expect(p.grantFrames[1]).to.deep.equal({ type: 6, peerDoorbell: cb.id });
        // Ids that are not on the ivshmem server, or that another VM holds, are refused.
        c.send({ kind: 'doorbellId', id: 0xfff0 });
        c.send({ kind: 'doorbellId', id: pb.id });
        await waitFor(() => c.errors.length >= 2, 'two refusals');
        expect(c.errors.map((e) => e.code)).to.deep.equal(['ERR_DOORBELL', 'ERR_DOORBELL']);
        expect(c.errors[1]!.message).to.match(/belongs to another VM/);
        // The refused claims left the VM's id as it was.
        expect((await readStatus(d)).vms.find((v) => v.id === VM.cluster)!.doorbellId).to.equal(
          cb.id,
        );
        expect(other.id).to.not.equal(cb.id);
      } finally {
        pb.close();
        cb.close();
        other.close();
      }
    });

    it("should name each channel's doorbell route in its grants: the peer's id and a vector of its own (issue 12)", async () => {
      const { p, c } = await providerAndConsumer();
      const pb = await IvshmemClient.connect(p.attach.ivshmemSocket, { vectors: 2 });
      const cb = await IvshmemClient.connect(c.attach.ivshmemSocket, { vectors: 2 });
      const routeOf = (token: Uint8Array) => {
        const d = decodeGrant(token);
        if (!d.ok) throw new Error(`grant does not decode: ${d.reason}`);
        return d.token.doorbell;
      };
      try {
        // Before the peer said its id: the grant observes the channel's vector, rings nobody.
        const first = await c.request(SERVICE.speed);
        if (first.kind !== 'granted') throw new Error(`not granted: ${first.kind}`);
        expect(routeOf(first.grant.grantToken)).to.deep.equal({
          peer: undefined,
          ring: 0,
          observe: 0b01,
        });
        p.send({ kind: 'doorbellId', id: pb.id });
        c.send({ kind: 'doorbellId', id: cb.id });
        await waitFor(
          async () =>
            (await readStatus(d)).vms.filter((v) => v.doorbellId !== undefined).length === 2,
          'both ids in status',
        );
        // The second channel of the same two VMs gets the vector the first does not use.
        const second = await c.request(SERVICE.media);
        if (second.kind !== 'granted') throw new Error(`not granted: ${second.kind}`);
        await waitFor(() => p.providerGrants.length === 2, 'the second M6');
        expect(routeOf(second.grant.grantToken)).to.deep.equal({
          peer: pb.id,
          ring: 0b10,
          observe: 0b10,
        });
        expect(routeOf(p.providerGrants[1]!.grantToken)).to.deep.equal({
          peer: cb.id,
          ring: 0b10,
          observe: 0b10,
        });
      } finally {
        pb.close();
        cb.close();
      }
    });
  });
});
