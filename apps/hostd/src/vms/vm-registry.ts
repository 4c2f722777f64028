import {
  signRevoke,
  TokenBucket,
  type CertificateBody,
  type ControlMessage,
  type CryptoBackend,
  type ServiceConfig,
  vmBudgets,
} from '@sivshm/core';
import { DropBurst } from '../budget/drop-burst.js';
import { WorkBudget } from '../budget/work-budget.js';
import type { JsonLogger } from '../log/logger.js';

/**
 * ABORTs hostd sends per VM, per second and as a burst, for handshake messages refused as over
 * the VM's handshake budget. Answering each one would be work (and a write) at the flooder's
 * rate; a VM slightly over its budget still learns why from the first ones.
 */
export const RATE_LIMITED_ANSWERS_PER_SECOND = 20;
export const RATE_LIMITED_ANSWER_BURST = 20;
/**
 * Links a VM may start per second (a connect, or a new hello on a live link), and as a burst.
 * Each start is a fresh VM to the broker, whose handshake budget starts full again: without
 * this, reconnecting (or re-saying hello) would reset the rate a VM is held to. An app restarts
 * a few times in a row at most; 10 in a burst and 2/s after that leave it room.
 */
export const LINK_STARTS_PER_SECOND = 2;
export const LINK_START_BURST = 10;
/**
 * CSRs a VM may send per second, and as a burst. Each costs a signature check and, when it
 * fails, a fresh attach (hostd's largest answer); an app enrols once per link and retries a
 * failed CSR a few times at most.
 */
export const CSRS_PER_SECOND = 2;
export const CSR_BURST = 5;
/**
 * Refusals hostd logs and answers per VM (undecodable frames, messages out of order, policy
 * refusals). A VM that provokes more is in a burst: counted, logged once when it starts and
 * once when it ends, not answered (an answer per garbage frame would be work on its behalf).
 */
const REFUSALS_PER_SECOND = 20;
const REFUSAL_BURST = 20;
/** Quiet time that ends a burst of refusals. */
const REFUSAL_QUIET_MS = 1000;
/** Quiet time (no SD dropped) that ends a VM's burst of SD drops in the log. */
const SD_DROP_QUIET_MS = 1000;

/** What hostd knows of one configured VM and its current control link. */
export interface VmState {
  readonly id: number;
  readonly name: string;
  readonly grantKey: Uint8Array;
  /**
   * SD entries the VM may send, metered in entries (each is work for hostd: a reply, a relay to
   * every consumer, a registry update), not messages. Derived from the VM's services
   * (`vmBudgets` in core: twice its largest message per second, its cyclic batch being at most
   * that once a second, and twice its start-up as a burst), with services.yaml's
   * `limits.sdEntriesPerSecond` / `limits.sdBurst` as floors.
   */
  readonly sdBudget: WorkBudget;
  /** The current burst of SD messages dropped over budget (logged at its start and end). */
  readonly sdDropBurst: DropBurst;
  /**
   * Most entries one SD message of this VM may carry (`vmLoad` in core): what its configuration
   * can need at once, so it can batch its whole cyclic traffic in one message and no more: a
   * 4000-entry Find is refused before it costs a reply each.
   */
  readonly sdMaxEntries: number;
  sdDropped: number;
  /** ERR_INTEGRITY notices: mac/aead records this VM's data plane refused (each ends a channel). */
  integrityFailures: number;
  /** CSRs this VM may still send. */
  readonly csrs: TokenBucket;
  /** Link starts (connects, restarts by hello) this VM may still make. */
  readonly linkStarts: TokenBucket;
  /** ABORTs for over-budget handshake messages this VM may still be sent. */
  readonly rateLimitedAnswers: TokenBucket;
  /** Over-budget handshake messages not answered (the answers' own budget was spent). */
  rateLimitedUnanswered: number;
  /** Refusals this VM may provoke before they are only counted. */
  readonly refusalBucket: TokenBucket;
  /** The current burst of refusals neither logged nor answered (logged at its start and end). */
  readonly refusalBurst: DropBurst;
  /** Between the broker's over-budget `started` and `ended`: per-message logs are skipped. */
  handshakeBurst: boolean;
  lastHeardMs: number;
  hello: boolean;
  certificate: CertificateBody | undefined;
  connectedSinceMs: number | undefined;
  messagesIn: number;
  refusals: number;
  revokeSerial: bigint;
  /**
   * The exact token of each REVOKE sent on this link and not yet acknowledged, by channel: the
   * receipt in the VM's `revokeAck` must be the device's HMAC over these bytes.
   */
  readonly revokesSent: Map<bigint, Uint8Array>;
  /** revokeAcks whose receipt was missing or did not verify (each kept a window quarantined). */
  revokeReceiptsRefused: number;
  /** The VM's id on the ivshmem doorbell server, as it told us on this link. */
  doorbellId: number | undefined;
}

/**
 * Every configured VM's state: what its current link said (hello, certificate, doorbell id),
 * its SD and refusal budgets, its REVOKE serials. Also where hostd refuses something a VM did,
 * metered so a VM cannot make hostd log or answer at its rate.
 */
export class VmRegistry {
  readonly #vms = new Map<number, VmState>();
  /** Every refusal since start, by its error code (all VMs): status and metrics read it. */
  readonly refusalsByReason = new Map<string, number>();
  readonly #log: JsonLogger;
  readonly #send: (vmId: number, message: ControlMessage) => boolean;

