/**
 * The whole of services.yaml: the top-level keys, each read by its section, then the checks
 * that span sections (a VM's certificate must hold the rights its services give it).
 */
import { isScalar, type Node } from 'yaml';
import { PAGE_SIZE } from '@sivshm/abi';
import { MAX_RIGHTS_PER_LIST } from '../cert/rights.js';
import type { ConfigBuildContext } from './config-build-context.js';
import { configLocationOf } from './config-location.js';
import { rightsFor } from './config-rights.js';
import type { ServiceConfig, ServiceDefinition, VmConfig } from './config-types.js';
import { parseGateway } from './gateway-section.js';
import { parseProtos } from './protos-section.js';
import { dataSectionSize } from './region-budget.js';
import { parseRegion } from './region-section.js';
import { parseServices } from './services-section.js';
import { parseVms } from './vms-section.js';
import type { FieldEntry } from './yaml-reader.js';

/** The only `version` this build reads. */
export const CONFIG_VERSION = 1;

/**
 * Builds the typed config from the parsed YAML document; undefined when anything was wrong
 * (every problem is then in `ctx.r.issues`).
 */
export function buildConfig(
  ctx: ConfigBuildContext,
  contents: Node | null,
): ServiceConfig | undefined {
  const r = ctx.r;
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    r.reportAt(
      { line: 1, column: 1 },
      '(root)',
      'the file is empty; expected keys version, region, vms, services (and protos)',
    );
    return undefined;
  }
  const top = r.map(contents, '', ['version', 'region', 'vms', 'services'], ['protos', 'gateway']);
  if (!top) return undefined;

  const version = parseVersion(ctx, top.get('version'));
  const region = parseRegion(ctx, top.get('region'));
  const dataSize = region
    ? dataSectionSize(region.size, region.channelCapacity, region.pageGranule)
    : undefined;
  const vms = parseVms(ctx, top.get('vms'), dataSize);
  const protos = parseProtos(ctx, top.get('protos'));
  const services = parseServices(ctx, top.get('services'), protos, {
    dataSize,
    vms,
    pageGranule: region?.pageGranule ?? PAGE_SIZE,
  });
  if (vms && services) checkRightsFit(ctx, vms, services);
  const gateway = parseGateway(ctx, top.get('gateway'), services);

  if (
    version === undefined ||
    !region ||
    !vms ||
    !protos ||
    !services ||
    r.issues.length > 0 ||
    !protos.root
  ) {
    return undefined;
  }
  return Object.freeze({
    version: 1 as const,
    file: ctx.file,
    baseDir: ctx.baseDir,
    region,
    vms,
    protos: Object.freeze(protos.files),
    protoRoot: protos.root,
    services,
    ...(gateway ? { gateway } : {}),
  });
}

function parseVersion(ctx: ConfigBuildContext, entry: FieldEntry | undefined): 1 | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const node = r.resolve(entry.value, 'version');
  const shown = node ? r.shown(node) : 'nothing';
  if (!isScalar(node) || shown !== String(CONFIG_VERSION)) {
    r.report(
      node,
      'version',
      `unsupported version ${shown}; this build reads version ${CONFIG_VERSION}`,
      entry.key,
    );
    return undefined;
  }
  return 1;
}

/**
 * A VM's certificate lists its rights, at most `MAX_RIGHTS_PER_LIST` per list; a config that
 * would need more could never be enrolled, so it is refused here, at the VM.
 */
function checkRightsFit(
  ctx: ConfigBuildContext,
  vms: readonly VmConfig[],
  services: readonly ServiceDefinition[],
): void {
  for (const vm of vms) {
    const rights = rightsFor(vm.id, services);
    for (const [list, n] of [
      ['offer', rights.offers.length],
      ['request', rights.requests.length],
    ] as const) {
      if (n <= MAX_RIGHTS_PER_LIST) continue;
      const at = configLocationOf(vm);
      ctx.r.reportAt(
        at ?? { line: 1, column: 1 },
        at?.path ?? 'vms',
        `vm '${vm.name}' would need ${n} ${list} rights (one per run of consecutive instances per service); a certificate holds at most ${MAX_RIGHTS_PER_LIST}`,
      );
    }
  }
}
