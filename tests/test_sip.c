// SPDX-License-Identifier: MIT
/* The SIP parser: framing, headers, values, multipart, limits, rejections
 * with their reasons, and the framework draft's example messages. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

static char why[256];

static int parse(const char *s, enum sip_framing f, struct sip_msg *m)
{
	why[0] = '\0';
	return sip_parse(s, strlen(s), f, m, why, sizeof(why));
}

static bool is(struct sip_str v, const char *lit)
{
	return v.n == strlen(lit) && !memcmp(v.p, lit, v.n);
}

#define assert_is(v, lit)                                                   \
	cr_assert(is(v, lit), "'%.*s' is not '%s'", (int)(v).n, (v).p, lit)

#define assert_rejected(s, f, err, reason)                                  \
	do {                                                                \
		struct sip_msg m_;                                          \
		int r_ = parse(s, f, &m_);                                  \
		cr_assert_eq(r_, err, "parse gave %d (%s), not %s", r_,     \
			     why, #err);                                    \
		cr_assert(strstr(why, reason), "reason '%s' lacks '%s'",    \
			  why, reason);                                     \
	} while (0)

static const char invite[] =
	"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
	"Max-Forwards: 70\r\n"
	"To: Bob <sip:bob@biloxi.com>\r\n"
	"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
	"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
	"CSeq: 314159 INVITE\r\n"
	"Contact: <sip:alice@pc33.atlanta.com>\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 4\r\n"
	"\r\n"
	"v=0\n";

Test(sip, request_is_parsed_into_start_line_headers_and_body)
{
	struct sip_msg m;

	cr_assert_eq(parse(invite, SIP_STREAM, &m), 0, "%s", why);
	cr_assert(m.request);
	assert_is(m.method, "INVITE");
	assert_is(m.uri, "sip:bob@biloxi.com");
	cr_assert_eq(m.n_hdr, 9);
	cr_assert_eq(m.hdr[0].id, SIP_H_VIA);
	assert_is(m.hdr[0].name, "Via");
	assert_is(sip_find(&m, SIP_H_CALL_ID, NULL)->value,
		  "a84b4c76e66710@pc33.atlanta.com");
	assert_is(sip_find(&m, SIP_H_CSEQ, NULL)->value, "314159 INVITE");
	assert_is(m.body, "v=0\n");
	cr_assert_eq(m.len, strlen(invite));
	cr_assert_null(sip_find(&m, SIP_H_SUPPORTED, NULL));
}

Test(sip, response_has_status_and_reason)
{
	struct sip_msg m;

	cr_assert_eq(parse("SIP/2.0 180 Ringing now\r\nl: 0\r\n\r\n",
			   SIP_STREAM, &m), 0, "%s", why);
	cr_assert_not(m.request);
	cr_assert_eq(m.status, 180);
	assert_is(m.reason, "Ringing now");
	cr_assert_eq(m.body.n, 0);
	cr_assert_eq(parse("SIP/2.0 699 \r\n\r\n", SIP_DGRAM, &m), 0);
	cr_assert_eq(m.status, 699);
	cr_assert_eq(m.reason.n, 0);
}

Test(sip, compact_and_long_names_share_one_id_in_any_case)
{
	static const struct {
		const char *name;
		enum sip_hdr id;
	} t[] = {
		{ "v", SIP_H_VIA }, { "VIA", SIP_H_VIA },
		{ "f", SIP_H_FROM }, { "t", SIP_H_TO }, { "I", SIP_H_CALL_ID },
		{ "call-id", SIP_H_CALL_ID }, { "m", SIP_H_CONTACT },
		{ "c", SIP_H_CONTENT_TYPE }, { "L", SIP_H_CONTENT_LENGTH },
		{ "k", SIP_H_SUPPORTED }, { "s", SIP_H_SUBJECT },
		{ "e", SIP_H_CONTENT_ENCODING }, { "cseq", SIP_H_CSEQ },
		{ "x-sip-secure-method", SIP_H_X_SECURE_METHOD },
		{ "Security-Verify", SIP_H_SECURITY_VERIFY },
		{ "Authorization", SIP_H_AUTHORIZATION },
		{ "Encryption", SIP_H_ENCRYPTION },
		{ "x", SIP_H_OTHER }, { "Vias", SIP_H_OTHER }, { "", SIP_H_OTHER },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(sip_header_id(t[i].name, strlen(t[i].name)),
			     t[i].id, "%s", t[i].name);
}

Test(sip, compact_forms_in_a_message)
{
	struct sip_msg m;
	const char *s = "BYE sip:x@y SIP/2.0\r\nv: SIP/2.0/TCP h\r\n"
			"f: <sip:a@b>\r\nt: <sip:c@d>\r\ni: 1\r\nl: 0\r\n\r\n";

	cr_assert_eq(parse(s, SIP_STREAM, &m), 0, "%s", why);
	assert_is(sip_find(&m, SIP_H_FROM, NULL)->value, "<sip:a@b>");
	assert_is(sip_find(&m, SIP_H_CALL_ID, NULL)->value, "1");
	assert_is(sip_find(&m, SIP_H_TO, NULL)->name, "t");
}

Test(sip, folded_values_keep_their_line_breaks_and_empty_values_stay)
{
	struct sip_msg m;
	const char *s = "OPTIONS sip:a SIP/2.0\r\n"
			"Subject: I know you're there,\r\n"
			"\tpick up the phone\r\n"
			"   and talk to me!\r\n"
			"Supported:\r\n"
			"X-Empty:   \r\n"
			"Require :\r\n"
			"  \r\n"
			"  100rel  \r\n"
			"l: 0\r\n\r\n";

	cr_assert_eq(parse(s, SIP_STREAM, &m), 0, "%s", why);
	cr_assert_eq(m.n_hdr, 5);
	assert_is(m.hdr[0].value, "I know you're there,\r\n\tpick up the "
		  "phone\r\n   and talk to me!");
	cr_assert_eq(m.hdr[1].value.n, 0);
	cr_assert_eq(m.hdr[1].id, SIP_H_SUPPORTED);
	cr_assert_eq(m.hdr[2].value.n, 0);
	assert_is(m.hdr[3].name, "Require");
	assert_is(m.hdr[3].value, "100rel");
}

Test(sip, bare_lf_line_ends_are_accepted)
{
	struct sip_msg m;

	cr_assert_eq(parse("MESSAGE sip:a SIP/2.0\nTo: <sip:b>\n folded\n"
			   "l: 2\n\nhi", SIP_STREAM, &m), 0, "%s", why);
	assert_is(m.hdr[0].value, "<sip:b>\n folded");
	assert_is(m.body, "hi");
}

Test(sip, repeated_headers_are_all_kept_in_order)
{
	struct sip_msg m;
	const struct sip_header *h;
	const char *s = "SIP/2.0 200 OK\r\nVia: a\r\nv: b\r\nTo: x\r\n"
			"VIA: c, d\r\nl: 0\r\n\r\n";
	const char *want[] = { "a", "b", "c, d" };
	size_t n = 0;

	cr_assert_eq(parse(s, SIP_STREAM, &m), 0, "%s", why);
	for (h = sip_find(&m, SIP_H_VIA, NULL); h;
	     h = sip_find(&m, SIP_H_VIA, h))
		assert_is(h->value, want[n++]);
	cr_assert_eq(n, 3);
}

static size_t list(const char *value, struct sip_str *items, size_t max,
		   int *rc)
{
	struct sip_str rest = { value, strlen(value) };
	size_t n = 0;

	while ((*rc = sip_list_next(&rest, &items[n])) == 1 && n < max - 1)
		n++;
	return n;
}

Test(sip, lists_split_at_commas_outside_quotes_and_angle_brackets)
{
	struct sip_str it[8];
	int rc;
	size_t n = list("\"Doe, \\\"J\\\"\" <sip:a@b;x=1,2>;tag=3 ,  "
			"<sip:c@d?h=\"a,b\">,,sip:e@f , ", it, 8, &rc);

	cr_assert_eq(rc, 0);
	cr_assert_eq(n, 3);
	assert_is(it[0], "\"Doe, \\\"J\\\"\" <sip:a@b;x=1,2>;tag=3");
	assert_is(it[1], "<sip:c@d?h=\"a,b\">");
	assert_is(it[2], "sip:e@f");
	n = list("", it, 8, &rc);
	cr_assert_eq(n, 0);
	cr_assert_eq(rc, 0);
}

Test(sip, unbalanced_lists_are_rejected)
{
	const char *bad[] = { "\"open, x", "<sip:a@b, c", "\"esc\\", "a, <b" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sip_str it[4];
		int rc;

		list(bad[i], it, 4, &rc);
		cr_assert_eq(rc, -EBADMSG, "%s", bad[i]);
	}
}

static int host_of(const char *v, struct sip_str *h)
{
	return sip_uri_host((struct sip_str){ v, strlen(v) }, h);
}

Test(sip, uri_hosts_are_found_in_every_form)
{
	static const struct {
		const char *value, *host;
	} t[] = {
		{ "sip:[2001:db8::1]:5061;transport=tls", "2001:db8::1" },
		{ "<sips:alice@[2001:db8::2]>", "2001:db8::2" },
		{ "sip:alice@atlanta.com", "atlanta.com" },
		{ "SIP:bob:secret@192.0.2.4:5060;lr", "192.0.2.4" },
		{ "SIPS:biloxi.example.com?subject=x", "biloxi.example.com" },
		{ "Bob <sip:bob@biloxi.com>;tag=a6c85cf", "biloxi.com" },
		{ "\"Doe, <John>\" <sip:j@doe.example:5070>", "doe.example" },
		{ "  \"q\\\"<\" <sip:x@h>  ", "h" },
		{ "<sip:+1-212;phone-context=x@gw.example;user=phone>",
		  "gw.example" },
		{ "sip:host", "host" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sip_str h;

		cr_assert_eq(host_of(t[i].value, &h), 0, "%s", t[i].value);
		assert_is(h, t[i].host);
	}
}

Test(sip, values_without_a_sip_host_are_rejected)
{
	const char *bad[] = { "tel:+12125551212", "UAC@mtcc.com", "sip:",
			      "sip:a@", "sip:[2001:db8::1", "sip:[]",
			      "<sip:a@b", "\"open <sip:a@b>", "sip:a@b c", "<sip:a@b >",
			      "sip:h/x", "\"n\" sip:a@b", "sip:[::g]", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sip_str h;

		cr_assert_eq(host_of(bad[i], &h), -EBADMSG, "%s", bad[i]);
	}
}

Test(sip, str_eq_ignores_case_and_checks_length)
{
	struct sip_str s = { "Content-Length: 3", 14 };

	cr_assert(sip_str_eq(s, "content-length"));
	cr_assert_not(sip_str_eq(s, "content-lengt"));
	cr_assert_not(sip_str_eq(s, "content-length:"));
}

static char *copy(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	cr_assert_not_null(p);
	memcpy(p, s, n);
	return p; /* exactly n bytes: ASan sees any read past them */
}

