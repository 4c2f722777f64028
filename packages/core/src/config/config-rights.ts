/**
 * The certificate rights a config allows a VM (docs/protocol.md §6.1): offers for the service
 * instances it provides, requests for the ones it may consume. The CA grants a CSR no more than
 * this (`intersectRights(csr.rights, configRights(config, vmId))`).
 */
import { canonicalRights } from '../cert/rights.js';
import type { OfferRight, RequestRight, Rights } from '../cert/rights.js';
import type { ServiceConfig, ServiceDefinition } from './config-types.js';

/**
 * Method/event range of a request right. services.yaml v1 grants a consumer a whole service
 * (no per-method lists), so a request right spans every valid method and event id.
 */
export const WHOLE_SERVICE_METHODS = { methodLo: 0x0001, methodHi: 0xfffe } as const;

/**
 * Rights VM `vmId` may hold under `config`, in canonical order; undefined for an unknown VM.
 *
 * Use it as the CA's policy: `allowedRights: (vm) => configRights(config, vm)`.
 *
 * @example
 * ```ts
 * declare const config: ServiceConfig;
 * configRights(config, 2); // { offers: [], requests: [{ service: 0x1234, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0xfffe }] }
 * ```
 */
export function configRights(config: ServiceConfig, vmId: number): Rights | undefined {
  if (!config.vms.some((v) => v.id === vmId)) return undefined;
  return rightsFor(vmId, config.services);
}

/** `configRights` over a list of services, for use while a config is being validated. */
export function rightsFor(vmId: number, services: readonly ServiceDefinition[]): Rights {
  const offers: OfferRight[] = [];
  const requests: RequestRight[] = [];
  for (const s of services) {
    const provides = s.providerVmId === vmId;
    const consumes = s.consumerVmIds.includes(vmId);
    if (!provides && !consumes) continue;
    for (const [lo, hi] of runs(s.instances)) {
      if (provides) offers.push({ service: s.id, instanceLo: lo, instanceHi: hi });
      if (consumes) {
        requests.push({ service: s.id, instanceLo: lo, instanceHi: hi, ...WHOLE_SERVICE_METHODS });
      }
    }
  }
  return canonicalRights({ offers, requests });
}

/** Contiguous runs of ascending ids: [1, 2, 3, 7] → [[1, 3], [7, 7]]. */
function runs(ids: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && id === last[1] + 1) last[1] = id;
    else out.push([id, id]);
  }
  return out;
}
