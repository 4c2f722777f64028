/**
 * A hostile app of the tier-3 consumer guest (issue 12): it takes a channel, closes it, and
 * when hostd's REVOKE comes it never hands it to sivshm.ko but acknowledges anyway, with
 * made-up receipt bytes (`forged`) or with none (`none`). Skipping the ioctl is the one thing
 * the kernel cannot stop an app from doing, so it is what hostd's receipt check is for: the real
 * hostd must refuse the ack and keep the window quarantined (run-qemu-tests.ts judges it from
 * hostd's log, status and region file; receipt-checks.ts).
 *
 * The swap is made on the bundle's one copy of `KernelDevice`, the device `@sivshm/runtime`
 * opens in qemu mode: the runtime itself is unchanged and still sends the `revokeAck` it
 * builds from whatever the device answered (runtime's revoke-answer.ts).
 */
import { randomBytes } from 'node:crypto';
import { RevokeLayout } from '@sivshm/abi';
import { KernelDevice } from '@sivshm/transport-ivshmem';

/** What the hostile app puts in its `revokeAck` instead of the device's receipt. */
export type SkippedReceipt = 'forged' | 'none';

/** The app's role name on the guest's command line, per receipt kind. */
export const SKIPPER_ROLE: Readonly<Record<SkippedReceipt, string>> = {
  forged: 'forged-receipt-consumer',
  none: 'no-receipt-consumer',
};

/** The parts of `@sivshm/runtime`'s Node this app uses. */
interface SkipperNode {
  consume(
    name: string,
    o: { instance: number; timeoutMs?: number },
  ): Promise<{
    readonly channelId: bigint | undefined;
    readonly status: string;
    close(): Promise<void>;
  }>;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long the window carries heartbeats before the close (the host sees it is not zeroed). */
const LIVE_MS = 1000;
/** Bound on waiting for hostd's REVOKE after the close. */
const REVOKE_WAIT_MS = 30_000;

/** Replaces the device's REVOKE with one that skips the kernel; returns the channels it skipped. */
function skipDeviceRevokes(receipt: SkippedReceipt): bigint[] {
  const skipped: bigint[] = [];
  KernelDevice.prototype.revoke = function (token: Uint8Array) {
    const channelId = new DataView(token.buffer, token.byteOffset).getBigUint64(
      RevokeLayout.off.channelId,
      true,
    );
    skipped.push(channelId);
    return {
      channelId,
      receipt: receipt === 'none' ? new Uint8Array(0) : new Uint8Array(randomBytes(32)),
    };
  };
  return skipped;
}

/**
 * Runs the hostile consumer: `open` opens its node as the cluster VM; `say` reports a step.
 * Steps: `skipper-consumed` (channel id), `skipper-acked` (the REVOKE it skipped and acked).
 */
export async function receiptSkippingConsumer(
  open: () => Promise<SkipperNode>,
  receipt: SkippedReceipt,
  say: (o: object) => void,
): Promise<void> {
  const skipped = skipDeviceRevokes(receipt);
  const node = await open();
  const speed = await node.consume('VehicleSpeed', { instance: 1, timeoutMs: 60_000 });
  const channelId = speed.channelId;
  say({ step: 'skipper-consumed', receipt, channelId, status: speed.status });
  await sleep(LIVE_MS);
  await speed.close();
  const end = Date.now() + REVOKE_WAIT_MS;
  while (channelId !== undefined && !skipped.includes(channelId) && Date.now() < end) {
    await sleep(50);
  }
  // The runtime sent the ack right after the swapped revoke returned.
  say({ step: 'skipper-acked', receipt, channelId, skipped });
  await node.close();
}
