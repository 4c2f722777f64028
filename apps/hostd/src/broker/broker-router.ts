import {
  handshakeTraceOn,
  traceStage,
  type BrokerEffect,
  type BrokerHandshakes,
  type ControlMessage,
} from '@sivshm/core';
import type { ChannelLifecycle } from '../channels/channel-lifecycle.js';
import type { ChannelDevices } from '../isolation/channel-devices.js';
import type { JsonLogger } from '../log/logger.js';
import type { VmRegistry } from '../vms/vm-registry.js';

/** What the router sends through. */
export interface BrokerRouterOptions {
  readonly broker: BrokerHandshakes;
  readonly lifecycle: ChannelLifecycle;
  readonly vms: VmRegistry;
  readonly log: JsonLogger;
  /** Sends over the VM's control link; false when it has none. */
  send(vmId: number, message: ControlMessage): boolean;
  /** Sends a signed REVOKE for `channelId` to `vmId`. */
  sendRevoke(vmId: number, channelId: bigint): void;
  /** The memory of `isolation: device` channels; absent: every channel in the region. */
  readonly devices?: ChannelDevices;
}

/**
 * Carries the broker's effects out, in order: messages onto the control links, window and
 * table work to the channel lifecycle, log lines. The one place where the broker's answer to a
 * `reserve-window` goes back in (`windowReserved`), so the flow is event → effects → event,
 * never a call from the broker into hostd.
 */
export class BrokerRouter {
  readonly #o: BrokerRouterOptions;

  constructor(o: BrokerRouterOptions) {
    this.#o = o;
  }

  route(effects: readonly BrokerEffect[]): void {
    // The broker follows a `rateLimited` refusal with its ABORT; that answer is metered per VM
    // (vm-registry.ts), so a flooding VM gets a bounded number of answers, not one per message.
    let unanswered: number | undefined;
    for (const e of effects) {
      if (e.kind === 'rejected' && e.reason === 'rateLimited') {
        const vm = this.#o.vms.get(e.vmId);
        if (vm !== undefined && !vm.rateLimitedAnswers.take()) {
          vm.rateLimitedUnanswered++;
          unanswered = e.vmId;
        }
      } else if (e.kind === 'send' && e.vmId === unanswered) {
        unanswered = undefined;
        continue;
      }
      this.#one(e);
      if (handshakeTraceOn) traceStage(`hostd:effect ${e.kind}`);
    }
  }

  #one(e: BrokerEffect): void {
    const { broker, lifecycle, log, vms } = this.#o;
    switch (e.kind) {
      case 'send': {
        // A grant goes out with the doorbell id of the channel's other VM, so the VM rings
        // only that peer (docs/architecture.md); without one it falls back to ringing all.
        const ch = e.grantFor;
        const peer =
          ch === undefined
            ? undefined
            : vms.get(e.vmId === ch.consumerVm ? ch.providerVm : ch.consumerVm)?.doorbellId;
        const device = ch === undefined ? undefined : this.#o.devices?.grantFrame(e.vmId, ch);
        const message: ControlMessage = {
          kind: 'handshake',
          message: e.bytes,
          ...(peer === undefined ? {} : { peerDoorbell: peer }),
          ...(device?.channelDevice === undefined ? {} : { channelDevice: device.channelDevice }),
        };
        if (device?.ready === undefined) return void this.#o.send(e.vmId, message);
        // qemu, a device channel: the grant leaves once its device is in both VMs; never if a
        // plug failed (the handshake deadline then aborts the channel).
        void device.ready.then((ok) => {
          if (ok) this.#o.send(e.vmId, message);
          else
            log.warn('grant-withheld', { vm: e.vmId, channel: `0x${ch!.channelId.toString(16)}` });
        });
        return;
      }
      case 'reserve-window': {
        const window = lifecycle.reserve(e.length);
        return this.route(
          broker.windowReserved(
            e.ticket,
            window,
            window === undefined ? lifecycle.shortage(e.length) : undefined,
          ),
        );
      }
      case 'revoke':
        return this.#o.sendRevoke(e.vmId, e.channelId);
      case 'peer-gone':
        this.#o.send(e.vmId, { kind: 'peerGone', channelId: e.channelId, reason: e.reason });
        return;
      case 'rejected':
        // Refusals for being over budget are logged once per burst (below), not per message.
        // Within a burst the few messages the bucket still admits are not logged either:
        // the burst's two lines say it all.
        if (e.reason !== 'rateLimited' && vms.get(e.vmId)?.handshakeBurst !== true)
          log.info('handshake-rejected', { vm: e.vmId, reason: e.reason, detail: e.detail });
        return;
      case 'over-budget': {
        const vm = vms.get(e.vmId);
        if (vm !== undefined) vm.handshakeBurst = e.state === 'started';
        if (e.state === 'started')
          log.warn('handshake-over-budget', { vm: e.vmId, detail: e.detail });
        else log.info('handshake-back-in-budget', { vm: e.vmId, refused: e.refused });
        return;
      }
      default:
        this.#o.devices?.apply(e);
        return lifecycle.apply(e);
    }
  }
}