Test(sip, stream_split_at_every_offset_waits_then_gives_the_same_result)
{
	struct sip_msg whole, m;
	size_t len = strlen(invite);

	cr_assert_eq(parse(invite, SIP_STREAM, &whole), 0);
	for (size_t k = 0; k < len; k++) {
		char *p = copy(invite, k);
		int r = sip_parse(p, k, SIP_STREAM, &m, why, sizeof(why));

		cr_assert_eq(r, -EAGAIN, "at %zu: %d %s", k, r, why);
		free(p);
	}
	cr_assert_eq(sip_parse(invite, len, SIP_STREAM, &m, why, sizeof(why)),
		     0);
	cr_assert_eq(m.len, whole.len);
	cr_assert_eq(m.n_hdr, whole.n_hdr);
	for (size_t i = 0; i < m.n_hdr; i++) {
		cr_assert_eq(m.hdr[i].id, whole.hdr[i].id);
		cr_assert_eq(m.hdr[i].value.p, whole.hdr[i].value.p);
		cr_assert_eq(m.hdr[i].value.n, whole.hdr[i].value.n);
	}
	cr_assert_eq(m.body.p, whole.body.p);
	cr_assert_eq(m.body.n, whole.body.n);
}

Test(sip, incomplete_stream_says_what_is_missing)
{
	struct sip_msg m;

	cr_assert_eq(parse("OPTIONS sip:a SIP/2.0\r\nl: 10\r\n\r\nabc",
			   SIP_STREAM, &m), -EAGAIN);
	cr_assert(strstr(why, "3 of 10"), "%s", why);
	cr_assert_eq(parse("OPTIONS sip:a SIP/2.0\r\nl: 10\r", SIP_STREAM,
			   &m), -EAGAIN);
	cr_assert(strstr(why, "headers have not ended"), "%s", why);
}

