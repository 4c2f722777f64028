import { rmSync } from 'node:fs';
import { windowLayout } from '@sivshm/abi';
import type { BrokerChannel, ServiceConfig } from '@sivshm/core';
import { channelIdentity } from '../channels/channel-identity.js';
import type { LifecycleEffect } from '../channels/channel-lifecycle.js';
import { HostdError } from '../errors/hostd-error.js';
import type { JsonLogger } from '../log/logger.js';
import { awaitLateUnplug, plugChannelDevice, unplugChannelDevice } from '../qmp/ivshmem-hotplug.js';
import type { QmpConnections } from '../qmp/qmp-connections.js';
import { ChannelDeviceMemory } from './channel-device-memory.js';
import { sweepStaleDevices } from './stale-devices.js';

/** Where a channel device stands in one of its two VMs. */
export type VmDeviceState =
  'plugging' | 'plugged' | 'failed' | 'unplugging' | 'unplugged' | 'stuck';

/** A channel device as status reports it. */
export interface ChannelDeviceRecord {
  readonly channelId: bigint;
  readonly service: number;
  readonly instance: number;
  readonly size: number;
  /** Per VM of the pair (consumer first). */
  readonly vms: readonly { readonly vm: number; readonly state: VmDeviceState }[];
  /** Both hot-plugs, ms (qemu mode, once done). */
  readonly plugMs?: number;
}

export interface ChannelDevicesOptions {
  readonly config: ServiceConfig;
  /** `<run-dir>/devices`. */
  readonly dir: string;
  readonly epoch: bigint;
  readonly log: JsonLogger;
  /** qemu mode: hot-plug through each VM's QMP socket. Absent: emulated mode. */
  readonly qmp?: QmpConnections;
  /** How long a guest has to release an unplugged device, ms (default 5000). */
  readonly unplugTimeoutMs?: number;
}

interface Entry {
  readonly channel: BrokerChannel;
  readonly memory: ChannelDeviceMemory;
  readonly vms: Map<number, VmDeviceState>;
  /** qemu: resolves true when the device is in both VMs; emulated: true at once. */
  readonly ready: Promise<boolean>;
  /** The broker freed or released the channel: nobody holds a grant for it any more. */
  released: boolean;
  unplugging: boolean;
  plugMs?: number;
}

/** How long a stopping hostd waits for guests to release their devices, ms. */
const SHUTDOWN_UNPLUG_MS = 1000;
/** setTimeout's longest delay: a stuck device waits this long per round for its guest. */
const FOREVER_MS = 2 ** 31 - 1;

/**
 * The memory of `isolation: device` channels (docs/protocol.md §10). Emulated mode: one file per
 * channel, told to the pair only (`channel_device` beside M4 and M6). qemu mode: the same file
 * hot-plugged as an ivshmem-plain device into the pair's two QEMUs only, unlinked once both hold
 * it, M4 held back until both plugs succeeded. Teardown follows the broker: only when it freed
 * the channel (every receipt verified, or the holder gone) is the memory zeroed and dropped; in
 * qemu mode after both guests released the device too. A guest that does not is never forced:
 * its device is `stuck`, logged and reported, and the memory stays with that QEMU (never reused)
 * until the guest releases it or its QEMU exits.
 */
export class ChannelDevices {
  readonly #o: ChannelDevicesOptions;
  readonly #deviceServices: ReadonlySet<number>;
  readonly #entries = new Map<bigint, Entry>();
  readonly #teardowns = new Set<Promise<void>>();
  #unplugTimeoutMs: number;
  #stopping = false;

  constructor(o: ChannelDevicesOptions) {
    this.#o = o;
    this.#unplugTimeoutMs = o.unplugTimeoutMs ?? 5000;
    // Files a previous hostd left in its run dir (it was killed): their channels died with its
    // epoch. Removing a name unmaps nothing; whoever still maps one keeps only an old channel.
    rmSync(o.dir, { recursive: true, force: true });
    const device = o.config.services.filter((s) => s.isolation === 'device');
    this.#deviceServices = new Set(device.map((s) => s.id));
    if (o.qmp === undefined) return;
    for (const s of device) {
      for (const vmId of [s.providerVmId, ...s.consumerVmIds]) {
        const vm = o.config.vms.find((v) => v.id === vmId);
        if (vm !== undefined && vm.qmp === undefined) {
          throw new HostdError(
            'ERR_STARTUP',
            `service ${s.name} has isolation: device but vm ${vm.name} has no QMP socket: set vms[].qmp for it in services.yaml (hostd hot-plugs the channel's device through it)`,
          );
        }
      }
    }
  }

