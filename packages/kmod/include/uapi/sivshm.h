/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sivshm.h - user-space interface of sivshm.ko, the guest driver for the
 * IVSHMEM device (PCI 1af4:1110) that hands out channel windows only to
 * processes holding a grant signed by the host (docs/protocol.md).
 *
 * This header is the single source of the ioctl numbers, the ioctl structs,
 * the grant/revoke token layout and the region layout v1. The TypeScript
 * mirror (packages/abi, @sivshm/abi) is checked against it by
 * test/uapi.int.spec.ts.
 *
 * All multi-byte integers are little-endian. Every struct has fixed-size
 * fields and explicit padding; padding must be zero.
 */
#ifndef _UAPI_LINUX_SIVSHM_H
#define _UAPI_LINUX_SIVSHM_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* ioctl magic: unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define SIVSHM_IOCTL_MAGIC	0xBE

#define SIVSHM_PAGE_SIZE	4096

/* ---- region layout v1 (docs/architecture.md) ---- */

#define SIVSHM_REGION_MAGIC	"SIVSHM\0\1"	/* 8 bytes, no terminator */
#define SIVSHM_LAYOUT_VERSION	1
/*
 * Layout version 2 is version 1 with a page granule larger than 4 KiB,
 * named in page_granule: every window page (producer page, consumer page,
 * data area) is a whole number of granules, aligned to one, so a kernel
 * page no larger than the granule never holds pages of both roles.
 * A version 1 header has page_granule 0, meaning 4 KiB.
 */
#define SIVSHM_LAYOUT_VERSION_GRANULE	2
#define SIVSHM_GRANULE_MIN	4096
#define SIVSHM_GRANULE_MAX	65536

/*
 * The read-only control device (docs/protocol.md §10.4): an ivshmem-plain
 * device whose BAR2 is hostd's control file, given to every guest through
 * a read-only memory backend. It holds the region header (under this magic;
 * region_size still names the region) and the channel table at the
 * region's offsets. Once one is bound, the driver reads the header from it
 * and never from the region, which every guest can write.
 */
#define SIVSHM_CONTROL_MAGIC	"SIVCTL\0\1"	/* 8 bytes, no terminator */

/* The header page at offset 0 of BAR2, written only by hostd. */
struct sivshm_region_header {
	__u8 magic[8];
	__u32 layout_version;
	__u32 header_size;
	__u64 region_size;
	__u64 epoch;
	__u64 control_offset;
	__u64 control_size;
	__u64 data_offset;
	__u64 data_size;
	__u32 channel_capacity;
	__u32 channel_entry_size;
	__u64 hostd_heartbeat_ns;
	__u32 flags;
	__u32 page_granule;	/* version 2: 16384 or 65536; version 1: 0 */
};

/*
 * A channel window is two directions, consumer->provider first. Each
 * direction is [producer page][consumer page][data area], the data area a
 * power of two of at least one page. Offsets are relative to the direction
 * and given for granule 4 KiB; with granule G every SIVSHM_PAGE_SIZE here
 * is G (producer page at 0, consumer page at G, data area at 2 G).
 */
#define SIVSHM_WIN_PRODUCER_PAGE	0
#define SIVSHM_WIN_CONSUMER_PAGE	SIVSHM_PAGE_SIZE
#define SIVSHM_WIN_DATA_AREA		(2 * SIVSHM_PAGE_SIZE)

/* ---- grant and revoke tokens (docs/protocol.md) ---- */

#define SIVSHM_GRANT_MAGIC	0x47564953u	/* "SIVG" as a little-endian u32 */
#define SIVSHM_REVOKE_MAGIC	0x52564953u	/* "SIVR" */
#define SIVSHM_TOKEN_VERSION	1	/* of the revoke token */
/*
 * Of the grant token. Version 2 added the channel's doorbell route
 * (db_peer, db_ring, db_observe); a version 1 grant is refused.
 */
#define SIVSHM_GRANT_VERSION	2
#define SIVSHM_TAG_SIZE		32
#define SIVSHM_KEY_SIZE		32
#define SIVSHM_KN_SIZE		16
#define SIVSHM_SERIAL_WINDOW	64
/* HMAC-SHA256 labels, the terminating NUL included in the MAC input */
#define SIVSHM_GRANT_LABEL	"sivshm v1 grant"
#define SIVSHM_REVOKE_LABEL	"sivshm v1 revoke"
/*
 * HMAC-SHA256 label of a revoke receipt: these 24 ASCII bytes, WITHOUT a
 * terminating NUL, followed by the revoke token exactly as presented.
 */
#define SIVSHM_RECEIPT_LABEL	"sivshm v1 revoke-receipt"
#define SIVSHM_RECEIPT_SIZE	32

