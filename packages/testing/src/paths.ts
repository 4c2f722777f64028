import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding the package.json of the package that contains `moduleUrl`. Test modules
 * run from `src/`/`test/` (tsx) and from the compiled output at different depths, so a test
 * finds its own package's files by walking up, not by a fixed number of `..`.
 */
export function packageRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`no package.json above ${moduleUrl}`);
}

let repo: string | undefined;

/** The monorepo's root: the folder above this package whose package.json lists workspaces. */
export function repoRoot(): string {
  if (repo !== undefined) return repo;
  let dir = packageRoot(import.meta.url);
  for (let i = 0; i < 10; i++) {
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && 'workspaces' in readManifest(manifest)) return (repo = dir);
  }
  throw new Error('@sivshm/testing: no workspace root above this package');
}

interface Manifest {
  readonly name?: string;
  readonly workspaces?: readonly string[];
}

const readManifest = (file: string): Manifest => JSON.parse(readFileSync(file, 'utf8')) as Manifest;

const workspaces = new Map<string, string>();

/**
 * The folder of workspace `name` (`@sivshm/hostd` → `<repo>/apps/hostd`), from the root
 * manifest's workspace list. Tests find other packages' binaries, build outputs and data this
 * way at run time instead of importing them, so that no test support depends on an app.
 */
export function workspaceDir(name: string): string {
  const known = workspaces.get(name);
  if (known !== undefined) return known;
  const root = repoRoot();
  for (const ws of readManifest(join(root, 'package.json')).workspaces ?? []) {
    const manifest = join(root, ws, 'package.json');
    if (existsSync(manifest) && readManifest(manifest).name === name) {
      workspaces.set(name, join(root, ws));
      return join(root, ws);
    }
  }
  throw new Error(`@sivshm/testing: no workspace named ${name} in ${root}/package.json`);
}

/** A file of the repo's examples (`examples/services.yaml`, `examples/proto/vehicle.proto`). */
export function examplePath(...parts: string[]): string {
  return join(repoRoot(), 'examples', ...parts);
}

/**
 * The compiled JavaScript of a TypeScript file of workspace `name`, given by its path in the
 * package (`test/device/kernel-device.int.spec.ts`): where `tsc -b` puts it. The one place that
 * knows the build layout, for the QEMU tiers that bundle other packages' code into a guest.
 */
export function compiledFile(name: string, sourcePath: string): string {
  return compiledPath(workspaceDir(name), sourcePath);
}

/** Where `tsc -b` puts the JavaScript of `sourcePath` (relative to the package at `pkgRoot`). */
export function compiledPath(pkgRoot: string, sourcePath: string): string {
  return join(pkgRoot, 'dist-test', sourcePath.replace(/\.ts$/, '.js'));
}
