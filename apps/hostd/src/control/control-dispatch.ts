import {
  certificateHash,
  decodeCertificateBody,
  verifyRevokeReceipt,
  type BrokerHandshakes,
  type CertificateAuthority,
  type ControlMessage,
  type CryptoBackend,
  handshakeTraceOn,
  traceStage,
} from '@sivshm/core';
import type { RegionLayoutInfo } from '@sivshm/transport-ivshmem';
import type { BrokerRouter } from '../broker/broker-router.js';
import { HostdError } from '../errors/hostd-error.js';
import type { ChannelLifecycle } from '../channels/channel-lifecycle.js';
import type { JsonLogger } from '../log/logger.js';
import { sdEntryCount } from '../sd/sd-entry-limit.js';
import type { SdSwitch } from '../sd/sd-switch.js';
import {
  CSRS_PER_SECOND,
  LINK_STARTS_PER_SECOND,
  type VmRegistry,
  type VmState,
} from '../vms/vm-registry.js';

/** The control link as the dispatcher uses it. */
export interface ControlLinks {
  connected(vmId: number): boolean;
  send(vmId: number, message: ControlMessage): boolean;
  disconnect(vmId: number): void;
  drop(vmId: number): void;
  peerPid(vmId: number): number | undefined;
}

/** Everything the dispatcher hands work to. */
export interface ControlDispatchOptions {
  readonly log: JsonLogger;
  readonly crypto: CryptoBackend;
  readonly ca: CertificateAuthority;
  readonly vms: VmRegistry;
  readonly broker: BrokerHandshakes;
  readonly router: BrokerRouter;
  readonly lifecycle: ChannelLifecycle;
  readonly sd: SdSwitch;
  /** qemu mode (false): the link is QEMU's chardev, and K_vm is not sent in attach. */
  readonly emulated: boolean;
  readonly region: { readonly path: string; readonly layout: RegionLayoutInfo };
  readonly ivshmemSocket: string;
  links(): ControlLinks | undefined;
  /** ivshmem peer ids connected now, and the pid of the process that connected each. */
  doorbellPeers(): readonly number[];
  doorbellPid(id: number): number | undefined;
  /** Persists the CA state (a new certificate's serial). */
  saveCa(): void;
  /** True once hostd is shutting down: departures then change nothing. */
  stopping(): boolean;
  /** A VM's end of a channel moved to its successor window (docs/protocol.md §11). */
  resized?(vmId: number, channelId: bigint, successorId: bigint): void;
}

/**
 * hostd's control switch: what happens when a VM's link comes up, goes down or delivers a
 * message. A message's VM is the link's, never a field's; nothing before `hello` is accepted.
 * Handshake messages go to the broker, SD to the SD switch, enrolment to the CA; the rest
 * (doorbell ids, closes, revoke acks) is checked here.
 */
export class ControlDispatch {
  readonly #o: ControlDispatchOptions;

  constructor(o: ControlDispatchOptions) {
    this.#o = o;
  }

