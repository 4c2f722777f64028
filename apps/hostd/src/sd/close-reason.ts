import type { CloseReason } from '../channels/channel-lifecycle.js';

/** How the SD switch names an offer's departure → the close reason its channels get. */
export function closeReasonOf(why: string, stopping: boolean): CloseReason {
  if (why === 'stopOffer') return 'stop-offer';
  if (why === 'ttlExpired') return 'ttl-expired';
  if (why === 'peerRebooted') return 'vm-rebooted';
  return stopping ? 'hostd-shutdown' : 'vm-gone';
}
