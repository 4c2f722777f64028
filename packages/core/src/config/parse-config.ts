/**
 * services.yaml → `ServiceConfig`: the schema and every cross-field rule (unique ids and
 * names, VM references, SOME/IP id ranges, protobuf types, region budget, grant key sources).
 *
 * The whole file is checked before anything is thrown, so one run shows every problem; each
 * problem carries the line and column of the offending value (see yaml-reader.ts).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import type { Root } from 'protobufjs';
import { CoreError } from '../errors/core-error.js';
import { MAX_RIGHTS_PER_LIST } from '../cert/rights.js';
import type { ChannelMode } from '../grant/grant-layout.js';
import { configError } from './config-issue.js';
import { configLocationOf, recordConfigLocation } from './config-location.js';
import { rightsFor } from './config-rights.js';
import { formatHex, formatSize, isPowerOfTwo } from './config-numbers.js';
import type {
  EventDefinition,
  EventgroupDefinition,
  GrantKeySource,
  MethodDefinition,
  RegionConfig,
  ServiceConfig,
  ServiceDefinition,
  VmConfig,
  VmLimits,
} from './config-types.js';
import { loadProtoFiles, lookupMessageType, readProtoFileSync } from './proto-loader.js';
import type { ProtoFileReader } from './proto-loader.js';
import {
  CONFIG_PAGE_SIZE,
  dataSectionSize,
  DEFAULT_CHANNEL_CAPACITY,
  MAX_CHANNEL_CAPACITY,
  MAX_REGION_SIZE,
  MIN_REGION_SIZE,
  MIN_WINDOW_SIZE,
  regionTooSmall,
} from './region-budget.js';
import { indexPath, YamlReader } from './yaml-reader.js';
import type { FieldEntry, SourcePosition } from './yaml-reader.js';

/** Options of `parseConfig`. */
export interface ParseConfigOptions {
  /** Name of the config file, used in every message (as given: relative stays relative). */
  readonly file: string;
  /** Directory relative paths are resolved against; default: the directory of `file`. */
  readonly baseDir?: string;
  /** Reads a .proto file (absolute path) synchronously; default: `readProtoFileSync`. */
  readonly readFile?: ProtoFileReader;
}

/** Largest services.yaml accepted. */
export const MAX_CONFIG_SIZE = 1024 * 1024;

/** The only `version` this build reads. */
export const CONFIG_VERSION = 1;

/** Limits applied to a VM that gives none (windowBytes is capped to the data section). */
export const DEFAULT_VM_LIMITS: VmLimits = Object.freeze({
  handshakesPerSecond: 20,
  burst: 5,
  pendingHandshakes: 8,
  windowBytes: 4 * 1024 * 1024,
});

const MODES: readonly ChannelMode[] = ['plain', 'mac', 'aead'];
const VM_NAME = {
  pattern: /^[A-Za-z][A-Za-z0-9_-]{0,62}$/,
  describe: "a name of letters, digits, '-' or '_' that starts with a letter (at most 63 chars)",
};
const MEMBER_NAME = {
  pattern: /^[A-Za-z][A-Za-z0-9_]{0,62}$/,
  describe: "an identifier of letters, digits or '_' that starts with a letter (at most 63 chars)",
};
const PROTO_TYPE = {
  pattern: /^\.?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/,
  describe: 'a fully qualified protobuf message name such as sivshm.demo.VehicleSpeed',
};
const ENV_NAME = {
  pattern: /^[A-Za-z_][A-Za-z0-9_]*$/,
  describe: "an environment variable name (letters, digits, '_')",
};
const KEY_HEX = {
  pattern: /^[0-9a-fA-F]{64}$/,
  describe: '64 hex digits (a 32-byte key)',
};
const NON_EMPTY = { pattern: /\S/, describe: 'a non-empty path' };

const U16_ID = { hexDigits: 4 } as const;

/**
 * Parses and validates the text of a services.yaml.
 *
 * Use it when the text is already in memory (tests, a config pushed over a link); use
 * `loadConfig` to read a file. Reads the listed .proto files through `options.readFile`.
 * Throws `CoreError('ERR_CONFIG')` whose `issues` list every problem (see `isConfigError`).
 *
 * @example
 * ```ts
 * const config = parseConfig(text, { file: 'services.yaml', baseDir: '/etc/sivshm' });
 * config.services[0]?.instances; // [1]
 * ```
 */
