import { SD_MAX_SESSION } from '../wire/someip-header.js';

/**
 * Sending side of session ids (SD-26, SD-765): one counter per communication relation (one
 * for multicast, one per unicast peer), starting at 1 with the reboot flag set; after 0xFFFF
 * it wraps to 1 and the reboot flag of that relation only is cleared for good.
 */
export class SessionCounters {
  private readonly relations = new Map<string, { next: number; reboot: boolean }>();

  /** The session id and reboot flag for the next message on `relation`. */
  next(relation: string): { sessionId: number; reboot: boolean } {
    let r = this.relations.get(relation);
    if (r === undefined) {
      r = { next: 1, reboot: true };
      this.relations.set(relation, r);
    }
    const out = { sessionId: r.next, reboot: r.reboot };
    if (r.next === SD_MAX_SESSION) {
      r.next = 1;
      r.reboot = false;
    } else {
      r.next++;
    }
    return out;
  }
}
