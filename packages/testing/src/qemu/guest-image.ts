/**
 * Building blocks of QEMU guest images, shared by the QEMU tiers: the kernel module's
 * (`packages/kmod/test/vm/`) and the apps-in-guests tier (`apps/hostd/test/qemu/`). Each
 * returns paths in a work dir; nothing here boots.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { workspaceDir } from '../paths.js';

/** Longest a single build step (make, gcc, cpio) may take. */
export const BUILD_TIMEOUT_MS = 120_000;

/** The kmod package: the kernel module's sources, its UAPI header and its guest tools' C. */
export function kmodRoot(): string {
  return workspaceDir('@sivshm/kmod');
}

/** What is missing on this machine to build and boot guests, kernels aside (empty: all there). */
export function missingTools(): string[] {
  const missing: string[] = [];
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
  } catch {
    missing.push('qemu-system-x86_64 and cpio (qemu-system-x86 cpio)');
  }
  return missing;
}

/** Runs a command; throws with its output when it fails. */
export function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      timeout: BUILD_TIMEOUT_MS,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${err.stderr ?? ''}${err.stdout ?? ''}${err.message}`,
    );
  }
}

/**
 * Builds sivshm.ko with `W=1` for kernel `kver` from a copy of `kernelSrc` (the source tree stays
 * clean) under `<work>/src/kernel` against the headers at `kbuild` (a cross kernel's headers
 * set ARCH and CROSS_COMPILE in their own Makefile); returns the module and the build log.
 */
export function buildSivshmModule(
  work: string,
  kver: string,
  kernelSrc = join(kmodRoot(), 'kernel'),
  kbuild = `/lib/modules/${kver}/build`,
): { ko: string; log: string } {
  const root = kmodRoot();
  const modDir = join(work, 'src', 'kernel');
  mkdirSync(modDir, { recursive: true });
  mkdirSync(join(work, 'src', 'include', 'uapi'), { recursive: true });
  copyFileSync(join(root, 'include/uapi/sivshm.h'), join(work, 'src/include/uapi/sivshm.h'));
  for (const f of readdirSync(kernelSrc)) {
    if (/\.(c|h)$|^Kbuild$/.test(f)) copyFileSync(join(kernelSrc, f), join(modDir, f));
  }
  const logPath = join(modDir, 'build.log');
  execFileSync('sh', ['-c', `make -C '${kbuild}' M='${modDir}' W=1 modules > '${logPath}' 2>&1`], {
    timeout: BUILD_TIMEOUT_MS,
  });
  return { ko: join(modDir, 'sivshm.ko'), log: readFileSync(logPath, 'utf8') };
}

/**
 * Builds a one-file test module (`<dir>/<name>.c` → `<name>.ko`, never shipped) for kernel
 * `kver` with `W=1` under `<work>/src/<name>`; returns the module and the build log.
 */
export function buildTestModule(
  work: string,
  kver: string,
  source: string,
): { ko: string; log: string } {
  const name = basename(source).replace(/\.c$/, '');
  const dir = join(work, 'src', name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(source, join(dir, `${name}.c`));
  writeFileSync(join(dir, 'Kbuild'), `obj-m := ${name}.o\n`);
  const logPath = join(dir, 'build.log');
  execFileSync(
    'sh',
    ['-c', `make -C '/lib/modules/${kver}/build' M='${dir}' W=1 modules > '${logPath}' 2>&1`],
    { timeout: BUILD_TIMEOUT_MS },
  );
  return { ko: join(dir, `${name}.ko`), log: readFileSync(logPath, 'utf8') };
}

/**
 * Compiles a guest tool of the kmod package's `test/vm` folder (`source` relative to it)
 * statically against the UAPI header, with `cc` (a cross compiler for another guest).
 */
export function buildStaticTool(source: string, out: string, cc = 'gcc'): void {
  const root = kmodRoot();
  run(cc, [
    '-static',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-I',
    join(root, 'include/uapi'),
    join(root, 'test/vm', source),
    '-o',
    out,
  ]);
}

/** A module's name as modprobe spells it, from its path (`…/virtio-pci.ko.xz` → `virtio_pci`). */
const moduleName = (path: string): string =>
  path
    .split('/')
    .at(-1)!
    .replace(/\.ko(\.\w+)?$/, '')
    .replace(/-/g, '_');

/**
 * The Debian kernel's modules `names` (e.g. `virtio_console`) and everything they depend on,
 * in an order `insmod` can load them (dependencies first), from `modules.dep`. A module the
 * kernel has built in (`modules.builtin`: newer kernels build virtio in) needs no file and is
 * left out.
 */
export function kernelModules(kver: string, names: readonly string[]): string[] {
  const base = `/lib/modules/${kver}`;
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(base, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod === undefined || rest === undefined) continue;
    deps.set(mod, rest.trim() === '' ? [] : rest.trim().split(/\s+/));
  }
  const builtinFile = join(base, 'modules.builtin');
  const builtin = new Set(
    existsSync(builtinFile)
      ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(moduleName)
      : [],
  );
  const byName = new Map<string, string>();
  for (const mod of deps.keys()) byName.set(moduleName(mod), mod);
  const order: string[] = [];
  const visit = (mod: string, depth: number): void => {
    if (order.includes(mod) || depth > 32) return;
    for (const d of deps.get(mod) ?? []) visit(d, depth + 1);
    order.push(mod);
  };
  for (const n of names) {
    const name = n.replace(/-/g, '_');
    const mod = byName.get(name);
    if (mod === undefined && builtin.has(name)) continue;
    if (mod === undefined) throw new Error(`kernel ${kver} has no module ${n} (modules.dep)`);
    visit(mod, 0);
  }
  return order.map((m) => join(base, m));
}

/**
 * Copies kernel modules into `dir` as plain `.ko` files (Debian compresses them with xz or
 * zstd; busybox's insmod takes them uncompressed); returns their file names, in order.
 */
export function copyKernelModules(modules: readonly string[], dir: string): string[] {
  return modules.map((m) => {
    const file = `${moduleName(m)}.ko`;
    const out = join(dir, file);
    if (m.endsWith('.ko')) copyFileSync(m, out);
    else if (m.endsWith('.xz')) execFileSync('sh', ['-c', `xz -dc '${m}' > '${out}'`]);
    else if (m.endsWith('.zst')) execFileSync('sh', ['-c', `zstd -dcq '${m}' > '${out}'`]);
    else if (m.endsWith('.gz')) execFileSync('sh', ['-c', `gzip -dc '${m}' > '${out}'`]);
    else throw new Error(`${m}: a kernel module compressed in a way this harness does not know`);
    return file;
  });
}

/** Shared libraries `ldd` lists for an ELF file, by the path the loader will look them up at. */
export function sharedLibraries(elf: string): string[] {
  const libs: string[] = [];
  for (const line of run('ldd', [elf]).split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1] !== undefined) libs.push(m[1]);
  }
  return libs;
}

/**
 * Puts Node (this host's binary, stripped when `strip` exists) and the libraries it and
 * `extraElves` need into `layer` at the paths the loader looks them up at.
 */
export function addNodeRuntime(layer: string, extraElves: readonly string[] = []): void {
  mkdirSync(join(layer, 'bin'), { recursive: true });
  const node = realpathSync(process.execPath);
  try {
    // ~12 MB less to pack and unpack; the dynamic symbols addons link against stay
    run('strip', ['-o', join(layer, 'bin', 'node'), node]);
  } catch {
    copyFileSync(node, join(layer, 'bin', 'node'));
  }
  chmodSync(join(layer, 'bin', 'node'), 0o755);
  for (const lib of new Set([node, ...extraElves].flatMap((e) => sharedLibraries(e)))) {
    mkdirSync(join(layer, dirname(lib)), { recursive: true });
    copyFileSync(realpathSync(lib), join(layer, lib));
  }
}

/** Packs `dir` as a gzipped newc cpio at `out`, after the archives in `prepend` (unpacked first). */
export function packInitramfs(dir: string, out: string, prepend: readonly string[] = []): void {
  const before = prepend.map((p) => `cat '${p}';`).join(' ');
  execFileSync(
    'sh',
    ['-c', `(${before} find . | cpio -o -H newc 2>/dev/null | gzip -1) > '${out}'`],
    { cwd: dir, timeout: BUILD_TIMEOUT_MS },
  );
}

/**
 * A busybox root file system at `root`: `/bin/busybox` (the host's, or `busybox` built for
 * another guest) and the folders init mounts on, plus `extraDirs`.
 */
export function makeRootfs(
  root: string,
  extraDirs: readonly string[] = [],
  busybox = '/bin/busybox',
): void {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'lib/modules', ...extraDirs]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  copyFileSync(busybox, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
}

/**
 * The guest's `/init`: busybox's applets, /proc, /sys and /dev mounted, `@@ kernel <uname -r>`
 * printed (the host names the kernel each tier ran on from it), `arg NAME` reading
 * `NAME=` from the kernel command line, `$role` set from `sivshm_role`; then `body`; then
 * `@@ DONE` and power off (the host reads QEMU's exit as the guest's end).
 */
export function initScript(body: string): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "@@ kernel $(uname -r)"
arg() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
role=$(arg sivshm_role)
${body.trim()}
echo "@@ DONE at $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
`;
}
