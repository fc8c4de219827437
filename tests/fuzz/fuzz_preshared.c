// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the pre-shared crypto-system's attachments: a peer
 * writes them in cleartext. The input is parsed and verified with a fixed
 * key; each answer must be one the API names, with a reason, and verify
 * may accept only what parse accepts. Whatever parses is built again with
 * the key and must then verify and read back the same (what we accept we
 * can write, and what we write we accept), which also drives verify's
 * paths past the checksum that random inputs never get right.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "preshared.h"

static const uint8_t key[32] = "fuzz-key-0123456789abcdefghijkl";

static void reason(const char *why, size_t len)
{
	assert(why[0] != '\0' && why[0] != 'x');
	assert(memchr(why, '\0', len));
}

static void same(const struct psk_attach *a, const struct psk_attach *b)
{
	assert(a->variant == b->variant && a->auth == b->auth);
	assert(!strcmp(a->to, b->to) && !strcmp(a->from, b->from));
	assert(!strcmp(a->realm, b->realm));
	assert(a->n_mechs == b->n_mechs);
	assert(!memcmp(a->nonce, b->nonce, PSK_NONCE_LEN));
	assert(a->has_reply_to == b->has_reply_to);
	assert(!a->has_reply_to ||
	       !memcmp(a->reply_to, b->reply_to, PSK_NONCE_LEN));
	assert(a->spi == b->spi && a->time == b->time);
	assert(!a->auth || !strcmp(a->tnonce, b->tnonce));
	assert(!strcmp(a->body, b->body));
}

static void rebuild(struct psk_attach *a)
{
	struct psk_policy pol = { a->time, 0, true };
	struct psk_attach b, c;
	char out[PSK_ATTACH_MAX + 1], why[256];
	int n, r;

	b = *a;
	why[0] = 'x';
	n = psk_attach_build(&b, key, sizeof(key), out, sizeof(out), why,
			     sizeof(why));
	if (n < 0) {
		/* secx_format refuses some parsed lists (an unknown method
		 * named like a known one); a long body may not fit */
		assert(n == -EINVAL || n == -ENOSPC || n == -EPERM);
		reason(why, sizeof(why));
		return;
	}
	assert((size_t)n < sizeof(out) && out[n] == '\0');
	why[0] = 'x';
	r = psk_attach_verify(out, (size_t)n, key, sizeof(key), &pol, NULL,
			      &c, why, sizeof(why));
	if (a->auth == PSK_AUTH_NULL && a->variant == PSK_REQUIRES) {
		assert(r == -EPERM);
		return;
	}
	assert(r == 0);
	same(&b, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct psk_policy pol = { 1700000000, 30, false };
	struct psk_attach a, v;
	char why[256];
	int rp, rv;

	why[0] = 'x';
	rp = psk_attach_parse(p, size, &a, why, sizeof(why));
	assert(rp == 0 || rp == -EBADMSG);
	if (rp)
		reason(why, sizeof(why));
	why[0] = 'x';
	rv = psk_attach_verify(p, size, key, sizeof(key), &pol, NULL, &v, why,
			       sizeof(why));
	assert(rv == 0 || rv == -EBADMSG || rv == -EACCES || rv == -ETIME ||
	       rv == -EPERM);
	if (rv)
		reason(why, sizeof(why));
	else
		assert(rp == 0);
	if (!rp)
		rebuild(&a);
	return 0;
}