#define SIVSHM_ROLE_CONSUMER	1
#define SIVSHM_ROLE_PROVIDER	2

#define SIVSHM_PERM_MAP		0x0001

#define SIVSHM_MODE_PLAIN	0
#define SIVSHM_MODE_MAC		1
#define SIVSHM_MODE_AEAD	2

/* db_peer of a grant whose channel has no doorbell route (db_ring is then 0) */
#define SIVSHM_DB_NO_PEER	0xffff
/* vectors a route can name: one bit each in db_ring and db_observe */
#define SIVSHM_DB_MAX_VECTORS	32

/*
 * 104 bytes; followed on the wire by the 32-byte tag.
 *
 * The doorbell route is the channel's, and the only doorbells its holder
 * gets: while the grant is live, the file it was presented on may ring
 * (SIVSHM_IOC_DOORBELL) vector v of the VM at IVPosition db_peer for every
 * bit v of db_ring, and read()/poll() on that file report the interrupts
 * of this VM's vector v for every bit v of db_observe. Nothing else.
 */
struct sivshm_grant_token {
	__u32 magic;
	__u8 version;
	__u8 role;
	__u16 perms;
	__u64 epoch;
	__u64 grant_serial;
	__u32 vm_id;
	__u32 pad0;
	__u64 channel_id;
	__u64 window_offset;
	__u64 window_length;
	__u8 kn[SIVSHM_KN_SIZE];
	__u64 not_after;	/* unix time, ns */
	__u8 mode;
	__u8 target;		/* SIVSHM_GRANT_TARGET_*: where the window is */
	__u8 pad1[6];
	__u16 db_peer;		/* IVPosition of the peer's VM, or SIVSHM_DB_NO_PEER */
	__u16 pad2;
	__u32 db_ring;		/* bit v: may ring vector v of db_peer */
	__u32 db_observe;	/* bit v: may observe this VM's vector v */
	__u32 pad3;
};

/*
 * Where a grant's window is (sivshm_grant_token.target). REGION: in the
 * shared region of the control device, at window_offset of its BAR2.
 * DEVICE: in the channel device bound to channel_id (an ivshmem-plain
 * device that the hypervisor gave to the channel's two VMs only), at
 * window_offset of that device's BAR2; it is mapped at SIVSHM_DEVMAP_BASE.
 */
#define SIVSHM_GRANT_TARGET_REGION	0
#define SIVSHM_GRANT_TARGET_DEVICE	1

/* mmap offset of a file's device window (above any region offset) */
#define SIVSHM_DEVMAP_BASE	(1ULL << 40)

/* ---- channel device memory (BAR2 of a per-channel ivshmem-plain device) ---- */

#define SIVSHM_CHANDEV_MAGIC	"SIVCHN\0\1"	/* 8 bytes, no terminator */
#define SIVSHM_CHANDEV_VERSION	1

/*
 * At offset 0 of a channel device's BAR2, one granule long (the rest of
 * it zero), written by hostd before the device is plugged and never again.
 * The window follows at window_offset (= page_granule); never mapped to
 * user space.
 */
struct sivshm_chandev_header {
	__u8 magic[8];
	__u32 layout_version;
	__u32 header_size;	/* = page_granule */
	__u64 device_size;	/* BAR2 length, a power of two */
	__u64 epoch;		/* hostd's epoch, as in the region header */
	__u64 channel_id;	/* never 0 */
	__u64 window_offset;	/* = page_granule */
	__u64 window_length;
	__u32 page_granule;
	__u32 ring_data_size;
	__u32 consumer_vm;
	__u32 provider_vm;
	__u16 service;
	__u16 instance;
	__u8 major;
	__u8 mode;
	__u16 reserved;
};

/* 40 bytes; followed by the 32-byte tag. */
struct sivshm_revoke_token {
	__u32 magic;
	__u8 version;
	__u8 pad0[3];
	__u64 epoch;
	__u64 revoke_serial;
	__u32 vm_id;
	__u32 pad1;
	__u64 channel_id;
};

