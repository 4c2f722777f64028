// Revocation against the revoked (docs/security.md, revocation): hostd as a separate OS process,
// VMs as stand-ins on their own control sockets with their own EmulatedDevice. A window is
// reused only after a revokeAck whose receipt verifies; an app that skips the device revoke and
// acknowledges anyway keeps its window quarantined until its link goes.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaLock, cryptoBackend, decodeCertificateBody } from '@sivshm/core';
import { LockFile } from '@sivshm/transport-ivshmem';
import { runCli, runCliSync } from '@sivshm/testing';
import {
  endHostdTest,
  SERVICE,
  VM,
  makeDeployment,
  readStatus,
  startHostd,
  waitFor,
  type Deployment,
  type HostdProcess,
  OFFER_ALL,
} from './support/test-deployment.js';
import type { TestVm } from './support/test-vm.js';
import { granted, vmRoles } from './support/vm-roles.js';

/** Status fields this file reads beyond the shared StatusLike. */
interface RevocationStatus {
  readonly quarantinedWindows: number;
  readonly vms: { id: number; connected: boolean; revokeReceiptsRefused: number }[];
  readonly channels: { channelId: string; window: { offset: number; length: number } }[];
}

const PATTERN = 0xa5;
const crypto = cryptoBackend();

describe('Hostd revocation', function () {
  this.timeout(60_000);
  let d: Deployment;
  let hostd: HostdProcess | undefined;
  const vms: TestVm[] = [];

  const status = async (): Promise<RevocationStatus> =>
    (await readStatus(d)) as unknown as RevocationStatus;
  const { connect, provider, consumer } = vmRoles(() => d, vms);
  const offsetOf = async (channelId: bigint): Promise<number> => {
    const ch = (await status()).channels.find((c) => c.channelId === `0x${channelId.toString(16)}`);
    if (ch === undefined) throw new Error(`channel ${channelId} is not in status`);
    return ch.window.offset;
  };

  /**
   * cluster takes a MediaControl channel and closes it, answering the REVOKE as `behaviour`
   * says; then rogue takes a MediaControl channel. Returns both windows' offsets and the old
   * mapping when cluster kept it.
   */
  const closeThenReuse = async (behaviour: TestVm['revokeBehaviour']) => {
    await provider();
    const c = await consumer('cluster');
    c.revokeBehaviour = behaviour;
    const first = granted(await c.request(SERVICE.media));
    const old = first.file.mapWindow(first.grant.channelId);
    const oldOffset = await offsetOf(first.grant.channelId);
    c.send({ kind: 'close', channelId: first.grant.channelId });
    await waitFor(async () => (await status()).channels.length === 0, 'the channel closed');
    const r = await consumer('rogue');
    const second = granted(await r.request(SERVICE.media));
    const newOffset = await offsetOf(second.grant.channelId);
    const fresh = second.file.mapWindow(second.grant.channelId);
    return { c, old, oldOffset, newOffset, fresh };
  };

  beforeEach(async () => {
    d = makeDeployment();
    hostd = await startHostd(d);
  });

  afterEach(async () => {
    const running = hostd;
    hostd = undefined;
    await endHostdTest(running, d, vms);
  });

  describe('revoke receipts', () => {
    it('should reuse the window of a consumer whose device revoked it (the same offset: the best fit)', async () => {
      const { oldOffset, newOffset } = await closeThenReuse('device');
      // The control for the two tests below: without a quarantine the window is reused at once.
      expect(newOffset).to.equal(oldOffset);
      const s = await status();
      expect(s.quarantinedWindows).to.equal(0);
      expect(s.vms.find((v) => v.id === VM.cluster)!.revokeReceiptsRefused).to.equal(0);
    });

    for (const behaviour of ['skip-no-receipt', 'skip-forged-receipt'] as const) {
      it(`should never hand the window to another pair when a consumer skips the device revoke and acks ${behaviour === 'skip-no-receipt' ? 'without a receipt' : 'with a forged receipt'}`, async () => {
        const { c, old, oldOffset, newOffset, fresh } = await closeThenReuse(behaviour);
        expect(newOffset, 'the quarantined offset went to another pair').to.not.equal(oldOffset);
        // The old mapping is still live (the app skipped its device): what it writes now must
        // not show in the new pair's window.
        old.shared.fill(PATTERN);
        expect(fresh.shared.includes(PATTERN), 'old-mapping bytes in the new pair').to.equal(false);
        const s = await status();
        expect(s.quarantinedWindows).to.equal(1);
        expect(s.vms.find((v) => v.id === VM.cluster)!.revokeReceiptsRefused).to.equal(1);
        expect(
          hostd!.logs.some(
            (l) => l['event'] === 'revoke-receipt-refused' && l['vm'] === VM.cluster,
          ),
        ).to.equal(true);
        // The VM's epoch ends when its link goes: only then is the window zeroed and freed.
        c.close();
        await waitFor(async () => (await status()).quarantinedWindows === 0, 'quarantine ended');
      });
    }

    it('should keep the window of a consumer that never sent M5 quarantined when it acks the REVOKE without a receipt (quarantine after abort)', async () => {
      await provider();
      const c = await consumer('cluster');
      c.withholdFinish = true;
      c.revokeBehaviour = 'skip-no-receipt';
      const out = granted(await c.request(SERVICE.media));
      out.file.mapWindow(out.grant.channelId);
      const oldOffset = await offsetOf(out.grant.channelId);
      await waitFor(
        async () =>
          (await status()).vms.find((v) => v.id === VM.cluster)!.revokeReceiptsRefused === 1,
        'the refused receipt counted',
        8000,
      );
      expect((await status()).quarantinedWindows).to.equal(1);
      const r = await consumer('rogue');
      const second = granted(await r.request(SERVICE.media));
      const s = await status();
      expect(s.channels.map((ch) => ch.channelId)).to.deep.equal([
        `0x${second.grant.channelId.toString(16)}`,
      ]);
      expect(await offsetOf(second.grant.channelId)).to.not.equal(oldOffset);
      expect(s.quarantinedWindows).to.equal(1);
    });
  });

  describe('sivshm ca against a running hostd', () => {
    const caDir = () => path.join(d.stateDir, 'ca');

    it("should tear down a revoked certificate's channels within a second, refuse its next handshake, and keep the revocation across a restart", async () => {
      const p = await provider();
      const c = await consumer('cluster');
      const out = granted(await c.request(SERVICE.media));
      const serial = decodeCertificateBody(c.certificate!.tbs).serial.toString();
      const answer = await runCli(['ca', 'revoke', '--dir', caDir(), '--serial', serial]);
      const answeredAt = Date.now();
      expect(answer).to.match(
        new RegExp(
          `revoked serial ${serial} through hostd \\(pid \\d+\\): 1 channel\\(s\\) torn down`,
        ),
      );
      // hostd persisted the revocation, then closed the channel, before it answered.
      await waitFor(
        () =>
          c.revoked.some((r) => r.channelId === out.grant.channelId && r.ok) &&
          p.revoked.some((r) => r.channelId === out.grant.channelId && r.ok),
        'REVOKE at both ends',
        1000,
      );
      await waitFor(async () => (await status()).channels.length === 0, 'channel gone', 1000);
      expect(Date.now() - answeredAt).to.be.below(1000);
      const state = JSON.parse(readFileSync(path.join(caDir(), 'ca-state.json'), 'utf8')) as {
        revoked: string[];
      };
      expect(state.revoked).to.include(serial);
      // Its next M1 is refused; the provider's own certificate still works for others.
      expect(await c.request(SERVICE.media)).to.include({ kind: 'aborted', reason: 'certificate' });
      const r = await consumer('rogue');
      expect((await r.request(SERVICE.media)).kind).to.equal('granted');
      // A restart (epoch + 1) keeps the revocation list.
      for (const vm of vms.splice(0)) vm.close();
      expect(await hostd!.stop()).to.equal(0);
      hostd = await startHostd(d);
      const list = JSON.parse(await runCli(['ca', 'list', '--dir', caDir(), '--json'])) as {
        heldBy: string;
        revoked: string[];
      };
      expect(list.heldBy).to.match(/^hostd \(pid \d+\)$/);
      expect(list.revoked).to.include(serial);
    });

    it('should refuse ca issue with one line while hostd holds the CA directory, and not change its serials', async () => {
      const before = readFileSync(path.join(caDir(), 'ca-state.json'), 'utf8');
      const r = runCliSync([
        'ca',
        'issue',
        '--dir',
        caDir(),
        '--vm',
        '2',
        '--name',
        'by-hand',
        '--public-key',
        Buffer.from(crypto.ed25519PublicKey(crypto.ed25519GenerateSecretKey())).toString('hex'),
        '--request',
        '0x1235:1',
      ]);
      expect(r.status).to.equal(1);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/held by the running hostd \(pid \d+\)/);
      expect(readFileSync(path.join(caDir(), 'ca-state.json'), 'utf8')).to.equal(before);
    });

    it('should refuse to start, naming the holder, while a sivshm ca command holds the CA directory', async () => {
      expect(await hostd!.stop()).to.equal(0);
      hostd = undefined;
      // This test process stands in for a `sivshm ca issue` in progress: it holds the lock.
      const held = CaLock.take(caDir(), { owner: 'sivshm ca' }, LockFile);
      const err = await startHostd(d).catch((e: unknown) => e as Error);
      expect(String(err)).to.match(/in use by another sivshm ca command \(pid \d+\)/);
      held.release();
      hostd = await startHostd(d);
    });
  });

  describe('M3', () => {
    it('should refuse a provider that enrolled twice and answers M2 with its previous certificate and key', async () => {
      const first = await connect('infotainment');
      await first.enrol(OFFER_ALL);
      first.close();
      await waitFor(
        async () => !(await status()).vms.find((v) => v.id === VM.infotainment)!.connected,
        'the first provider link gone',
      );
      const p = await connect('infotainment');
      await p.enrol(OFFER_ALL); // the link's current enrolment: a second certificate
      p.reuseIdentity(first); // ...but M3 is signed with the first one's key and names it
      p.provide();
      p.offer(SERVICE.media, 1);
      await waitFor(async () => (await readStatus(d)).services.length === 1, 'the offer');
      const c = await consumer('cluster');
      const out = await c.request(SERVICE.media);
      expect(out).to.include({ kind: 'aborted', reason: 'certificate' });
      expect((await status()).channels).to.have.length(0);
      expect(
        hostd!.logs.some((l) =>
          /the certificate in M3 is not the one enrolled/.test(JSON.stringify(l)),
        ),
      ).to.equal(true);
    });
  });
});
