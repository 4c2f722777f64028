/**
 * Turns a VM's `grantKey` source (file, environment variable, inline hex) into the 32 key bytes
 * `K_vm` that hostd and that VM's device share (docs/protocol.md).
 */
import { readFile, stat } from 'node:fs/promises';
import { GRANT_KEY_SIZE } from '@sivshm/abi';
import { CoreError } from '../errors/core-error.js';
import type { VmConfig } from './config-types.js';

/** Options of `resolveGrantKey`. */
export interface ResolveGrantKeyOptions {
  /** Environment to read `{ env }` sources from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/**
 * Reads `vm`'s grant key.
 *
 * A key file holds either exactly 32 raw bytes or 64 hex digits (surrounding whitespace
 * allowed); an environment variable holds 64 hex digits. Use it in hostd when provisioning a
 * VM's device, and in `sivshm config check --keys`. Throws `CoreError` `ERR_IO` when the file
 * cannot be read, `ERR_CONFIG` when the variable is unset, `ERR_BAD_KEY` when the content is not
 * a usable key (wrong length, not hex, all zeros).
 *
 * @example
 * ```ts
 * declare const config: ServiceConfig;
 * const key = await resolveGrantKey(config.vms[0]!, { env: process.env });
 * key.length; // 32
 * ```
 */
export async function resolveGrantKey(
  vm: VmConfig,
  options: ResolveGrantKeyOptions = {},
): Promise<Uint8Array> {
  const source = vm?.grantKey;
  const who = `grant key of vm '${String(vm?.name)}'`;
  if (!source || typeof source !== 'object') {
    throw new CoreError('ERR_CONFIG', `${who}: vm has no grantKey source`);
  }
  switch (source.kind) {
    case 'hex':
      return checked(fromHex(source.hex, `${who} (inline hex)`), `${who} (inline hex)`);
    case 'env': {
      const env = options.env ?? process.env;
      const value = env[source.name];
      if (value === undefined || value === '') {
        throw new CoreError(
          'ERR_CONFIG',
          `${who}: environment variable ${source.name} is not set; set it to 64 hex digits`,
        );
      }
      const where = `${who} (environment variable ${source.name})`;
      return checked(fromHex(value.trim(), where), where);
    }
    case 'file': {
      const where = `${who} (${source.path})`;
      let bytes: Buffer;
      try {
        // A key file is tiny; refuse to slurp something else named by mistake.
        const info = await stat(source.path);
        if (!info.isFile()) throw new Error('not a regular file');
        if (info.size > 4096) throw new Error(`${info.size} bytes is too large for a key file`);
        bytes = await readFile(source.path);
      } catch (e) {
        throw new CoreError('ERR_IO', `${where}: cannot read: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (bytes.length === GRANT_KEY_SIZE) return checked(new Uint8Array(bytes), where);
      const text = bytes.toString('latin1').trim();
      if (HEX_KEY.test(text)) return checked(fromHex(text, where), where);
      throw new CoreError(
        'ERR_BAD_KEY',
        `${where}: file holds ${bytes.length} bytes; expected exactly ${GRANT_KEY_SIZE} raw bytes or 64 hex digits`,
      );
    }
    default:
      throw new CoreError(
        'ERR_CONFIG',
        `${who}: unknown source kind '${String((source as { kind?: unknown }).kind)}'; allowed: file, env, hex`,
      );
  }
}

function fromHex(text: string, where: string): Uint8Array {
  if (!HEX_KEY.test(text)) {
    throw new CoreError(
      'ERR_BAD_KEY',
      `${where}: expected 64 hex digits (32 bytes), got ${text.length} characters${/^[0-9a-fA-F]*$/.test(text) ? '' : ' with non-hex ones'}`,
    );
  }
  return new Uint8Array(Buffer.from(text, 'hex'));
}

function checked(key: Uint8Array, where: string): Uint8Array {
  // An all-zero key is what an unprovisioned or wiped key file looks like; never accept it.
  if (key.every((b) => b === 0)) {
    throw new CoreError('ERR_BAD_KEY', `${where}: key is all zeros`);
  }
  return key;
}
