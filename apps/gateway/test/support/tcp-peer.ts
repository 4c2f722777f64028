// The external ECU's TCP side for export-scenario.ts: a raw net.Socket from 127.0.0.2, SOME/IP
// messages framed by hand (Length field), a method call and an eventgroup subscribed with the
// connection's own endpoint as its TCP endpoint option — none of the gateway's classes.
import { connect, type Socket } from 'node:net';
import { waitFor } from '@sivshm/testing';
import { parseSomeIp, someIp, type RawMessage } from './raw-someip-peer.js';

export const TCP_PORT = 30502;
/** Client port of the deliberately broken connection (left out of the tshark check). */
export const TCP_JUNK_PORT = 40002;

/** A TCP connection from `local` that collects whole SOME/IP messages. */
export async function openTcp(
  local: string,
  localPort?: number,
): Promise<{ socket: Socket; messages: RawMessage[]; closed: () => boolean }> {
  const socket = connect({
    host: '127.0.0.1',
    port: TCP_PORT,
    localAddress: local,
    ...(localPort === undefined ? {} : { localPort }),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const messages: RawMessage[] = [];
  let pending = Buffer.alloc(0);
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 16 && pending.length >= 8 + pending.readUInt32BE(4)) {
      const end = 8 + pending.readUInt32BE(4);
      messages.push(parseSomeIp(Buffer.from(pending.subarray(0, end))));
      pending = pending.subarray(end);
    }
  });
  return { socket, messages, closed: () => closed };
}

/** A reset request over TCP, written in two pieces (the gateway must reassemble it). */
export async function callOverTcp(tcp: Awaited<ReturnType<typeof openTcp>>): Promise<RawMessage> {
  const request = someIp(
    {
      serviceId: 0x1234,
      methodId: 0x0001,
      clientId: 0x0043,
      sessionId: 9,
      interfaceVersion: 1,
      messageType: 0x00,
      returnCode: 0,
    },
    Buffer.from([0x08, 0x07]),
  );
  tcp.socket.write(request.subarray(0, 10));
  await new Promise((r) => setTimeout(r, 20));
  tcp.socket.write(request.subarray(10));
  await waitFor(
    () => tcp.messages.some((m) => m.messageType === 0x80 || m.messageType === 0x81),
    'the TCP response',
    5_000,
    5,
  );
  return tcp.messages.find((m) => m.messageType === 0x80 || m.messageType === 0x81)!;
}