/* Why a token was refused (sivshm_grant_req.verdict). */
enum sivshm_verdict {
	SIVSHM_OK = 0,
	SIVSHM_REJ_SIZE = 1,
	SIVSHM_REJ_TAG = 2,
	SIVSHM_REJ_MAGIC = 3,
	SIVSHM_REJ_VERSION = 4,
	SIVSHM_REJ_ROLE = 5,
	SIVSHM_REJ_PERMS = 6,
	SIVSHM_REJ_PAD = 7,
	SIVSHM_REJ_MODE = 8,
	SIVSHM_REJ_VM = 9,
	SIVSHM_REJ_EPOCH = 10,
	SIVSHM_REJ_KN = 11,
	SIVSHM_REJ_WINDOW = 12,
	SIVSHM_REJ_EXPIRED = 13,
	SIVSHM_REJ_REPLAY = 14,
	SIVSHM_REJ_LAYOUT = 15,	/* not a window of the region's layout (length, granule alignment) */
	SIVSHM_REJ_OVERLAP = 16,	/* overlaps a live grant of another channel */
	SIVSHM_REJ_REVOKED = 17,	/* the channel was revoked in this epoch */
	SIVSHM_REJ_DOORBELL = 18,	/* db_ring set without a peer (db_peer NO_PEER) */
	/*
	 * The region's page granule is smaller than this kernel's PAGE_SIZE: a
	 * kernel page would hold pages of both roles, so the role's own pages
	 * could not be writable. Set region.pageGranule >= sivshm_info.page_size.
	 */
	SIVSHM_REJ_GRANULE = 19,
	/* a device grant (target DEVICE) whose channel device is not bound here */
	SIVSHM_REJ_NODEV = 20,
};

/* ---- ioctl structs ---- */

#define SIVSHM_INFO_KEY_SET	0x1	/* a grant key has been provisioned */
#define SIVSHM_INFO_HEADER_OK	0x2	/* the region header is valid (layout 1 or 2) */
#define SIVSHM_INFO_CONTROL_RO	0x4	/* the header is read from the read-only control device */

struct sivshm_info {
	__u64 region_size;	/* BAR2 length */
	__u64 epoch;		/* from the region header (0 if invalid) */
	__u64 data_offset;
	__u64 data_size;
	__u32 ivposition;
	__u32 vectors;		/* MSI-X vectors in use (0: ivshmem-plain) */
	__u32 vm_id;		/* 0 until the key is set */
	__u32 flags;		/* SIVSHM_INFO_* */
	/*
	 * Added after the 48-byte original (which the module still answers):
	 * a grant needs page_granule >= page_size.
	 */
	__u32 page_size;	/* this kernel's PAGE_SIZE */
	__u32 page_granule;	/* the region's granule (0 without a valid header) */
};

struct sivshm_nonce {
	__u8 kn[SIVSHM_KN_SIZE];
};

/* Root only, once per module load; the key cannot be read back. */
struct sivshm_set_key {
	__u8 key[SIVSHM_KEY_SIZE];
	__u32 vm_id;
	__u32 pad0;
};

struct sivshm_grant_req {
	struct sivshm_grant_token token;
	__u8 tag[SIVSHM_TAG_SIZE];
	__u32 verdict;		/* out: enum sivshm_verdict */
	__u32 pad0;
};

/*
 * On SIVSHM_OK the module has zapped every mapping of the channel in this
 * VM and will refuse every grant for it until the epoch changes; receipt
 * then holds HMAC-SHA256(K_vm, SIVSHM_RECEIPT_LABEL || token), the proof
 * hostd checks before it reuses the window. On refusal receipt is zeroed.
 * receipt is ignored on input.
 */
struct sivshm_revoke_req {
	struct sivshm_revoke_token token;
	__u8 tag[SIVSHM_TAG_SIZE];
	__u32 verdict;		/* out */
	__u32 pad0;
	__u8 receipt[SIVSHM_RECEIPT_SIZE];	/* out */
};

/*
 * Rings @vector of the VM at IVPosition @peer. Only a route of a live
 * grant of the same file allows it (bit @vector of db_ring, db_peer ==
 * @peer); anything else is -EPERM.
 */
struct sivshm_doorbell {
	__u16 peer;		/* IVPosition of the target VM */
	__u16 vector;
	__u32 pad0;
};

/*
 * read() on the device returns whole records of this type, for the
 * vectors the file's live grants observe (db_observe) only.
 */
struct sivshm_event {
	__u32 vector;
	__u32 count;		/* interrupts on this vector since the last read */
};

#define SIVSHM_IOC_INFO		_IOR(SIVSHM_IOCTL_MAGIC, 0x01, struct sivshm_info)
#define SIVSHM_IOC_NONCE	_IOR(SIVSHM_IOCTL_MAGIC, 0x02, struct sivshm_nonce)
#define SIVSHM_IOC_SET_KEY	_IOW(SIVSHM_IOCTL_MAGIC, 0x03, struct sivshm_set_key)
#define SIVSHM_IOC_GRANT	_IOWR(SIVSHM_IOCTL_MAGIC, 0x04, struct sivshm_grant_req)
#define SIVSHM_IOC_REVOKE	_IOWR(SIVSHM_IOCTL_MAGIC, 0x05, struct sivshm_revoke_req)
#define SIVSHM_IOC_DOORBELL	_IOW(SIVSHM_IOCTL_MAGIC, 0x06, struct sivshm_doorbell)

#endif /* _UAPI_LINUX_SIVSHM_H */
