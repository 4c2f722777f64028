import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { HostdError } from '../errors/hostd-error.js';
import { CaAdminRefusal, type CaAdmin } from './ca-admin.js';

/** Longest request line: the requests are a few dozen bytes. */
const MAX_REQUEST = 4096;
/** A client that sends no complete line in this time is cut off. */
const REQUEST_TIMEOUT_MS = 5000;

/**
 * hostd's admin socket (`<run-dir>/admin.sock`, mode 0600: hostd's user, root in a deployment):
 * one JSON request line in, one JSON answer line out, then close. `sivshm ca revoke` and
 * `sivshm ca list` find it through the CA directory's lock while hostd holds it.
 *
 * Requests: `{"op":"revoke","serial":"N"}`, `{"op":"list"}`. Answers: `{"ok":true,...}` or
 * `{"ok":false,"error":"one line"}`.
 */
export class CaAdminServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  static async listen(path: string, admin: CaAdmin): Promise<CaAdminServer> {
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const server = net.createServer((socket) => serve(socket, admin));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new HostdError('ERR_STATUS', `cannot listen on ${path}: ${e.message}`)),
      );
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    return new CaAdminServer(server, path);
  }

  async close(): Promise<void> {
    await Promise.race([
      new Promise<void>((r) => this.server.close(() => r())),
      new Promise((r) => setTimeout(r, 1000).unref()),
    ]);
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

function serve(socket: net.Socket, admin: CaAdmin): void {
  socket.on('error', () => undefined);
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    const nl = text.indexOf('\n');
    if (nl < 0 && text.length <= MAX_REQUEST) return;
    socket.removeAllListeners('data');
    if (nl < 0) return void socket.end(answer({ ok: false, error: 'request too long' }));
    void handle(text.slice(0, nl), admin).then((a) => socket.end(answer(a)));
  });
}

async function handle(line: string, admin: CaAdmin): Promise<Record<string, unknown>> {
  try {
    const req = JSON.parse(line) as { op?: unknown; serial?: unknown };
    if (req.op === 'list') return { ok: true, ...admin.list() };
    if (req.op === 'revoke') {
      if (typeof req.serial !== 'string' || !/^\d{1,20}$/.test(req.serial)) {
        return { ok: false, error: 'serial must be a decimal string' };
      }
      return { ok: true, ...(await admin.revoke(BigInt(req.serial))) };
    }
    return { ok: false, error: `unknown op ${JSON.stringify(req.op)}` };
  } catch (e) {
    if (e instanceof CaAdminRefusal || e instanceof SyntaxError) {
      return { ok: false, error: e.message };
    }
    return { ok: false, error: `hostd failed: ${(e as Error).message}` };
  }
}

function answer(a: Record<string, unknown>): string {
  return `${JSON.stringify(a)}\n`;
}
