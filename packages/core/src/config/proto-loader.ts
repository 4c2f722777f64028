/**
 * Loads the .proto files a config lists into one protobufjs `Root`, with a caller-supplied file
 * reader, and answers whether a fully qualified name is a message type.
 *
 * protobufjs's own `loadSync` reads through its internal fs handle and stops at the first
 * error; here each listed file is loaded on its own so a failure names the file that caused it,
 * imports resolve relative to the importing file and then to the config's directory, and the
 * bundled google/protobuf/*.proto definitions are used for well-known types.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { Root } from 'protobufjs';

/** Reads one file's text synchronously; throws when it cannot. */
export type ProtoFileReader = (absolutePath: string) => string;

/** A listed .proto file that could not be loaded, and why. */
export interface ProtoLoadFailure {
  /** Index into the list given to `loadProtoFiles`; -1 for a failure across files. */
  readonly index: number;
  readonly message: string;
}

/** Largest .proto source read (a schema, not a data file). */
export const MAX_PROTO_FILE_SIZE = 1024 * 1024;

/** Most files loaded through imports, so an import cycle or fan-out stays bounded. */
export const MAX_PROTO_FILES = 256;

/**
 * The default reader: a regular file of at most `MAX_PROTO_FILE_SIZE` bytes, checked on the open
 * descriptor before reading, so a path such as /dev/zero fails fast instead of filling memory.
 */
export function readProtoFileSync(absolutePath: string): string {
  const fd = openSync(absolutePath, 'r');
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw new Error(`${absolutePath} is not a regular file`);
    if (info.size > MAX_PROTO_FILE_SIZE) {
      throw new Error(`${absolutePath} is larger than ${MAX_PROTO_FILE_SIZE} bytes`);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads `files` (absolute paths) and their imports into a fresh `Root`.
 *
 * Field names keep their .proto spelling (`keepCase`), so `timestamp_ms` stays `timestamp_ms`.
 */
export function loadProtoFiles(
  files: readonly string[],
  read: ProtoFileReader,
  includeDir: string,
): { root: Root; failures: ProtoLoadFailure[] } {
  const root = new protobuf.Root();
  const seen = new Set<string>();
  const failures: ProtoLoadFailure[] = [];
  // Import resolution probes a path before loading it; read each file once.
  const cache = new Map<string, string>();
  const cachedRead: ProtoFileReader = (p) => {
    const hit = cache.get(p);
    if (hit !== undefined) return hit;
    const text = read(p);
    cache.set(p, text);
    return text;
  };

  const loadOne = (file: string): void => {
    if (seen.has(file)) return;
    if (seen.size >= MAX_PROTO_FILES) throw new Error(`more than ${MAX_PROTO_FILES} .proto files`);
    seen.add(file);
    const bundled = protobuf.common.get(file);
    if (bundled) {
      root.addJSON((bundled as { nested: Record<string, protobuf.AnyNestedObject> }).nested);
      return;
    }
    const source = cachedRead(file);
    if (source.length > MAX_PROTO_FILE_SIZE) {
      throw new Error(`${file} is larger than ${MAX_PROTO_FILE_SIZE} bytes`);
    }
    // protobufjs names the file in its syntax errors through this static; reset it so later
    // parses elsewhere in the process are not labelled with our file.
    const parseState = protobuf.parse as unknown as { filename: string | null };
    parseState.filename = path.basename(file);
    let parsed: protobuf.IParserResult;
    try {
      parsed = protobuf.parse(source, root, { keepCase: true });
    } finally {
      parseState.filename = null;
    }
    for (const imp of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) {
      loadOne(resolveImport(imp, file, includeDir, cachedRead));
    }
  };

  files.forEach((file, index) => {
    try {
      loadOne(file);
    } catch (e) {
      failures.push({ index, message: describe(e) });
    }
  });
  if (failures.length === 0) {
    try {
      root.resolveAll();
    } catch (e) {
      failures.push({ index: -1, message: describe(e) });
    }
  }
  return { root, failures };
}

/** What `name` denotes in `root`: a message type, something else, or nothing. */
export function lookupMessageType(
  root: Root,
  name: string,
): { kind: 'message'; fullName: string } | { kind: 'other'; what: string } | { kind: 'missing' } {
  const qualified = name.startsWith('.') ? name : `.${name}`;
  let found: protobuf.ReflectionObject | null;
  try {
    found = root.lookup(qualified);
  } catch {
    found = null;
  }
  if (!found) return { kind: 'missing' };
  if (found instanceof protobuf.Type) return { kind: 'message', fullName: qualified.slice(1) };
  const what =
    found instanceof protobuf.Enum
      ? 'an enum'
      : found instanceof protobuf.Service
        ? 'a service'
        : 'a package';
  return { kind: 'other', what };
}

function resolveImport(
  imp: string,
  importer: string,
  includeDir: string,
  read: ProtoFileReader,
): string {
  const wellKnown = imp.lastIndexOf('google/protobuf/');
  if (wellKnown >= 0 && protobuf.common.get(imp.slice(wellKnown))) return imp.slice(wellKnown);
  const besideImporter = path.resolve(path.dirname(importer), imp);
  try {
    read(besideImporter);
    return besideImporter;
  } catch {
    return path.resolve(includeDir, imp);
  }
}

function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // Node's fs messages carry the errno prefix twice over; keep them short and on one line.
  return msg.replace(/\s+/g, ' ').trim();
}
