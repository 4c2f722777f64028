/**
 * Reads typed fields out of a parsed YAML document and records every problem with its line,
 * column and field path. The schema in parse-config.ts is written against this class.
 *
 * Why not a generic schema library: the messages must name the exact value as the user wrote
 * it (`0x1_0000`, `16MB`), say what is allowed, and point at the line of that value (or, for an
 * unknown key, of the key). Walking the YAML nodes directly gives all three without mapping a
 * library's error paths back to source positions.
 */
import { isAlias, isMap, isScalar, isSeq, Scalar } from 'yaml';
import type { Document, LineCounter, Node, Pair } from 'yaml';
import type { ConfigIssue } from './config-issue.js';
import { formatHex, parseConfigInteger, parseConfigSize } from './config-numbers.js';

/** Where a value sits in the source. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/** A key of a YAML mapping with its value node. */
export interface FieldEntry {
  readonly key: Node;
  readonly value: Node | null;
}

/** How to show an integer range in messages. */
export type IntegerStyle = { readonly hexDigits: number } | 'decimal';

/** `a.b` / `a[0]` path builders. */
export const joinPath = (path: string, key: string): string => (path ? `${path}.${key}` : key);
export const indexPath = (path: string, i: number): string => `${path}[${i}]`;

/**
 * Upper bound on nodes visited; aliases can make a small file name a huge tree ("billion
 * laughs"), and a config never needs more than this.
 */
export const MAX_VISITED_NODES = 100_000;

/** Upper bound on issues kept; past it the file is clearly not the intended one. */
export const MAX_ISSUES = 200;

const SHOWN_VALUE_CHARS = 40;

/** Field reader over one YAML document; collects issues instead of throwing. */
export class YamlReader {
  readonly issues: ConfigIssue[] = [];
  private visited = 0;
  private overflowReported = false;

  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /** 1-based line and column of a source offset. */
  positionOf(offset: number): SourcePosition {
    const { line, col } = this.lines.linePos(Math.max(0, Math.min(offset, this.text.length)));
    // linePos reports line 0 when the offset precedes the first recorded newline.
    return { line: Math.max(1, line), column: Math.max(1, col) };
  }

  /** Position of `node`, or of `fallback` when the node is missing or has no range. */
  positionOfNode(node: Node | null | undefined, fallback?: Node | null): SourcePosition {
    const range = node?.range ?? fallback?.range;
    return this.positionOf(range ? range[0] : 0);
  }

  /** Records an issue at `node` (or `fallback`, for a missing value). */
  report(
    node: Node | null | undefined,
    path: string,
    message: string,
    fallback?: Node | null,
  ): void {
    this.reportAt(this.positionOfNode(node, fallback), path, message);
  }

  /** Records an issue at an explicit position. */
  reportAt(pos: SourcePosition, path: string, message: string): void {
    if (this.issues.length >= MAX_ISSUES) return;
    this.issues.push({
      file: this.file,
      line: pos.line,
      column: pos.column,
      path: path || '(root)',
      message,
    });
  }

