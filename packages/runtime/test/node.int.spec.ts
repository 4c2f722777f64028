// Node.open end to end: hostd as its own OS process, the infotainment VM as another (forked
// provider-vm.ts), this test process as the cluster VM.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { firstValueFrom, filter, take, toArray, timeout } from 'rxjs';
import { Node, RuntimeError } from '../src/index.js';
import { readStatus, setUpEachTest, waitFor } from './support/deployment.js';

interface VehicleSpeed {
  kph: number;
  odometer_m: unknown;
}

describe('Node (hostd and two VM processes)', function () {
  this.timeout(60_000);
  const rig = setUpEachTest();

  describe('.open', () => {
    it('should name the VMs of the config when the VM name is unknown', async () => {
      const err = await Node.open({
        config: rig.d.configPath,
        vm: 'radio',
        runDir: rig.d.runDir,
      }).catch((e: unknown) => e);
      expect((err as RuntimeError).code).to.equal('ERR_CONFIG');
      expect((err as Error).message).to.match(
        /no VM named 'radio'; VMs there: infotainment, cluster/,
      );
    });

    it('should refuse reconnect options that are not what they say', async () => {
      const base = { config: rig.d.configPath, vm: 'cluster', runDir: rig.d.runDir };
      for (const [bad, why] of [
        [{ reconnect: 'yes' }, /reconnect must be true or false, got yes/],
        [{ reconnectMaxDelayMs: 5 }, /reconnectMaxDelayMs must be an integer ≥ 10, got 5/],
        [{ reconnectMaxDelayMs: 1.5 }, /reconnectMaxDelayMs must be an integer ≥ 10, got 1.5/],
      ] as const) {
        const err = await Node.open({ ...base, ...(bad as object) }).catch((e: unknown) => e);
        expect((err as RuntimeError).code).to.equal('ERR_BAD_ARGUMENT');
        expect((err as Error).message).to.match(why);
      }
    });

    it('should say that hostd is not there when the run dir has no socket', async () => {
      const err = await Node.open({
        config: rig.d.configPath,
        vm: 'cluster',
        runDir: `${rig.d.dir}/elsewhere`,
      }).catch((e: unknown) => e);
      expect((err as RuntimeError).code).to.equal('ERR_CONNECT');
      expect((err as Error).message).to.match(/cannot connect to hostd at .*cluster\.sock/);
    });

    it('should refuse a second link for the same VM while the first is open', async () => {
      await rig.openNode();
      const err = await Node.open({
        config: rig.d.configPath,
        vm: 'cluster',
        runDir: rig.d.runDir,
      }).catch((e: unknown) => e);
      expect(RuntimeError.is(err), String(err)).to.equal(true);
      expect((err as RuntimeError).code).to.equal('ERR_CONNECT');
      expect((err as Error).message).to.match(/ERR_BUSY.*one Node per VM at a time/);
    });
  });

  describe('.consume', () => {
    it('should discover the provider, get a channel and deliver the first events', async () => {
      await rig.startProvider();
      const node = await rig.openNode();
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      expect(speed.status).to.equal('connected');
      expect(speed.handshakeMs).to.be.a('number').and.greaterThan(0);
      expect(speed.channelId).to.be.a('bigint');
      const events = await firstValueFrom(
        speed.event<VehicleSpeed>('speed').pipe(take(5), toArray(), timeout(5000)),
      );
      expect(events).to.have.length(5);
      for (const e of events) expect(e.kph).to.be.within(50, 99);
      // The first events can all be in the ring before the consumer's receive loop first looks
      // (a loaded machine starts it late): taken in one batch, none needed a doorbell, and a
      // consumer that never parked is never rung. Once caught up it parks between the
      // provider's 10 ms events and is rung for the next one.
      await waitFor(() => node.doorbellsReceived > 0, 'a doorbell at the consumer', 10_000);
      expect(node.doorbellsReceived).to.be.greaterThan(0);
    });

    it('should wait for a provider that starts after the consumer asked', async () => {
      const node = await rig.openNode();
      const pending = node.consume('VehicleSpeed', { instance: 1, timeoutMs: 15_000 });
      await new Promise((r) => setTimeout(r, 300)); // the Find went out and found nothing
      await rig.startProvider();
      const speed = await pending;
      expect(speed.status).to.equal('connected');
      const e = await firstValueFrom(speed.event<VehicleSpeed>('speed').pipe(timeout(5000)));
      expect(e.kph).to.be.within(50, 99);
    });

    it('should hand out in-place samples that stay valid until released', async () => {
      await rig.startProvider();
      const node = await rig.openNode();
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      const kph: number[] = [];
      await new Promise<void>((resolve, reject) => {
        const sub = speed.samples<VehicleSpeed>('speed').subscribe({
          next: (s) => {
            kph.push(s.message.kph);
            s.release();
            if (kph.length === 4) {
              sub.unsubscribe();
              resolve();
            }
          },
          error: reject,
        });
        setTimeout(() => reject(new Error('no samples in 5 s')), 5000).unref();
      });
      for (const k of kph) expect(k).to.be.within(50, 99);
    });

    it('should refuse a service the config does not name, saying which exist', async () => {
      const node = await rig.openNode();
      const err = await node.consume('NoSuchService', { instance: 1 }).catch((e: unknown) => e);
      expect(RuntimeError.is(err)).to.equal(true);
      expect((err as RuntimeError).code).to.equal('ERR_CONFIG');
      expect((err as Error).message).to.match(/no service named 'NoSuchService'.*VehicleSpeed/);
    });

    it('should fail with ERR_NOT_OFFERED when nobody offers the service in time', async () => {
      const node = await rig.openNode();
      const err = await node
        .consume('VehicleSpeed', { instance: 1, timeoutMs: 800 })
        .catch((e: unknown) => e);
      expect((err as RuntimeError).code).to.equal('ERR_NOT_OFFERED');
      expect((err as Error).message).to.match(/nobody offers it/);
    });
  });

  describe('.call', () => {
    it('should call the provider method and decode its response', async () => {
      await rig.startProvider();
      const node = await rig.openNode();
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      const r1 = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
        'reset',
        { odometer_m: 7 },
      );
      expect(Number(String(r1.previous_odometer_m))).to.be.greaterThan(1000);
      const r2 = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
        'reset',
        { odometer_m: 0 },
      );
      // The provider counts one metre per event after the reset to 7.
      expect(Number(String(r2.previous_odometer_m))).to.be.within(7, 7 + 1000);
      const refused = await speed.call('reset', { odometer_m: 2e9 }).catch((e: unknown) => e);
      expect(RuntimeError.is(refused), String(refused)).to.equal(true);
      expect((refused as RuntimeError).code).to.equal('ERR_REMOTE');
      expect((refused as Error).message).to.match(/'reset' on 'VehicleSpeed'.*odometer_m must be/);
      const bad = await speed.call('nope', {}).catch((e: unknown) => e);
      expect((bad as RuntimeError).code).to.equal('ERR_BAD_ARGUMENT');
      expect((bad as Error).message).to.match(/its methods: reset/);
    });
  });

  describe('.close', () => {
    it('should release everything and let the VM open again and reconnect', async () => {
      const p = await rig.startProvider();
      const consumers = (): number | undefined =>
        p.reports.filter((r) => r.event === 'consumers').at(-1)?.count;
      const node = await rig.openNode();
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      const first = speed.channelId;
      const stream = speed.event<VehicleSpeed>('speed').pipe(toArray());
      const collected = firstValueFrom(stream);
      await node.close();
      expect(speed.status).to.equal('closed');
      const got = await collected; // completes, not errors, on close
      expect(got).to.be.an('array');
      // The provider's end went with it: hostd revoked it there too.
      await waitFor(() => consumers() === 0, 'the provider to see its consumer go');
      const reopened = await rig.openNode();
      const again = await reopened.consume('VehicleSpeed', { instance: 1 });
      expect(again.channelId).to.not.equal(first);
      const e = await firstValueFrom(again.event<VehicleSpeed>('speed').pipe(timeout(5000)));
      expect(e.kph).to.be.within(50, 99);
      const id = `0x${again.channelId!.toString(16)}`;
      expect((await readStatus(rig.d)).channels.map((c) => c.channelId)).to.include(id);
      const fds = readdirSync('/proc/self/fd').length;
      await reopened.close();
      expect(readdirSync('/proc/self/fd').length).to.be.lessThan(fds);
      // hostd tore the channel down: no channel of the cluster VM is left.
      const deadline = Date.now() + 5000;
      let left = (await readStatus(rig.d)).channels.filter((c) => c.consumerVm === 2);
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        left = (await readStatus(rig.d)).channels.filter((c) => c.consumerVm === 2);
      }
      expect(left, JSON.stringify(left)).to.deep.equal([]);
    });
  });

  describe('peer gone', () => {
    it('should error the streams and report peer-gone when the provider is killed, then reconnect when it returns', async () => {
      await rig.startProvider();
      const node = await rig.openNode();
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      const statuses: string[] = [];
      speed.status$.subscribe((s) => statuses.push(s));
      const ended = new Promise<unknown>((resolve) =>
        speed
          // The stream tied to its channel (the stream that outlives it: streams-across-channels)
          .event<VehicleSpeed>('speed', { acrossChannels: false })
          .subscribe({ error: resolve, complete: () => resolve('completed') }),
      );
      rig.provider.child.kill('SIGKILL');
      await rig.provider.stop();
      const err = await ended;
      expect(RuntimeError.is(err), String(err)).to.equal(true);
      expect((err as RuntimeError).code).to.equal('ERR_PEER_GONE');
      await waitFor(() => speed.status === 'peer-gone', 'status peer-gone');
      const late = await speed
        .call('reset', { odometer_m: 0 }, { timeoutMs: 100 })
        .catch((e: unknown) => e);
      expect((late as RuntimeError).code).to.equal('ERR_PEER_GONE');
      const stale = await firstValueFrom(speed.event('speed', { acrossChannels: false })).catch(
        (e: unknown) => e,
      );
      expect((stale as RuntimeError).code).to.equal('ERR_PEER_GONE');
      await rig.startProvider();
      await firstValueFrom(
        speed.status$.pipe(
          filter((s) => s === 'connected'),
          timeout(15_000),
        ),
      );
      expect(statuses).to.include.members(['connected', 'peer-gone']);
      expect(speed.connections).to.equal(2);
      const e = await firstValueFrom(speed.event<VehicleSpeed>('speed').pipe(timeout(5000)));
      expect(e.kph).to.be.within(50, 99);
    });

    it('should end the channel when hostd dies, fail calls at once and still close cleanly', async () => {
      await rig.startProvider();
      const node = await rig.openNode();
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      const ended = firstValueFrom(
        speed.event('speed', { acrossChannels: false }).pipe(toArray()),
      ).catch((e: unknown) => e);
      rig.hostd.child.kill('SIGKILL');
      await rig.hostd.stop();
      const err = await ended;
      expect((err as RuntimeError).code).to.equal('ERR_PEER_GONE');
      // The link's end or the provider's own reaction to losing hostd (it closes its end) may come first.
      expect((err as Error).message).to.match(/ended \((hostd-gone|peer-gone)\)/);
      await waitFor(() => speed.status === 'peer-gone', 'status peer-gone');
      const late = await speed
        .call('reset', { odometer_m: 0 }, { timeoutMs: 300 })
        .catch((e: unknown) => e);
      expect((late as RuntimeError).code).to.equal('ERR_PEER_GONE');
      await node.close();
    });
  });

  describe('hostd restart', () => {
    it('should re-attach by itself after hostd restarts: new epoch, new channel, events and calls again', async () => {
      await rig.startProvider();
      const node = await rig.openNode({ reconnectMaxDelayMs: 200 });
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      await firstValueFrom(speed.event<VehicleSpeed>('speed').pipe(take(3), toArray()));
      const epoch = node.epoch;
      const connections: string[] = [];
      node.connection$.subscribe((c) => connections.push(c));
      const statuses: string[] = [];
      speed.status$.subscribe((s) => statuses.push(s));

      rig.hostd.child.kill('SIGKILL');
      await rig.hostd.stop();
      await waitFor(() => node.connection === 'reconnecting', 'the node to notice hostd left');
      expect(speed.status).to.equal('peer-gone');
      await rig.startHostd();

      await firstValueFrom(
        speed.status$.pipe(
          filter((s) => s === 'connected'),
          timeout(20_000),
        ),
      );
      expect(node.connection).to.equal('connected');
      expect(connections).to.deep.equal(['connected', 'reconnecting', 'connected']);
      expect(statuses).to.deep.equal(['connected', 'peer-gone', 'connected']);
      expect(node.sessions).to.equal(2);
      expect(node.epoch, 'hostd bumps its epoch on every start').to.equal(epoch + 1n);
      expect(speed.connections).to.equal(2);
      // Events flow on the new channel, and the method answers.
      const events = await firstValueFrom(
        speed.event<VehicleSpeed>('speed').pipe(take(3), toArray(), timeout(5000)),
      );
      expect(events.map((e) => e.kph).every((k) => k >= 50 && k <= 99)).to.equal(true);
      const r = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>(
        'reset',
        { odometer_m: 7 },
      );
      expect(Number(String(r.previous_odometer_m))).to.be.greaterThan(1000);
      // The new hostd knows both VMs again: the provider re-offered, the channel is active.
      const status = await readStatus(rig.d);
      expect(status.services.map((x) => x.providerVm)).to.deep.equal([1]);
      expect(
        status.channels.filter((c) => c.consumerVm === 2 && c.state === 'ACTIVE'),
      ).to.have.length(1);
    });

    it('should leak no fd and no mapping over repeated hostd restarts', async () => {
      await rig.startProvider();
      const node = await rig.openNode({ reconnectMaxDelayMs: 200 });
      const speed = await node.consume('VehicleSpeed', { instance: 1 });
      const fds = (): number => readdirSync('/proc/self/fd').length;
      const mappings = (): number =>
        readFileSync('/proc/self/maps', 'utf8')
          .split('\n')
          .filter((l) => l.includes(rig.d.regionPath)).length;
      const before = { fds: fds(), mappings: mappings() };
      expect(before.mappings, 'the channel window is mapped').to.be.greaterThan(0);
      for (let i = 1; i <= 3; i++) {
        rig.hostd.child.kill('SIGKILL');
        await rig.hostd.stop();
        await waitFor(() => speed.status === 'peer-gone', 'the channel to end');
        await rig.startHostd();
        await waitFor(
          () => speed.status === 'connected' && speed.connections === i + 1,
          `the channel back after restart ${i}`,
          20_000,
        );
      }
      await firstValueFrom(
        speed.event<VehicleSpeed>('speed').pipe(take(2), toArray(), timeout(5000)),
      );
      expect(node.sessions).to.equal(4);
      // The old sessions are released asynchronously; give them a moment, then compare.
      await waitFor(
        () => fds() === before.fds && mappings() === before.mappings,
        'fds and mappings back to what one session holds',
        3000,
      ).catch(() => undefined);
      expect({ fds: fds(), mappings: mappings() }).to.deep.equal(before);
    });

    it('should stay disconnected with reconnect: false, refuse offers, and close cleanly', async () => {
      const node = await rig.openNode({ vm: 'infotainment', reconnect: false });
      rig.hostd.child.kill('SIGKILL');
      await rig.hostd.stop();
      await waitFor(() => node.connection === 'disconnected', 'the node to notice hostd left');
      await rig.startHostd();
      await new Promise((r) => setTimeout(r, 300));
      expect(node.connection).to.equal('disconnected');
      expect(node.sessions).to.equal(1);
      const err = await node.offer('VehicleSpeed', { instance: 1 }).catch((e: unknown) => e);
      expect((err as RuntimeError).code).to.equal('ERR_HOSTD_GONE');
      expect((err as Error).message).to.match(/reconnect: false.*open it again/);
      await node.close();
      expect(node.connection).to.equal('closed');
    });

    it('should stop re-attaching when closed while hostd is away, saying why attempts failed', async () => {
      const node = await rig.openNode({ reconnectMaxDelayMs: 50 });
      rig.hostd.child.kill('SIGKILL');
      await rig.hostd.stop();
      await waitFor(
        () => node.hostdErrors.some((e) => /re-attach to hostd: cannot connect/.test(e.message)),
        'a failed re-attach attempt to be reported',
      );
      await node.close();
      expect(node.connection).to.equal('closed');
    });
  });
});

describe('Node (hostd in qemu mode)', function () {
  this.timeout(30_000);
  const rig = setUpEachTest({ hostdArgs: ['--qemu'] });

  it('should use the kernel device when attach carries no grant key, and say so when it is missing', async () => {
    const err = await Node.open({
      config: rig.d.configPath,
      vm: 'cluster',
      runDir: rig.d.runDir,
      devicePath: `${rig.d.dir}/no-such-sivshm`,
    }).catch((e: unknown) => e);
    expect(RuntimeError.is(err), String(err)).to.equal(true);
    expect((err as RuntimeError).code).to.equal('ERR_CONNECT');
    expect((err as Error).message).to.match(/qemu mode .*no-such-sivshm cannot be opened/);
  });
});
