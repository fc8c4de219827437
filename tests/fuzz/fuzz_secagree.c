// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the security-agreement grammars: a peer writes these
 * headers. Both parsers read the input; whatever parses is formatted and
 * read again, and must come back as an equal list (the invariant the
 * Security-Verify comparison relies on: what we send is what the peer
 * reads). A refusal must say why.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "secagree.h"

typedef int (*parse_fn)(const char *, size_t, struct sec_mech *, size_t,
			char *, size_t);
typedef int (*format_fn)(const struct sec_mech *, size_t, char *, size_t);

static int parse_supports(const char *v, size_t n, struct sec_mech *out,
			  size_t max, char *why, size_t wlen)
{
	return secx_parse_header(SECX_SUPPORTS, v, n, out, max, why, wlen);
}

static int parse_method(const char *v, size_t n, struct sec_mech *out,
			size_t max, char *why, size_t wlen)
{
	return secx_parse_header(SECX_METHOD, v, n, out, max, why, wlen);
}

static int parse_requires(const char *v, size_t n, struct sec_mech *out,
			  size_t max, char *why, size_t wlen)
{
	return secx_parse_header(SECX_REQUIRES, v, n, out, max, why, wlen);
}

static void round_trip(parse_fn parse, format_fn format, const char *v,
		       size_t n)
{
	struct sec_mech a[SEC_MAX_MECHS], b[SEC_MAX_MECHS], choice;
	char why[128], text[4096];
	int na, nb, len;

	why[0] = 'x';
	na = parse(v, n, a, SEC_MAX_MECHS, why, sizeof(why));
	if (na < 0) {
		assert(na == -EBADMSG || na == -EMSGSIZE);
		assert(why[0] != '\0' && why[0] != 'x');
		assert(memchr(why, '\0', sizeof(why)));
		for (const char *p = why; *p; p++) /* it goes to the log */
			assert((unsigned char)*p >= 0x20 &&
			       (unsigned char)*p < 0x7f);
		return;
	}
	assert(na >= 1 && na <= SEC_MAX_MECHS);
	len = format(a, na, text, sizeof(text));
	assert(len > 0 && (size_t)len == strlen(text));
	nb = parse(text, len, b, SEC_MAX_MECHS, why, sizeof(why));
	assert(nb == na);
	assert(sec_list_equal(a, na, b, nb));

	/* In the other grammar, what it can write keeps its mechanism, and
	 * its keying where one was named. */
	if (format == secx_format) {
		len = sec3329_format(a, na, text, sizeof(text));
		nb = len < 0 ? len : sec3329_parse(text, len, b, SEC_MAX_MECHS,
						   why, sizeof(why));
	} else {
		len = secx_format(a, na, text, sizeof(text));
		nb = len < 0 ? len : secx_parse(text, len, b, SEC_MAX_MECHS,
						why, sizeof(why));
	}
	assert(len >= 0 || len == -EINVAL);
	assert(len < 0 || nb == na);
	for (int i = 0; len >= 0 && i < na; i++) {
		assert(a[i].mech == b[i].mech);
		assert(a[i].mech == SEC_MECH_OTHER ||
		       a[i].keying == SEC_K_DEFAULT ||
		       a[i].keying == b[i].keying);
	}
	if (sec_select(a, na, 0xe, 0, 0x1f, &choice, why, sizeof(why)) == 0)
		assert(choice.mech != SEC_MECH_OTHER);
	else
		assert(memchr(why, '\0', sizeof(why)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *v = (const char *)data;

	round_trip(parse_supports, secx_format, v, size);
	round_trip(parse_requires, secx_format, v, size);
	round_trip(parse_method, secx_format, v, size);
	round_trip(sec3329_parse, sec3329_format, v, size);
	return 0;
}
