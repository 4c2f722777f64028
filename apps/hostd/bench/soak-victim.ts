// The victim VM of `npm run soak`: a legitimate consumer that asks hostd for a VehicleSpeed
// channel every 250 ms and closes it again, timing each handshake (M1 sent → grant at its
// device). When hostd goes away (killed by the soak) it connects and enrols again.
import { sleep } from '../test/support/hostile-load.js';
import { REQUEST_ALL, SERVICE } from '../test/support/test-deployment.js';
import { TestVm } from '../test/support/test-vm.js';

export class Victim {
  /** Granted handshakes, ms each. */
  readonly handshakesMs: number[] = [];
  /** Handshakes refused or timed out, and links that could not be made (mostly while hostd restarts). */
  failures = 0;
  /** `Date.now()` of the last grant. */
  lastGrantAt = 0;
  /** Why the last failure failed. */
  lastError = '';
  #running = true;

  constructor(private readonly socketPath: string) {}

  async run(): Promise<void> {
    while (this.#running) {
      let vm: TestVm | undefined;
      try {
        vm = await TestVm.connect(this.socketPath);
        await vm.enrol(REQUEST_ALL);
        while (this.#running && !vm.closed) await this.#once(vm);
      } catch (e) {
        this.failures++;
        this.lastError = (e as Error).message;
      } finally {
        vm?.close();
      }
      await sleep(250);
    }
  }

  async #once(vm: TestVm): Promise<void> {
    const t0 = performance.now();
    const o = await vm.request(SERVICE.speed, 1, 1, 'plain', 5000);
    if (o.kind === 'granted') {
      this.handshakesMs.push(performance.now() - t0);
      this.lastGrantAt = Date.now();
      vm.send({ kind: 'close', channelId: o.grant.channelId });
    } else {
      this.failures++;
      this.lastError = `${o.reason}: ${o.detail}`;
    }
    await sleep(250);
  }

  stop(): void {
    this.#running = false;
  }
}
