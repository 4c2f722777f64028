// `install` script of @sivshm/transport-ivshmem: builds native/*.cc into
// build/Release/sivshm_native.node with the node-gyp that ships inside npm, against the headers
// of the running Node. It checks the toolchain first so a missing compiler ends in one clear
// sentence instead of a page of gyp output.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => process.stderr.write(`[sivshm addon] ${line}\n`);

function fail(lines) {
  for (const line of lines) say(line);
  process.exit(1);
}

if (process.platform !== 'linux') {
  fail([`the native addon needs Linux (mmap, eventfd, SCM_RIGHTS); this is ${process.platform}`]);
}

const has = (cmd, args = ['--version']) => {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
};
const missing = [];
const python = process.env.PYTHON ?? (has('python3') ? 'python3' : has('python') ? 'python' : '');
if (python === '' || !has(python)) missing.push('python3');
if (!has('make')) missing.push('make');
const cxx = process.env.CXX ?? 'g++';
if (!has(cxx)) missing.push(cxx === 'g++' ? 'g++' : `${cxx} (from $CXX)`);
if (missing.length > 0) {
  fail([
    `cannot build the native addon: ${missing.join(', ')} not found on PATH.`,
    'Install the toolchain (Debian/Ubuntu: apt-get install python3 make g++) and run npm ci again.',
  ]);
}

// Node's headers: npm's `nodedir` setting when given, else the prefix of this node binary
// (a distro or official install ships include/node/node.h there). node-gyp would otherwise try
// to download them, which fails on machines that only reach the npm registry.
const candidates = [
  process.env.npm_config_nodedir,
  process.env.SIVSHM_NODEDIR,
  path.resolve(path.dirname(process.execPath), '..'),
].filter((d) => typeof d === 'string' && d !== '');
const nodedir = candidates.find((d) => existsSync(path.join(d, 'include', 'node', 'node.h')));
if (nodedir === undefined) {
  fail([
    `cannot build the native addon: Node's C++ headers (include/node/node.h) were not found in ${candidates.join(', ')}.`,
    'Set npm config nodedir (or SIVSHM_NODEDIR) to the directory that holds include/node, or install the nodejs headers package.',
  ]);
}

// node-gyp: the one npm runs scripts with (npm_config_node_gyp), else npm's bundled copy, else
// a node-gyp in node_modules.
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm !== undefined && existsSync(fromNpm)) return fromNpm;
  const npmCli = process.env.npm_execpath;
  if (npmCli !== undefined) {
    const bundled = path.join(
      path.dirname(npmCli),
      '..',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    );
    if (existsSync(bundled)) return bundled;
  }
  const globalNpm = path.join(
    path.dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  if (existsSync(globalNpm)) return globalNpm;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}
const nodeGyp = findNodeGyp();
if (nodeGyp === undefined) {
  fail([
    'cannot build the native addon: node-gyp was not found (it ships with npm; is npm installed?)',
  ]);
}

const r = spawnSync(
  process.execPath,
  [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, `--python=${python}`],
  {
    cwd: pkgRoot,
    stdio: 'inherit',
    env: { ...process.env, CXX: cxx },
  },
);
if (r.status !== 0) {
  fail([
    `node-gyp rebuild failed (exit ${r.status ?? r.signal}); the compiler output above says why.`,
    'Needs python3, make, g++ and the Node headers; then run npm ci (or npm run build:native in packages/transport-ivshmem).',
  ]);
}
if (!existsSync(path.join(pkgRoot, 'build', 'Release', 'sivshm_native.node'))) {
  fail(['node-gyp reported success but build/Release/sivshm_native.node is missing']);
}
say(`built build/Release/sivshm_native.node (headers from ${nodedir})`);
