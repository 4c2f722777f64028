import { isScalar, type Node } from 'yaml';
import { recordConfigLocation } from './config-location.js';
import type { ProtoFileReader } from './proto-loader.js';
import type { SourcePosition, YamlReader } from './yaml-reader.js';

/** Where a name or id was first defined, for "duplicate … (first at line N)" messages. */
export interface Seen {
  readonly path: string;
  readonly pos: SourcePosition;
}

/**
 * What every section of services.yaml is read with: the reader that collects issues, the
 * file and directory paths resolve against, and the VM names seen so far (services refer to
 * VMs by name). One per `parseConfig` call.
 */
export class ConfigBuildContext {
  /** VM name → id (or undefined when the id itself was invalid), for reference checks. */
  readonly vmIds = new Map<string, number | undefined>();

  constructor(
    readonly r: YamlReader,
    readonly file: string,
    readonly baseDir: string,
    readonly readFile: ProtoFileReader,
  ) {}

  /** Records `key` in `seen`; reports and returns false when it was there already. */
  unique<K>(seen: Map<K, Seen>, key: K, node: Node | null, p: string, message: string): boolean {
    const first = seen.get(key);
    const pos = this.r.positionOfNode(node);
    if (first) {
      this.r.reportAt(pos, p, `${message} (first at ${first.path}, line ${first.pos.line})`);
      return false;
    }
    seen.set(key, { path: p, pos });
    return true;
  }

  /** The string a scalar holds as written, before any checks (undefined for anything else). */
  rawString(node: Node | null): string | undefined {
    const n = this.r.resolve(node, '');
    return isScalar(n) && typeof n.value === 'string' ? n.value : undefined;
  }

  /** Remembers that `value` was defined by `node` at path `p` (see `configLocationOf`). */
  locate(value: object, p: string, node: Node | null, fallback?: Node | null): void {
    recordConfigLocation(value, {
      file: this.file,
      ...this.r.positionOfNode(node, fallback),
      path: p,
    });
  }
}