  constructor(o: {
    config: ServiceConfig;
    grantKeys: ReadonlyMap<number, Uint8Array>;
    log: JsonLogger;
    /** Sends over the VM's control link; false when it has none. */
    send: (vmId: number, message: ControlMessage) => boolean;
  }) {
    this.#log = o.log;
    this.#send = o.send;
    const now = (): bigint => BigInt(Date.now());
    for (const vm of o.config.vms) {
      const budgets = vmBudgets(o.config, vm.id);
      const sdMaxEntries = budgets.load.sdEntriesPerMessage;
      this.#vms.set(vm.id, {
        id: vm.id,
        name: vm.name,
        grantKey: o.grantKeys.get(vm.id)!,
        // The burst (start-up: several whole messages) always holds one whole message.
        sdBudget: new WorkBudget(budgets.sdEntriesPerSecond, budgets.sdBurst),
        sdMaxEntries,
        sdDropped: 0,
        sdDropBurst: new DropBurst(SD_DROP_QUIET_MS),
        integrityFailures: 0,
        rateLimitedAnswers: new TokenBucket(
          RATE_LIMITED_ANSWERS_PER_SECOND,
          RATE_LIMITED_ANSWER_BURST,
          now,
        ),
        rateLimitedUnanswered: 0,
        csrs: new TokenBucket(CSRS_PER_SECOND, CSR_BURST, now),
        linkStarts: new TokenBucket(LINK_STARTS_PER_SECOND, LINK_START_BURST, now),
        refusalBucket: new TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST, now),
        refusalBurst: new DropBurst(REFUSAL_QUIET_MS),
        handshakeBurst: false,
        lastHeardMs: 0,
        hello: false,
        certificate: undefined,
        connectedSinceMs: undefined,
        messagesIn: 0,
        refusals: 0,
        revokeSerial: 0n,
        revokesSent: new Map(),
        revokeReceiptsRefused: 0,
        doorbellId: undefined,
      });
    }
  }

  get(vmId: number): VmState | undefined {
    return this.#vms.get(vmId);
  }

  all(): IterableIterator<VmState> {
    return this.#vms.values();
  }

  /** A new link: nothing it said before counts. */
  linkUp(vmId: number): VmState {
    const vm = this.#vms.get(vmId)!;
    this.#forgetLink(vm);
    vm.connectedSinceMs = Date.now();
    vm.lastHeardMs = Date.now();
    vm.handshakeBurst = false;
    return vm;
  }

  /** The link went away. */
  linkDown(vmId: number): VmState {
    const vm = this.#vms.get(vmId)!;
    this.#forgetLink(vm);
    vm.connectedSinceMs = undefined;
    return vm;
  }

  /** The VM that holds ivshmem doorbell `id` on a connected link, other than `except`. */
  doorbellHolder(id: number, except: VmState, connected: (vmId: number) => boolean) {
    for (const other of this.#vms.values()) {
      if (other !== except && other.doorbellId === id && connected(other.id)) return other;
    }
    return undefined;
  }

  /** Sends `vmId` a REVOKE for `channelId`, signed with its grant key; false if not sent. */
  sendRevoke(crypto: CryptoBackend, epoch: bigint, vmId: number, channelId: bigint): boolean {
    const vm = this.#vms.get(vmId);
    if (vm === undefined) return false;
    vm.revokeSerial++;
    const { token, tag } = signRevoke(crypto, vm.grantKey, {
      epoch,
      revokeSerial: vm.revokeSerial,
      vmId,
      channelId,
    });
    vm.revokesSent.set(channelId, token);
    return this.#send(vmId, { kind: 'revoke', channelId, token, tag });
  }

  /**
   * Refuses something `vmId` sent: logged and answered with an error, unless the VM is in a
   * burst of refusals — then only counted, with one line when the burst starts and one when
   * the VM has been quiet for {@link REFUSAL_QUIET_MS}.
   */
  refuse(vmId: number, code: string, message: string): void {
    const vm = this.#vms.get(vmId);
    if (vm === undefined) return;
    vm.refusals++;
    this.refusalsByReason.set(code, (this.refusalsByReason.get(code) ?? 0) + 1);
    const now = Date.now();
    const suppressed = vm.refusalBurst.endIfQuiet(now);
    if (suppressed !== undefined)
      this.#log.info('refusals-back-in-budget', { vm: vmId, suppressed });
    if (!vm.refusalBucket.take()) {
      if (vm.refusalBurst.drop(now)) {
        this.#log.warn('refusals-over-budget', {
          vm: vmId,
          code,
          message,
          detail: `over ${REFUSALS_PER_SECOND} refusals/s: further ones are counted, not logged or answered, until the VM is quiet for ${REFUSAL_QUIET_MS} ms`,
        });
      }
      return;
    }
    if (!vm.refusalBurst.active) this.#log.warn('refused', { vm: vmId, code, message });
    this.#send(vmId, { kind: 'error', code, message });
  }

  #forgetLink(vm: VmState): void {
    vm.hello = false;
    vm.certificate = undefined;
    vm.doorbellId = undefined;
    vm.revokesSent.clear();
  }
}