Test(sip, pipelined_messages_and_keepalives_on_a_stream)
{
	char buf[1024];
	struct sip_msg m;
	size_t off, n;

	n = (size_t)snprintf(buf, sizeof(buf), "\r\n\r\n%sSIP/2.0 200 OK\r\n"
			     "l: 2\r\n\r\nokINVITE", invite);
	cr_assert_eq(sip_parse(buf, n, SIP_STREAM, &m, why, sizeof(why)), 0);
	cr_assert_eq(m.len, 4 + strlen(invite));
	assert_is(m.method, "INVITE");
	off = m.len;
	cr_assert_eq(sip_parse(buf + off, n - off, SIP_STREAM, &m, why,
			       sizeof(why)), 0, "%s", why);
	cr_assert_eq(m.status, 200);
	assert_is(m.body, "ok");
	off += m.len;
	cr_assert_eq(sip_parse(buf + off, n - off, SIP_STREAM, &m, why,
			       sizeof(why)), -EAGAIN);
	/* only keep-alives: wait, and say how many bytes may go */
	cr_assert_eq(sip_parse("\r\n\r\n\r", 5, SIP_STREAM, &m, why,
			       sizeof(why)), -EAGAIN);
	cr_assert_eq(m.len, 4);
}

Test(sip, datagram_body_is_the_rest_or_content_length)
{
	struct sip_msg m;
	const char *s = "MESSAGE sip:a SIP/2.0\r\nTo: <sip:b>\r\n\r\nhello";

	cr_assert_eq(parse(s, SIP_DGRAM, &m), 0, "%s", why);
	assert_is(m.body, "hello");
	cr_assert_eq(m.len, strlen(s));
	cr_assert_eq(parse("MESSAGE sip:a SIP/2.0\r\nl: 3\r\n\r\nhello",
			   SIP_DGRAM, &m), 0);
	assert_is(m.body, "hel"); /* RFC 3261 18.3: the rest is dropped */
	assert_rejected("MESSAGE sip:a SIP/2.0\r\nl: 6\r\n\r\nhello",
			SIP_DGRAM, -EBADMSG, "Content-Length 6 is more than "
			"the 5 bytes");
	assert_rejected("MESSAGE sip:a SIP/2.0\r\nl: 1\r\n", SIP_DGRAM,
			-EBADMSG, "ends inside the headers");
	assert_rejected("\r\n\r\n", SIP_DGRAM, -EBADMSG, "keep-alive");
}

Test(sip, malformed_messages_are_rejected_with_their_reason)
{
	static const struct {
		const char *msg, *reason;
	} t[] = {
		{ "INVITE sip:a SIP/2.0\r\nTo sip.b\r\nl: 0\r\n\r\n",
		  "line 2: header without a colon" },
		{ "INVITE sip:a SIP/2.0\r\nTo <sip:b>\r\nl: 0\r\n\r\n",
		  "line 2: header name 'To <sip' has a character not allowed" },
		{ "INVITE sip:a SIP/2.0\r\nl: 0\r\nX: 1\r\n: v\r\n\r\n",
		  "line 4: header without a name" },
		{ "INVITE sip:a SIP/2.0\r\nTo\x01: x\r\nl: 0\r\n\r\n",
		  "line 2: header name 'To?' has a character not allowed" },
		{ "INVITE sip:a SIP/2.0\r\n folded\r\nl: 0\r\n\r\n",
		  "line 2: continuation line without a header" },
		{ "INVITE sip:a SIP/2.0\r\nl: abc\r\n\r\n",
		  "Content-Length 'abc' is not a number" },
		{ "INVITE sip:a SIP/2.0\r\nl: -1\r\n\r\n",
		  "Content-Length '-1' is not a number" },
		{ "INVITE sip:a SIP/2.0\r\nl:\r\n\r\n",
		  "Content-Length is empty" },
		{ "INVITE sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab",
		  "duplicate Content-Length with different values" },
		{ "INVITE sip:a SIP/2.0\r\nTo: <sip:b>\r\n\r\n",
		  "no Content-Length (mandatory on a stream)" },
		{ "INVITE sip:a SIP/2.0\r\nTo: a\0b\r\nl: 0\r\n\r\n",
		  "line 2: NUL byte" },
		{ "INVITE sip:a SIP/2.0\r\nTo: a\rb\r\nl: 0\r\n\r\n",
		  "line 2: CR not followed by LF" },
		{ "INVITE sip:a SIP/2.1\r\nl: 0\r\n\r\n",
		  "line 1: version 'SIP/2.1' is not SIP/2.0" },
		{ "GET / HTTP/1.1\r\n\r\n",
		  "line 1: version 'HTTP/1.1' is not SIP/2.0" },
		{ "INVITE sip:a\r\n\r\n",
		  "neither a request line nor a status line" },
		{ "INVITE  sip:a SIP/2.0\r\n\r\n",
		  "neither a request line nor a status line" },
		{ " INVITE sip:a SIP/2.0\r\n\r\n",
		  "neither a request line nor a status line" },
		{ "INV@TE sip:a SIP/2.0\r\n\r\n",
		  "method 'INV@TE' is not a token" },
		{ "SIP/2.0 099 Low\r\n\r\n", "status code '099 Low' is not" },
		{ "SIP/2.0 2000 OK\r\n\r\n", "status code" },
		{ "SIP/2.0 20\r\n\r\n", "status code" },
		{ "SIP/3.0 200 OK\r\n\r\n", "version 'SIP/3.0'" },
	};
	struct sip_msg m;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		/* the NUL test needs its real length */
		size_t n = strlen(t[i].msg);

		if (strstr(t[i].reason, "NUL"))
			n += strlen(t[i].msg + n + 1) + 1;
		why[0] = '\0';
		cr_assert_eq(sip_parse(t[i].msg, n, SIP_STREAM, &m, why,
				       sizeof(why)), -EBADMSG, "%zu: %s", i,
			     why);
		cr_assert(strstr(why, t[i].reason), "%zu: '%s' lacks '%s'", i,
			  why, t[i].reason);
	}
}

Test(sip, a_bad_line_is_rejected_before_the_message_is_complete)
{
	assert_rejected("INVITE sip:a SIP/2.0\r\nTo sip.b\r\nFrom: x",
			SIP_STREAM, -EBADMSG, "line 2: header without a colon");
	/* a fold may still come: the header is not complete yet */
	assert_rejected("INVITE sip:a SIP/2.0\r\nTo sip.b\r\n", SIP_STREAM,
			-EAGAIN, "not ended");
	assert_rejected("HELLO\r\n", SIP_STREAM, -EBADMSG, "neither");
}

