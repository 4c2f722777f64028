import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { workspaceDir } from '../paths.js';
import { addNodeRuntime } from './guest-image.js';

/** The transport's native addon: the bundle cannot hold it, so the image carries it. */
export function transportAddon(): string {
  return join(workspaceDir('@sivshm/transport-ivshmem'), 'build', 'Release', 'sivshm_native.node');
}

/**
 * Puts a Node app under `<layer>/app`: one esbuild bundle of `entries` (name → compiled
 * module) in `/app/dist/<name>.js`, laid out like the transport package so its addon loader
 * finds `build/Release`, and `/bin/node` with the libraries it and the addon need.
 */
export async function addNodeApp(layer: string, entries: Record<string, string>): Promise<void> {
  const transport = workspaceDir('@sivshm/transport-ivshmem');
  const addon = transportAddon();
  const app = join(layer, 'app');
  mkdirSync(join(app, 'build', 'Release'), { recursive: true });
  await build({
    entryPoints: entries,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir: join(app, 'dist'),
    // CommonJS dependencies bundled into ESM still call require() for Node's built-ins
    banner: {
      js: "import { createRequire as __sivshmCreateRequire } from 'node:module'; const require = __sivshmCreateRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  writeFileSync(join(app, 'package.json'), '{ "type": "module", "private": true }\n');
  copyFileSync(join(transport, 'binding.gyp'), join(app, 'binding.gyp'));
  copyFileSync(addon, join(app, 'build', 'Release', 'sivshm_native.node'));
  addNodeRuntime(layer, [addon]);
}