  linkUp(vmId: number): void {
    const vm = this.#o.vms.linkUp(vmId);
    if (!vm.linkStarts.take()) {
      // Each start gives the broker a fresh VM with a full handshake budget: a VM that
      // reconnects (or says hello again) faster than any app restarts is cut off instead.
      this.#o.log.warn('vm-restarting-too-fast', {
        vm: vmId,
        detail: `over ${LINK_STARTS_PER_SECOND} link starts/s: this link is dropped`,
      });
      this.#o.links()?.drop(vmId);
      return;
    }
    this.#o.broker.vmConnected(vmId);
    this.#o.log.info('vm-connected', { vm: vmId, name: vm.name });
  }

  linkDown(vmId: number, error: Error | undefined): void {
    const vm = this.#o.vms.linkDown(vmId);
    // A link that ended in a fault (dropped unread, timed out, reset) is a warning: metered
    // apart from the routine lines, so a flood of those cannot hide it.
    const fault =
      error !== undefined && !(HostdError.is(error) && error.code === 'ERR_LINK_RESTART');
    this.#o.log.log(fault ? 'warn' : 'info', 'vm-disconnected', {
      vm: vmId,
      name: vm.name,
      error: error?.message,
    });
    if (this.#o.stopping()) return;
    // Death of a VM (its link is the liveness signal in emulated mode): its channels close
    // (peer_gone + REVOKE to the other side), its pending handshakes abort, what waited for its
    // acknowledgement is released, and what it offered goes.
    this.#o.router.route(this.#o.broker.vmGone(vmId));
    this.#o.sd.vmGone(vmId);
  }

  /** Bytes on a link that do not decode as a control frame. */
  invalid(vmId: number, e: Error): void {
    // qemu mode: the chardev outlives the guest's apps, so an app that died mid-frame leaves
    // bytes that swallow the next app's hello and put the stream out of step. Garbage before
    // hello there means exactly that: drop the link, QEMU redials (reconnect=1) and the next
    // hello meets a fresh decoder.
    if (!this.#o.emulated && this.#o.vms.get(vmId)?.hello === false) {
      this.#o.log.warn('vm-link-out-of-step', { vm: vmId, error: e.message });
      this.#o.links()?.drop(vmId);
      return;
    }
    this.#o.vms.refuse(vmId, 'ERR_DECODE', e.message);
  }

  message(vmId: number, m: ControlMessage): void {
    const { vms, log } = this.#o;
    const vm = vms.get(vmId)!;
    vm.messagesIn++;
    vm.lastHeardMs = Date.now();
    if (m.kind !== 'hello' && !vm.hello) {
      vms.refuse(vmId, 'ERR_PROTOCOL', `${m.kind} before hello`);
      return;
    }
    switch (m.kind) {
      case 'hello':
        return this.#onHello(vm, m.version, m.software);
      case 'csr':
        return this.#onCsr(vm, m.csr);
      case 'sd':
        return this.#onSd(vm, m.message);
      case 'handshake':
        // Every admission rule (rate, pending cap, window quota, link-bound certificate,
        // malformed traffic charged to the budget) is the broker's (docs/security.md).
        return this.#onHandshake(vmId, m.message);
      case 'revokeAck':
        return this.#onRevokeAck(vm, m.channelId, m.receipt);
      case 'close':
        return this.#onClose(vm, m.channelId);
      case 'doorbellId':
        return this.#onDoorbellId(vm, m.id);
      case 'heartbeat':
        return;
      case 'resized':
        return this.#o.resized?.(vmId, m.channelId, m.successorId);
      case 'error':
        if (m.code === 'ERR_INTEGRITY') vm.integrityFailures++;
        // Cut and metered by the logger (log-meter.ts): a VM's text is not ours to repeat.
        log.warn('vm-error', { vm: vmId, code: m.code, message: m.message });
        return;
      default:
        vms.refuse(vmId, 'ERR_PROTOCOL', `VMs may not send ${m.kind}`);
    }
  }

  #onHandshake(vmId: number, message: Uint8Array): void {
    if (!handshakeTraceOn) return this.#o.router.route(this.#o.broker.receive(vmId, message));
    traceStage('hostd:broker-in');
    const effects = this.#o.broker.receive(vmId, message);
    traceStage(`hostd:broker-out ${effects.map((e) => e.kind).join(',')}`);
    this.#o.router.route(effects);
    traceStage('hostd:routed');
  }

  /**
   * A revokeAck counts only with the device's receipt over the token we sent: anything else
   * (no receipt, a forged one, an ack for a REVOKE we did not send) leaves the window
   * quarantined until the VM's link goes, logged and counted in status (docs/security.md).
   */
  #onRevokeAck(vm: VmState, channelId: bigint, receipt: Uint8Array): void {
    const token = vm.revokesSent.get(channelId);
    if (token === undefined) {
      this.#o.vms.refuse(vm.id, 'ERR_PROTOCOL', `revokeAck for channel ${channelId}, not revoked`);
      return;
    }
    vm.revokesSent.delete(channelId);
    if (verifyRevokeReceipt(this.#o.crypto, vm.grantKey, token, receipt)) {
      this.#o.router.route(this.#o.broker.revokeAcknowledged(vm.id, channelId));
      return;
    }
    vm.revokeReceiptsRefused++;
    this.#o.log.warn('revoke-receipt-refused', {
      vm: vm.id,
      channel: channelId.toString(),
      detail: receipt.length === 0 ? 'no receipt' : 'receipt does not verify',
    });
    this.#o.router.route(this.#o.broker.revokeReceiptRefused(vm.id, channelId));
  }

  /**
   * SD is charged per entry, read from the header before anything is decoded: a message with
   * more entries than the VM's configuration can need is refused whole, and one over the VM's
   * entry budget is dropped (counted; logged at debug, metered).
   */
  #onSd(vm: VmState, bytes: Uint8Array): void {
    const entries = sdEntryCount(bytes) ?? 1;
    if (entries > vm.sdMaxEntries) {
      vm.sdDropped++;
      this.#o.vms.refuse(
        vm.id,
        'ERR_SD_TOO_MANY_ENTRIES',
        `an SD message of ${entries} entries; VM ${vm.id} may send at most ${vm.sdMaxEntries} in one (its configured instances times the entry kinds)`,
      );
      return;
    }
    if (!vm.sdBudget.take(Math.max(1, entries))) {
      this.#sdDropped(vm, entries);
      return;
    }
    const dropped = vm.sdDropBurst.endIfQuiet(Date.now());
    if (dropped !== undefined) this.#o.log.info('sd-back-in-budget', { vm: vm.id, dropped });
    this.#o.sd.receive(vm.id, bytes);
  }

  /**
   * An SD message over the VM's budget is dropped and counted (`sdDropped` in status); the
   * first drop of a burst is logged with the budget and the setting that raises it, the rest
   * of the burst only counted (a log line per dropped message would be work at the VM's rate).
   */
  #sdDropped(vm: VmState, entries: number): void {
    vm.sdDropped++;
    if (!vm.sdDropBurst.drop(Date.now())) return;
    this.#o.log.warn('sd-over-budget', {
      vm: vm.id,
      entries,
      entriesPerSecond: vm.sdBudget.rate,
      burst: vm.sdBudget.burst,
      detail: `VM ${vm.id} sent SD past its budget of ${vm.sdBudget.rate} entries/s (burst ${vm.sdBudget.burst}), derived from its services in services.yaml; its SD messages are dropped until it slows down. If it needs more, raise vms[].limits.sdEntriesPerSecond / sdBurst for it`,
    });
  }

  #onHello(vm: VmState, version: number, software: string): void {
    if (version !== 1) {
      this.#o.vms.refuse(
        vm.id,
        'ERR_VERSION',
        `control protocol ${version} is not supported (1 is)`,
      );
      this.#o.links()?.disconnect(vm.id);
      return;
    }
    vm.hello = true;
    this.#o.log.info('vm-hello', { vm: vm.id, software });
    this.#sendAttach(vm);
  }

  #sendAttach(vm: VmState): void {
    const { ca, region } = this.#o;
    const layout = region.layout;
    this.#o.links()?.send(vm.id, {
      kind: 'attach',
      vmId: vm.id,
      vmName: vm.name,
      epoch: ca.epoch,
      caPublicKey: ca.caPublicKey,
      brokerCertificate: ca.brokerCertificate,
      region: {
        path: region.path,
        size: BigInt(layout.regionSize),
        dataOffset: BigInt(layout.dataOffset),
        dataSize: BigInt(layout.dataSize),
        channelCapacity: layout.channelCapacity,
      },
      ...(this.#o.emulated ? { grantKey: vm.grantKey } : {}),
      ivshmemSocket: this.#o.ivshmemSocket,
      enrolmentNonce: ca.enrolmentNonce(vm.id),
    });
  }

  #onCsr(vm: VmState, csr: Uint8Array): void {
    if (!vm.csrs.take()) {
      // Not checked and not answered with a new attach: metered refusal only.
      this.#o.vms.refuse(vm.id, 'ERR_CSR', `over ${CSRS_PER_SECOND} CSRs/s: not checked`);
      return;
    }
    let cert;
    try {
      cert = this.#o.ca.enrol(vm.id, csr);
    } catch (e) {
      this.#o.vms.refuse(vm.id, 'ERR_CSR', (e as Error).message);
      // A CSR burns the nonce whatever its fate; hand out a fresh one so the VM can retry.
      this.#sendAttach(vm);
      return;
    }
    vm.certificate = decodeCertificateBody(cert.tbs);
    // A link's certificate lives as long as the link: an M1 must name the one enrolled on it.
    this.#o.broker.enrolled(vm.id, certificateHash(this.#o.crypto, cert));
    this.#o.log.info('vm-enrolled', {
      vm: vm.id,
      serial: vm.certificate.serial,
      subject: vm.certificate.subject,
      offers: vm.certificate.rights.offers.length,
      requests: vm.certificate.rights.requests.length,
    });
    this.#o.links()?.send(vm.id, { kind: 'certificate', certificate: cert });
    this.#o.sd.announceTo(vm.id);
    this.#o.saveCa();
  }

  /**
   * A VM says which ivshmem peer id it holds. Only its own channel peers ever ring that id, so
   * a false claim misdirects wake-ups meant for the claimant; hostd still refuses ids that are
   * not connected to its ivshmem server or that another connected VM holds, so a VM cannot
   * route its peers' rings into a third VM.
   */
  #onDoorbellId(vm: VmState, id: number): void {
    const { vms } = this.#o;
    const links = this.#o.links();
    if (!this.#o.doorbellPeers().includes(id)) {
      vms.refuse(
        vm.id,
        'ERR_DOORBELL',
        `doorbell id ${id} is not a peer of hostd's ivshmem server`,
      );
      return;
    }
    if (vms.doorbellHolder(id, vm, (other) => links?.connected(other) === true) !== undefined) {
      vms.refuse(vm.id, 'ERR_DOORBELL', `doorbell id ${id} belongs to another VM`);
      return;
    }
    // The same process holds both connections: the VM process in emulated mode, QEMU in qemu
    // mode. A claim of an id connected by another process (one no VM claimed yet) is refused,
    // so a VM cannot redirect its peers' doorbells to someone else's.
    const linkPid = links?.peerPid(vm.id);
    const bellPid = this.#o.doorbellPid(id);
    if (linkPid !== undefined && bellPid !== undefined && bellPid !== 0 && linkPid !== bellPid) {
      vms.refuse(
        vm.id,
        'ERR_DOORBELL',
        `doorbell id ${id} was connected by process ${bellPid}, not by the process holding this VM's control link (${linkPid})`,
      );
      return;
    }
    vm.doorbellId = id;
    this.#o.log.info('vm-doorbell', { vm: vm.id, doorbellId: id });
  }

  #onClose(vm: VmState, channelId: bigint): void {
    const c = this.#o.lifecycle.get(channelId);
    if (c === undefined || (c.consumerVm !== vm.id && c.providerVm !== vm.id)) {
      this.#o.vms.refuse(
        vm.id,
        'ERR_CHANNEL',
        `VM ${vm.id} has no channel 0x${channelId.toString(16)}`,
      );
      return;
    }
    const reason = c.consumerVm === vm.id ? 'closed-by-consumer' : 'closed-by-provider';
    this.#o.router.route(this.#o.broker.closeChannel(channelId, reason));
  }
}
