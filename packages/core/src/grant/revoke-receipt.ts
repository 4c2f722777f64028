import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { REVOKE_RECEIPT_LABEL, REVOKE_RECEIPT_SIZE } from '@sivshm/abi';

const receiptLabel = new TextEncoder().encode(REVOKE_RECEIPT_LABEL);

/**
 * The receipt a device returns after it applied a REVOKE and tore down every mapping of the
 * channel: `HMAC-SHA256(K_vm, "sivshm v1 revoke-receipt" ‖ token)`, over the exact token bytes
 * it was given. hostd checks it (`verifyRevokeReceipt`) before it zeroes or reuses the window.
 *
 * Only a holder of K_vm can compute it. With sivshm.ko that is the kernel alone, so a receipt
 * proves the revoke happened; in emulated mode the app process holds K_vm itself and a receipt
 * proves only that the runtime did not skip the device (docs/security.md).
 */
export function computeRevokeReceipt(
  crypto: CryptoBackend,
  key: Uint8Array,
  token: Uint8Array,
): Uint8Array {
  return crypto.hmacSha256(key, receiptLabel, token);
}

/** True when `receipt` is the receipt of `token` under `key` (constant-time comparison). */
export function verifyRevokeReceipt(
  crypto: CryptoBackend,
  key: Uint8Array,
  token: Uint8Array,
  receipt: Uint8Array | undefined,
): boolean {
  if (receipt === undefined || receipt.length !== REVOKE_RECEIPT_SIZE) return false;
  return equalConstantTime(computeRevokeReceipt(crypto, key, token), receipt);
}
