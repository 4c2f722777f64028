import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Document, isMap, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { examplePath } from './paths.js';

/** A VM of a test deployment. */
export interface VmEntry {
  readonly id: number;
  readonly name: string;
  /** Inline key (`{ hex }`) or a key file (`{ file }`); a fresh random inline key by default. */
  readonly grantKey?: { readonly hex: string } | { readonly file: string };
  /** hostd's per-VM limits (handshake rate, burst, pending handshakes, window bytes). */
  readonly limits?: {
    readonly handshakesPerSecond?: number;
    readonly burst?: number;
    readonly pendingHandshakes?: number;
    readonly windowBytes?: string;
  };
  /** `diagnostics: true`: the VM `sivshm call`/`echo` act as. */
  readonly diagnostics?: boolean;
  /** `qmp`: the QMP socket of the VM's QEMU (hostd hot-plugs device channels through it). */
  readonly qmp?: string;
}

/** A service of `examples/services.yaml`, by name, with the fields a test changes. */
export interface ServiceChoice {
  readonly name: string;
  readonly provider?: string;
  readonly consumers?: readonly string[];
  readonly instances?: readonly number[];
  /** The service's `ringDataSize` (e.g. `16KiB`); hostd's default unless given. */
  readonly ringDataSize?: string;
  /** The service's `idleTimeoutMs`; none unless given. */
  readonly idleTimeoutMs?: number;
  /** The service's `isolation` (`region` or `device`); left out (region) unless given. */
  readonly isolation?: 'region' | 'device';
  /** The service's `elastic` (`true`, or its keys: sizes as `4KiB`, the rest numbers). */
  readonly elastic?: true | Readonly<Record<string, string | number>>;
}

export interface ServicesYamlOptions {
  readonly region: {
    readonly path: string;
    /** `4MiB` unless given. */
    readonly size?: string;
    /** 64 unless given. */
    readonly channelCapacity?: number;
    /** `region.pageGranule`; left out (4096, layout v1) unless given. */
    readonly pageGranule?: number;
  };
  readonly vms: readonly VmEntry[];
  /** Services taken from the example by name (`'VehicleSpeed'`) or with changes. */
  readonly services: readonly (string | ServiceChoice)[];
  /**
   * `absolute` (default): the example's .proto paths made absolute, so the config works from
   * any folder. `relative`: kept as in the example (`proto/vehicle.proto`), for a config that
   * travels with a copy of the protos beside it (a guest image).
   */
  readonly protos?: 'absolute' | 'relative';
}

/** A fresh random grant key, hex. */
export const randomGrantKey = (): string => randomBytes(32).toString('hex');

/**
 * A services.yaml for a test: the example's service definitions (the one place VehicleSpeed
 * and MediaControl are written), with the region, the VMs and the services' providers,
 * consumers and instances of this test. The same idea as the demo's run config: derive from
 * the example, do not retype it.
 */
export function servicesYaml(o: ServicesYamlOptions): string {
  const source = examplePath('services.yaml');
  const example = parseDocument(readFileSync(source, 'utf8'));
  if (example.errors.length > 0) throw new Error(`${source}: ${example.errors[0]!.message}`);
  const doc = new Document({
    version: 1,
    region: {
      size: o.region.size ?? '4MiB',
      path: o.region.path,
      channelCapacity: o.region.channelCapacity ?? 64,
      ...(o.region.pageGranule === undefined ? {} : { pageGranule: o.region.pageGranule }),
    },
    vms: o.vms.map((vm) => ({
      id: vm.id,
      name: vm.name,
      grantKey: vm.grantKey ?? { hex: randomGrantKey() },
      ...(vm.limits === undefined ? {} : { limits: vm.limits }),
      ...(vm.diagnostics === undefined ? {} : { diagnostics: vm.diagnostics }),
      ...(vm.qmp === undefined ? {} : { qmp: vm.qmp }),
    })),
    protos: protoPaths(example, o.protos ?? 'absolute'),
    services: [],
  });
  const services = doc.get('services') as { add(v: unknown): void };
  for (const choice of o.services) {
    const c = typeof choice === 'string' ? { name: choice } : choice;
    const service = exampleService(example, c.name).clone() as YAMLMap;
    if (c.provider !== undefined) service.set('provider', c.provider);
    if (c.consumers !== undefined) service.set('consumers', flowList(doc, c.consumers));
    if (c.instances !== undefined) service.set('instances', flowList(doc, c.instances));
    if (c.ringDataSize !== undefined) service.set('ringDataSize', c.ringDataSize);
    if (c.idleTimeoutMs !== undefined) service.set('idleTimeoutMs', c.idleTimeoutMs);
    if (c.isolation !== undefined) service.set('isolation', c.isolation);
    if (c.elastic !== undefined) service.set('elastic', doc.createNode(c.elastic));
    services.add(service);
  }
  return doc.toString({ flowCollectionPadding: false, lineWidth: 120 });
}

/** A list written on one line (`[cluster, rogue]`), as the example writes its lists. */
function flowList(doc: Document, items: readonly (string | number)[]): unknown {
  const node = doc.createNode([...items]);
  node.flow = true;
  return node;
}

/** Writes `servicesYaml(o)` to `file` (mode 0600: it may hold keys). */
export function writeServicesYaml(file: string, o: ServicesYamlOptions): void {
  writeFileSync(file, servicesYaml(o), { mode: 0o600 });
}

function protoPaths(example: Document, how: 'absolute' | 'relative'): string[] {
  const protos = example.get('protos');
  if (!isSeq(protos)) throw new Error('examples/services.yaml has no protos list');
  return protos.items.map((_, i) => {
    const p = String(protos.get(i));
    return how === 'relative' || isAbsolute(p) ? p : join(examplePath(), p);
  });
}

function exampleService(example: Document, name: string): YAMLMap {
  const services = example.get('services');
  if (isSeq(services)) {
    for (const s of services.items) if (isMap(s) && s.get('name') === name) return s;
  }
  throw new Error(`examples/services.yaml has no service named ${name}`);
}
