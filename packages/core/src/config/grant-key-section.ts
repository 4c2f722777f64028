/** A VM's `grantKey` in services.yaml: where its grant key `K_vm` comes from. */
import path from 'node:path';
import { isMap } from 'yaml';
import type { ConfigBuildContext } from './config-build-context.js';
import { ENV_NAME, KEY_HEX, NON_EMPTY } from './config-patterns.js';
import type { GrantKeySource } from './config-types.js';
import type { FieldEntry } from './yaml-reader.js';

/** Reads `{ file | env | hex }` (exactly one); a relative file resolves against the config's directory. */
export function parseGrantKeySource(
  ctx: ConfigBuildContext,
  entry: FieldEntry,
  p: string,
): GrantKeySource | undefined {
  const r = ctx.r;
  const m = r.map(entry.value, p, [], ['file', 'env', 'hex'], entry.key);
  if (!m) return undefined;
  const written = r.resolve(entry.value, p);
  const hadUnknownKeys = isMap(written) && written.items.length > m.size;
  if (m.size === 0 && hadUnknownKeys) return undefined; // the unknown key is the report
  if (m.size !== 1) {
    r.report(
      entry.value,
      p,
      `give exactly one of file, env, hex (got ${m.size === 0 ? 'none' : [...m.keys()].join(', ')})`,
      entry.key,
    );
    return undefined;
  }
  const [[kind, field]] = [...m.entries()] as [[string, FieldEntry]];
  if (kind === 'file') {
    const f = r.string(field.value, `${p}.file`, NON_EMPTY, field.key);
    return f === undefined
      ? undefined
      : Object.freeze({ kind: 'file', path: path.resolve(ctx.baseDir, f) });
  }
  if (kind === 'env') {
    const name = r.string(field.value, `${p}.env`, ENV_NAME, field.key);
    return name === undefined ? undefined : Object.freeze({ kind: 'env', name });
  }
  const hex = r.string(field.value, `${p}.hex`, KEY_HEX, field.key);
  return hex === undefined ? undefined : Object.freeze({ kind: 'hex', hex: hex.toLowerCase() });
}

/** Two VMs with the same key source would share `K_vm`; compare sources by what they name. */
export function grantKeyIdentity(k: GrantKeySource): string {
  return k.kind === 'file' ? `file:${k.path}` : k.kind === 'env' ? `env:${k.name}` : `hex:${k.hex}`;
}
