// `sivshm sd decode` and `sivshm sd encode` at work. Loaded by the commands' actions only
// (commands/sd.ts), so other commands start without the discovery package.
import { existsSync, readFileSync } from 'node:fs';
import { readInputFile } from '../io/cli-files.js';
import {
  DiscoveryError,
  decodeSdMessage,
  encodeSdMessage,
  sdMessageFromJson,
  sdMessageToJson,
} from '@sivshm/discovery';

/** An SD message fits one UDP datagram; its hex text with spaces stays well below this. */
const MAX_INPUT_BYTES = 1024 * 1024;

/** Prints SD message `input` (hex text, or a file of hex text or raw bytes) as JSON. */
export function sdDecode(input: string): void {
  const msg = decodeSdMessage(readInputBytes(input));
  process.stdout.write(`${JSON.stringify(sdMessageToJson(msg), null, 2)}\n`);
}

/** Prints the SD message that JSON `file` (or - for standard input) describes, as hex. */
export function sdEncode(file: string): void {
  const text =
    file === '-'
      ? readFileSync(0, 'utf8')
      : readInputFile(file, 'JSON file', MAX_INPUT_BYTES).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DiscoveryError('ERR_SD_JSON', `${file} is not JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const bytes = encodeSdMessage(sdMessageFromJson(value));
  process.stdout.write(`${Buffer.from(bytes).toString('hex')}\n`);
}

/** Bytes from a hex argument, a hex text file, or a binary file. */
function readInputBytes(input: string): Uint8Array {
  if (existsSync(input)) {
    const raw = readInputFile(input, 'input file', MAX_INPUT_BYTES);
    const text = raw.toString('latin1');
    return /^[\s0-9a-fA-Fx]*$/.test(text) && /[0-9a-fA-F]/.test(text)
      ? parseHex(text, input)
      : new Uint8Array(raw);
  }
  return parseHex(input, 'the argument');
}

function parseHex(text: string, where: string): Uint8Array {
  const clean = text.replace(/0x/gi, '').replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) {
    throw new DiscoveryError(
      'ERR_SD_INPUT',
      `${where} is neither an existing file nor hex text (pairs of 0-9a-f, spaces allowed)`,
    );
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}
