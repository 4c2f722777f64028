/**
 * What a VM's services.yaml entries let it legitimately send, and the budgets hostd derives
 * from that: a well-configured VM is never held below its own need, while a VM that floods is
 * held to what its configuration could ever justify (docs/security.md §11).
 */
import type { ServiceConfig, VmLimits } from './config-types.js';

/**
 * The SD timing the runtime's agents announce with (the SD agent's defaults): one cycle of
 * cyclic Offers per second, and the Initial Wait message plus three repetitions at start.
 */
export const SD_CYCLE_MS = 1000;
export const SD_START_MESSAGES = 4;
/** Budgets grant this multiple of the legitimate need. */
export const BUDGET_HEADROOM = 2;
/** SD floors when services.yaml sets none: what hostd granted every VM before budgets were derived. */
export const DEFAULT_SD_ENTRIES_PER_SECOND = 200;
export const DEFAULT_SD_BURST = 50;

/** A VM's legitimate load, from the services it provides and consumes. */
export interface VmLoad {
  /**
   * Most entries one SD message of the VM may need: per instance it provides an Offer and a
   * StopOffer, and a SubscribeAck and a Nack per eventgroup for each consumer; per instance it
   * may consume a Find, and a StopSubscribe and a Subscribe per eventgroup (a resubscription).
   */
  readonly sdEntriesPerMessage: number;
  /** Entries per SD cycle in steady state: cyclic Offers, their Subscribes, the Acks. */
  readonly sdEntriesPerCycle: number;
  /** Channels the VM opens as a consumer (one handshake each, all at once at start-up). */
  readonly consumerChannels: number;
  /** Channels consumers open to the VM's instances. */
  readonly providerChannels: number;
}

/** The budgets hostd holds a VM to: the larger of services.yaml's limits and the derived need. */
export interface VmBudgets {
  readonly sdEntriesPerSecond: number;
  readonly sdBurst: number;
  readonly handshakesPerSecond: number;
  readonly handshakeBurst: number;
  readonly pendingHandshakes: number;
  /** The load they were derived from. */
  readonly load: VmLoad;
}

/** The legitimate load of `vmId` under `config` (a VM outside every service: one entry). */
export function vmLoad(config: ServiceConfig, vmId: number): VmLoad {
  let perMessage = 0;
  let perCycle = 0;
  let consumerChannels = 0;
  let providerChannels = 0;
  for (const s of config.services) {
    const groups = Math.max(1, s.eventgroups.length);
    const consumers = Math.max(1, s.consumerVmIds.length);
    if (s.providerVmId === vmId) {
      perMessage += s.instances.length * (2 + 2 * groups * consumers);
      perCycle += s.instances.length * (1 + groups * consumers);
      providerChannels += s.instances.length * s.consumerVmIds.length;
    }
    if (s.consumerVmIds.includes(vmId)) {
      perMessage += s.instances.length * (1 + 2 * groups);
      perCycle += s.instances.length * groups;
      consumerChannels += s.instances.length;
    }
  }
  return {
    sdEntriesPerMessage: Math.max(1, perMessage),
    sdEntriesPerCycle: perCycle,
    consumerChannels,
    providerChannels,
  };
}

/**
 * Budgets for `vmId`: services.yaml's `limits` are floors (defaults when absent), raised to
 * {@link BUDGET_HEADROOM} times the VM's own need. SD: its largest message per second (its
 * cyclic batch, at most that, goes once a second), and as a burst its start-up (the Initial
 * Wait message and repetitions, each answered) — always at least one whole message. Handshakes:
 * every consumer channel at once (start-up, or all coming back after the provider restarted),
 * renewable every two seconds, all of them in flight together.
 */
export function vmBudgets(config: ServiceConfig, vmId: number): VmBudgets {
  const load = vmLoad(config, vmId);
  const limits: VmLimits | undefined = config.vms.find((v) => v.id === vmId)?.limits;
  const h = BUDGET_HEADROOM;
  return {
    sdEntriesPerSecond: Math.max(
      limits?.sdEntriesPerSecond ?? DEFAULT_SD_ENTRIES_PER_SECOND,
      Math.ceil((h * load.sdEntriesPerMessage * 1000) / SD_CYCLE_MS),
    ),
    sdBurst: Math.max(
      limits?.sdBurst ?? DEFAULT_SD_BURST,
      h * SD_START_MESSAGES * load.sdEntriesPerMessage,
    ),
    handshakesPerSecond: Math.max(
      limits?.handshakesPerSecond ?? 20,
      Math.ceil((h * load.consumerChannels) / 2),
    ),
    handshakeBurst: Math.max(limits?.burst ?? 5, h * load.consumerChannels),
    pendingHandshakes: Math.max(limits?.pendingHandshakes ?? 8, load.consumerChannels),
    load,
  };
}
