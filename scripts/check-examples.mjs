#!/usr/bin/env node
// `node scripts/check-examples.mjs [--keep] [FILE...]` (part of `npm run lint`): type-checks every
// `@example` block of the workspaces' src/**/*.ts against the BUILT packages, so a doc example
// cannot drift from the API it shows without failing lint.
//
// Each ```ts fence of an `@example` becomes its own ES module. Names the example uses but does not
// declare are imported for it: from the package that exports them publicly (by package name, as a
// user would), else from the example's own module (its built .d.ts: internals documented in place
// are checked too). Everything else the example needs — the inputs it is given — it must declare
// itself, e.g. `declare const record: RingRecord;`, which also tells the reader their types.
// Fences in another language (```sh, ```yaml) are skipped. Needs `npm run build` first.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const only = args.filter((a) => !a.startsWith('--')).map((a) => join(process.cwd(), a));
const outDir = join(root, 'node_modules', '.cache', 'sivshm-check-examples');

/** Workspaces with their name, directory, and the .d.ts of their "." export. */
function workspaces() {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const list = [];
  for (const rel of rootPkg.workspaces ?? []) {
    const dir = join(root, rel);
    const pkgFile = join(dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    const dot = pkg.exports?.['.'];
    const types = typeof dot === 'object' && dot !== null ? dot.types : pkg.types;
    list.push({ name: pkg.name, dir, types: types ? join(dir, types) : undefined });
  }
  return list;
}

function sourceFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.includes('.spec.'))
        out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

/**
 * The `@example` blocks of one file: for each ```ts fence, its code and the source line of its
 * first code line. Comment prefixes (` * `) are removed.
 */
function examplesOf(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found = [];
  let inExample = false;
  let fence; // { lang, start, code[] } while inside a fence
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const text = raw.replace(/^\s*\*\s?/, '').replace(/^\s*\/\*\*\s?/, '');
    const endsComment = raw.includes('*/');
    if (!inExample) {
      if (/@example\b/.test(raw)) inExample = true;
      else continue;
      if (!endsComment) continue;
    }
    if (fence === undefined) {
      const open = /^\s*```(\w*)\s*$/.exec(text);
      if (open) fence = { lang: open[1] || 'ts', start: i + 2, code: [] };
      else if (/^\s*@\w+/.test(text) && !/@example\b/.test(text)) inExample = false;
    } else if (/^\s*```\s*$/.test(text)) {
      if (['ts', 'typescript'].includes(fence.lang))
        found.push({ line: fence.start, code: fence.code });
      fence = undefined;
    } else {
      fence.code.push(text.replace(/\*\/\s*$/, ''));
    }
    if (endsComment) {
      inExample = false;
      fence = undefined;
    }
  }
  return found;
}