Test(sip, a_short_reason_buffer_is_truncated_not_overrun)
{
	struct sip_msg m;
	char small[8];

	cr_assert_eq(sip_parse("x\r\n\r\n", 5, SIP_DGRAM, &m, small,
			       sizeof(small)), -EBADMSG);
	cr_assert_eq(strlen(small), 7);
	cr_assert_eq(sip_parse("x\r\n\r\n", 5, SIP_DGRAM, &m, NULL, 0),
		     -EBADMSG);
}

/* --- limits: each exactly at the limit, then one past it ------------- */

/* A message whose head (start line to CRLFCRLF) is exactly n bytes. */
static char *head_of(size_t n, size_t *len)
{
	const char *first = "OPTIONS sip:a SIP/2.0\r\nl: 0\r\nX: ";
	size_t k = strlen(first);
	char *p = malloc(n + 1);

	cr_assert(n > k + 4);
	memcpy(p, first, k);
	memset(p + k, 'a', n - k - 4);
	memcpy(p + n - 4, "\r\n\r\n", 4);
	p[n] = '\0';
	*len = n;
	return p;
}

Test(sip, head_limit_is_exact)
{
	struct sip_msg m;
	size_t n;
	char *p = head_of(SIP_MAX_HEAD, &n);

	cr_assert_eq(sip_parse(p, n, SIP_STREAM, &m, why, sizeof(why)), 0,
		     "%s", why);
	cr_assert_eq(sip_parse(p, n, SIP_DGRAM, &m, why, sizeof(why)), 0);
	free(p);
	p = head_of(SIP_MAX_HEAD + 1, &n);
	cr_assert_eq(sip_parse(p, n, SIP_STREAM, &m, why, sizeof(why)),
		     -EMSGSIZE);
	cr_assert(strstr(why, "SIP_MAX_HEAD"), "%s", why);
	cr_assert_eq(sip_parse(p, n, SIP_DGRAM, &m, why, sizeof(why)),
		     -EMSGSIZE);
	/* and a stream that has not yet sent that much still waits */
	cr_assert_eq(sip_parse(p, SIP_MAX_HEAD - 1, SIP_STREAM, &m, why,
			       sizeof(why)), -EAGAIN);
	free(p);
}

static char *with_headers(size_t n)
{
	char *p = malloc(32 + n * 8), *q = p;

	q += sprintf(q, "OPTIONS sip:a SIP/2.0\r\nl: 0\r\n");
	for (size_t i = 1; i < n; i++)
		q += sprintf(q, "X: %zu\r\n", i % 10);
	strcpy(q, "\r\n");
	return p;
}

Test(sip, header_count_limit_is_exact)
{
	struct sip_msg m;
	char *p = with_headers(SIP_MAX_HEADERS);

	cr_assert_eq(parse(p, SIP_STREAM, &m), 0, "%s", why);
	cr_assert_eq(m.n_hdr, SIP_MAX_HEADERS);
	free(p);
	p = with_headers(SIP_MAX_HEADERS + 1);
	cr_assert_eq(parse(p, SIP_STREAM, &m), -EMSGSIZE);
	cr_assert(strstr(why, "SIP_MAX_HEADERS"), "%s", why);
	free(p);
}

Test(sip, body_limit_is_exact)
{
	static char buf[SIP_MAX_BODY + 128];
	struct sip_msg m;
	int k;

	for (int extra = 0; extra < 2; extra++) {
		k = sprintf(buf, "MESSAGE sip:a SIP/2.0\r\nl: %d\r\n\r\n",
			    SIP_MAX_BODY + extra);
		memset(buf + k, 'b', SIP_MAX_BODY + extra);
		cr_assert_eq(sip_parse(buf, (size_t)k + SIP_MAX_BODY + extra,
				       SIP_STREAM, &m, why, sizeof(why)),
			     extra ? -EMSGSIZE : 0, "%s", why);
		cr_assert_eq(sip_parse(buf, (size_t)k + SIP_MAX_BODY + extra,
				       SIP_DGRAM, &m, why, sizeof(why)),
			     extra ? -EMSGSIZE : 0, "%s", why);
		if (extra)
			cr_assert(strstr(why, "SIP_MAX_BODY"), "%s", why);
		/* a datagram without Content-Length: the rest is the body */
		k = sprintf(buf, "MESSAGE sip:a SIP/2.0\r\n\r\n");
		memset(buf + k, 'b', SIP_MAX_BODY + extra);
		cr_assert_eq(sip_parse(buf, (size_t)k + SIP_MAX_BODY + extra,
				       SIP_DGRAM, &m, why, sizeof(why)),
			     extra ? -EMSGSIZE : 0, "%s", why);
	}
	/* a Content-Length past the limit is refused before the body */
	assert_rejected("MESSAGE sip:a SIP/2.0\r\nl: 99999999999999999999\r\n"
			"\r\n", SIP_STREAM, -EMSGSIZE, "SIP_MAX_BODY");
}

/* --- multipart -------------------------------------------------------- */

static const char secure2[] =
	"INVITE sip:uas@mtcc.com SIP/2.0\r\n"
	"MIME-Version: 1.0\r\n"
	"c: multipart/mixed; boundary=\"b 1\"\r\n"
	"l: 250\r\n"
	"\r\n"
	"preamble, ignored\r\n"
	"--b 1\r\n"
	"Content-Type: message/sip-secure\r\n"
	"X-SIP-SECURE-METHOD: CHAP.sec.sip.iana\r\n"
	"\r\n"
	"chap\r\n"
	"--b 1  \r\n"
	"c: message/sip-secure\r\n"
	"X-SIP-SECURE-TO: UAS@mtcc.com\r\n"
	"X-SIP-SECURE-SUPPORTS: SMIME.sec.sip.iana,\r\n"
	" preshared.sec.sip.iana\r\n"
	"\r\n"
	"--b 1--\r\n"
	"epilogue\r\n";

Test(sip, multipart_with_two_sip_secure_parts)
{
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;
	int n;

	cr_assert_eq(parse(secure2, SIP_DGRAM, &m), 0, "%s", why);
	n = sip_multipart(&m, parts, SIP_MAX_PARTS, why, sizeof(why));
	cr_assert_eq(n, 2, "%d %s", n, why);
	assert_is(sip_part_find(&parts[0], SIP_H_CONTENT_TYPE)->value,
		  "message/sip-secure");
	assert_is(sip_part_find(&parts[0], SIP_H_X_SECURE_METHOD)->value,
		  "CHAP.sec.sip.iana");
	assert_is(parts[0].body, "chap");
	assert_is(sip_part_find(&parts[1], SIP_H_CONTENT_TYPE)->name, "c");
	assert_is(sip_part_find(&parts[1], SIP_H_X_SECURE_SUPPORTS)->value,
		  "SMIME.sec.sip.iana,\r\n preshared.sec.sip.iana");
	cr_assert_eq(parts[1].body.n, 0);
	cr_assert_null(sip_part_find(&parts[1], SIP_H_X_SECURE_METHOD));
	/* fewer slots than parts */
	cr_assert_eq(sip_multipart(&m, parts, 1, why, sizeof(why)),
		     -EMSGSIZE);
}

