// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the shim's identity check (common/idcheck.c): the
 * input is a byte stream as a program sends or receives it, cut into
 * chunks at offsets taken from its first bytes, fed to idcheck_feed() in
 * both directions and all three modes, with and without hold.
 *
 * Invariants: what passes never exceeds what was given, a refusal only
 * happens under enforce, and a stream fed whole or in chunks has the
 * same message refused (the framing depends on the bytes only).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idcheck.h"

static void noop(void *arg, const struct idcheck_stream *st,
		 const struct idcheck_verdict *v)
{
	(void)arg;
	(void)st;
	(void)v;
}

/* Feeds p in chunks; returns the stream offset of a refusal, or -1.
 * With hold each chunk is given once; without, the bytes not passed (an
 * incomplete head) are given again with the next chunk, as the shim's
 * send path does. */
static long feed(const struct sipsec_ctl_identity *id, uint8_t dir,
		 uint8_t mode, bool hold, const char *p, size_t n,
		 const uint8_t *cuts, size_t ncuts)
{
	struct idcheck_stream st = { .dir = dir, .mode = mode };
	size_t start = 0, end = 0, c = 0;
	long refused = -1;

	while (end < n) {
		size_t step = ncuts ? (size_t)cuts[c++ % ncuts] + 1 : n;
		struct idcheck_out out;
		size_t len;

		end = step < n - end ? end + step : n;
		len = end - start;
		memset(&out, 0, sizeof(out));
		if (idcheck_feed(&st, id, p + start, len, hold, &out, noop,
				 NULL))
			break;
		if (out.pass > len || (!hold && out.pass + out.tail > len))
			abort();
		if (out.bad) {
			if (mode != SIPSEC_IDCHECK_ENFORCE)
				abort();
			refused = (long)(start + out.pass);
			break;
		}
		start += hold ? len : out.pass;
	}
	idcheck_stream_free(&st);
	return refused;
}

/* A refusal's offset past the keep-alive CR/LF before the message: a
 * reader may pass those on their own or count them in the message. */
static long past_crlf(const char *p, size_t n, long off)
{
	while (off >= 0 && (size_t)off < n && (p[off] == '\r' || p[off] == '\n'))
		off++;
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sipsec_ctl_identity id = { .mode = SIPSEC_IDCHECK_ENFORCE,
					  .n = 3 };
	size_t ncuts;

	if (size < 2)
		return 0;
	ncuts = data[0] % 8;
	if (size < 1 + ncuts)
		return 0;
	strcpy(id.names[0], "h2.sipsec.test");
	strcpy(id.names[1], "198.18.0.2");
	strcpy(id.names[2], "*.example.net");
	const uint8_t *cuts = data + 1;
	const char *p = (const char *)data + 1 + ncuts;
	size_t n = size - 1 - ncuts;

	for (uint8_t dir = 0; dir < 2; dir++) {
		long whole = feed(&id, dir, SIPSEC_IDCHECK_ENFORCE, true, p, n,
				  NULL, 0);
		long split = feed(&id, dir, SIPSEC_IDCHECK_ENFORCE, true, p, n,
				  cuts, ncuts);
		long nohold = feed(&id, dir, SIPSEC_IDCHECK_ENFORCE, false, p,
				   n, cuts, ncuts);

		/* The same message is refused however the stream is cut.
		 * Without hold the refusal is at its first byte. With hold
		 * it comes where the head completes (its first bytes went
		 * on), or not at all for a head the input never completes
		 * (a held head is judged at a line end or at the limit). */
		whole = past_crlf(p, n, whole);
		split = past_crlf(p, n, split);
		nohold = past_crlf(p, n, nohold);
		if (nohold != whole || (split >= 0 && whole < 0))
			abort();
		if (split >= 0 && (split < whole ||
				   split > whole + SIP_MAX_HEAD))
			abort();
		feed(&id, dir, SIPSEC_IDCHECK_LOG, true, p, n, cuts, ncuts);
	}
	return 0;
}
