import type { ServiceConfig } from '@sivshm/core';
import { HostdError } from '../errors/hostd-error.js';
import { QmpClient } from './qmp-client.js';

/**
 * One QMP client per VM, connected on first use to the socket `vms[].qmp` names and again after
 * it closed (the VM's QEMU restarted). A VM without a QMP socket in the config gets a clear
 * `ERR_QMP`.
 */
export class QmpConnections {
  readonly #config: ServiceConfig;
  readonly #timeoutMs: number;
  readonly #clients = new Map<number, Promise<QmpClient>>();
  #closed = false;

  constructor(config: ServiceConfig, timeoutMs: number) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
  }

  /** The VM's connected client. */
  async of(vmId: number): Promise<QmpClient> {
    if (this.#closed) throw new HostdError('ERR_QMP', 'hostd is stopping: no QMP commands now');
    const known = this.#clients.get(vmId);
    if (known !== undefined) {
      const c = await known.catch(() => undefined);
      if (c !== undefined && !c.closed) return c;
    }
    const vm = this.#config.vms.find((v) => v.id === vmId);
    if (vm?.qmp === undefined) {
      throw new HostdError(
        'ERR_QMP',
        `vm ${vmId}${vm ? ` (${vm.name})` : ''} has no QMP socket: set vms[].qmp in services.yaml to hot-plug its device channels`,
      );
    }
    const next = QmpClient.connect(vm.qmp, {
      timeoutMs: this.#timeoutMs,
      label: `vm ${vm.id} (${vm.name}) QEMU at ${vm.qmp}`,
    });
    this.#clients.set(vmId, next);
    return next;
  }

  /** Closes every client (pending commands fail, event waits end). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#clients.values()) (await p.catch(() => undefined))?.close();
    this.#clients.clear();
  }
}
