/**
 * The signed grant the transport's device tests present: a `map` grant in plain mode of the
 * epoch createRegionFixture writes, valid for a minute unless the test says otherwise; the
 * role, VM, channel, window and nonce are the test's.
 */
import { GrantPerm, type GrantRoleName } from '@sivshm/abi';
import { nodeBackend, signGrant } from '@sivshm/core/testing';

export interface TestGrant {
  readonly role: GrantRoleName;
  readonly vmId: number;
  readonly channelId: bigint;
  readonly windowOffset: number;
  readonly windowLength: number;
  /** The nonce of the device file the grant is for. */
  readonly kn: Uint8Array;
  /** Default 1. */
  readonly grantSerial?: bigint;
  /** Default 3 (createRegionFixture's). */
  readonly epoch?: bigint;
  /** How long from now the grant is valid; default 60 s. */
  readonly lifetimeMs?: number;
}

/** Signs `t` with `key` (the VM's K_vm) as hostd would. */
export function signTestGrant(
  key: Uint8Array,
  t: TestGrant,
): { readonly token: Uint8Array; readonly tag: Uint8Array } {
  return signGrant(nodeBackend, key, {
    role: t.role,
    perms: GrantPerm.map,
    epoch: t.epoch ?? 3n,
    grantSerial: t.grantSerial ?? 1n,
    vmId: t.vmId,
    channelId: t.channelId,
    windowOffset: BigInt(t.windowOffset),
    windowLength: BigInt(t.windowLength),
    kn: t.kn,
    notAfterNs: BigInt(Date.now() + (t.lifetimeMs ?? 60_000)) * 1_000_000n,
    mode: 'plain',
  });
}