  /** Follows an alias to its target and counts the visit; null for an empty value. */
  resolve(node: Node | null | undefined, path: string): Node | null {
    if (node === null || node === undefined) return null;
    if (++this.visited > MAX_VISITED_NODES) {
      if (!this.overflowReported) {
        this.overflowReported = true;
        this.report(node, path, `document expands to more than ${MAX_VISITED_NODES} nodes`);
      }
      return null;
    }
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) {
        this.report(node, path, `alias *${node.source} has no anchor`);
        return null;
      }
      return target as Node;
    }
    return node;
  }

  /** True once the visit budget is spent; callers stop walking. */
  get exhausted(): boolean {
    return this.visited > MAX_VISITED_NODES;
  }

  /** The source text of a scalar as written (for plain scalars) or its string value (quoted). */
  sourceOf(node: Scalar): string {
    if (node.type === Scalar.PLAIN && node.range) {
      return this.text.slice(node.range[0], node.range[1]).trim();
    }
    return String(node.value);
  }

  /** A value shortened for messages. */
  shown(node: Node): string {
    if (isScalar(node)) {
      const s = this.sourceOf(node);
      return s.length > SHOWN_VALUE_CHARS ? `${s.slice(0, SHOWN_VALUE_CHARS)}…` : s;
    }
    return isMap(node) ? 'a mapping' : isSeq(node) ? 'a list' : 'this value';
  }

  /**
   * Reads a mapping with exactly the keys in `required` plus any of `optional`; reports missing
   * keys at the mapping and unknown keys at the key, listing the allowed ones.
   */
  map(
    raw: Node | null | undefined,
    path: string,
    required: readonly string[],
    optional: readonly string[],
    fallback?: Node | null,
  ): Map<string, FieldEntry> | undefined {
    const node = this.resolve(raw, path);
    if (!isMap(node)) {
      this.report(node, path, `expected a mapping with keys ${required.join(', ')}`, fallback);
      return undefined;
    }
    const allowed = [...required, ...optional];
    const out = new Map<string, FieldEntry>();
    // A typo of a required key is reported once, as the typo, not again as a missing key.
    const hinted = new Set<string>();
    for (const pair of node.items as Pair<Node, Node | null>[]) {
      const key = pair.key;
      if (!isScalar(key) || typeof key.value === 'object') {
        this.report(key, path, `keys must be plain names; allowed: ${allowed.join(', ')}`, node);
        continue;
      }
      const name = String(key.value);
      if (!allowed.includes(name)) {
        const hint = closest(name, allowed);
        if (hint) hinted.add(hint);
        this.report(
          key,
          joinPath(path, name),
          `unknown key '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; allowed: ${allowed.join(', ')}`,
        );
        continue;
      }
      out.set(name, { key, value: pair.value ?? null });
    }
    const missing = required.filter((k) => !out.has(k) && !hinted.has(k));
    if (missing.length > 0) {
      const what = missing.length === 1 ? 'key' : 'keys';
      this.report(node, path || '(root)', `missing ${what} ${missing.join(', ')}`, fallback);
    }
    return out;
  }

  /** Reads a list; reports anything else. */
  seq(raw: Node | null | undefined, path: string, fallback?: Node | null): Node[] | undefined {
    const node = this.resolve(raw, path);
    if (!isSeq(node)) {
      this.report(
        node,
        path,
        node ? `expected a list, got ${this.shown(node)}` : 'expected a list, got nothing',
        fallback,
      );
      return undefined;
    }
    return node.items as Node[];
  }

  /** Reads an integer in `[min, max]`, written in decimal or `0x` hex. */
  integer(
    raw: Node | null | undefined,
    path: string,
    min: number,
    max: number,
    style: IntegerStyle,
    fallback?: Node | null,
  ): number | undefined {
    const node = this.resolve(raw, path);
    const range = formatRange(min, max, style);
    if (!isScalar(node) || node.value === null) {
      this.report(node, path, `expected an integer ${range}`, fallback);
      return undefined;
    }
    const src = this.sourceOf(node);
    const n = parseConfigInteger(src);
    if (n === undefined) {
      this.report(node, path, `${this.shown(node)} is not an integer; write decimal or 0x hex`);
      return undefined;
    }
    if (n < min || n > max) {
      this.report(node, path, `${this.shown(node)} is out of range ${range}`);
      return undefined;
    }
    return n;
  }

  /** Reads a byte size: bytes, or a whole number of KiB, MiB or GiB. */
  size(
    raw: Node | null | undefined,
    path: string,
    fallback?: Node | null,
  ): { bytes: number; node: Node } | undefined {
    const node = this.resolve(raw, path);
    if (!isScalar(node) || node.value === null) {
      this.report(node, path, 'expected a size such as 16MiB or 4096', fallback);
      return undefined;
    }
    const n = parseConfigSize(this.sourceOf(node));
    if (n === undefined) {
      this.report(
        node,
        path,
        `${this.shown(node)} is not a size; write bytes (decimal or 0x hex) or a whole number of KiB, MiB or GiB`,
      );
      return undefined;
    }
    return { bytes: n, node };
  }

  /** Reads a string; `pattern` with `describe` says what shape it must have. */
  string(
    raw: Node | null | undefined,
    path: string,
    check?: { pattern: RegExp; describe: string },
    fallback?: Node | null,
  ): string | undefined {
    const node = this.resolve(raw, path);
    if (!isScalar(node) || node.value === null || typeof node.value === 'object') {
      this.report(node, path, `expected ${check?.describe ?? 'a string'}`, fallback);
      return undefined;
    }
    const s = typeof node.value === 'string' ? node.value : this.sourceOf(node);
    if (check && !check.pattern.test(s)) {
      this.report(node, path, `${this.shown(node)} is not ${check.describe}`);
      return undefined;
    }
    return s;
  }

  /** Reads one of a fixed set of words. */
  oneOf<T extends string>(
    raw: Node | null | undefined,
    path: string,
    values: readonly T[],
    fallback?: Node | null,
  ): T | undefined {
    const node = this.resolve(raw, path);
    const s = isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
    if (s === undefined || !(values as readonly string[]).includes(s)) {
      const got = node ? this.shown(node) : 'nothing';
      this.report(node, path, `${got} is not one of ${values.join(' | ')}`, fallback);
      return undefined;
    }
    return s as T;
  }
}

function formatRange(min: number, max: number, style: IntegerStyle): string {
  return style === 'decimal'
    ? `${min}..${max}`
    : `${formatHex(min, style.hexDigits)}..${formatHex(max, style.hexDigits)}`;
}

/** The allowed word nearest to a typo, if it is plausibly the one meant. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? Infinity;
}
