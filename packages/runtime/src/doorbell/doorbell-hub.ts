import type { Subscription } from 'rxjs';
import { IvshmemClient, type Waker } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/** The vector a VM is rung on for "a ring of one of your channels has records". */
const DATA_VECTOR = 0;

/**
 * This VM's doorbells, from hostd's ivshmem server: one own vector that every channel of the
 * VM sleeps on, and rings to the peers.
 *
 * Why every channel shares one vector: the server hands out two vectors per peer, not one per
 * channel, so a ring means "look at your rings"; each woken channel re-checks its own ring
 * (one `Atomics.load`) and parks again if it has nothing. Why a ring reaches every other peer:
 * neither `attach` nor the grant says which ivshmem peer id the channel's peer VM holds, so
 * the runtime cannot address it; rings only happen when the peer parked (ARCHITECTURE.md §7),
 * so the cost is a spurious wake-up of a VM that is not in the channel.
 */
export class DoorbellHub {
  readonly #client: IvshmemClient;
  readonly #sleepers = new Set<(rung: boolean) => void>();
  readonly #sub: Subscription;
  #rung = 0;
  /** Doorbells received on the own vector. */
  received = 0;

  private constructor(client: IvshmemClient) {
    this.#client = client;
    this.#sub = client.notifications$.subscribe((n) => {
      if (n.vector !== DATA_VECTOR) return;
      this.received++;
      this.#rung++;
      for (const s of [...this.#sleepers]) s(true);
      this.#sleepers.clear();
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

  /** Other VMs connected to the ivshmem server right now. */
  get peerCount(): number {
    return this.#client.peerIds().length;
  }

  /** A waker for one channel: `wake()` rings the peers, `wait()` sleeps on the own vector. */
  waker(): Waker {
    let seen = this.#rung;
    let closed = false;
    let pending: ((rung: boolean) => void) | undefined;
    return {
      wake: () => {
        if (closed || this.#client.closed) return;
        for (const id of this.#client.peerIds()) {
          try {
            this.#client.ring(id, DATA_VECTOR);
          } catch {
            // The peer left between listing and ringing: nobody to wake there.
          }
        }
      },
      wait: (timeoutMs) => {
        if (closed) return Promise.resolve(false);
        if (this.#rung !== seen) {
          seen = this.#rung;
          return Promise.resolve(true);
        }
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => finish(false), timeoutMs);
          const finish = (rung: boolean): void => {
            clearTimeout(timer);
            this.#sleepers.delete(finish);
            pending = undefined;
            seen = this.#rung;
            resolve(rung);
          };
          pending = finish;
          this.#sleepers.add(finish);
        });
      },
      close: () => {
        closed = true;
        pending?.(false);
      },
    };
  }

  /** Disconnects from the server and closes every doorbell fd. */
  close(): void {
    this.#sub.unsubscribe();
    for (const s of [...this.#sleepers]) s(false);
    this.#sleepers.clear();
    this.#client.close();
  }
}
