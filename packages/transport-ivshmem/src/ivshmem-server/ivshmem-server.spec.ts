import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { UnixStream } from '../native/unix-stream.js';
import { IvshmemServer } from './ivshmem-server.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const settle = (ms = 100): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('IvshmemServer', () => {
  const socketPath = `/tmp/sivshm-ivshmem-server-spec-${process.pid}.sock`;

  describe('bounds', () => {
    it('should close the connections of a process past maxPeersPerProcess before handing out anything, and report each', async () => {
      const errors: Error[] = [];
      const server = IvshmemServer.listen({
        socketPath,
        shm: { memfdSize: 4096 },
        vectors: 2,
        maxPeersPerProcess: 2,
        onError: (e) => errors.push(e),
      });
      const clients: UnixStream[] = [];
      try {
        const before = openFds();
        // Clients that never read, as a process hoarding doorbells would open them.
        for (let i = 0; i < 40; i++) clients.push(await UnixStream.connect(socketPath));
        await settle();
        expect(server.peerIds()).to.have.length(2);
        expect(errors).to.have.length(38);
        expect(errors[0]!.message).to.match(/already holds 2 ivshmem peers \(at most 2\)/);
        for (const c of clients) c.close();
        clients.length = 0;
        await settle();
        // The server's own fds (2 peers × (socket + 2 eventfds)) are what is left beyond ours.
        expect(openFds() - before).to.be.at.most(2 * 3);
      } finally {
        for (const c of clients) c.close();
        server.close();
      }
    });
  });
});
