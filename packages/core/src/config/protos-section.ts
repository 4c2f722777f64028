/** The `protos` section of services.yaml: the .proto files that define the payload types. */
import path from 'node:path';
import type { Root } from 'protobufjs';
import type { Node } from 'yaml';
import type { ConfigBuildContext, Seen } from './config-build-context.js';
import { NON_EMPTY } from './config-patterns.js';
import { loadProtoFiles } from './proto-loader.js';
import { indexPath, type FieldEntry } from './yaml-reader.js';

/** The listed .proto files and the types they define (`root` undefined when one failed). */
export interface LoadedProtos {
  readonly files: string[];
  /** Config-relative spellings, for "files searched" in messages. */
  readonly written: string[];
  readonly root: Root | undefined;
}

/** Reads `protos` and loads the files (no `protos`: an empty set of types). */
export function parseProtos(
  ctx: ConfigBuildContext,
  entry: FieldEntry | undefined,
): LoadedProtos | undefined {
  const r = ctx.r;
  if (!entry) return { files: [], written: [], root: loadProtoFiles([], ctx.readFile, '').root };
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
    const abs = path.resolve(ctx.baseDir, s);
    if (ctx.unique(seen, abs, item, p, `${s} is listed twice`)) {
      files.push(abs);
      written.push(s);
      nodes.push(item);
    }
  });
  if (files.length !== items.length) return { files, written, root: undefined };
  const { root, failures } = loadProtoFiles(files, ctx.readFile, ctx.baseDir);
  for (const f of failures) {
    const node = f.index >= 0 ? nodes[f.index] : entry.value;
    const p = f.index >= 0 ? indexPath('protos', f.index) : 'protos';
    const what = f.index >= 0 ? `cannot load ${written[f.index]}` : 'the .proto files';
    r.report(node, p, `${what}: ${f.message}`, entry.key);
  }
  return { files, written, root: failures.length === 0 ? root : undefined };
}
