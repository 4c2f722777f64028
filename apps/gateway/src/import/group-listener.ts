import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { interfaceOf } from '@sivshm/discovery';

/**
 * Receives an eventgroup's multicast events: the group and port a network provider named in
 * its SubscribeAck (PRS_SOMEIPSD: the client then listens there), joined on the interface of
 * the gateway's address. A socket bound to the gateway's unicast address does not see them.
 */
export async function listenToGroup(
  unicast: string,
  group: string,
  port: number,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
): Promise<Socket> {
  const v6 = unicast.includes(':');
  const socket = createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, group, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  try {
    socket.addMembership(group, v6 ? `::%${interfaceOf(unicast)}` : unicast);
  } catch (e) {
    socket.close();
    throw e;
  }
  socket.on('message', onMessage);
  socket.on('error', () => undefined); // reported by the import that uses it, not fatal
  return socket;
}
