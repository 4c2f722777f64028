/* Prints every number of include/uapi/sivshm.h as "name value" lines, for uapi.int.spec.ts. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sivshm.h"

#define N(name, v) printf("%s %llu\n", name, (unsigned long long)(v))
#define SZ(s) N("sizeof." #s, sizeof(struct s))
#define OFF(s, f) N("offsetof." #s "." #f, offsetof(struct s, f))

static void hex(const char *name, const void *p, size_t n)
{
	const unsigned char *b = p;

	printf("%s ", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(void)
{
	N("ioctl.magic", SIVSHM_IOCTL_MAGIC);
	N("ioctl.info", SIVSHM_IOC_INFO);
	N("ioctl.nonce", SIVSHM_IOC_NONCE);
	N("ioctl.setKey", SIVSHM_IOC_SET_KEY);
	N("ioctl.grant", SIVSHM_IOC_GRANT);
	N("ioctl.revoke", SIVSHM_IOC_REVOKE);
	N("ioctl.doorbell", SIVSHM_IOC_DOORBELL);

	SZ(sivshm_info);
	OFF(sivshm_info, region_size);
	OFF(sivshm_info, epoch);
	OFF(sivshm_info, data_offset);
	OFF(sivshm_info, data_size);
	OFF(sivshm_info, ivposition);
	OFF(sivshm_info, vectors);
	OFF(sivshm_info, vm_id);
	OFF(sivshm_info, flags);
	OFF(sivshm_info, page_size);
	OFF(sivshm_info, page_granule);
	N("info.keySet", SIVSHM_INFO_KEY_SET);
	N("info.headerOk", SIVSHM_INFO_HEADER_OK);
	N("info.controlReadOnly", SIVSHM_INFO_CONTROL_RO);
	SZ(sivshm_nonce);
	OFF(sivshm_nonce, kn);
	SZ(sivshm_set_key);
	OFF(sivshm_set_key, key);
	OFF(sivshm_set_key, vm_id);
	OFF(sivshm_set_key, pad0);
	SZ(sivshm_grant_req);
	OFF(sivshm_grant_req, token);
	OFF(sivshm_grant_req, tag);
	OFF(sivshm_grant_req, verdict);
	OFF(sivshm_grant_req, pad0);
	SZ(sivshm_revoke_req);
	OFF(sivshm_revoke_req, token);
	OFF(sivshm_revoke_req, tag);
	OFF(sivshm_revoke_req, verdict);
	OFF(sivshm_revoke_req, pad0);
	OFF(sivshm_revoke_req, receipt);
	SZ(sivshm_doorbell);
	OFF(sivshm_doorbell, peer);
	OFF(sivshm_doorbell, vector);
	OFF(sivshm_doorbell, pad0);
	SZ(sivshm_event);
	OFF(sivshm_event, vector);
	OFF(sivshm_event, count);

	SZ(sivshm_grant_token);
	OFF(sivshm_grant_token, magic);
	OFF(sivshm_grant_token, version);
	OFF(sivshm_grant_token, role);
	OFF(sivshm_grant_token, perms);
	OFF(sivshm_grant_token, epoch);
	OFF(sivshm_grant_token, grant_serial);
	OFF(sivshm_grant_token, vm_id);
	OFF(sivshm_grant_token, pad0);
	OFF(sivshm_grant_token, channel_id);
	OFF(sivshm_grant_token, window_offset);
	OFF(sivshm_grant_token, window_length);
	OFF(sivshm_grant_token, kn);
	OFF(sivshm_grant_token, not_after);
	OFF(sivshm_grant_token, mode);
	OFF(sivshm_grant_token, target);
	OFF(sivshm_grant_token, pad1);
	OFF(sivshm_grant_token, db_peer);
	OFF(sivshm_grant_token, pad2);
	OFF(sivshm_grant_token, db_ring);
	OFF(sivshm_grant_token, db_observe);
	OFF(sivshm_grant_token, pad3);
	N("grant.knSize", sizeof(((struct sivshm_grant_token *)0)->kn));
	N("grant.pad1Size", sizeof(((struct sivshm_grant_token *)0)->pad1));
	SZ(sivshm_revoke_token);
	OFF(sivshm_revoke_token, magic);
	OFF(sivshm_revoke_token, version);
	OFF(sivshm_revoke_token, pad0);
	OFF(sivshm_revoke_token, epoch);
	OFF(sivshm_revoke_token, revoke_serial);
	OFF(sivshm_revoke_token, vm_id);
	OFF(sivshm_revoke_token, pad1);
	OFF(sivshm_revoke_token, channel_id);
	N("revoke.pad0Size", sizeof(((struct sivshm_revoke_token *)0)->pad0));
	N("grant.magic", SIVSHM_GRANT_MAGIC);
	N("revoke.magic", SIVSHM_REVOKE_MAGIC);
	N("token.version", SIVSHM_TOKEN_VERSION);
	N("grant.version", SIVSHM_GRANT_VERSION);
	N("db.noPeer", SIVSHM_DB_NO_PEER);
	N("db.maxVectors", SIVSHM_DB_MAX_VECTORS);
	N("token.tagSize", SIVSHM_TAG_SIZE);
	N("token.keySize", SIVSHM_KEY_SIZE);
	N("token.serialWindow", SIVSHM_SERIAL_WINDOW);
	hex("label.grant", SIVSHM_GRANT_LABEL, sizeof(SIVSHM_GRANT_LABEL));
	hex("label.revoke", SIVSHM_REVOKE_LABEL, sizeof(SIVSHM_REVOKE_LABEL));
	/* the receipt label is hashed without its NUL */
	hex("label.receipt", SIVSHM_RECEIPT_LABEL, sizeof(SIVSHM_RECEIPT_LABEL) - 1);
	N("receipt.size", SIVSHM_RECEIPT_SIZE);
	N("role.consumer", SIVSHM_ROLE_CONSUMER);
	N("role.provider", SIVSHM_ROLE_PROVIDER);
	N("perm.map", SIVSHM_PERM_MAP);
	N("mode.plain", SIVSHM_MODE_PLAIN);
	N("mode.mac", SIVSHM_MODE_MAC);
	N("mode.aead", SIVSHM_MODE_AEAD);

	N("verdict.ok", SIVSHM_OK);
	N("verdict.size", SIVSHM_REJ_SIZE);
	N("verdict.tag", SIVSHM_REJ_TAG);
	N("verdict.magic", SIVSHM_REJ_MAGIC);
	N("verdict.version", SIVSHM_REJ_VERSION);
	N("verdict.role", SIVSHM_REJ_ROLE);
	N("verdict.perms", SIVSHM_REJ_PERMS);
	N("verdict.pad", SIVSHM_REJ_PAD);
	N("verdict.mode", SIVSHM_REJ_MODE);
	N("verdict.vm", SIVSHM_REJ_VM);
	N("verdict.epoch", SIVSHM_REJ_EPOCH);
	N("verdict.kn", SIVSHM_REJ_KN);
	N("verdict.window", SIVSHM_REJ_WINDOW);
	N("verdict.expired", SIVSHM_REJ_EXPIRED);
	N("verdict.replay", SIVSHM_REJ_REPLAY);
	N("verdict.layout", SIVSHM_REJ_LAYOUT);
	N("verdict.overlap", SIVSHM_REJ_OVERLAP);
	N("verdict.revoked", SIVSHM_REJ_REVOKED);
	N("verdict.doorbell", SIVSHM_REJ_DOORBELL);
	N("verdict.granule", SIVSHM_REJ_GRANULE);
	N("verdict.nodev", SIVSHM_REJ_NODEV);

	N("page.size", SIVSHM_PAGE_SIZE);
	SZ(sivshm_region_header);
	OFF(sivshm_region_header, magic);
	OFF(sivshm_region_header, layout_version);
	OFF(sivshm_region_header, header_size);
	OFF(sivshm_region_header, region_size);
	OFF(sivshm_region_header, epoch);
	OFF(sivshm_region_header, control_offset);
	OFF(sivshm_region_header, control_size);
	OFF(sivshm_region_header, data_offset);
	OFF(sivshm_region_header, data_size);
	OFF(sivshm_region_header, channel_capacity);
	OFF(sivshm_region_header, channel_entry_size);
	OFF(sivshm_region_header, hostd_heartbeat_ns);
	OFF(sivshm_region_header, flags);
	OFF(sivshm_region_header, page_granule);
	hex("region.magic", SIVSHM_REGION_MAGIC, 8);
	hex("control.magic", SIVSHM_CONTROL_MAGIC, 8);
	N("region.layoutVersion", SIVSHM_LAYOUT_VERSION);
	N("region.granuleLayoutVersion", SIVSHM_LAYOUT_VERSION_GRANULE);
	N("region.granuleMin", SIVSHM_GRANULE_MIN);
	N("region.granuleMax", SIVSHM_GRANULE_MAX);
	N("window.producerPage", SIVSHM_WIN_PRODUCER_PAGE);
	N("window.consumerPage", SIVSHM_WIN_CONSUMER_PAGE);
	N("window.dataArea", SIVSHM_WIN_DATA_AREA);
	N("target.region", SIVSHM_GRANT_TARGET_REGION);
	N("target.device", SIVSHM_GRANT_TARGET_DEVICE);
	N("devmap.base", SIVSHM_DEVMAP_BASE);
	SZ(sivshm_chandev_header);
	OFF(sivshm_chandev_header, magic);
	OFF(sivshm_chandev_header, layout_version);
	OFF(sivshm_chandev_header, header_size);
	OFF(sivshm_chandev_header, device_size);
	OFF(sivshm_chandev_header, epoch);
	OFF(sivshm_chandev_header, channel_id);
	OFF(sivshm_chandev_header, window_offset);
	OFF(sivshm_chandev_header, window_length);
	OFF(sivshm_chandev_header, page_granule);
	OFF(sivshm_chandev_header, ring_data_size);
	OFF(sivshm_chandev_header, consumer_vm);
	OFF(sivshm_chandev_header, provider_vm);
	OFF(sivshm_chandev_header, service);
	OFF(sivshm_chandev_header, instance);
	OFF(sivshm_chandev_header, major);
	OFF(sivshm_chandev_header, mode);
	OFF(sivshm_chandev_header, reserved);
	hex("chandev.magic", SIVSHM_CHANDEV_MAGIC, 8);
	N("chandev.version", SIVSHM_CHANDEV_VERSION);
	return 0;
}
