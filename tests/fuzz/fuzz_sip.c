// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the SIP parser: both framings, then the multipart
 * split, the list splitter over every value and the URI host of the
 * identity headers, checking that every view stays inside the input.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "sip.h"

static const char *lo, *hi;

static void inside(struct sip_str s)
{
	assert(s.n <= (size_t)(hi - lo));
	if (s.n)
		assert(s.p >= lo && s.p + s.n <= hi);
}

static void headers(const struct sip_header *h, size_t n, size_t max)
{
	assert(n <= max);
	for (size_t i = 0; i < n; i++) {
		struct sip_str rest = h[i].value, item, host;
		size_t items = 0;
		int r;

		inside(h[i].name);
		inside(h[i].value);
		assert(h[i].name.n > 0);
		assert(h[i].id < SIP_H__COUNT);
		assert(h[i].id == sip_header_id(h[i].name.p, h[i].name.n));
		while ((r = sip_list_next(&rest, &item)) == 1) {
			inside(item);
			inside(rest);
			assert(item.n > 0);
			assert(++items <= h[i].value.n);
		}
		assert(r == 0 || r == -EBADMSG);
		if (h[i].id == SIP_H_FROM || h[i].id == SIP_H_TO ||
		    h[i].id == SIP_H_CONTACT ||
		    h[i].id == SIP_H_P_ASSERTED_IDENTITY) {
			r = sip_uri_host(h[i].value, &host);
			assert(r == 0 || r == -EBADMSG);
			if (!r) {
				inside(host);
				assert(host.n > 0);
			}
		}
	}
}

static void one(const char *buf, size_t size, enum sip_framing f)
{
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;
	char why[128];
	int r, n;

	why[0] = '\0';
	r = sip_parse(buf, size, f, &m, why, sizeof(why));
	assert(r == 0 || r == -EAGAIN || r == -EMSGSIZE || r == -EBADMSG);
	assert(memchr(why, '\0', sizeof(why)));
	if (r) {
		assert(why[0]);
		if (r == -EAGAIN)
			assert(f == SIP_STREAM && m.len <= size);
		return;
	}
	assert(m.len <= size && m.len > 0);
	assert(m.n_hdr <= SIP_MAX_HEADERS);
	assert(m.body.n <= SIP_MAX_BODY);
	if (m.request) {
		inside(m.method);
		inside(m.uri);
	} else {
		assert(m.status >= 100 && m.status <= 699);
		inside(m.reason);
	}
	inside(m.body);
	if (f == SIP_STREAM)
		assert(m.body.p + m.body.n == buf + m.len);
	headers(m.hdr, m.n_hdr, SIP_MAX_HEADERS);
	n = sip_multipart(&m, parts, SIP_MAX_PARTS, why, sizeof(why));
	assert(n >= 0 || n == -ENOMSG || n == -EBADMSG || n == -EMSGSIZE);
	assert(n <= SIP_MAX_PARTS);
	for (int i = 0; i < n; i++) {
		inside(parts[i].body);
		assert(parts[i].body.p >= m.body.p &&
		       parts[i].body.p + parts[i].body.n <=
			       m.body.p + m.body.n);
		headers(parts[i].hdr, parts[i].n_hdr, SIP_MAX_PART_HEADERS);
	}
}

/* Stream framing depends only on the bytes of the message: the message
 * alone parses to the same length, and a prefix of input that was still
 * incomplete, or of a message, is incomplete too, never an error. */
static void framing(const char *buf, size_t size)
{
	struct sip_msg m, m2;
	char why[128];
	int r, r2;

	r = sip_parse(buf, size, SIP_STREAM, &m, why, sizeof(why));
	if (r == 0) {
		r2 = sip_parse(buf, m.len, SIP_STREAM, &m2, why, sizeof(why));
		assert(r2 == 0 && m2.len == m.len && m2.n_hdr == m.n_hdr);
	}
	if ((r == 0 || r == -EAGAIN) && size) {
		size_t cut = r == 0 ? m.len / 2 : size / 2;

		r2 = sip_parse(buf, cut, SIP_STREAM, &m2, why, sizeof(why));
		assert(r2 == -EAGAIN);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lo = (const char *)data;
	hi = lo + size;
	one(lo, size, SIP_STREAM);
	one(lo, size, SIP_DGRAM);
	framing(lo, size);
	return 0;
}