static int multipart_of(const char *ct, const char *body,
			struct sip_part *parts, size_t max)
{
	static char buf[8192];
	struct sip_msg m;

	snprintf(buf, sizeof(buf), "MESSAGE sip:a SIP/2.0\r\n"
		 "Content-Type: %s\r\n\r\n%s", ct, body);
	cr_assert_eq(parse(buf, SIP_DGRAM, &m), 0, "%s", why);
	why[0] = '\0';
	return sip_multipart(&m, parts, max, why, sizeof(why));
}

Test(sip, multipart_rejections_name_the_fault)
{
	static const struct {
		const char *ct, *body, *reason;
		int err;
	} t[] = {
		{ "application/sdp", "", "is not multipart/mixed", -ENOMSG },
		{ "multipart/mixed", "", "without a boundary", -EBADMSG },
		{ "multipart/mixed; boundary=\"x", "", "does not end",
		  -EBADMSG },
		{ "multipart/mixed;boundary=x;boundary=y", "", "two boundary",
		  -EBADMSG },
		{ "multipart/mixed; boundary=\"\"", "", "boundary of 0",
		  -EBADMSG },
		{ "multipart/mixed; boundary=\"a\\b\"", "", "(0x5c)",
		  -EBADMSG },
		{ "multipart/mixed; boundary=x", "x\r\n", "no delimiter '--x'",
		  -EBADMSG },
		{ "multipart/mixed; boundary=x", "--x\r\nA: b\r\n",
		  "part 1: no close delimiter '--x--'", -EBADMSG },
		{ "multipart/mixed; boundary=x", "--x\r\nA b\r\n--x--",
		  "part 1: line 1: header without a colon", -EBADMSG },
		{ "multipart/mixed; boundary=x", "--x\r\n\r\nab\r\n--xy\r\n"
		  "--x--", "part 1: a line begins with the boundary",
		  -EBADMSG },
		{ "multipart/mixed; boundary=x", "--x\r\nl: 3\r\n\r\nab\r\n"
		  "--x--", "part 1: Content-Length is not the length",
		  -EBADMSG },
		{ "multipart/mixed; boundary=x", "--x\r\nl: nnn\r\n\r\n--x--",
		  "part 1: Content-Length 'nnn' is not a number", -EBADMSG },
	};
	struct sip_part parts[SIP_MAX_PARTS];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = multipart_of(t[i].ct, t[i].body, parts, SIP_MAX_PARTS);

		cr_assert_eq(r, t[i].err, "%zu: %d %s", i, r, why);
		cr_assert(strstr(why, t[i].reason), "%zu: '%s' lacks '%s'", i,
			  why, t[i].reason);
	}
}

Test(sip, multipart_part_content_length_may_match_and_parts_may_be_bare)
{
	struct sip_part parts[SIP_MAX_PARTS];

	cr_assert_eq(multipart_of("multipart/mixed; boundary=x",
				  "--x\r\nl: 2\r\n\r\nab\r\n--x\r\n\r\nraw\r\n"
				  "--x\r\n--x--", parts, SIP_MAX_PARTS), 3,
		     "%s", why);
	assert_is(parts[0].body, "ab");
	cr_assert_eq(parts[1].n_hdr, 0);
	assert_is(parts[1].body, "raw");
	cr_assert_eq(parts[2].n_hdr, 0);
	cr_assert_eq(parts[2].body.n, 0);
}

static void parts_body(char *buf, size_t nparts, size_t nhdr)
{
	buf += sprintf(buf, "preamble\r\n");
	for (size_t i = 0; i < nparts; i++) {
		buf += sprintf(buf, "--x\r\n");
		for (size_t k = 0; k < nhdr; k++)
			buf += sprintf(buf, "H: %zu\r\n", k);
		buf += sprintf(buf, "\r\nbody %zu\r\n", i);
	}
	strcpy(buf, "--x--\r\n");
}

Test(sip, part_limits_are_exact)
{
	struct sip_part parts[SIP_MAX_PARTS + 1];
	char body[4096];

	parts_body(body, SIP_MAX_PARTS, 1);
	cr_assert_eq(multipart_of("multipart/mixed;boundary=x", body, parts,
				  SIP_MAX_PARTS + 1), SIP_MAX_PARTS, "%s", why);
	parts_body(body, SIP_MAX_PARTS + 1, 1);
	cr_assert_eq(multipart_of("multipart/mixed;boundary=x", body, parts,
				  SIP_MAX_PARTS + 1), -EMSGSIZE);
	cr_assert(strstr(why, "SIP_MAX_PARTS"), "%s", why);
	parts_body(body, 1, SIP_MAX_PART_HEADERS);
	cr_assert_eq(multipart_of("multipart/mixed;boundary=x", body, parts,
				  1), 1, "%s", why);
	cr_assert_eq(parts[0].n_hdr, SIP_MAX_PART_HEADERS);
	parts_body(body, 1, SIP_MAX_PART_HEADERS + 1);
	cr_assert_eq(multipart_of("multipart/mixed;boundary=x", body, parts,
				  1), -EMSGSIZE);
	cr_assert(strstr(why, "part 1: more than SIP_MAX_PART_HEADERS"), "%s",
		  why);
}

Test(sip, boundary_length_limit_is_exact)
{
	struct sip_part parts[1];
	char ct[128], body[256], b[72];

	memset(b, 'b', 71);
	b[70] = '\0';
	snprintf(ct, sizeof(ct), "multipart/mixed; boundary=%s", b);
	snprintf(body, sizeof(body), "--%s\r\n\r\n--%s--", b, b);
	cr_assert_eq(multipart_of(ct, body, parts, 1), 1, "%s", why);
	b[70] = 'b';
	b[71] = '\0';
	snprintf(ct, sizeof(ct), "multipart/mixed; boundary=%s", b);
	snprintf(body, sizeof(body), "--%s\r\n\r\n--%s--", b, b);
	cr_assert_eq(multipart_of(ct, body, parts, 1), -EBADMSG);
	cr_assert(strstr(why, "boundary of 71 characters"), "%s", why);
}

