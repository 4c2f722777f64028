/** Which relation a message arrived on: its session counter is kept apart (SD-871). */
export type SdChannel = 'multicast' | 'unicast';

/**
 * Receiving side of reboot detection (SD-863..SD-872), per peer and separately for multicast
 * and unicast. With the last (session, reboot flag) `old` and the new `cur`, the peer
 * rebooted when `old.reboot = 0 ∧ cur.reboot = 1`, or when
 * `old.reboot = 1 ∧ cur.reboot = 1 ∧ old.session ≥ cur.session`.
 */
export class RebootDetector {
  private readonly last = new Map<string, { session: number; reboot: boolean }>();

  /** Records a message; true when it shows that `peer` rebooted since the last one. */
  observe(peer: string, channel: SdChannel, sessionId: number, reboot: boolean): boolean {
    const key = `${channel}|${peer}`;
    const old = this.last.get(key);
    this.last.set(key, { session: sessionId, reboot });
    if (old === undefined) return false;
    const rebooted = (!old.reboot && reboot) || (old.reboot && reboot && old.session >= sessionId);
    // The other relation's record predates the reboot: forget it, so that the rebooted peer's
    // first message there starts a new baseline instead of being taken for a second reboot.
    if (rebooted) this.last.delete(`${channel === 'multicast' ? 'unicast' : 'multicast'}|${peer}`);
    return rebooted;
  }

  /** Forgets a peer (after it was expired for another reason). */
  forget(peer: string): void {
    this.last.delete(`multicast|${peer}`);
    this.last.delete(`unicast|${peer}`);
  }
}
