/**
 * TypeScript mirror of `packages/kmod/include/uapi/sivshm.h`: ioctl numbers, struct sizes and offsets of the
 * `/dev/sivshm` interface, and the verdict codes the device reports for refused tokens.
 *
 * The header is the single source; `packages/kmod/test/uapi.int.spec.ts` compiles it and compares every
 * number here. Use these to build ioctl arguments from user space (the transport's native
 * addon, tests). All integers are little-endian; padding must be zero.
 */

/** ioctl "type" byte; unassigned in the kernel's ioctl-number.rst. */
export const SIVSHM_IOCTL_MAGIC = 0xbe;

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;

/** The kernel's `_IOC(dir, type, nr, size)` for the asm-generic encoding (x86, arm64). */
function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/** `_IO`, `_IOR`, `_IOW`, `_IOWR` as the kernel defines them. */
export const Ioc = {
  none: (nr: number): number => ioc(IOC_NONE, SIVSHM_IOCTL_MAGIC, nr, 0),
  read: (nr: number, size: number): number => ioc(IOC_READ, SIVSHM_IOCTL_MAGIC, nr, size),
  write: (nr: number, size: number): number => ioc(IOC_WRITE, SIVSHM_IOCTL_MAGIC, nr, size),
  readWrite: (nr: number, size: number): number =>
    ioc(IOC_READ | IOC_WRITE, SIVSHM_IOCTL_MAGIC, nr, size),
} as const;

/**
 * `struct sivshm_info` (SIVSHM_IOC_INFO, out). `pageSize` is the guest kernel's page size and
 * `pageGranule` the region's (from its header, 0 without a valid header): a grant needs
 * `pageGranule ≥ pageSize`. The module still answers the 48-byte request of older user space.
 */
export const InfoLayout = {
  size: 56,
  off: {
    regionSize: 0,
    epoch: 8,
    dataOffset: 16,
    dataSize: 24,
    ivposition: 32,
    vectors: 36,
    vmId: 40,
    flags: 44,
    pageSize: 48,
    pageGranule: 52,
  },
} as const;

/** `sivshm_info.flags` bits. */
export const InfoFlag = { keySet: 0x1, headerOk: 0x2, controlReadOnly: 0x4 } as const;

/** `struct sivshm_nonce` (SIVSHM_IOC_NONCE, out): the 16-byte nonce of the open file. */
export const NonceLayout = { size: 16, off: { kn: 0 } } as const;

/** `struct sivshm_set_key` (SIVSHM_IOC_SET_KEY, in; root only, once). */
export const SetKeyLayout = { size: 40, off: { key: 0, vmId: 32, pad0: 36 } } as const;

/** `struct sivshm_grant_req` (SIVSHM_IOC_GRANT): token, tag, verdict out. */
export const GrantReqLayout = {
  size: 144,
  off: { token: 0, tag: 104, verdict: 136, pad0: 140 },
} as const;

/**
 * `struct sivshm_revoke_req` (SIVSHM_IOC_REVOKE): token, tag, verdict out, and on acceptance the
 * receipt out: HMAC-SHA256(K_vm, `REVOKE_RECEIPT_LABEL` ‖ token), zero on refusal.
 */
export const RevokeReqLayout = {
  size: 112,
  off: { token: 0, tag: 40, verdict: 72, pad0: 76, receipt: 80 },
} as const;

/** `struct sivshm_doorbell` (SIVSHM_IOC_DOORBELL, in). */
export const DoorbellLayout = { size: 8, off: { peer: 0, vector: 2, pad0: 4 } } as const;

/** `struct sivshm_event`: what `read()` on the device returns, one record per vector. */
export const EventLayout = { size: 8, off: { vector: 0, count: 4 } } as const;

/** The device's ioctl request numbers. */
export const SivshmIoctl = {
  info: Ioc.read(0x01, InfoLayout.size),
  nonce: Ioc.read(0x02, NonceLayout.size),
  setKey: Ioc.write(0x03, SetKeyLayout.size),
  grant: Ioc.readWrite(0x04, GrantReqLayout.size),
  revoke: Ioc.readWrite(0x05, RevokeReqLayout.size),
  doorbell: Ioc.write(0x06, DoorbellLayout.size),
} as const;

/**
 * `enum sivshm_verdict`: why the device refused a token. The names from `size` to `replay` are
 * the reasons `verifyGrant` of `@sivshm/core` reports; `layout`, `overlap` and `granule` (the
 * region's page granule is below the kernel's page size) are device-only.
 */
export const SivshmVerdict = {
  ok: 0,
  size: 1,
  tag: 2,
  magic: 3,
  version: 4,
  role: 5,
  perms: 6,
  pad: 7,
  mode: 8,
  vm: 9,
  epoch: 10,
  kn: 11,
  window: 12,
  expired: 13,
  replay: 14,
  layout: 15,
  overlap: 16,
  revoked: 17,
  doorbell: 18,
  granule: 19,
  /** A device grant whose channel device is not bound in this VM (within 2 s). */
  nodev: 20,
} as const;
export type SivshmVerdictName = keyof typeof SivshmVerdict;

/** The size of `struct sivshm_region_header`, the part of the header page the kernel reads. */
export const REGION_HEADER_STRUCT_SIZE = 88;
