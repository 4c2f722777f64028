import { DiscoveryError } from '../errors/discovery-error.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/** One `key[=value]` string of a configuration option; no `value` means "key present". */
export interface ConfigurationItem {
  readonly key: string;
  readonly value?: string;
}

/**
 * Configuration option (0x01): DNS-TXT style strings `len(1) "key[=value]"`, terminated by a
 * zero length byte (SD-149..SD-684). Keys are printable ASCII (0x20..0x7E) without `=`, at
 * least one character; duplicate keys are allowed and kept in order.
 */
export interface ConfigurationOption {
  readonly type: 'configuration';
  readonly items: readonly ConfigurationItem[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Why `key` is not a valid configuration key, or undefined when it is. */
export function configurationKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'a key must have at least one character';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x3d)
      return `key character 0x${c.toString(16)} at ${i} is not printable ASCII 0x20..0x7E other than '='`;
  }
  return undefined;
}

/** Reads the body after Length and Type; `body` is bounded by the option's Length. */
export function readConfigurationBody(body: ByteReader): ConfigurationOption {
  body.skip(1, 'configuration reserved byte');
  const items: ConfigurationItem[] = [];
  for (;;) {
    if (body.remaining === 0) {
      throw DiscoveryError.at(
        'ERR_SD_OPTION',
        body.offset,
        'configuration option ends without its terminating zero length byte',
      );
    }
    const at = body.offset;
    const len = body.u8('configuration string length');
    if (len === 0) break;
    if (len > body.remaining) {
      throw DiscoveryError.at(
        'ERR_SD_OPTION',
        at,
        `configuration string length ${len} runs past the option's own Length (${body.remaining} bytes left)`,
      );
    }
    const raw = body.bytesCopy(len, 'configuration string');
    const eq = raw.indexOf(0x3d);
    const keyBytes = eq < 0 ? raw : raw.subarray(0, eq);
    const key = String.fromCharCode(...keyBytes);
    const problem = configurationKeyProblem(key);
    if (problem !== undefined) {
      throw DiscoveryError.at('ERR_SD_OPTION', at + 1, `configuration string: ${problem}`);
    }
    if (eq < 0) {
      items.push({ key });
    } else {
      let value: string;
      try {
        value = utf8.decode(raw.subarray(eq + 1));
      } catch {
        throw DiscoveryError.at(
          'ERR_SD_OPTION',
          at + 2 + eq,
          `configuration value of key "${key}" is not valid UTF-8`,
        );
      }
      items.push({ key, value });
    }
  }
  if (body.remaining !== 0) {
    throw DiscoveryError.at(
      'ERR_SD_OPTION',
      body.offset,
      `${body.remaining} bytes follow the configuration option's terminating zero byte`,
    );
  }
  return { type: 'configuration', items };
}

/** The encoded strings of `o`, each checked; throws `ERR_SD_ENCODE` on a bad item. */
export function configurationStrings(o: ConfigurationOption): Uint8Array[] {
  return o.items.map((item, i) => {
    const problem = configurationKeyProblem(item.key);
    if (problem !== undefined) {
      throw new DiscoveryError('ERR_SD_ENCODE', `configuration item ${i}: ${problem}`);
    }
    const s = utf8Encoder.encode(item.value === undefined ? item.key : `${item.key}=${item.value}`);
    if (s.length > 255) {
      throw new DiscoveryError(
        'ERR_SD_ENCODE',
        `configuration item ${i} ("${item.key}") is ${s.length} bytes; at most 255 fit a length byte`,
      );
    }
    return s;
  });
}

/** Writes the body read by `readConfigurationBody`. */
export function writeConfigurationBody(w: ByteWriter, o: ConfigurationOption): void {
  w.u8(0);
  for (const s of configurationStrings(o)) {
    w.u8(s.length);
    w.bytes(s);
  }
  w.u8(0);
}
