import type { Subscription } from 'rxjs';
import { DoorbellRoute } from '@sivshm/abi';
import type { DeviceFile } from '../device/channel-device.js';
import { TransportError } from '../errors/transport-error.js';
import { IvshmemClient } from '../ivshmem-server/ivshmem-client.js';
import type { Waker } from '../notify/waker.js';
import { observes, ringTargets } from './doorbell-routes.js';
import type { Doorbells } from './doorbells.js';
import { FileVectors } from './file-vectors.js';

/** Vectors per peer hostd's ivshmem server hands out (hostd gives each channel one of them). */
const VECTORS = 2;

/**
 * The emulated mode's {@link Doorbells}: a client of hostd's ivshmem server, which hands out
 * eventfds for every vector of every peer. The routing sivshm.ko enforces is applied here in user
 * space from the grants the channel's `EmulatedDevice` file holds (not a security boundary, as
 * `EmulatedDevice` is not; it exists so the per-channel routing runs and is tested everywhere):
 * a waker rings only the (peer, vector) pairs its file's live grants route, and a doorbell on
 * vector v wakes only the wakers whose file's live grants observe v.
 */
export class EmulatedDoorbells implements Doorbells {
  readonly #client: IvshmemClient;
  readonly #files = new FileVectors();
  readonly #sub: Subscription;
  /** Doorbells received on a vector some granted file observes. */
  received = 0;
  /** Rings not sent: the file's live grants route nothing (not presented yet, or revoked). */
  ringFailures = 0;

  private constructor(client: IvshmemClient) {
    this.#client = client;
    this.#sub = client.notifications$.subscribe((n) => this.#deliver(n.vector));
  }

  /**
   * Connects to hostd's ivshmem server at `socketPath`. Rejects with the client's typed error
   * (`ERR_SYSCALL`, `ERR_TIMEOUT`, `ERR_PROTOCOL`, `ERR_PEER_GONE`), its message naming the path.
   */
  static async connect(socketPath: string, timeoutMs = 5000): Promise<EmulatedDoorbells> {
    try {
      return new EmulatedDoorbells(
        await IvshmemClient.connect(socketPath, { vectors: VECTORS, timeoutMs }),
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
  waker(file: DeviceFile): Waker {
    return this.#files.waker(
      file,
      () => {
        const routes = file.doorbellRoutes();
        const only = routes.length === 1 ? routes[0]! : undefined;
        // The rule is one live grant per file: ring its mask's bits at its peer straight away
        // (no target list per ring). Several routes go through ringTargets, which drops repeats.
        const sent =
          only === undefined
            ? this.#ringAll(ringTargets(routes))
            : only.peer === undefined
              ? 0
              : this.#ringMask(only.peer, only.ring);
        if (sent === 0) this.ringFailures++;
      },
      () => !this.#client.closed,
      () => () => undefined,
    );
  }

  /** Disconnects from the server and closes every doorbell fd. */
  close(): void {
    this.#sub.unsubscribe();
    this.#files.close();
    this.#client.close();
  }

  /** Rings `vector` of `peer`; false when the peer left (nobody to wake there). */
  #ring(peer: number, vector: number): boolean {
    try {
      this.#client.ring(peer, vector);
      return true;
    } catch {
      return false;
    }
  }

  /** Rings each vector of `mask` at `peer`; the number of vectors rung or tried. */
  #ringMask(peer: number, mask: number): number {
    let n = 0;
    for (let v = 0; v < DoorbellRoute.maxVectors; v++) {
      if (((mask >>> v) & 1) === 0) continue;
      this.#ring(peer, v);
      n++;
    }
    return n;
  }

  /** Rings every target; their number. */
  #ringAll(targets: readonly { peer: number; vector: number }[]): number {
    for (const t of targets) this.#ring(t.peer, t.vector);
    return targets.length;
  }

  /** A doorbell on own `vector`: for the files whose live grants observe it, as sivshm.ko's read(). */
  #deliver(vector: number): void {
    let seen = false;
    // Waking only resolves promises (nothing runs meanwhile), so the file map cannot change
    // under this loop: no copy of it per doorbell.
    for (const f of this.#files.files()) {
      if (!observes(f.doorbellRoutes(), vector)) continue;
      seen = true;
      this.#files.rang(f);
    }
    if (seen) this.received++;
  }
}
