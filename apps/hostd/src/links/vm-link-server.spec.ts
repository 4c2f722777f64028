import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ControlConnection } from '@sivshm/core';
import { encodeControlFrame, encodeControlMessage } from '@sivshm/core/testing';
import { MAX_UNSENT_BYTES_PER_VM, VmLinkServer } from './vm-link-server.js';

describe('VmLinkServer', () => {
  let dir: string;
  let server: VmLinkServer | undefined;
  const events: string[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sivshm-links-'));
    events.length = 0;
    server = await VmLinkServer.listen(dir, [{ id: 3, name: 'guest' }], {
      onConnect: (vm) => events.push(`connect ${vm}`),
      onMessage: (vm, m) => events.push(`${m.kind} ${vm}`),
      onInvalid: (vm) => events.push(`invalid ${vm}`),
      onDisconnect: (vm, e) => events.push(`disconnect ${vm}${e ? `: ${e.message}` : ''}`),
      onRefused: (vm) => events.push(`refused ${vm}`),
    });
  });
  afterEach(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const until = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && events.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };

  describe('.listen', () => {
    // What QEMU's chardev does when the app in a running guest restarts: the socket stays
    // connected and the new app's first frame is another hello.
    it('should start a VM over when a second hello arrives on the same link', async () => {
      const link = new ControlConnection(net.connect(server!.socketPath(3)!), {
        onMessage: () => undefined,
      });
      try {
        link.send({ kind: 'hello', version: 1, software: 'first app' });
        link.send({ kind: 'heartbeat', sequence: 1n, timeMs: 0n });
        link.send({ kind: 'hello', version: 1, software: 'restarted app' });
        await until(6);
        expect(events).to.deep.equal([
          'connect 3',
          'hello 3',
          'heartbeat 3',
          'disconnect 3: a new hello on the link: the VM started over',
          'connect 3',
          'hello 3',
        ]);
        expect(server!.connected(3)).to.equal(true);
      } finally {
        link.destroy();
      }
    });
  });

  describe('.send', () => {
    it('should drop a VM that does not read once more than MAX_UNSENT_BYTES_PER_VM waits for it, instead of buffering', async () => {
      const socket = net.connect(server!.socketPath(3)!);
      socket.on('error', () => undefined);
      try {
        socket.write(
          encodeControlFrame(encodeControlMessage({ kind: 'hello', version: 1, software: 't' })),
        );
        await until(2);
        socket.pause(); // reads nothing from here on
        const message = { kind: 'sd', message: new Uint8Array(60 * 1024) } as const;
        let accepted = 0;
        for (let i = 0; i < 2000 && server!.send(3, message); i++) {
          accepted += 60 * 1024;
          if (i % 16 === 15) await new Promise((r) => setImmediate(r));
        }
        await until(3);
        expect(server!.connected(3)).to.equal(false);
        expect(events.at(-1)).to.match(/^disconnect 3: the peer left \d+ bytes unread/);
        // What the kernel's socket buffers took, plus the bound.
        expect(accepted).to.be.below(MAX_UNSENT_BYTES_PER_VM + 8 * 1024 * 1024);
      } finally {
        socket.destroy();
      }
    });

    it('should drop a connection that does not say hello within helloTimeoutMs', async () => {
      await server?.close();
      server = await VmLinkServer.listen(
        dir,
        [{ id: 3, name: 'guest' }],
        {
          onConnect: (vm) => events.push(`connect ${vm}`),
          onMessage: (vm, m) => events.push(`${m.kind} ${vm}`),
          onInvalid: (vm) => events.push(`invalid ${vm}`),
          onDisconnect: (vm, e) => events.push(`disconnect ${vm}${e ? `: ${e.message}` : ''}`),
          onRefused: (vm) => events.push(`refused ${vm}`),
        },
        { helloTimeoutMs: 200 },
      );
      const socket = net.connect(server.socketPath(3)!);
      socket.on('error', () => undefined);
      try {
        await until(2);
        expect(events).to.deep.equal(['connect 3', 'disconnect 3: no hello within 200 ms']);
      } finally {
        socket.destroy();
      }
    });
  });
});
