// The gateway bench's baseline: a plain Node UDP relay as its own process. Datagrams from the
// server address go back to the client that last sent; anything else goes on to the server.
// This is the least a relay does (receive, send), to set the gateway's figures against.
import { createSocket } from 'node:dgram';

const [listenPort, serverPort] = process.argv.slice(2).map(Number);
if (listenPort === undefined || serverPort === undefined)
  throw new Error('usage: udp-relay <listen port> <server port>');
const SERVER = '127.0.0.1';
const socket = createSocket('udp4');
let client: { address: string; port: number } | undefined;
socket.on('message', (msg, r) => {
  if (r.address === SERVER && r.port === serverPort) {
    if (client !== undefined) socket.send(msg, client.port, client.address);
    return;
  }
  client = { address: r.address, port: r.port };
  socket.send(msg, serverPort, SERVER);
});
socket.bind(listenPort, '127.0.0.3', () => process.send?.({ event: 'ready' }));
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'exit') socket.close(() => process.disconnect?.());
});
process.on('disconnect', () => {
  try {
    socket.close();
  } catch {
    // already closed
  }
});