/* --- the framework draft's example messages (section 5) ---------------
 * Each sketch as the draft writes it, de-indented; the blank line that
 * follows each in the draft's text is kept, since it ends the headers. They
 * have no Via, no "sip:" in their URIs and no Content-Length, so they are
 * datagrams here (a stream needs Content-Length), and their URIs are kept
 * opaque. */

static void assert_hdr(const struct sip_msg *m, enum sip_hdr id,
		       const char *value)
{
	const struct sip_header *h = sip_find(m, id, NULL);

	cr_assert_not_null(h, "no header %d", id);
	assert_is(h->value, value);
}

static void assert_part_hdr(const struct sip_part *p, enum sip_hdr id,
			    const char *value)
{
	const struct sip_header *h = sip_part_find(p, id);

	cr_assert_not_null(h, "no part header %d", id);
	assert_is(h->value, value);
}

/* (1) */
static const char draft_options[] =
	"OPTIONS P1@mtcc.com SIP/2.0\n"
	"From: UAC@mtcc.com\n"
	"X-SIP-SECURE-TO: P1@mtcc.com\n"
	"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
	"X-SIP-SECURE-SUPPORTS: ipsec.sec.sip.iana=(r:mtcc.com, k:IKE)\n"
	"\n";

Test(sip_draft, options_sketch_parses_with_an_opaque_uri)
{
	struct sip_msg m;
	struct sip_str h;

	cr_assert_eq(parse(draft_options, SIP_DGRAM, &m), 0, "%s", why);
	assert_is(m.method, "OPTIONS");
	assert_is(m.uri, "P1@mtcc.com");
	assert_hdr(&m, SIP_H_X_SECURE_TO, "P1@mtcc.com");
	assert_hdr(&m, SIP_H_X_SECURE_FROM, "UAC@mtcc.com");
	assert_hdr(&m, SIP_H_X_SECURE_SUPPORTS,
		   "ipsec.sec.sip.iana=(r:mtcc.com, k:IKE)");
	cr_assert_eq(m.body.n, 0);
	/* "UAC@mtcc.com" is no SIP URI: there is no host to take */
	cr_assert_eq(sip_uri_host(sip_find(&m, SIP_H_FROM, NULL)->value, &h),
		     -EBADMSG);
	/* on a stream it lacks its framing */
	assert_rejected(draft_options, SIP_STREAM, -EBADMSG,
			"no Content-Length");
}

/* (2), (7), (16): a status line without a reason phrase */
Test(sip_draft, bare_401_sketches_parse)
{
	static const char *const sk[][2] = {
		{ "SIP/2.0 401\n"
		  "X-SIP-SECURE-REQUIRES: ipsec.sec.sip.iana=(r:mtcc.com, "
		  "k:IKE)\n\n", "ipsec.sec.sip.iana=(r:mtcc.com, k:IKE)" },
		{ "SIP/2.0 401\n"
		  "X-SIP-SECURE-REQUIRES: TLS.sec.sip.iana=(r:mtcc.com)\n\n",
		  "TLS.sec.sip.iana=(r:mtcc.com)" },
		{ "SIP/2.0 401\n"
		  "X-SIP-SECURE-REQUIRES: preshared.sec.sip.iana\n\n",
		  "preshared.sec.sip.iana" },
	};

	for (size_t i = 0; i < 3; i++) {
		struct sip_msg m;

		cr_assert_eq(parse(sk[i][0], SIP_DGRAM, &m), 0, "%s", why);
		cr_assert_eq(m.status, 401);
		cr_assert_eq(m.reason.n, 0);
		assert_hdr(&m, SIP_H_X_SECURE_REQUIRES, sk[i][1]);
	}
}

/* (6), (15) */
Test(sip_draft, options_sketches_with_tls_and_lists_parse)
{
	struct sip_msg m;
	struct sip_str rest, it;

	cr_assert_eq(parse("OPTIONS P2@mtcc.com SIP/2.0\n"
			   "From: P1@mtcc.com\n"
			   "X-SIP-SECURE-TO: P2@mtcc.com\n"
			   "X-SIP-SECURE-FROM: P1@mtcc.com\n"
			   "X-SIP-SECURE-SUPPORTS: TLS.sec.sip.iana=(r:mtcc.com)\n"
			   "\n", SIP_DGRAM, &m), 0, "%s", why);
	assert_hdr(&m, SIP_H_X_SECURE_SUPPORTS,
		   "TLS.sec.sip.iana=(r:mtcc.com)");
	cr_assert_eq(parse("OPTIONS UAS@mtcc.com SIP/2.0\n"
			   "From: P2@mtcc.com\n"
			   "X-SIP-SECURE-TO: UAS@mtcc.com\n"
			   "X-SIP-SECURE-FROM: P2@mtcc.com\n"
			   "X-SIP-SECURE-SUPPORTS: tls.sec.sip.iana; "
			   "preshared.sec.sip.iana\n"
			   "\n", SIP_DGRAM, &m), 0, "%s", why);
	/* the draft separates methods with ';', not ',': one list element
	 * (secagree.c splits them) */
	rest = sip_find(&m, SIP_H_X_SECURE_SUPPORTS, NULL)->value;
	cr_assert_eq(sip_list_next(&rest, &it), 1);
	assert_is(it, "tls.sec.sip.iana; preshared.sec.sip.iana");
	cr_assert_eq(sip_list_next(&rest, &it), 0);
}

/* (5) as written: boundary lines without "--", Content-Length: nnn */
static const char draft_invite5[] =
	"INVITE UAS@mtcc.com SIP/2.0\n"
	"From: UAC@mtcc.com\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed;\n"
	"    boundary=\"__FooTheFunLovingBar__\"\n"
	"\n"
	"__FooTheFunLovingBar__\n"
	"Content-Type: message/sip-secure\n"
	"Content-Length: nnn\n"
	"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
	"X-SIP-SECURE-TO: UAS@mtcc.com\n"
	"X-SIP-SECURE-SUPPORTS: SMIME.sec.sip.iana=(r:mtcc.com)\n"
	"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\n"
	"Authentication: NULL\n"
	"Encryption: NULL\n"
	"\n";

/* (5) corrected: "--" before the boundary, the close delimiter added, nnn
 * replaced by the part's body length (0: its headers end at the
 * delimiter). */
