/**
 * Policy questions the broker asks of a validated config: may this VM offer or consume this
 * service instance (docs/architecture.md §6)? Answers come from per-config indexes built once.
 */
import type { ServiceConfig, ServiceDefinition, VmConfig } from './config-types.js';

interface PolicyIndex {
  readonly services: ReadonlyMap<number, ServiceDefinition>;
  readonly vmsById: ReadonlyMap<number, VmConfig>;
  readonly vmsByName: ReadonlyMap<string, VmConfig>;
}

// Configs are frozen, so an index built once stays right for the config's lifetime.
const indexes = new WeakMap<ServiceConfig, PolicyIndex>();

function indexOf(config: ServiceConfig): PolicyIndex {
  let idx = indexes.get(config);
  if (!idx) {
    idx = {
      services: new Map(config.services.map((s) => [s.id, s])),
      vmsById: new Map(config.vms.map((v) => [v.id, v])),
      vmsByName: new Map(config.vms.map((v) => [v.name, v])),
    };
    indexes.set(config, idx);
  }
  return idx;
}

/** The service with SOME/IP service id `id`, or undefined. */
export function serviceById(config: ServiceConfig, id: number): ServiceDefinition | undefined {
  return indexOf(config).services.get(id);
}

/** The VM with `vm_id` `id`, or undefined. */
export function vmById(config: ServiceConfig, id: number): VmConfig | undefined {
  return indexOf(config).vmsById.get(id);
}

/** The VM named `name`, or undefined. */
export function vmByName(config: ServiceConfig, name: string): VmConfig | undefined {
  return indexOf(config).vmsByName.get(name);
}

/**
 * True when VM `vmId` is the configured provider of `instance` of service `serviceId`.
 *
 * hostd calls it before relaying an Offer and before issuing a provider certificate right.
 *
 * @example
 * ```ts
 * declare const config: ServiceConfig, linkVmId: number;
 * declare const offer: { service: number; instance: number };
 * declare function refuse(why: string): void;
 * if (!mayOffer(config, linkVmId, offer.service, offer.instance)) refuse('not the provider');
 * ```
 */
export function mayOffer(
  config: ServiceConfig,
  vmId: number,
  serviceId: number,
  instance: number,
): boolean {
  const s = serviceById(config, serviceId);
  return s !== undefined && s.providerVmId === vmId && s.instances.includes(instance);
}

/**
 * True when VM `vmId` is listed as a consumer of service `serviceId` and `instance` is one of
 * the service's configured instances.
 *
 * hostd calls it before relaying an Offer to a VM, answering a Find, and accepting M1.
 */
export function mayConsume(
  config: ServiceConfig,
  vmId: number,
  serviceId: number,
  instance: number,
): boolean {
  const s = serviceById(config, serviceId);
  return s !== undefined && s.consumerVmIds.includes(vmId) && s.instances.includes(instance);
}
