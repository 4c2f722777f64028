import net from 'node:net';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';

/** An answer is a few KiB; anything longer is not one. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const TIMEOUT_MS = 10_000;

/**
 * Sends one request to hostd's admin socket (one JSON line each way) and returns the answer;
 * a refusal from hostd (`ok: false`) becomes `ERR_REFUSED` with hostd's one line.
 */
export async function askHostd(
  socket: string,
  request: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const text = await new Promise<string>((resolve, reject) => {
    const s = net.connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer in ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify(request)}\n`));
    s.on('data', (c: string) => {
      out += c;
      if (out.length > MAX_ANSWER_BYTES) s.destroy(new Error('answer too long'));
    });
    s.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  }).catch((e: unknown) => {
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_HOSTD', `hostd's admin socket ${socket} does not answer (${why})`, {
      cause: e,
    });
  });
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CliError('ERR_HOSTD', `${socket} answered something that is not a hostd answer`);
  }
  if (answer['ok'] !== true) {
    throw new CliError('ERR_REFUSED', `hostd refused: ${String(answer['error'])}`);
  }
  return answer;
}
