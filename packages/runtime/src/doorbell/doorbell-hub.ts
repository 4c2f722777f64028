import type { Subscription } from 'rxjs';
import { IvshmemClient, SharedVector, type Waker } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/** The vector a VM is rung on for "a ring of one of your channels has records". */
const DATA_VECTOR = 0;

/**
 * This VM's doorbells, from hostd's ivshmem server: one own vector that every channel of the
 * VM sleeps on, and rings to the channel's peer.
 *
 * Why every channel shares one vector: the server hands out two vectors per peer, not one per
 * channel, so a ring means "look at your rings"; each woken channel re-checks its own ring
 * (one `Atomics.load`) and parks again if it has nothing. Whom a ring reaches: the VM tells
 * hostd its own id (`id`, sent as DoorbellId) and hostd hands the peer's id out with each
 * grant, so a channel's waker rings just that peer. When hostd had no id for the peer the
 * waker rings every peer — a spurious wake-up for VMs not in the channel, never a lost one.
 */
export class DoorbellHub {
  readonly #client: IvshmemClient;
  readonly #vector = new SharedVector();
  readonly #sub: Subscription;
  /** Doorbells received on the own vector. */
  received = 0;

  private constructor(client: IvshmemClient) {
    this.#client = client;
    this.#sub = client.notifications$.subscribe((n) => {
      if (n.vector !== DATA_VECTOR) return;
      this.received++;
      this.#vector.rang();
    });
  }

  /** Connects to hostd's ivshmem server at `socketPath`. */
  static async connect(socketPath: string, timeoutMs = 5000): Promise<DoorbellHub> {
    try {
      return new DoorbellHub(await IvshmemClient.connect(socketPath, { vectors: 2, timeoutMs }));
    } catch (e) {
      throw new RuntimeError(
        'ERR_CONNECT',
        `cannot get doorbells from hostd's ivshmem server at ${socketPath}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** This VM's id on the ivshmem server (what its peers ring). */
  get id(): number {
    return this.#client.id;
  }

  /** Other VMs connected to the ivshmem server right now. */
  get peerCount(): number {
    return this.#client.peerIds().length;
  }

  /**
   * A waker for one channel: `wake()` rings the channel's peer `peerId` (every peer when it is
   * undefined), `wait()` sleeps on the own vector.
   */
  waker(peerId?: number): Waker {
    const ring = (id: number): void => {
      try {
        this.#client.ring(id, DATA_VECTOR);
      } catch {
        // The peer left (between listing and ringing, or before): nobody to wake there.
      }
    };
    return this.#vector.waker(
      () => {
        if (peerId !== undefined) ring(peerId);
        else for (const id of this.#client.peerIds()) ring(id);
      },
      () => !this.#client.closed,
    );
  }

  /** Disconnects from the server and closes every doorbell fd. */
  close(): void {
    this.#sub.unsubscribe();
    this.#vector.close();
    this.#client.close();
  }
}
