import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { closeFd } from './fd.js';
import { UnixListener } from './unix-listener.js';
import { UnixStream } from './unix-stream.js';

describe('UnixListener', () => {
  const path = `/tmp/sivshm-listener-spec-${process.pid}.sock`;

  describe('.listen', () => {
    it('should hand each connection over as a UnixStream and remove its socket file on close', async () => {
      const accepted: UnixStream[] = [];
      const listener = UnixListener.listen(path, {
        onConnection: (accept) => accepted.push(accept()),
      });
      const client = await UnixStream.connect(path);
      for (let i = 0; i < 100 && accepted.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(accepted).to.have.length(1);
      client.close();
      for (const s of accepted) s.close();
      listener.close();
      expect(existsSync(path)).to.equal(false);
      listener.close(); // idempotent
    });

    it('should replace a stale socket file but refuse the path of a live server', () => {
      // A bound socket that never listens: connecting to it is refused, as after a crash.
      const addon = loadAddon();
      const stale = addon.unixSocket('stream');
      addon.unixBind(stale, path);
      closeFd(stale);
      const live = UnixListener.listen(path, { onConnection: () => undefined });
      try {
        expect(() => UnixListener.listen(path, { onConnection: () => undefined }))
          .to.throw(TransportError, /EADDRINUSE/)
          .with.property('errnoName', 'EADDRINUSE');
        expect(existsSync(path)).to.equal(true);
      } finally {
        live.close();
      }
    });

    it('should reject a missing onConnection', () => {
      expect(() => UnixListener.listen(path, {} as never))
        .to.throw(TransportError)
        .with.property('code', 'ERR_BAD_ARGUMENT');
    });
  });
});
