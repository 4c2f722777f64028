/**
 * Work the gateway does for one network peer is bounded: a token bucket per source address
 * (messages per second, burst) and a cap on that peer's calls waiting for a VM's answer. A peer
 * past either bound has its messages dropped and counted; other peers are not affected.
 */

/** The bounds of `PeerBudgets`. */
export interface PeerBudgetLimits {
  /** Sustained messages per second from one peer. */
  readonly messagesPerSecond: number;
  /** Messages one peer may send back to back. */
  readonly burst: number;
  /** Calls of one peer waiting for their answer at once. */
  readonly callsInFlight: number;
  /** Peers tracked at once; the longest idle one is forgotten past this. */
  readonly maxPeers: number;
}

export const DEFAULT_PEER_BUDGET: PeerBudgetLimits = {
  messagesPerSecond: 2000,
  burst: 200,
  callsInFlight: 64,
  maxPeers: 1024,
};

interface Bucket {
  tokens: number;
  at: number;
  inFlight: number;
}

/** Token buckets and in-flight counts by peer address. */
export class PeerBudgets {
  private readonly peers = new Map<string, Bucket>();

  constructor(
    private readonly limits: PeerBudgetLimits = DEFAULT_PEER_BUDGET,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one message's token for `peer`; false when the peer is over its rate. */
  admit(peer: string): boolean {
    const b = this.bucket(peer);
    const t = this.now();
    b.tokens = Math.min(
      this.limits.burst,
      b.tokens + ((t - b.at) / 1000) * this.limits.messagesPerSecond,
    );
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Starts a call for `peer`; false when it already has `callsInFlight` waiting. */
  startCall(peer: string): boolean {
    const b = this.bucket(peer);
    if (b.inFlight >= this.limits.callsInFlight) return false;
    b.inFlight += 1;
    return true;
  }

  /** A call of `peer` got its answer (or failed). */
  endCall(peer: string): void {
    const b = this.peers.get(peer);
    if (b !== undefined && b.inFlight > 0) b.inFlight -= 1;
  }

  private bucket(peer: string): Bucket {
    let b = this.peers.get(peer);
    if (b === undefined) {
      if (this.peers.size >= this.limits.maxPeers) this.forgetOneIdle();
      b = { tokens: this.limits.burst, at: this.now(), inFlight: 0 };
      this.peers.set(peer, b);
    } else {
      // Map order is insertion order: re-inserting keeps the least recently seen first.
      this.peers.delete(peer);
      this.peers.set(peer, b);
    }
    return b;
  }

  private forgetOneIdle(): void {
    for (const [peer, b] of this.peers)
      if (b.inFlight === 0) {
        this.peers.delete(peer);
        return;
      }
  }
}