/** Names an example declares itself (variables, functions, classes, types, imports, parameters). */
function declaredAndUsed(code) {
  const sf = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const declared = new Set();
  const used = new Set();
  const bind = (name) => {
    if (ts.isIdentifier(name)) declared.add(name.text);
    else if (ts.isObjectBindingPattern(name) || ts.isArrayBindingPattern(name))
      for (const el of name.elements) if (!ts.isOmittedExpression(el)) bind(el.name);
  };
  const visit = (node) => {
    if (
      (ts.isVariableDeclaration(node) || ts.isParameter(node) || ts.isBindingElement(node)) &&
      node.name
    )
      bind(node.name);
    if (
      (ts.isFunctionDeclaration(node) ||
        ts.isClassDeclaration(node) ||
        ts.isInterfaceDeclaration(node) ||
        ts.isTypeAliasDeclaration(node) ||
        ts.isEnumDeclaration(node) ||
        ts.isImportSpecifier(node) ||
        ts.isNamespaceImport(node) ||
        ts.isImportClause(node)) &&
      node.name
    )
      declared.add(node.name.text);
    if (ts.isIdentifier(node)) {
      const p = node.parent;
      const isMemberName =
        (ts.isPropertyAccessExpression(p) && p.name === node) ||
        (ts.isPropertyAssignment(p) && p.name === node) ||
        (ts.isQualifiedName(p) && p.right === node);
      if (!isMemberName) used.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { declared, used };
}

/** Export names of each .d.ts in `files`, from one program over all of them. */
function exportsOf(files) {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out = new Map();
  for (const f of files) {
    const sf = program.getSourceFile(f);
    const sym = sf && checker.getSymbolAtLocation(sf);
    out.set(f, new Set(sym ? checker.getExportsOfModule(sym).map((s) => s.name) : []));
  }
  return out;
}

// A workspace whose "." export names no existing .d.ts (an app with no library entry) is
// still checked, through each example's own module; one with no build output at all is an error.
const spaces = workspaces().map((w) =>
  w.types && existsSync(w.types) ? w : { ...w, types: undefined },
);
const missing = spaces.filter(
  (w) => existsSync(join(w.dir, 'src')) && !existsSync(join(w.dir, 'dist')),
);
if (missing.length > 0) {
  console.error(
    `check-examples: not built: ${missing.map((w) => w.name).join(', ')} (run npm run build first)`,
  );
  process.exit(2);
}

// Collect every example with where it came from and which built module documents it.
const examples = [];
for (const w of spaces) {
  for (const file of sourceFiles(join(w.dir, 'src'))) {
    if (only.length > 0 && !only.includes(file)) continue;
    // The build mirrors src/ under the directory of the package's index .d.ts.
    const builtSrc = w.types ? dirname(w.types) : join(w.dir, 'dist', 'src');
    const own = join(builtSrc, relative(join(w.dir, 'src'), file).replace(/\.ts$/, '.d.ts'));
    examplesOf(file).forEach((ex, n) =>
      examples.push({ ...ex, file, n, pkg: w, own: own && existsSync(own) ? own : undefined }),
    );
  }
}

/** Every built declaration file of a workspace's src/, for names documented away from their module. */
function builtModules(w) {
  const dir = w.types ? dirname(w.types) : join(w.dir, 'dist', 'src');
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.d.ts') && !e.name.includes('.spec.') && p !== w.types) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

const publicTypes = spaces.filter((w) => w.types);
const examplePackages = new Set(examples.map((e) => e.pkg));
const modulesOf = new Map([...examplePackages].map((w) => [w, builtModules(w)]));
const exportMap = exportsOf([
  ...new Set([...publicTypes.map((w) => w.types), ...[...modulesOf.values()].flat()]),
]);

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'package.json'), '{ "type": "module", "private": true }\n');

const roots = [];
const where = new Map(); // generated file → { example, firstCodeLine }
examples.forEach((ex, i) => {
  const code = ex.code.join('\n');
  const { declared, used } = declaredAndUsed(code);
  const imports = new Map(); // specifier → names
  const add = (spec, name) => {
    if (!imports.has(spec)) imports.set(spec, new Set());
    imports.get(spec).add(name);
  };
  for (const name of used) {
    if (declared.has(name)) continue;
    if (exportMap.get(ex.pkg.types)?.has(name)) add(ex.pkg.name, name);
    else if (ex.own && exportMap.get(ex.own)?.has(name))
      add(ex.own.replace(/\.d\.ts$/, '.js'), name);
    else if (modulesOf.get(ex.pkg).some((m) => exportMap.get(m)?.has(name))) {
      const m = modulesOf.get(ex.pkg).find((f) => exportMap.get(f)?.has(name));
      add(m.replace(/\.d\.ts$/, '.js'), name);
    } else {
      const other = publicTypes.find((w) => exportMap.get(w.types)?.has(name));
      if (other) add(other.name, name);
    }
  }
  const head = [...imports].map(
    ([spec, names]) => `import { ${[...names].sort().join(', ')} } from '${spec}';`,
  );
  head.push('export {};');
  const file = join(outDir, `example-${String(i).padStart(3, '0')}.ts`);
  writeFileSync(file, `${head.join('\n')}\n${code}\n`);
  roots.push(file);
  where.set(file, { ex, offset: head.length });
});

const options = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: ['node'],
  typeRoots: [join(root, 'node_modules', '@types')],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  skipLibCheck: true,
  resolveJsonModule: true,
  noEmit: true,
};
const program = ts.createProgram(roots, options);
const failures = new Map(); // "file:line" → messages
for (const d of ts.getPreEmitDiagnostics(program)) {
  const w = d.file && where.get(d.file.fileName);
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
  if (!w) {
    const at = d.file ? `${relative(root, d.file.fileName)}: ` : '';
    failures.set(`(setup) ${at}`, [...(failures.get(`(setup) ${at}`) ?? []), text]);
    continue;
  }
  const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
  const codeLine = line - w.offset;
  const key = `${relative(root, w.ex.file)}:${w.ex.line}: @example`;
  const srcLine = codeLine >= 0 ? w.ex.line + codeLine : w.ex.line;
  failures.set(key, [...(failures.get(key) ?? []), `line ${srcLine}: ${text}`]);
}
if (!keep) rmSync(outDir, { recursive: true, force: true });

for (const [key, msgs] of failures) console.error(`${key}\n  ${msgs.join('\n  ')}`);
console.log(
  `check-examples: ${examples.length} examples in ${new Set(examples.map((e) => e.file)).size} files, ` +
    `${failures.size} failing`,
);
process.exitCode = failures.size > 0 ? 1 : 0;