static const char draft_invite5_fixed[] =
	"INVITE UAS@mtcc.com SIP/2.0\n"
	"From: UAC@mtcc.com\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed;\n"
	"    boundary=\"__FooTheFunLovingBar__\"\n"
	"\n"
	"--__FooTheFunLovingBar__\n"
	"Content-Type: message/sip-secure\n"
	"Content-Length: 0\n"
	"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
	"X-SIP-SECURE-TO: UAS@mtcc.com\n"
	"X-SIP-SECURE-SUPPORTS: SMIME.sec.sip.iana=(r:mtcc.com)\n"
	"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\n"
	"Authentication: NULL\n"
	"Encryption: NULL\n"
	"--__FooTheFunLovingBar__--\n";

Test(sip_draft, invite_sketch_boundary_lines_are_rejected_then_fixed)
{
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;
	char nnn[sizeof(draft_invite5_fixed)];

	cr_assert_eq(parse(draft_invite5, SIP_DGRAM, &m), 0, "%s", why);
	assert_hdr(&m, SIP_H_MIME_VERSION, "1.0");
	assert_hdr(&m, SIP_H_CONTENT_TYPE, "multipart/mixed;\n    "
		   "boundary=\"__FooTheFunLovingBar__\"");
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, "no delimiter '--__FooTheFunLovingBar__'"),
		  "%s", why);

	/* with only the delimiters mended, nnn is what is wrong */
	snprintf(nnn, sizeof(nnn), "%s", draft_invite5_fixed);
	memcpy(strstr(nnn, "Length: 0\n"), "Length:nnn\n", 11);
	cr_assert_eq(parse(nnn, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, "part 1: Content-Length 'nnn' is not a number"),
		  "%s", why);

	cr_assert_eq(parse(draft_invite5_fixed, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 1, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_CONTENT_TYPE, "message/sip-secure");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_FROM, "UAC@mtcc.com");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_TO, "UAS@mtcc.com");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_SUPPORTS,
			"SMIME.sec.sip.iana=(r:mtcc.com)");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_METHOD,
			"preshared.sec.sip.iana");
	assert_part_hdr(&parts[0], SIP_H_ENCRYPTION, "NULL");
	/* section 6 names the header Authorization; the sketch's
	 * "Authentication" is some other header */
	cr_assert_null(sip_part_find(&parts[0], SIP_H_AUTHORIZATION));
	cr_assert_eq(parts[0].n_hdr, 8);
	cr_assert_eq(parts[0].body.n, 0);
}

/* (11) corrected: "--" delimiters, close delimiter, nnn -> 31 (the body
 * "# CHAP specific headers here..."). As written it fails as (5) does. */
Test(sip_draft, chap_401_sketch_parses_once_corrected)
{
	static const char as_written[] =
		"SIP/2.0 401\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__BarTheFunLovingFoo__\"\n"
		"\n"
		"__BarTheFunLovingFoo__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: nnn\n"
		"X-SIP-SECURE-FROM: P2@mtcc.com\n"
		"X-SIP-SECURE-TO: UAC@mtcc.com\n"
		"X-SIP-SECURE-REQUIRES:  CHAP.sec.sip.iana\n"
		"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\n"
		"Authentication: NULL\n"
		"Encryption: NULL\n"
		"\n"
		"# CHAP specific headers here...\n"
		"\n";
	static const char fixed[] =
		"SIP/2.0 401\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__BarTheFunLovingFoo__\"\n"
		"\n"
		"--__BarTheFunLovingFoo__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 31\n"
		"X-SIP-SECURE-FROM: P2@mtcc.com\n"
		"X-SIP-SECURE-TO: UAC@mtcc.com\n"
		"X-SIP-SECURE-REQUIRES:  CHAP.sec.sip.iana\n"
		"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\n"
		"Authentication: NULL\n"
		"Encryption: NULL\n"
		"\n"
		"# CHAP specific headers here...\n"
		"--__BarTheFunLovingFoo__--\n";
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;

	cr_assert_eq(parse(as_written, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, "no delimiter"), "%s", why);
	cr_assert_eq(parse(fixed, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(m.status, 401);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 1, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_REQUIRES,
			"CHAP.sec.sip.iana");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_FROM, "P2@mtcc.com");
	assert_is(parts[0].body, "# CHAP specific headers here...");
}

/* (13) corrected: delimiters, close delimiter, nnn -> 30 and 0 */
Test(sip_draft, two_part_invite_sketch_parses_once_corrected)
{
	static const char fixed[] =
		"INVITE UAS@mtcc.com SIP/2.0\n"
		"From: UAC@mtcc.com\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__FooTheFunLovingBar__\"\n"
		"\n"
		"--__FooTheFunLovingBar__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 30\n"
		"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
		"X-SIP-SECURE-TO: P2@mtcc.com\n"
		"X-SIP-SECURE-METHOD: CHAP.sec.sip.iana\n"
		"\n"
		"# CHAP specific goodies here.\n"
		"\n"
		"--__FooTheFunLovingBar__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 0\n"
		"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
		"X-SIP-SECURE-TO: UAS@mtcc.com\n"
		"X-SIP-SECURE-SUPPORTS: SMIME.sec.sip.iana=(r:mtcc.com)\n"
		"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\n"
		"Authentication: NULL\n"
		"Encryption: NULL\n"
		"--__FooTheFunLovingBar__--\n";
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;

	cr_assert_eq(parse(fixed, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 2, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_TO, "P2@mtcc.com");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_METHOD, "CHAP.sec.sip.iana");
	/* the blank line before the delimiter is the body's own */
	assert_is(parts[0].body, "# CHAP specific goodies here.\n");
	assert_part_hdr(&parts[1], SIP_H_X_SECURE_TO, "UAS@mtcc.com");
	assert_part_hdr(&parts[1], SIP_H_X_SECURE_SUPPORTS,
			"SMIME.sec.sip.iana=(r:mtcc.com)");
}

/* (21) as written: the draft's line wrap broke the boundary over two lines
 * and the second is not indented as a fold, so it is a header line
 * without a colon. Corrected: boundary="__LovingTheFooBar__" as its body
 * uses it, "--" delimiters, close delimiter, nnn -> 30 and 37. */