export function parseConfig(text: string, options: ParseConfigOptions): ServiceConfig {
  if (typeof text !== 'string') {
    throw new CoreError('ERR_CONFIG', `config text must be a string, got ${typeof text}`);
  }
  if (typeof options?.file !== 'string' || options.file === '') {
    throw new CoreError('ERR_CONFIG', 'options.file must name the config file (used in messages)');
  }
  const file = options.file;
  const baseDir = path.resolve(options.baseDir ?? path.dirname(path.resolve(file)));
  const readFile = options.readFile ?? readProtoFileSync;

  if (text.length > MAX_CONFIG_SIZE) {
    throw configError([
      {
        file,
        line: 1,
        column: 1,
        path: '(root)',
        message: `file is larger than ${formatSize(MAX_CONFIG_SIZE)}`,
      },
    ]);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    version: '1.2',
  });
  const r = new YamlReader(file, text, doc, lineCounter);

  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    for (const e of syntax) {
      const message =
        e.code === 'MULTIPLE_DOCS'
          ? "a config is one YAML document; remove the second '---' and what follows"
          : oneLine(e.message);
      r.reportAt(r.positionOf(e.pos[0]), '(syntax)', message);
    }
    throw configError(sorted(r));
  }

  const built = new ConfigBuilder(r, file, baseDir, readFile).build(doc.contents as Node | null);
  if (r.issues.length > 0 || built === undefined) {
    if (r.issues.length === 0) r.reportAt({ line: 1, column: 1 }, '(root)', 'invalid config');
    throw configError(sorted(r));
  }
  return built;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function sorted(r: YamlReader) {
  return [...r.issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

/** The listed .proto files and the types they define (`root` undefined when one failed). */
interface LoadedProtos {
  readonly files: string[];
  /** Config-relative spellings, for "files searched" in messages. */
  readonly written: string[];
  readonly root: Root | undefined;
}

interface ParsedGroup {
  readonly def: EventgroupDefinition;
  readonly events: EventDefinition[];
}

/**
 * Ids and names already used in one service: event and method ids share the 16-bit space and
 * are unique across eventgroups (an event belongs to one eventgroup); event names and method
 * names are unique within their kind.
 */
interface MemberIndex {
  readonly ids: Map<number, Seen>;
  readonly eventNames: Map<string, Seen>;
  readonly methodNames: Map<string, Seen>;
}

/** Where a name or id was first defined, for "duplicate … (first at line N)" messages. */
interface Seen {
  readonly path: string;
  readonly pos: SourcePosition;
}

class ConfigBuilder {
  /** VM name → id (or undefined when the id itself was invalid), for reference checks. */
  private readonly vmIds = new Map<string, number | undefined>();

  constructor(
    private readonly r: YamlReader,
    private readonly file: string,
    private readonly baseDir: string,
    private readonly readFile: ProtoFileReader,
  ) {}

  build(contents: Node | null): ServiceConfig | undefined {
    const r = this.r;
    if (contents === null || (isScalar(contents) && contents.value === null)) {
      r.reportAt(
        { line: 1, column: 1 },
        '(root)',
        'the file is empty; expected keys version, region, vms, services (and protos)',
      );
      return undefined;
    }
    const top = r.map(contents, '', ['version', 'region', 'vms', 'services'], ['protos']);
    if (!top) return undefined;

    const version = this.version(top.get('version'));
    const region = this.region(top.get('region'));
    const dataSize = region ? dataSectionSize(region.size, region.channelCapacity) : undefined;
    const vms = this.vms(top.get('vms'), dataSize);
    const protos = this.protos(top.get('protos'));
    const services = this.services(top.get('services'), protos);
    if (vms && services) this.checkRightsFit(vms, services);

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
      file: this.file,
      baseDir: this.baseDir,
      region,
      vms,
      protos: Object.freeze(protos.files),
      protoRoot: protos.root,
      services,
    });
  }

  /**
   * A VM's certificate lists its rights, at most `MAX_RIGHTS_PER_LIST` per list; a config that
   * would need more could never be enrolled, so it is refused here, at the VM.
   */
  private checkRightsFit(vms: readonly VmConfig[], services: readonly ServiceDefinition[]): void {
    for (const vm of vms) {
      const rights = rightsFor(vm.id, services);
      for (const [list, n] of [
        ['offer', rights.offers.length],
        ['request', rights.requests.length],
      ] as const) {
        if (n <= MAX_RIGHTS_PER_LIST) continue;
        const at = configLocationOf(vm);
        this.r.reportAt(
          at ?? { line: 1, column: 1 },
          at?.path ?? 'vms',
          `vm '${vm.name}' would need ${n} ${list} rights (one per run of consecutive instances per service); a certificate holds at most ${MAX_RIGHTS_PER_LIST}`,
        );
      }
    }
  }

  private version(entry: FieldEntry | undefined): 1 | undefined {
    if (!entry) return undefined;
    const node = this.r.resolve(entry.value, 'version');
    const shown = node ? this.r.shown(node) : 'nothing';
    if (!isScalar(node) || shown !== String(CONFIG_VERSION)) {
      this.r.report(
        node,
        'version',
        `unsupported version ${shown}; this build reads version ${CONFIG_VERSION}`,
        entry.key,
      );
      return undefined;
    }
    return 1;
  }

  private region(entry: FieldEntry | undefined): RegionConfig | undefined {
    if (!entry) return undefined;
    const r = this.r;
    const m = r.map(entry.value, 'region', ['size'], ['path', 'channelCapacity'], entry.key);
    if (!m) return undefined;
    const sizeEntry = m.get('size');
    const size = sizeEntry && r.size(sizeEntry.value, 'region.size', sizeEntry.key);
    let sizeOk = false;
    if (size) {
      const shown = r.shown(size.node);
      if (!isPowerOfTwo(size.bytes)) {
        r.report(size.node, 'region.size', `${shown} is not a power of two (QEMU requires one)`);
      } else if (size.bytes < MIN_REGION_SIZE || size.bytes > MAX_REGION_SIZE) {
        r.report(
          size.node,
          'region.size',
          `${shown} is out of range ${formatSize(MIN_REGION_SIZE)}..${formatSize(MAX_REGION_SIZE)}`,
        );
      } else {
        sizeOk = true;
      }
    }
    const capEntry = m.get('channelCapacity');
    const capacity = capEntry
      ? r.integer(
          capEntry.value,
          'region.channelCapacity',
          1,
          MAX_CHANNEL_CAPACITY,
          'decimal',
          capEntry.key,
        )
      : DEFAULT_CHANNEL_CAPACITY;
    const pathEntry = m.get('path');
    const regionPath = pathEntry
      ? r.string(pathEntry.value, 'region.path', NON_EMPTY, pathEntry.key)
      : this.defaultRegionPath();
    if (!size || !sizeOk || capacity === undefined || regionPath === undefined) return undefined;
    const tooSmall = regionTooSmall(size.bytes, capacity);
    if (tooSmall) {
      r.report(size.node, 'region.size', tooSmall);
      return undefined;
    }
    return Object.freeze({
      size: size.bytes,
      path: path.resolve(this.baseDir, regionPath),
      channelCapacity: capacity,
    });
  }

  /** `/dev/shm/sivshm-<config name>-<hash of its absolute path>`: stable, and distinct per file. */
  private defaultRegionPath(): string {
    const abs = path.resolve(this.baseDir, path.basename(this.file));
    const stem = path
      .basename(this.file)
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9_-]/g, '_');
    const hash = createHash('sha256').update(abs).digest('hex').slice(0, 8);
    return `/dev/shm/sivshm-${stem || 'config'}-${hash}`;
  }

  private vms(
    entry: FieldEntry | undefined,
    dataSize: number | undefined,
  ): readonly VmConfig[] | undefined {
    if (!entry) return undefined;
    const r = this.r;
    const items = r.seq(entry.value, 'vms', entry.key);
    if (!items) return undefined;
    if (items.length === 0) {
      r.report(entry.value, 'vms', 'list at least one VM', entry.key);
      return undefined;
    }
    const ids = new Map<number, Seen>();
    const names = new Map<string, Seen>();
    const keySources = new Map<string, { seen: Seen; vm: string }>();
    const out: VmConfig[] = [];
    items.forEach((item, i) => {
      if (r.exhausted) return;
      const p = indexPath('vms', i);
      const m = r.map(item, p, ['id', 'name', 'grantKey'], ['limits']);
      if (!m) return;
      const idEntry = m.get('id');
      const id = idEntry && r.integer(idEntry.value, `${p}.id`, 1, 0xffffffff, 'decimal');
      const nameEntry = m.get('name');
      const name = nameEntry && r.string(nameEntry.value, `${p}.name`, VM_NAME);
      // Register even an invalid id under the name, so references to it do not cascade.
      const rawName = nameEntry ? this.rawString(nameEntry.value) : undefined;
      if (rawName !== undefined && !names.has(rawName)) this.vmIds.set(rawName, id);
      if (id !== undefined && idEntry) {
        this.unique(ids, id, idEntry.value, `${p}.id`, `duplicate vm id ${id}`);
      }
      if (name !== undefined && nameEntry) {
        this.unique(names, name, nameEntry.value, `${p}.name`, `duplicate vm name '${name}'`);
      }
      const keyEntry = m.get('grantKey');
      const grantKey = keyEntry && this.grantKey(keyEntry, `${p}.grantKey`);
      if (grantKey && keyEntry) {
        recordConfigLocation(grantKey, {
          file: this.file,
          ...r.positionOfNode(keyEntry.value, keyEntry.key),
          path: `${p}.grantKey`,
        });
        const id = grantKeyIdentity(grantKey);
        const first = keySources.get(id);
        const here = r.positionOfNode(keyEntry.value, keyEntry.key);
        if (first) {
          r.reportAt(
            here,
            `${p}.grantKey`,
            `same grant key source as vm '${first.vm}' (${first.seen.path}, line ${first.seen.pos.line}); every VM needs its own key`,
          );
        } else {
          keySources.set(id, { seen: { path: `${p}.grantKey`, pos: here }, vm: name ?? '?' });
        }
      }
      const limitsEntry = m.get('limits');
      const limits = this.limits(limitsEntry, `${p}.limits`, dataSize);
      if (id === undefined || name === undefined || !grantKey || !limits) return;
      const vm: VmConfig = Object.freeze({ id, name, grantKey, limits });
      recordConfigLocation(vm, { file: this.file, ...r.positionOfNode(item), path: p });
      out.push(vm);
    });
    return Object.freeze(out);
  }

  private grantKey(entry: FieldEntry, p: string): GrantKeySource | undefined {
    const r = this.r;
    const m = r.map(entry.value, p, [], ['file', 'env', 'hex'], entry.key);
    if (!m) return undefined;
    const written = r.resolve(entry.value, p);
    const hadUnknownKeys = isMap(written) && written.items.length > m.size;
    if (m.size === 0 && hadUnknownKeys) return undefined; // the unknown key is the report
    if (m.size !== 1) {
      r.report(
        entry.value,
        p,
        `give exactly one of file, env, hex (got ${m.size === 0 ? 'none' : [...m.keys()].join(', ')})`,
        entry.key,
      );
      return undefined;
    }
    const [[kind, field]] = [...m.entries()] as [[string, FieldEntry]];
    if (kind === 'file') {
      const f = r.string(field.value, `${p}.file`, NON_EMPTY, field.key);
      return f === undefined
        ? undefined
        : Object.freeze({ kind: 'file', path: path.resolve(this.baseDir, f) });
    }
    if (kind === 'env') {
      const name = r.string(field.value, `${p}.env`, ENV_NAME, field.key);
      return name === undefined ? undefined : Object.freeze({ kind: 'env', name });
    }
    const hex = r.string(field.value, `${p}.hex`, KEY_HEX, field.key);
    return hex === undefined ? undefined : Object.freeze({ kind: 'hex', hex: hex.toLowerCase() });
  }

  private limits(
    entry: FieldEntry | undefined,
    p: string,
    dataSize: number | undefined,
  ): VmLimits | undefined {
    const r = this.r;
    const defaults: VmLimits = {
      ...DEFAULT_VM_LIMITS,
      // A small region cannot promise the default 4 MiB; cap to its page-rounded data section.
      windowBytes:
        dataSize === undefined
          ? DEFAULT_VM_LIMITS.windowBytes
          : Math.min(
              DEFAULT_VM_LIMITS.windowBytes,
              Math.floor(dataSize / CONFIG_PAGE_SIZE) * CONFIG_PAGE_SIZE,
            ),
    };
    if (!entry) return Object.freeze(defaults);
    const m = r.map(
      entry.value,
      p,
      [],
      ['handshakesPerSecond', 'burst', 'pendingHandshakes', 'windowBytes'],
      entry.key,
    );
    if (!m) return undefined;
    const int = (key: string, max: number, fallback: number): number | undefined => {
      const e = m.get(key);
      return e ? r.integer(e.value, `${p}.${key}`, 1, max, 'decimal', e.key) : fallback;
    };
    const handshakesPerSecond = int('handshakesPerSecond', 10_000, defaults.handshakesPerSecond);
    const burst = int('burst', 10_000, defaults.burst);
    const pendingHandshakes = int('pendingHandshakes', 1024, defaults.pendingHandshakes);
    let windowBytes: number | undefined = defaults.windowBytes;
    const wEntry = m.get('windowBytes');
    if (wEntry) {
      const w = r.size(wEntry.value, `${p}.windowBytes`, wEntry.key);
      windowBytes = undefined;
      if (w) {
        const shown = r.shown(w.node);
        if (w.bytes < MIN_WINDOW_SIZE || w.bytes % CONFIG_PAGE_SIZE !== 0) {
          r.report(
            w.node,
            `${p}.windowBytes`,
            `${shown} must be a whole number of 4 KiB pages and at least ${formatSize(MIN_WINDOW_SIZE)} (one minimal window)`,
          );
        } else if (dataSize !== undefined && w.bytes > dataSize) {
          r.report(
            w.node,
            `${p}.windowBytes`,
            `${shown} is more than the region's data section (${formatSize(dataSize)})`,
          );
        } else {
          windowBytes = w.bytes;
        }
      }
    }
    if (
      handshakesPerSecond === undefined ||
      burst === undefined ||
      pendingHandshakes === undefined ||
      windowBytes === undefined
    ) {
      return undefined;
    }
    return Object.freeze({ handshakesPerSecond, burst, pendingHandshakes, windowBytes });
  }

  private protos(entry: FieldEntry | undefined): LoadedProtos | undefined {
    const r = this.r;
    if (!entry) return { files: [], written: [], root: loadProtoFiles([], this.readFile, '').root };
    const items = r.seq(entry.value, 'protos', entry.key);
    if (!items) return undefined;
    const files: string[] = [];
    const written: string[] = [];
    const nodes: Node[] = [];
    const seen = new Map<string, Seen>();
    items.forEach((item, i) => {
      const p = indexPath('protos', i);
      const s = r.string(item, p, NON_EMPTY);
      if (s === undefined) return;
      const abs = path.resolve(this.baseDir, s);
      if (this.unique(seen, abs, item, p, `${s} is listed twice`)) {
        files.push(abs);
        written.push(s);
        nodes.push(item);
      }
    });
    if (files.length !== items.length) return { files, written, root: undefined };
    const { root, failures } = loadProtoFiles(files, this.readFile, this.baseDir);
    for (const f of failures) {
      const node = f.index >= 0 ? nodes[f.index] : entry.value;
      const p = f.index >= 0 ? indexPath('protos', f.index) : 'protos';
      const what = f.index >= 0 ? `cannot load ${written[f.index]}` : 'the .proto files';
      r.report(node, p, `${what}: ${f.message}`, entry.key);
    }
    return { files, written, root: failures.length === 0 ? root : undefined };
  }

  private services(
    entry: FieldEntry | undefined,
    protos: LoadedProtos | undefined,
  ): readonly ServiceDefinition[] | undefined {
    if (!entry) return undefined;
    const r = this.r;
    const items = r.seq(entry.value, 'services', entry.key);
    if (!items) return undefined;
    const ids = new Map<number, Seen>();
    const names = new Map<string, Seen>();
    const out: ServiceDefinition[] = [];
    items.forEach((item, i) => {
      if (r.exhausted) return;
      const p = indexPath('services', i);
      const svc = this.service(item, p, protos);
      if (!svc) return;
      const { def, idNode, nameNode } = svc;
      const okId = this.unique(
        ids,
        def.id,
        idNode,
        `${p}.id`,
        `duplicate service id ${formatHex(def.id, 4)}`,
      );
      const okName = this.unique(
        names,
        def.name,
        nameNode,
        `${p}.name`,
        `duplicate service name '${def.name}'`,
      );
      if (!okId || !okName) return;
      recordConfigLocation(def, { file: this.file, ...r.positionOfNode(item), path: p });
      out.push(def);
    });
    return Object.freeze(out);
  }

  private service(
    item: Node,
    p: string,
    protos: LoadedProtos | undefined,
  ): { def: ServiceDefinition; idNode: Node | null; nameNode: Node | null } | undefined {
    const r = this.r;
    const m = r.map(
      item,
      p,
      ['name', 'id', 'instances', 'major', 'provider'],
      ['minor', 'consumers', 'minMode', 'eventgroups', 'methods'],
    );
    if (!m) return undefined;
    const get = (k: string) => m.get(k);
    const nameE = get('name');
    const name = nameE && r.string(nameE.value, `${p}.name`, MEMBER_NAME, nameE.key);
    const idE = get('id');
    const id = idE && r.integer(idE.value, `${p}.id`, 0x0001, 0xfffe, U16_ID, idE.key);
    const instances = this.instances(get('instances'), `${p}.instances`);
    const majorE = get('major');
    const major = majorE && r.integer(majorE.value, `${p}.major`, 0, 0xfe, 'decimal', majorE.key);
    const minorE = get('minor');
    const minor = minorE
      ? r.integer(minorE.value, `${p}.minor`, 0, 0xfffffffe, 'decimal', minorE.key)
      : 0;
    const modeE = get('minMode');
    const minMode = modeE ? r.oneOf(modeE.value, `${p}.minMode`, MODES, modeE.key) : 'plain';

    const providerE = get('provider');
    const provider = providerE && this.vmRef(providerE.value, `${p}.provider`, providerE.key);
    const consumers = this.consumers(get('consumers'), `${p}.consumers`, provider?.name);

    const types = new TypeChecker(r, protos);
    const members: MemberIndex = { ids: new Map(), eventNames: new Map(), methodNames: new Map() };
    const eventgroups = this.eventgroups(get('eventgroups'), `${p}.eventgroups`, types, members);
    const methods = this.methods(get('methods'), `${p}.methods`, types, members);

    if (
      name === undefined ||
      id === undefined ||
      !instances ||
      major === undefined ||
      minor === undefined ||
      minMode === undefined ||
      !provider ||
      provider.id === undefined ||
      !consumers ||
      !eventgroups ||
      !methods
    ) {
      return undefined;
    }
    const def: ServiceDefinition = Object.freeze({
      name,
      id,
      instances,
      major,
      minor,
      provider: provider.name,
      providerVmId: provider.id,
      consumers: Object.freeze(consumers.map((c) => c.name)),
      consumerVmIds: Object.freeze(consumers.map((c) => c.id)),
      minMode,
      eventgroups: eventgroups.map((g) => g.def),
      methods,
    });
    Object.freeze(def.eventgroups);
    return { def, idNode: idE?.value ?? null, nameNode: nameE?.value ?? null };
  }

  private instances(entry: FieldEntry | undefined, p: string): readonly number[] | undefined {
    if (!entry) return undefined;
    const r = this.r;
    const items = r.seq(entry.value, p, entry.key);
    if (!items) return undefined;
    if (items.length === 0) {
      r.report(entry.value, p, 'list at least one instance id', entry.key);
      return undefined;
    }
    const seen = new Map<number, Seen>();
    const out: number[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const ip = indexPath(p, i);
      const n = r.integer(item, ip, 0x0001, 0xfffe, U16_ID);
      if (n === undefined) ok = false;
      else if (!this.unique(seen, n, item, ip, `duplicate instance ${formatHex(n, 4)}`)) ok = false;
      else out.push(n);
    });
    return ok ? Object.freeze(out.sort((a, b) => a - b)) : undefined;
  }

  /** A VM name that must exist; `id` is undefined when that VM's own id was invalid. */
  private vmRef(
    node: Node | null,
    p: string,
    fallback?: Node | null,
  ): { name: string; id: number | undefined } | undefined {
    const r = this.r;
    const name = r.string(node, p, VM_NAME, fallback);
    if (name === undefined) return undefined;
    if (!this.vmIds.has(name)) {
      const known = [...this.vmIds.keys()];
      r.report(
        node,
        p,
        `'${name}' is not a VM in vms; VMs: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        fallback,
      );
      return undefined;
    }
    return { name, id: this.vmIds.get(name) };
  }

  private consumers(
    entry: FieldEntry | undefined,
    p: string,
    provider: string | undefined,
  ): { name: string; id: number }[] | undefined {
    if (!entry) return [];
    const r = this.r;
    const items = r.seq(entry.value, p, entry.key);
    if (!items) return undefined;
    const seen = new Map<string, Seen>();
    const out: { name: string; id: number }[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const ip = indexPath(p, i);
      const ref = this.vmRef(item, ip);
      if (!ref) {
        ok = false;
      } else if (ref.name === provider) {
        r.report(
          item,
          ip,
          `'${ref.name}' is this service's provider; a VM does not consume its own service over a channel`,
        );
        ok = false;
      } else if (!this.unique(seen, ref.name, item, ip, `'${ref.name}' is listed twice`)) {
        ok = false;
      } else if (ref.id === undefined) {
        ok = false;
      } else {
        out.push({ name: ref.name, id: ref.id });
      }
    });
    return ok ? out : undefined;
  }

  private eventgroups(
    entry: FieldEntry | undefined,
    p: string,
    types: TypeChecker,
    members: MemberIndex,
  ): ParsedGroup[] | undefined {
    if (!entry) return [];
    const r = this.r;
    const items = r.seq(entry.value, p, entry.key);
    if (!items) return undefined;
    const ids = new Map<number, Seen>();
    const names = new Map<string, Seen>();
    const out: ParsedGroup[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const gp = indexPath(p, i);
      const m = r.map(item, gp, ['id', 'name', 'events'], []);
      if (!m) {
        ok = false;
        return;
      }
      const idE = m.get('id');
      const id = idE && r.integer(idE.value, `${gp}.id`, 0x0001, 0xfffe, U16_ID, idE.key);
      const nameE = m.get('name');
      const name = nameE && r.string(nameE.value, `${gp}.name`, MEMBER_NAME, nameE.key);
      const idMsg = `duplicate eventgroup id ${formatHex(id ?? 0, 4)}`;
      if (id !== undefined && idE && !this.unique(ids, id, idE.value, `${gp}.id`, idMsg)) {
        ok = false;
      }
      const nameMsg = `duplicate eventgroup name '${name ?? ''}'`;
      if (
        name !== undefined &&
        nameE &&
        !this.unique(names, name, nameE.value, `${gp}.name`, nameMsg)
      ) {
        ok = false;
      }
      const events = this.events(m.get('events'), `${gp}.events`, types, members);
      if (id === undefined || name === undefined || !events) {
        ok = false;
        return;
      }
      const def: EventgroupDefinition = Object.freeze({
        id,
        name,
        events: Object.freeze(events),
      });
      recordConfigLocation(def, { file: this.file, ...r.positionOfNode(item), path: gp });
      out.push({ def, events });
    });
    return ok ? out : undefined;
  }

  private events(
    entry: FieldEntry | undefined,
    p: string,
    types: TypeChecker,
    members: MemberIndex,
  ): EventDefinition[] | undefined {
    if (!entry) return undefined;
    const r = this.r;
    const items = r.seq(entry.value, p, entry.key);
    if (!items) return undefined;
    if (items.length === 0) {
      r.report(entry.value, p, 'list at least one event', entry.key);
      return undefined;
    }
    const out: EventDefinition[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const ep = indexPath(p, i);
      const m = r.map(item, ep, ['id', 'name', 'type'], []);
      if (!m) {
        ok = false;
        return;
      }
      const idE = m.get('id');
      const id = idE && r.integer(idE.value, `${ep}.id`, 0x8000, 0xfffe, U16_ID, idE.key);
      const nameE = m.get('name');
      const name = nameE && r.string(nameE.value, `${ep}.name`, MEMBER_NAME, nameE.key);
      const idMsg = `duplicate event id ${formatHex(id ?? 0, 4)}; an event belongs to one eventgroup`;
      const idFresh =
        id === undefined || !idE || this.unique(members.ids, id, idE.value, `${ep}.id`, idMsg);
      const nameMsg = `duplicate event name '${name ?? ''}'`;
      const nameFresh =
        name === undefined ||
        !nameE ||
        this.unique(members.eventNames, name, nameE.value, `${ep}.name`, nameMsg);
      const typeE = m.get('type');
      const type = typeE && types.check(typeE, `${ep}.type`);
      if (id === undefined || name === undefined || type === undefined || !idFresh || !nameFresh) {
        ok = false;
        return;
      }
      const def: EventDefinition = Object.freeze({ id, name, type });
      recordConfigLocation(def, { file: this.file, ...r.positionOfNode(item), path: ep });
      out.push(def);
    });
    return ok ? out : undefined;
  }

  private methods(
    entry: FieldEntry | undefined,
    p: string,
    types: TypeChecker,
    members: MemberIndex,
  ): MethodDefinition[] | undefined {
    if (!entry) return [];
    const r = this.r;
    const items = r.seq(entry.value, p, entry.key);
    if (!items) return undefined;
    const out: MethodDefinition[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const mp = indexPath(p, i);
      const m = r.map(item, mp, ['id', 'name', 'request', 'response'], []);
      if (!m) {
        ok = false;
        return;
      }
      const idE = m.get('id');
      const id = idE && r.integer(idE.value, `${mp}.id`, 0x0001, 0x7fff, U16_ID, idE.key);
      const nameE = m.get('name');
      const name = nameE && r.string(nameE.value, `${mp}.name`, MEMBER_NAME, nameE.key);
      const idMsg = `duplicate method id ${formatHex(id ?? 0, 4)}`;
      const idFresh =
        id === undefined || !idE || this.unique(members.ids, id, idE.value, `${mp}.id`, idMsg);
      const nameMsg = `duplicate method name '${name ?? ''}'`;
      const nameFresh =
        name === undefined ||
        !nameE ||
        this.unique(members.methodNames, name, nameE.value, `${mp}.name`, nameMsg);
      const reqE = m.get('request');
      const request = reqE && types.check(reqE, `${mp}.request`);
      const resE = m.get('response');
      const response = resE && types.check(resE, `${mp}.response`);
      if (
        id === undefined ||
        name === undefined ||
        !request ||
        !response ||
        !idFresh ||
        !nameFresh
      ) {
        ok = false;
        return;
      }
      const def: MethodDefinition = Object.freeze({ id, name, request, response });
      recordConfigLocation(def, { file: this.file, ...r.positionOfNode(item), path: mp });
      out.push(def);
    });
    return ok ? out : undefined;
  }

  /** Records `key` in `seen`; reports and returns false when it was there already. */
  private unique<K>(
    seen: Map<K, Seen>,
    key: K,
    node: Node | null,
    p: string,
    message: string,
  ): boolean {
    const first = seen.get(key);
    const pos = this.r.positionOfNode(node);
    if (first) {
      this.r.reportAt(pos, p, `${message} (first at ${first.path}, line ${first.pos.line})`);
      return false;
    }
    seen.set(key, { path: p, pos });
    return true;
  }

  private rawString(node: Node | null): string | undefined {
    const n = this.r.resolve(node, '');
    return isScalar(n) && typeof n.value === 'string' ? n.value : undefined;
  }
}

