// SPDX-License-Identifier: MIT
/*
 * The pre-shared crypto-system's replay cache (draft-thomas 6,
 * "Authorization"): keyed by (X-SIP-SECURE-TO, X-SIP-SECURE-FROM, nonce),
 * each entry kept ttl seconds after it was first seen. Bounded: when every
 * slot holds a live entry, a new nonce is refused (-ENOSPC) rather than an
 * old one forgotten, because forgetting would let that one be replayed.
 * Only attachments whose checksum verified reach it (psk_attach_verify), so
 * a forger cannot fill it. A linear scan: the cache holds what arrives
 * within a few skews, and each check also drops what has expired.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "preshared.h"
#include "sipsec.h"

struct psk_entry {
	uint64_t expires; /* 0: free */
	char to[64], from[64], tnonce[24];
};

struct psk_replay {
	size_t max, n;
	uint32_t ttl;
	struct psk_entry e[];
};

struct psk_replay *psk_replay_new(size_t max_entries, uint32_t ttl_s)
{
	struct psk_replay *rc;

	if (!max_entries || max_entries > (1u << 20) || !ttl_s)
		return NULL;
	rc = calloc(1, sizeof(*rc) + max_entries * sizeof(rc->e[0]));
	if (!rc)
		return NULL;
	rc->max = max_entries;
	rc->ttl = ttl_s;
	return rc;
}

void psk_replay_free(struct psk_replay *rc)
{
	free(rc);
}

static bool field_eq(const char *a, const char *b, size_t size)
{
	return !strncmp(a, b, size);
}

int psk_replay_check(struct psk_replay *rc, const char *to, const char *from,
		     const char *tnonce, uint64_t now)
{
	struct psk_entry *free_slot = NULL, *e;

	if (!rc || !to || !from || !tnonce)
		return -EINVAL;
	for (size_t i = 0; i < rc->max; i++) {
		e = &rc->e[i];
		if (e->expires && e->expires <= now) {
			e->expires = 0;
			rc->n--;
		}
		if (!e->expires) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		if (field_eq(e->tnonce, tnonce, sizeof(e->tnonce)) &&
		    field_eq(e->to, to, sizeof(e->to)) &&
		    field_eq(e->from, from, sizeof(e->from)))
			return -EALREADY;
	}
	if (!free_slot)
		return -ENOSPC;
	sipsec_strlcpy(free_slot->to, to, sizeof(free_slot->to));
	sipsec_strlcpy(free_slot->from, from, sizeof(free_slot->from));
	sipsec_strlcpy(free_slot->tnonce, tnonce, sizeof(free_slot->tnonce));
	free_slot->expires = now + rc->ttl;
	if (free_slot->expires <= now)
		free_slot->expires = UINT64_MAX; /* a clock at the end of time */
	rc->n++;
	return 0;
}

size_t psk_replay_count(const struct psk_replay *rc)
{
	return rc ? rc->n : 0;
}
