/**
 * services.yaml → `ServiceConfig`: the schema and every cross-field rule (unique ids and
 * names, VM references, SOME/IP id ranges, protobuf types, region budget, grant key sources).
 * This file reads the text as YAML; `config-builder.ts` and one `*-section.ts` file per part
 * of the schema build the typed config from it.
 *
 * The whole file is checked before anything is thrown, so one run shows every problem; each
 * problem carries the line and column of the offending value (see yaml-reader.ts).
 */
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { CoreError } from '../errors/core-error.js';
import { ConfigBuildContext } from './config-build-context.js';
import { buildConfig } from './config-builder.js';
import { configError } from './config-issue.js';
import { formatSize } from './config-numbers.js';
import type { ServiceConfig } from './config-types.js';
import { readProtoFileSync } from './proto-loader.js';
import type { ProtoFileReader } from './proto-loader.js';
import { YamlReader } from './yaml-reader.js';

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

/**
 * Parses and validates the text of a services.yaml.
 *
 * Use it when the text is already in memory (tests, a config pushed over a link); use
 * `loadConfig` to read a file. Reads the listed .proto files through `options.readFile`.
 * Throws `CoreError('ERR_CONFIG')` whose `issues` list every problem (see `isConfigError`).
 *
 * @example
 * ```ts
 * declare const text: string; // the YAML document
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

  const built = buildConfig(
    new ConfigBuildContext(r, file, baseDir, readFile),
    doc.contents as Node | null,
  );
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
