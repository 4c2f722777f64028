import type { VmLinkServer } from '../links/vm-link-server.js';
import type { JsonLogger } from '../log/logger.js';
import type { VmRegistry } from './vm-registry.js';

export interface VmHeartbeatOptions {
  readonly vms: VmRegistry;
  readonly links: () => VmLinkServer | undefined;
  readonly log: JsonLogger;
  /** Drop a VM's link after this long without a frame from it, ms; 0 = never. */
  readonly silenceTimeoutMs: number;
  /** Emulated mode: a link is an app's own connection, so it speaks from the start. */
  readonly emulated: boolean;
}

/**
 * hostd's side of liveness on the control links: once a second a heartbeat to every VM, and a
 * VM silent for longer than the timeout dropped (a hung guest keeps its virtio-serial socket
 * open, so only silence tells).
 */
export class VmHeartbeats {
  #sequence = 0n;

  constructor(private readonly o: VmHeartbeatOptions) {}

  beat(): void {
    this.#sequence++;
    const links = this.o.links();
    const silence = this.o.silenceTimeoutMs;
    for (const vm of this.o.vms.all()) {
      // qemu mode: the link is QEMU's chardev, connected from the moment the guest starts
      // booting, long before an app says hello; silence counts only once one did. (A process
      // that connects and never says hello in emulated mode is dropped as before.)
      const speaking = vm.hello || this.o.emulated;
      if (silence > 0 && speaking && links?.connected(vm.id) === true) {
        const quietMs = Date.now() - vm.lastHeardMs;
        if (quietMs > silence) {
          // A hung guest: its link is treated like a death (channels closed, peers told).
          this.o.log.warn('vm-silent', { vm: vm.id, quietMs });
          links.drop(vm.id);
          continue;
        }
      }
      links?.send(vm.id, {
        kind: 'heartbeat',
        sequence: this.#sequence,
        timeMs: BigInt(Date.now()),
      });
    }
  }
}