  /**
   * Once hostd listens (qemu mode): unplugs the channel devices a previous hostd left in the
   * VMs' QEMUs (stale-devices.ts), in the background.
   */
  start(): void {
    const qmp = this.#o.qmp;
    if (qmp === undefined) return;
    void sweepStaleDevices({
      config: this.#o.config,
      qmp,
      log: this.#o.log,
      unplugTimeoutMs: this.#unplugTimeoutMs,
      stopping: () => this.#stopping,
    });
  }

  /** A device channel's window offset in its own memory (one granule); undefined: region. */
  windowOffset(ch: BrokerChannel): bigint | undefined {
    return this.#deviceServices.has(ch.service)
      ? BigInt(this.#o.config.region.pageGranule)
      : undefined;
  }

  /** Follows the broker's channel effects (the lifecycle carries out the region's part). */
  apply(e: LifecycleEffect): void {
    const entry = this.#entries.get(e.channel.channelId);
    switch (e.kind) {
      case 'channel-pending':
        if (this.#deviceServices.has(e.channel.service) && entry === undefined)
          this.#create(e.channel);
        return;
      case 'window-quarantine':
        // qemu: the hypervisor ends the holder's access now, whatever its receipt said.
        if (entry !== undefined && this.#o.qmp !== undefined) this.#teardown(entry);
        return;
      case 'window-free':
      case 'window-release':
        if (entry === undefined) return;
        entry.released = true;
        this.#teardown(entry);
        return;
      default:
        return;
    }
  }

  /**
   * What the frame carrying `vmId`'s grant of `ch` needs: emulated, the memory's path; qemu, to
   * wait until the device is in both VMs (false: it never will be, the grant is withheld).
   */
  grantFrame(
    vmId: number,
    ch: BrokerChannel,
  ): { channelDevice?: string; ready?: Promise<boolean> } | undefined {
    const entry = this.#entries.get(ch.channelId);
    if (entry === undefined || (vmId !== ch.consumerVm && vmId !== ch.providerVm)) return undefined;
    if (this.#o.qmp === undefined) return { channelDevice: entry.memory.path };
    return {
      ready: entry.ready.then((ok) => ok && this.#entries.get(ch.channelId) === entry),
    };
  }

  /**
   * A copy of `length` bytes at `offset` of a device channel's window (its memory from one
   * granule on), for status's ring figures; undefined when hostd holds no such memory.
   */
  readWindow(channelId: bigint, offset: number, length: number): Uint8Array | undefined {
    const e = this.#entries.get(channelId);
    return e?.memory.read(this.#o.config.region.pageGranule + offset, length);
  }

  /** The channel devices hostd holds now (status). */
  list(): ChannelDeviceRecord[] {
    return [...this.#entries.values()].map((e) => ({
      channelId: e.channel.channelId,
      service: e.channel.service,
      instance: e.channel.instance,
      size: e.memory.size,
      vms: [...e.vms].map(([vm, state]) => ({ vm, state })),
      ...(e.plugMs === undefined ? {} : { plugMs: e.plugMs }),
    }));
  }

  /**
   * At shutdown (after the broker closed every channel): unplugs what is still plugged, waits
   * for that at most {@link SHUTDOWN_UNPLUG_MS} (a stopping hostd cannot wait for slow guests)
   * and frees what no guest holds. What a guest still holds stays with its QEMU: hostd's
   * descriptor goes, the file is unlinked, the memory ends when that QEMU drops it.
   */
  async close(): Promise<void> {
    this.#unplugTimeoutMs = Math.min(this.#unplugTimeoutMs, SHUTDOWN_UNPLUG_MS);
    for (const e of this.#entries.values()) {
      e.released = true;
      this.#teardown(e);
    }
    await Promise.race([
      Promise.allSettled([...this.#teardowns]),
      new Promise((r) => setTimeout(r, SHUTDOWN_UNPLUG_MS + 200).unref()),
    ]);
    this.#stopping = true;
    for (const e of this.#entries.values()) {
      this.#o.log.warn('channel-device-left-with-guest', this.#fields(e));
      e.memory.unlink();
    }
    await this.#o.qmp?.close();
  }

  #create(ch: BrokerChannel): void {
    const granule = this.#o.config.region.pageGranule;
    const windowLength = Number(ch.window.length);
    let memory: ChannelDeviceMemory;
    try {
      memory = ChannelDeviceMemory.create(
        this.#o.dir,
        {
          epoch: this.#o.epoch,
          channelId: ch.channelId,
          pageGranule: granule,
          windowLength,
          ringDataSize: windowLayout(granule).dataSizeOf(windowLength) ?? 0,
          ...channelIdentity(ch),
        },
        this.#o.qmp === undefined ? 'chan' : 'mem',
      );
    } catch (e) {
      // No memory: the grants are withheld and the handshake deadline aborts the channel.
      this.#o.log.error('channel-device-create-failed', {
        channel: `0x${ch.channelId.toString(16)}`,
        error: (e as Error).message,
      });
      return;
    }
    const vms = new Map<number, VmDeviceState>([
      [ch.consumerVm, this.#o.qmp === undefined ? 'plugged' : 'plugging'],
      [ch.providerVm, this.#o.qmp === undefined ? 'plugged' : 'plugging'],
    ]);
    const entry: Entry = {
      channel: ch,
      memory,
      vms,
      ready: Promise.resolve(true),
      released: false,
      unplugging: false,
    };
    if (this.#o.qmp !== undefined) Object.assign(entry, { ready: this.#plug(entry) });
    this.#entries.set(ch.channelId, entry);
  }

  /** Hot-plugs into both VMs; unlinks the file once both QEMUs hold it. */
  async #plug(e: Entry): Promise<boolean> {
    const start = performance.now();
    const results = await Promise.all([...e.vms.keys()].map((vm) => this.#plugInto(e, vm)));
    if (!results.every(Boolean)) return false;
    e.memory.unlink();
    e.plugMs = performance.now() - start;
    this.#o.log.info('channel-device-plugged', { ...this.#fields(e), ms: Math.round(e.plugMs) });
    return true;
  }

  /** One VM's plug; a QEMU never reached holds nothing of the channel (`unplugged`). */
  async #plugInto(e: Entry, vm: number): Promise<boolean> {
    let reached = false;
    try {
      const qmp = await this.#o.qmp!.of(vm);
      reached = true;
      await plugChannelDevice(qmp, {
        channelId: e.channel.channelId,
        memPath: e.memory.path,
        size: e.memory.size,
      });
      e.vms.set(vm, 'plugged');
      return true;
    } catch (err) {
      // Reached but refused or silent: it may hold a part, so the unplug asks it again.
      e.vms.set(vm, reached ? 'failed' : 'unplugged');
      this.#o.log.error('device-plug-failed', {
        ...this.#fields(e),
        vm,
        error: (err as Error).message,
      });
      return false;
    }
  }

  #teardown(e: Entry): void {
    if (this.#o.qmp === undefined) {
      if (e.released) this.#free(e);
      return;
    }
    // Unplugged already (a quarantine ended access before the broker released the window):
    // the release alone frees it; an unplug still running frees it when it ends.
    if (e.unplugging) return this.#maybeFree(e);
    e.unplugging = true;
    const t = this.#unplugAll(e).finally(() => this.#teardowns.delete(t));
    this.#teardowns.add(t);
  }

  async #unplugAll(e: Entry): Promise<void> {
    await e.ready;
    const holders = [...e.vms].filter(([, state]) => state !== 'unplugged').map(([vm]) => vm);
    await Promise.all(holders.map((vm) => this.#unplugFrom(e, vm)));
    this.#maybeFree(e);
  }

  async #unplugFrom(e: Entry, vm: number): Promise<void> {
    const id = e.channel.channelId;
    const timeoutMs = this.#unplugTimeoutMs;
    try {
      const qmp = await this.#o.qmp!.of(vm);
      e.vms.set(vm, 'unplugging');
      const out = await unplugChannelDevice(qmp, id, timeoutMs);
      if (out.state === 'unplugged') {
        e.vms.set(vm, 'unplugged');
        return;
      }
      e.vms.set(vm, 'stuck');
      this.#o.log.warn('device-unplug-stuck', { ...this.#fields(e), vm, reason: out.reason });
      // Wait for the guest (or its QEMU's exit); never reset, pause or force it.
      for (;;) {
        if (await awaitLateUnplug(qmp, id, FOREVER_MS)) break;
        if (this.#stopping) return; // our client closed, not the QEMU: it may still map it
        if (qmp.closed) break; // that QEMU exited: it maps nothing any more
      }
      e.vms.set(vm, 'unplugged');
      this.#o.log.info('device-unplugged-late', { ...this.#fields(e), vm });
      this.#maybeFree(e);
    } catch (err) {
      // QMP unreachable or refusing: the device may still be there, so it counts as stuck.
      e.vms.set(vm, 'stuck');
      this.#o.log.warn('device-unplug-stuck', {
        ...this.#fields(e),
        vm,
        reason: (err as Error).message,
      });
    }
  }

  #maybeFree(e: Entry): void {
    if (!e.released) return;
    for (const s of e.vms.values()) if (s !== 'unplugged') return;
    this.#free(e);
  }

  #free(e: Entry): void {
    if (this.#entries.get(e.channel.channelId) !== e) return;
    this.#entries.delete(e.channel.channelId);
    e.memory.free();
    this.#o.log.info('channel-device-freed', this.#fields(e));
  }

  #fields(e: Entry): Record<string, unknown> {
    return {
      channel: `0x${e.channel.channelId.toString(16)}`,
      consumer: e.channel.consumerVm,
      provider: e.channel.providerVm,
      service: e.channel.service,
      instance: e.channel.instance,
      size: e.memory.size,
    };
  }
}
