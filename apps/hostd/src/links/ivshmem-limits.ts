/**
 * ivshmem peers one process may hold: one per VM it could run (all of them, as the demo does)
 * plus two reconnecting while their old connection closes. A process hoarding connections is
 * cut off there, so the fds hostd holds for doorbells stay bounded.
 */
export const ivshmemPeersPerProcess = (vms: number): number => vms + 2;
/**
 * ivshmem peers in all: each VM's process or QEMU twice over (a restart overlapping its old
 * connection), and at least 16. Every peer costs hostd a socket and an eventfd per vector, and
 * every join sends each peer one fd per vector, so the cap bounds fds and join work.
 */
export const ivshmemPeers = (vms: number): number => Math.max(16, 2 * vms);
