import type { Subscription } from 'rxjs';
import { TransportError } from '../errors/transport-error.js';
import { IvshmemClient } from '../ivshmem-server/ivshmem-client.js';
import type { Waker } from '../notify/waker.js';
import type { Doorbells } from './doorbells.js';
import { SharedVector } from './shared-vector.js';

/** The vector a VM is rung on for "a ring of one of your channels has records". */
const DATA_VECTOR = 0;

/**
 * The emulated mode's {@link Doorbells}: a client of hostd's ivshmem server, which hands out
 * two vectors per peer (the first is the data vector every channel of the VM sleeps on).
 *
 * Whom a ring reaches: the VM tells hostd its own id (`id`, sent as DoorbellId) and hostd hands
 * the peer's id out with each grant, so a channel's waker rings just that peer. When hostd had
 * no id for the peer the waker rings every peer connected to the server.
 */
export class EmulatedDoorbells implements Doorbells {
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

  /**
   * Connects to hostd's ivshmem server at `socketPath`. Rejects with the client's typed error
   * (`ERR_SYSCALL`, `ERR_TIMEOUT`, `ERR_PROTOCOL`, `ERR_PEER_GONE`), its message naming the path.
   */
  static async connect(socketPath: string, timeoutMs = 5000): Promise<EmulatedDoorbells> {
    try {
      return new EmulatedDoorbells(
        await IvshmemClient.connect(socketPath, { vectors: 2, timeoutMs }),
      );
    } catch (e) {
      const code = TransportError.is(e) ? e.code : 'ERR_SYSCALL';
      throw new TransportError(
        code,
        `cannot get doorbells from the ivshmem server at ${socketPath}: ${(e as Error).message}`,
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

  /** See {@link Doorbells.waker}. */
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
