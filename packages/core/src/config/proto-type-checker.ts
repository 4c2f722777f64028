import { PROTO_TYPE } from './config-patterns.js';
import { lookupMessageType } from './proto-loader.js';
import type { LoadedProtos } from './protos-section.js';
import type { FieldEntry, YamlReader } from './yaml-reader.js';

/** Checks the payload type names of events and methods against the loaded .proto files. */
export class ProtoTypeChecker {
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
