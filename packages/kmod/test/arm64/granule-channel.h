/* SPDX-License-Identifier: GPL-2.0 */
/*
 * granule-channel.h: a channel of a region laid out for a 16 KiB page granule, run by two
 * processes of the guest through sivshm.ko: the consumer sends SOME/IP requests through the
 * c2p ring and the provider answers each one through the p2c ring. Each process holds its own
 * grant on its own open file and touches only the words its role writes (docs/protocol.md):
 * its producer page's index, its consumer page's index and its own data area.
 *
 * Rings as @sivshm/abi lays them out with granule G: per direction [producer page G]
 * [consumer page G][data area], the indices free-running byte counts at offset 0 of each page;
 * a record is a 16-byte SOME/IP header (network byte order) and its payload, padded to 8; a
 * record that would straddle the end leaves an 8-byte wrap marker (message id 0xFFFFFFFF,
 * length 0) and starts at 0.
 */
#ifndef GRANULE_CHANNEL_H
#define GRANULE_CHANNEL_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#define GC_HEADER 16
#define GC_PAYLOAD 8
#define GC_RECORD 24			/* header + payload, a multiple of 8 */
#define GC_WRAP_ID 0xffffffffu
#define GC_SERVICE_METHOD 0x12340001u	/* service 0x1234, method 1 */
#define GC_REQUEST 0x00
#define GC_RESPONSE 0x80

struct gc_ring {
	volatile uint32_t *prod;	/* producer index, in the producer page */
	volatile uint32_t *cons;	/* consumer index, in the consumer page */
	volatile unsigned char *data;
	uint32_t size;
};

/* Direction @dir (0 c2p, 1 p2c) of a window mapped at @w, granule @g, data area @d. */
static struct gc_ring gc_ring_of(volatile char *w, unsigned long g, unsigned long d, int dir)
{
	volatile char *base = w + (unsigned long)dir * (2 * g + d);

	return (struct gc_ring){
		.prod = (volatile uint32_t *)base,
		.cons = (volatile uint32_t *)(base + g),
		.data = (volatile unsigned char *)(base + 2 * g),
		.size = (uint32_t)d,
	};
}

static uint64_t gc_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void gc_put32(volatile unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy((void *)p, &v, 4);
}

static uint32_t gc_get32(const volatile unsigned char *p)
{
	uint32_t v;

	memcpy(&v, (const void *)p, 4);
	return ntohl(v);
}

/* Publishes one record of @type carrying @seq; 0 when there is no room yet. */
static int gc_send(struct gc_ring *r, uint8_t type, uint64_t seq)
{
	uint32_t head = *r->prod;	/* only this process writes it */
	uint32_t tail = __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	uint32_t at = head % r->size;
	uint32_t need = GC_RECORD + (at + GC_RECORD > r->size ? r->size - at : 0);
	volatile unsigned char *p;

	if (r->size - (head - tail) < need)
		return 0;
	if (need > GC_RECORD) {	/* skip the tail: wrap marker, then the record at 0 */
		gc_put32(r->data + at, GC_WRAP_ID);
		gc_put32(r->data + at + 4, 0);
		at = 0;
	}
	p = r->data + at;
	gc_put32(p, GC_SERVICE_METHOD);
	gc_put32(p + 4, 8 + GC_PAYLOAD);		/* length: from request id to the end */
	gc_put32(p + 8, (uint32_t)seq);			/* client id / session id */
	p[12] = 1;					/* protocol version */
	p[13] = 1;					/* interface version */
	p[14] = type;
	p[15] = 0;					/* return code E_OK */
	memcpy((void *)(p + GC_HEADER), &seq, sizeof(seq));
	__atomic_store_n(r->prod, head + need, __ATOMIC_RELEASE);
	return 1;
}

/* Takes one record: 1 with its type and sequence, 0 if none, -1 if it is malformed. */
static int gc_recv(struct gc_ring *r, uint8_t *type, uint64_t *seq)
{
	uint32_t tail = *r->cons;	/* only this process writes it */
	uint32_t head = __atomic_load_n(r->prod, __ATOMIC_ACQUIRE);
	uint32_t at = tail % r->size;
	uint32_t skip = 0;
	volatile unsigned char *p;

	if (head == tail)
		return 0;
	if (head - tail > r->size)
		return -1;
	if (at + GC_RECORD > r->size || gc_get32(r->data + at) == GC_WRAP_ID) {
		skip = r->size - at;
		at = 0;
	}
	if (head - tail < skip + GC_RECORD)
		return -1;
	p = r->data + at;
	if (gc_get32(p) != GC_SERVICE_METHOD || gc_get32(p + 4) != 8 + GC_PAYLOAD)
		return -1;
	*type = p[14];
	memcpy(seq, (const void *)(p + GC_HEADER), sizeof(*seq));
	__atomic_store_n(r->cons, tail + skip + GC_RECORD, __ATOMIC_RELEASE);
	return 1;
}

/*
 * The provider's loop: answer every request of c2p on p2c until @count were answered or
 * @deadline_ms passed. Returns the number answered, -1 on a malformed record.
 */
static long gc_serve(struct gc_ring *c2p, struct gc_ring *p2c, long count, uint64_t deadline_ms)
{
	long done = 0;
	uint8_t type;
	uint64_t seq;
	int r;

	while (done < count && gc_now_ms() < deadline_ms) {
		r = gc_recv(c2p, &type, &seq);
		if (r < 0 || (r && type != GC_REQUEST))
			return -1;
		if (!r) {
			sched_yield();
			continue;
		}
		while (!gc_send(p2c, GC_RESPONSE, seq) && gc_now_ms() < deadline_ms)
			sched_yield();
		done++;
	}
	return done;
}

/*
 * The consumer's loop: send @count requests with sequence numbers 0.. and take the answers,
 * which must come back in order. Returns the number of answers, -1 on a wrong one.
 */
static long gc_call(struct gc_ring *c2p, struct gc_ring *p2c, long count, uint64_t deadline_ms)
{
	long sent = 0, answered = 0;
	uint8_t type;
	uint64_t seq;
	int r;

	while (answered < count && gc_now_ms() < deadline_ms) {
		int moved = 0;

		while (sent < count && gc_send(c2p, GC_REQUEST, (uint64_t)sent)) {
			sent++;
			moved = 1;
		}
		while ((r = gc_recv(p2c, &type, &seq)) == 1) {
			if (type != GC_RESPONSE || seq != (uint64_t)answered)
				return -1;
			answered++;
			moved = 1;
		}
		if (r < 0)
			return -1;
		if (!moved)
			sched_yield();
	}
	return answered;
}

#endif /* GRANULE_CHANNEL_H */
