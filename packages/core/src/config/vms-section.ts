/** The `vms` section of services.yaml: ids, names, grant key sources and limits. */
import path from 'node:path';
import { isScalar, type Node } from 'yaml';
import type { ConfigBuildContext, Seen } from './config-build-context.js';
import { NON_EMPTY, VM_NAME } from './config-patterns.js';
import type { GrantKeySource, VmConfig } from './config-types.js';
import { grantKeyIdentity, parseGrantKeySource } from './grant-key-section.js';
import { parseVmLimits } from './vm-limits-section.js';
import { indexPath, type FieldEntry } from './yaml-reader.js';

/** Longest unix socket path (`sun_path` is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** What the VMs read so far have used: ids, names and grant key sources must be distinct. */
interface VmsSeen {
  readonly ids: Map<number, Seen>;
  readonly names: Map<string, Seen>;
  readonly keySources: Map<string, { seen: Seen; vm: string }>;
  /** Two VMs naming one QMP socket would get each other's devices hot-plugged. */
  readonly qmpPaths: Map<string, Seen>;
}

/**
 * Reads `vms` and fills `ctx.vmIds` (name → id) for the services' references. `dataSize` is
 * the region's data section (undefined when the region is invalid), which caps window bytes.
 */
export function parseVms(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  dataSize: number | undefined,
): readonly VmConfig[] | undefined {
  if (!entry) return undefined;
  const r = ctx.r;
  const items = r.seq(entry.value, 'vms', entry.key);
  if (!items) return undefined;
  if (items.length === 0) {
    r.report(entry.value, 'vms', 'list at least one VM', entry.key);
    return undefined;
  }
  const seen: VmsSeen = {
    ids: new Map(),
    names: new Map(),
    keySources: new Map(),
    qmpPaths: new Map(),
  };
  const out: VmConfig[] = [];
  items.forEach((item, i) => {
    if (r.exhausted) return;
    const vm = parseVm(ctx, item, indexPath('vms', i), seen, dataSize);
    if (vm) out.push(vm);
  });
  return Object.freeze(out);
}

function parseVm(
  ctx: ConfigBuildContext,
  item: Node,
  p: string,
  seen: VmsSeen,
  dataSize: number | undefined,
): VmConfig | undefined {
  const r = ctx.r;
  const m = r.map(item, p, ['id', 'name', 'grantKey'], ['limits', 'diagnostics', 'qmp']);
  if (!m) return undefined;
  const idEntry = m.get('id');
  const id = idEntry && r.integer(idEntry.value, `${p}.id`, 1, 0xffffffff, 'decimal');
  const nameEntry = m.get('name');
  const name = nameEntry && r.string(nameEntry.value, `${p}.name`, VM_NAME);
  // Register even an invalid id under the name, so references to it do not cascade.
  const rawName = nameEntry ? ctx.rawString(nameEntry.value) : undefined;
  if (rawName !== undefined && !seen.names.has(rawName)) ctx.vmIds.set(rawName, id);
  if (id !== undefined && idEntry) {
    ctx.unique(seen.ids, id, idEntry.value, `${p}.id`, `duplicate vm id ${id}`);
  }
  if (name !== undefined && nameEntry) {
    ctx.unique(seen.names, name, nameEntry.value, `${p}.name`, `duplicate vm name '${name}'`);
  }
  const keyEntry = m.get('grantKey');
  const grantKey = keyEntry && vmGrantKey(ctx, keyEntry, `${p}.grantKey`, seen, name);
  const limits = parseVmLimits(ctx, m.get('limits'), `${p}.limits`, dataSize);
  const diagnostics = diagnosticsFlag(ctx, m.get('diagnostics'), `${p}.diagnostics`);
  const qmpEntry = m.get('qmp');
  const qmp = qmpEntry && qmpSocketPath(ctx, qmpEntry, `${p}.qmp`);
  if (qmp !== undefined && qmpEntry) {
    const msg = `QMP socket ${qmp} is already another VM's; every VM needs its own QEMU`;
    if (!ctx.unique(seen.qmpPaths, qmp, qmpEntry.value, `${p}.qmp`, msg)) return undefined;
  }
  if (id === undefined || name === undefined || !grantKey || !limits) return undefined;
  if (diagnostics === undefined || (qmpEntry && qmp === undefined)) return undefined;
  const vm: VmConfig = Object.freeze({
    id,
    name,
    grantKey,
    limits,
    ...(diagnostics ? { diagnostics: true } : {}),
    ...(qmp === undefined ? {} : { qmp }),
  });
  ctx.locate(vm, p, item);
  return vm;
}

/**
 * `diagnostics: true` marks the VM the shell tools (`sivshm call`, `echo`) act as; it gets no
 * right beyond what the services' lists give it. false when left out, undefined when invalid.
 */
function diagnosticsFlag(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
  p: string,
): boolean | undefined {
  if (!entry) return false;
  const node = ctx.r.resolve(entry.value, p);
  if (isScalar(node) && typeof node.value === 'boolean') return node.value;
  ctx.r.report(
    node,
    p,
    `expected true or false, got ${node ? ctx.r.shown(node) : 'nothing'}`,
    entry.key,
  );
  return undefined;
}

/**
 * `qmp`: the QMP socket of the VM's QEMU, relative to the config's directory. A unix socket
 * path must fit `sun_path` (107 bytes and a NUL), so a longer one is refused here, not at the
 * first hot-plug.
 */
function qmpSocketPath(ctx: ConfigBuildContext, entry: FieldEntry, p: string): string | undefined {
  const raw = ctx.r.string(entry.value, p, NON_EMPTY, entry.key);
  if (raw === undefined) return undefined;
  const abs = path.resolve(ctx.baseDir, raw);
  if (Buffer.byteLength(abs) > MAX_SOCKET_PATH) {
    ctx.r.report(
      entry.value,
      p,
      `socket path ${abs} is ${Buffer.byteLength(abs)} bytes; a unix socket path may be at most ${MAX_SOCKET_PATH}`,
      entry.key,
    );
    return undefined;
  }
  return abs;
}

/** The VM's grant key source, located, and refused when another VM already uses it. */
function vmGrantKey(
  ctx: ConfigBuildContext,
  keyEntry: FieldEntry,
  p: string,
  seen: VmsSeen,
  vmName: string | undefined,
): GrantKeySource | undefined {
  const r = ctx.r;
  const grantKey = parseGrantKeySource(ctx, keyEntry, p);
  if (!grantKey) return grantKey;
  ctx.locate(grantKey, p, keyEntry.value, keyEntry.key);
  const id = grantKeyIdentity(grantKey);
  const first = seen.keySources.get(id);
  const here = r.positionOfNode(keyEntry.value, keyEntry.key);
  if (first) {
    r.reportAt(
      here,
      p,
      `same grant key source as vm '${first.vm}' (${first.seen.path}, line ${first.seen.pos.line}); every VM needs its own key`,
    );
  } else {
    seen.keySources.set(id, { seen: { path: p, pos: here }, vm: vmName ?? '?' });
  }
  return grantKey;
}