/** Checks payload type names against the loaded .proto files. */
class TypeChecker {
  constructor(
    private readonly r: YamlReader,
    private readonly protos: LoadedProtos | undefined,
  ) {}

  /** The normalized type name, or undefined (reported) when it is malformed or not a message. */
  check(entry: FieldEntry, p: string): string | undefined {
    const name = this.r.string(entry.value, p, PROTO_TYPE, entry.key);
    if (name === undefined) return undefined;
    const bare = name.startsWith('.') ? name.slice(1) : name;
    // When the .proto files themselves failed, that failure is the one reported.
    if (!this.protos?.root) return undefined;
    if (this.protos.written.length === 0) {
      this.r.report(
        entry.value,
        p,
        `type ${bare} is not defined: no .proto files are listed in protos`,
      );
      return undefined;
    }
    const found = lookupMessageType(this.protos.root, bare);
    if (found.kind === 'message') return found.fullName;
    const searched = this.protos.written.join(', ');
    this.r.report(
      entry.value,
      p,
      found.kind === 'missing'
        ? `type ${bare} is not defined in ${searched}`
        : `${bare} is ${found.what} in ${searched}, not a message type`,
    );
    return undefined;
  }
}

/** Two VMs with the same key source would share `K_vm`; compare sources by what they name. */
function grantKeyIdentity(k: GrantKeySource): string {
  return k.kind === 'file' ? `file:${k.path}` : k.kind === 'env' ? `env:${k.name}` : `hex:${k.hex}`;
}