Test(sip_draft, reinvite_sketch_with_a_broken_boundary)
{
	static const char as_written[] =
		"INVITE UAC@mtcc.com SIP/2.0\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;      boundary=\" __LovingThe-\n"
		"FooBar__\"\n"
		"\n";
	static const char fixed[] =
		"INVITE UAC@mtcc.com SIP/2.0\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;      boundary=\"__LovingTheFoo"
		"Bar__\"\n"
		"\n"
		"--__LovingTheFooBar__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 30\n"
		"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
		"X-SIP-SECURE-TO: P2@mtcc.com\n"
		"X-SIP-SECURE-METHOD: CHAP.sec.sip.iana\n"
		"\n"
		"# CHAP specific goodies here.\n"
		"\n"
		"--__LovingTheFooBar__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 37\n"
		"X-SIP-SECURE-FROM: UAC@mtcc.com\n"
		"X-SIP-SECURE-TO: UAS@mtcc.com\n"
		"X-SIP-SECURE-METHOD: SMIME.sec.sip.iana\n"
		"\n"
		"# rest of the SMIME and other goodies\n"
		"--__LovingTheFooBar__--\n";
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;

	assert_rejected(as_written, SIP_DGRAM, -EBADMSG,
			"line 4: header without a colon");
	cr_assert_eq(parse(fixed, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 2, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_METHOD, "CHAP.sec.sip.iana");
	assert_part_hdr(&parts[1], SIP_H_X_SECURE_TO, "UAS@mtcc.com");
	assert_part_hdr(&parts[1], SIP_H_X_SECURE_METHOD,
			"SMIME.sec.sip.iana");
	assert_is(parts[1].body, "# rest of the SMIME and other goodies");
	/* a Content-Length that misses the body by one is refused */
	{
		static char off_by_one[sizeof(fixed)];

		snprintf(off_by_one, sizeof(off_by_one), "%s", fixed);
		memcpy(strstr(off_by_one, "Length: 30"), "Length: 29", 10);
		cr_assert_eq(parse(off_by_one, SIP_DGRAM, &m), 0);
		cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
					   sizeof(why)), -EBADMSG);
		cr_assert(strstr(why, "part 1: Content-Length is not the "
				 "length of its body (30 bytes)"), "%s", why);
	}
}

/* (18) and (24) corrected: delimiters, close delimiter, nnn -> 54 and 0
 * ((24)'s part has no body). */
Test(sip_draft, smime_200_sketches_parse_once_corrected)
{
	static const char fixed18[] =
		"SIP/2.0 200\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__FunTheFooBarLoving__\"\n"
		"\n"
		"--__FunTheFooBarLoving__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 54\n"
		"X-SIP-SECURE-FROM: UAS@mtcc.com\n"
		"X-SIP-SECURE-TO: UAC@mtcc.com\n"
		"X-SIP-SECURE-METHOD: SMIME.sec.sip.iana\n"
		"X-SIP-SECURE-REQUIRES: SMIME.sec.sip.iana\n"
		"\n"
		"# SMIME specific goodies here, as well as any SDP etc.\n"
		"--__FunTheFooBarLoving__--\n";
	static const char fixed24[] =
		"SIP/2.0 200\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__TheBarLovingFunFoo__\"\n"
		"\n"
		"--__TheBarLovingFunFoo__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 0\n"
		"X-SIP-SECURE-FROM: UAS@mtcc.com\n"
		"X-SIP-SECURE-TO: UAC@mtcc.com\n"
		"X-SIP-SECURE-METHOD: SMIME.sec.sip.iana\n"
		"--__TheBarLovingFunFoo__--\n";
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;

	cr_assert_eq(parse(fixed18, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 1, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_REQUIRES,
			"SMIME.sec.sip.iana");
	assert_is(parts[0].body,
		  "# SMIME specific goodies here, as well as any SDP etc.");
	cr_assert_eq(parse(fixed24, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 1, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_METHOD,
			"SMIME.sec.sip.iana");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_FROM, "UAS@mtcc.com");
}

/* Section 5.2 (3): "401 SIP/2.0" is neither start line; corrected to
 * "SIP/2.0 401" with the part mended as above. */
Test(sip_draft, inverted_status_line_is_rejected)
{
	static const char fixed[] =
		"SIP/2.0 401\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__FooTheFunLovingBar__\"\n"
		"\n"
		"--__FooTheFunLovingBar__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 0\n"
		"X-SIP-SECURE-FROM: P2@mtcc.com\n"
		"X-SIP-SECURE-TO: *@homer.com\n"
		"X-SIP-SECURE-SUPPORTS: SMIME.sec.sip.iana\n"
		"X-SIP-SECURE-METHOD: preshared.sec.sip.iana\n"
		"Authentication: NULL\n"
		"Encryption: NULL\n"
		"Accept: Caller-ID\n"
		"--__FooTheFunLovingBar__--\n";
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;

	assert_rejected("401 SIP/2.0\nMIME-Version: 1.0\n\n", SIP_DGRAM,
			-EBADMSG, "line 1: start line '401 SIP/2.0' is neither "
			"a request line nor a status line");
	cr_assert_eq(parse(fixed, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 1, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_TO, "*@homer.com");
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_SUPPORTS,
			"SMIME.sec.sip.iana");
	cr_assert_eq(parts[0].n_hdr, 9);
}

/* Section 5.2 (4): a Caller-ID with a quoted value; the part's body holds
 * a header-like line that must stay body. Corrected: delimiters, close
 * delimiter, nnn -> 37. */
Test(sip_draft, caller_id_sketch_keeps_the_body_line_in_the_body)
{
	static const char fixed[] =
		"INVITE UAS@mtcc.com SIP/2.0\n"
		"From: UAC@homer.com\n"
		"Caller-ID: \"Krusty The Clown\"\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed;\n"
		"    boundary=\"__FooTheFunLovingBar__\"\n"
		"\n"
		"--__FooTheFunLovingBar__\n"
		"Content-Type: message/sip-secure\n"
		"Content-Length: 37\n"
		"X-SIP-SECURE-FROM: P1@homer.com\n"
		"X-SIP-SECURE-TO: P2@mtcc.com\n"
		"X-SIP-SECURE-METHOD: SMIME.sec.sip.iana\n"
		"\n"
		"# SMIME stuff\n"
		"Caller-ID: Bart Simpson\n"
		"--__FooTheFunLovingBar__--\n";
	struct sip_part parts[SIP_MAX_PARTS];
	struct sip_msg m;

	cr_assert_eq(parse(fixed, SIP_DGRAM, &m), 0, "%s", why);
	cr_assert_eq(m.hdr[1].id, SIP_H_OTHER);
	assert_is(m.hdr[1].value, "\"Krusty The Clown\"");
	cr_assert_eq(sip_multipart(&m, parts, SIP_MAX_PARTS, why,
				   sizeof(why)), 1, "%s", why);
	assert_part_hdr(&parts[0], SIP_H_X_SECURE_FROM, "P1@homer.com");
	assert_is(parts[0].body, "# SMIME stuff\nCaller-ID: Bart Simpson");
	cr_assert_eq(parts[0].n_hdr, 5);
}
