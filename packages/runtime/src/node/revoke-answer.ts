import type { ControlMessage } from '@sivshm/core';
import type { ChannelDevice } from '@sivshm/transport-ivshmem';

/** What the runtime does with a REVOKE from hostd: an acknowledgement, or an error to report. */
export type RevokeAnswer =
  { readonly ack: Extract<ControlMessage, { kind: 'revokeAck' }> } | { readonly error: string };

/**
 * Applies a REVOKE to the device and builds the acknowledgement that carries its receipt. A
 * revoke the device refused (forged, replayed, device gone) gets no acknowledgement at all:
 * hostd then keeps the window quarantined rather than hand memory this VM may still map to
 * another pair (docs/security.md, revocation).
 */
export function answerRevoke(
  device: Pick<ChannelDevice, 'revoke'>,
  channelId: bigint,
  token: Uint8Array,
  tag: Uint8Array,
): RevokeAnswer {
  try {
    const { receipt } = device.revoke(token, tag);
    return { ack: { kind: 'revokeAck', channelId, receipt } };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
