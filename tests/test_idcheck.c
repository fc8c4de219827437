// SPDX-License-Identifier: MIT
/* The identity cross-check (common/idcheck.c): name matching, what is
 * checked in which direction, and the stream framing the shim runs it
 * with: split heads at every offset, pipelined messages with bodies,
 * unframeable input under enforce and log; and its cost per message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idcheck.h"

static struct sip_str S(const char *s)
{
	return (struct sip_str){ s, strlen(s) };
}

static struct sipsec_ctl_identity ident(int mode, int n, ...)
{
	struct sipsec_ctl_identity id = { .mode = (uint8_t)mode,
					  .n = (uint8_t)n };
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		snprintf(id.names[i], sizeof(id.names[i]), "%s",
			 va_arg(ap, const char *));
	va_end(ap);
	return id;
}

Test(idcheck, dns_names_match_case_insensitively)
{
	cr_assert(idcheck_name_match("pbx.example.net", S("PBX.Example.NET")));
	cr_assert(idcheck_name_match("pbx.example.net", S("pbx.example.net.")));
	cr_assert(!idcheck_name_match("pbx.example.net", S("pbx.example.ne")));
	cr_assert(!idcheck_name_match("pbx.example.net", S("xpbx.example.net")));
	cr_assert(!idcheck_name_match("example.net", S("pbx.example.net")));
}

Test(idcheck, a_wildcard_stands_for_exactly_one_label)
{
	cr_assert(idcheck_name_match("*.example.net", S("pbx.example.net")));
	cr_assert(idcheck_name_match("*.example.net", S("PBX.EXAMPLE.net")));
	cr_assert(!idcheck_name_match("*.example.net", S("example.net")));
	cr_assert(!idcheck_name_match("*.example.net", S(".example.net")));
	cr_assert(!idcheck_name_match("*.example.net", S("a.b.example.net")));
	cr_assert(!idcheck_name_match("*.example.net", S("10.0.0.1")));
}

Test(idcheck, ipv4_addresses_compare_by_value)
{
	cr_assert(idcheck_name_match("10.0.0.1", S("10.0.0.1")));
	cr_assert(!idcheck_name_match("10.0.0.1", S("10.0.0.10")));
	cr_assert(!idcheck_name_match("10.0.0.1", S("::ffff:10.0.0.2")));
	cr_assert(!idcheck_name_match("pbx.example.net", S("10.0.0.1")));
}

Test(idcheck, ipv6_addresses_match_in_any_textual_form)
{
	cr_assert(idcheck_name_match("fd00::2", S("fd00:0:0:0:0:0:0:2")));
	cr_assert(idcheck_name_match("FD00:0::2", S("fd00::2")));
	cr_assert(!idcheck_name_match("fd00::2", S("fd00::3")));
	cr_assert(!idcheck_name_match("10.0.0.1", S("fd00::2")));
}

Test(idcheck, any_of_the_names_will_do_including_the_realm)
{
	struct sipsec_ctl_identity id =
		ident(0, 3, "h2.sipsec.test", "10.1.0.2", "example.net");

	cr_assert(idcheck_host_ok(&id, S("example.net")));
	cr_assert(idcheck_host_ok(&id, S("10.1.0.2")));
	cr_assert(!idcheck_host_ok(&id, S("pbx.example.net")));
	id.n = 0;
	cr_assert(!idcheck_host_ok(&id, S("example.net")));
}

/* ---- one message ---- */

static int check(const char *msg, enum idcheck_dir dir,
		 const struct sipsec_ctl_identity *id,
		 struct idcheck_verdict *v)
{
	struct sip_msg m;
	char why[128];

	cr_assert_eq(sip_parse(msg, strlen(msg), SIP_STREAM, &m, why,
			       sizeof(why)), 0, "%s", why);
	memset(v, 0, sizeof(*v));
	return idcheck_msg(&m, dir, id, v);
}

#define INVITE(ruri, extra)                                                 \
	"INVITE " ruri " SIP/2.0\r\n"                                       \
	"Via: SIP/2.0/TLS 10.1.0.1:5060;branch=z9hG4bK1\r\n"               \
	"From: <sip:alice@h1.sipsec.test>;tag=1\r\n"                        \
	"To: <sip:bob@h2.sipsec.test>\r\n"                                  \
	"Call-ID: 1@h1\r\nCSeq: 1 INVITE\r\n" extra                         \
	"Content-Length: 0\r\n\r\n"

Test(idcheck, a_sent_request_is_checked_on_its_request_uri)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_verdict v;

	cr_assert_eq(check(INVITE("sip:bob@h2.sipsec.test", ""), IDCHECK_SENT,
			   &id, &v), 0);
	cr_assert_eq(check(INVITE("sip:bob@evil.example;transport=tls", ""),
			   IDCHECK_SENT, &id, &v), -EACCES);
	cr_assert_eq(v.what, IDCHECK_W_RURI);
	cr_assert_str_eq(v.host, "evil.example");
	cr_assert_str_empty(v.why);
}

Test(idcheck, with_a_route_the_first_route_is_the_next_hop)
{
	struct sipsec_ctl_identity id = ident(0, 1, "proxy.example.net");
	struct idcheck_verdict v;

	cr_assert_eq(check(INVITE("sip:bob@elsewhere.example",
				  "Route: <sip:proxy.example.net;lr>, "
				  "<sip:other.example;lr>\r\n"
				  "Route: <sip:third.example;lr>\r\n"),
			   IDCHECK_SENT, &id, &v), 0);
	cr_assert_eq(check(INVITE("sip:bob@proxy.example.net",
				  "Route: <sip:other.example;lr>\r\n"),
			   IDCHECK_SENT, &id, &v), -EACCES);
	cr_assert_eq(v.what, IDCHECK_W_ROUTE);
	cr_assert_str_eq(v.host, "other.example");
}

Test(idcheck, a_received_request_is_checked_on_from)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h1.sipsec.test");
	struct idcheck_verdict v;

	/* The Request-URI does not matter on receipt. */
	cr_assert_eq(check(INVITE("sip:bob@anything.example", ""),
			   IDCHECK_RECEIVED, &id, &v), 0);
	id = ident(0, 1, "h9.sipsec.test");
	cr_assert_eq(check(INVITE("sip:bob@h9.sipsec.test", ""),
			   IDCHECK_RECEIVED, &id, &v), -EACCES);
	cr_assert_eq(v.what, IDCHECK_W_FROM);
	cr_assert_str_eq(v.host, "h1.sipsec.test");
}

Test(idcheck, every_p_asserted_identity_value_is_checked_too)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h1.sipsec.test");
	struct idcheck_verdict v;

	cr_assert_eq(check(INVITE("sip:bob@x", "P-Asserted-Identity: "
				  "\"A\" <sip:alice@h1.sipsec.test>, "
				  "<tel:+15551234>\r\n"),
			   IDCHECK_RECEIVED, &id, &v), 0);
	cr_assert_eq(check(INVITE("sip:bob@x", "P-Asserted-Identity: "
				  "<sip:alice@h1.sipsec.test>\r\n"
				  "P-Asserted-Identity: "
				  "<sip:mallory@evil.example>\r\n"),
			   IDCHECK_RECEIVED, &id, &v), -EACCES);
	cr_assert_eq(v.what, IDCHECK_W_PAI);
	cr_assert_str_eq(v.host, "evil.example");
}

Test(idcheck, responses_are_not_checked)
{
	struct sipsec_ctl_identity id = ident(0, 1, "nobody.example");
	struct idcheck_verdict v;

	cr_assert_eq(check("SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS x;branch=z\r\n"
			   "From: <sip:a@evil.example>;tag=1\r\nTo: <sip:b@c>\r\n"
			   "Call-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0"
			   "\r\n\r\n", IDCHECK_RECEIVED, &id, &v), 0);
}

Test(idcheck, a_uri_without_a_sip_host_cannot_be_checked)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_verdict v;
	char line[256];

	cr_assert_eq(check(INVITE("tel:+15551234", ""), IDCHECK_SENT, &id, &v),
		     -EACCES);
	cr_assert_str_not_empty(v.why);
	idcheck_describe(&v, IDCHECK_SENT, &id, line, sizeof(line));
	cr_assert(strstr(line, "cannot check Request-URI"), "%s", line);
}

Test(idcheck, ipv6_hosts_in_uris_match_without_brackets)
{
	struct sipsec_ctl_identity id = ident(0, 1, "fd00:1::2");
	struct idcheck_verdict v;

	cr_assert_eq(check(INVITE("sip:bob@[fd00:1:0::2]:5060", ""),
			   IDCHECK_SENT, &id, &v), 0);
}

Test(idcheck, the_log_line_names_header_host_and_identities)
{
	struct sipsec_ctl_identity id = ident(0, 2, "h2.sipsec.test", "10.1.0.2");
	struct idcheck_verdict v;
	char line[256];

	check(INVITE("sip:bob@evil.example", ""), IDCHECK_SENT, &id, &v);
	idcheck_describe(&v, IDCHECK_SENT, &id, line, sizeof(line));
	cr_assert_str_eq(line, "sent request: Request-URI host 'evil.example' "
			 "is not the peer's identity (h2.sipsec.test, "
			 "10.1.0.2)");
}

/* ---- streams ---- */

#define GOOD_SENT                                                           \
	"INVITE sip:bob@h2.sipsec.test SIP/2.0\r\n"                         \
	"Via: SIP/2.0/TLS 10.1.0.1;branch=z9hG4bK1\r\n"                    \
	"From: <sip:alice@h1.sipsec.test>;tag=1\r\n"                        \
	"To: <sip:bob@h2.sipsec.test>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n" \
	"Content-Type: application/sdp\r\nContent-Length: 12\r\n\r\n"      \
	"v=0\r\no=- x\r\n"
#define RESPONSE                                                            \
	"SIP/2.0 100 Trying\r\nVia: SIP/2.0/TLS 10.1.0.1;branch=z\r\n"     \
	"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: 1\r\n"          \
	"CSeq: 1 INVITE\r\nContent-Length: 5\r\n\r\nhello"
#define BAD_SENT                                                            \
	"MESSAGE sip:bob@evil.example SIP/2.0\r\n"                          \
	"Via: SIP/2.0/TLS 10.1.0.1;branch=z9hG4bK2\r\n"                    \
	"From: <sip:alice@h1.sipsec.test>;tag=2\r\n"                        \
	"To: <sip:bob@evil.example>\r\nCall-ID: 2\r\nCSeq: 1 MESSAGE\r\n"  \
	"Content-Length: 4\r\n\r\nhi!\n"

struct reports {
	int n;
	enum idcheck_what what[8];
};

static void collect(void *arg, const struct idcheck_stream *st,
		    const struct idcheck_verdict *v)
{
	struct reports *r = arg;

	(void)st;
	if (r->n < 8)
		r->what[r->n] = v->what;
	r->n++;
}

/* Feeds s in pieces cut at the given offsets (hold mode, like receive);
 * returns the total passed, and whether something was refused. */
static size_t feed_cut(struct idcheck_stream *st,
		       const struct sipsec_ctl_identity *id, const char *s,
		       const size_t *cuts, size_t ncut, bool *bad,
		       struct reports *r)
{
	size_t len = strlen(s), at = 0, passed = 0;
	struct idcheck_out out;

	*bad = false;
	for (size_t i = 0; i <= ncut; i++) {
		size_t e = i < ncut ? cuts[i] : len;

		cr_assert_eq(idcheck_feed(st, id, s + at, e - at, true, &out,
					  collect, r), 0);
		passed += out.pass;
		if (out.bad) {
			*bad = true;
			return passed;
		}
		cr_assert_eq(out.pass, e - at);
		at = e;
	}
	return passed;
}

Test(idcheck, pipelined_messages_with_bodies_pass_in_one_call)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT };
	const char *s = GOOD_SENT RESPONSE "\r\n\r\n" GOOD_SENT;
	bool bad;

	cr_assert_eq(feed_cut(&st, &id, s, NULL, 0, &bad, NULL), strlen(s));
	cr_assert(!bad);
	cr_assert_eq(st.skip, 0);
	cr_assert_null(st.head);
}

Test(idcheck, a_refused_request_after_good_ones_stops_at_its_first_byte)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT };
	const char *s = GOOD_SENT RESPONSE BAD_SENT GOOD_SENT;
	struct idcheck_out out;

	cr_assert_eq(idcheck_feed(&st, &id, s, strlen(s), false, &out, NULL,
				  NULL), 0);
	cr_assert(out.bad);
	cr_assert_eq(out.pass, strlen(GOOD_SENT RESPONSE));
	cr_assert_str_eq(out.v.host, "evil.example");
	/* The state stays at the refused request: given again, it is
	 * refused again, at once. */
	cr_assert_eq(idcheck_feed(&st, &id, BAD_SENT, strlen(BAD_SENT), false,
				  &out, NULL, NULL), 0);
	cr_assert(out.bad);
	cr_assert_eq(out.pass, 0);
}

Test(idcheck, split_heads_are_checked_at_every_offset)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	const char *good = GOOD_SENT GOOD_SENT, *bad_s = GOOD_SENT BAD_SENT;
	size_t bad_at = strlen(GOOD_SENT), len = strlen(bad_s);

	for (size_t cut = 1; cut < strlen(good); cut++) {
		struct idcheck_stream st = { .dir = IDCHECK_SENT };
		size_t cuts[1] = { cut };
		bool bad;

		cr_assert_eq(feed_cut(&st, &id, good, cuts, 1, &bad, NULL),
			     strlen(good), "cut at %zu", cut);
		cr_assert(!bad, "cut at %zu", cut);
		cr_assert_null(st.head, "cut at %zu", cut);
		idcheck_stream_free(&st);
	}
	for (size_t cut = 1; cut < len; cut++) {
		struct idcheck_stream st = { .dir = IDCHECK_SENT };
		size_t cuts[1] = { cut }, passed;
		bool bad;

		passed = feed_cut(&st, &id, bad_s, cuts, 1, &bad, NULL);
		cr_assert(bad, "cut at %zu", cut);
		/* Bytes of the refused request may have passed only while
		 * its head was incomplete; never all of its head. */
		cr_assert_leq(passed, cut > bad_at ? cut : bad_at,
			      "cut at %zu", cut);
		cr_assert_lt(passed, bad_at + (strstr(BAD_SENT, "\r\n\r\n") -
					       BAD_SENT) + 4, "cut at %zu", cut);
		idcheck_stream_free(&st);
	}
}

Test(idcheck, a_head_trickling_in_byte_by_byte_is_checked)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT };
	const char *s = GOOD_SENT BAD_SENT;
	size_t len = strlen(s), cuts[1024], n = 0;
	bool bad;

	for (size_t i = 1; i < len && n < 1024; i++)
		cuts[n++] = i;
	feed_cut(&st, &id, s, cuts, n, &bad, NULL);
	cr_assert(bad);
	idcheck_stream_free(&st);
}

Test(idcheck, without_hold_an_incomplete_head_is_left_as_a_tail)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT };
	const char *s = GOOD_SENT GOOD_SENT;
	struct idcheck_out out;
	size_t first = strlen(GOOD_SENT);

	cr_assert_eq(idcheck_feed(&st, &id, s, first + 20, false, &out, NULL,
				  NULL), 0);
	cr_assert(!out.bad);
	cr_assert_eq(out.pass, first);
	cr_assert_eq(out.tail, 20);
	cr_assert_null(st.head);
	/* Given again with the rest: all of it passes. */
	cr_assert_eq(idcheck_feed(&st, &id, s + first, strlen(s) - first, false,
				  &out, NULL, NULL), 0);
	cr_assert_eq(out.pass, strlen(s) - first);
	cr_assert_eq(out.tail, 0);
}

Test(idcheck, received_requests_frame_like_sent_ones)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h1.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_RECEIVED };
	const char *s = GOOD_SENT RESPONSE GOOD_SENT;
	bool bad;

	cr_assert_eq(feed_cut(&st, &id, s, (size_t[]){ 100, 400 }, 2, &bad,
			      NULL), strlen(s));
	cr_assert(!bad);
}

Test(idcheck, unframeable_input_is_refused_under_enforce)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	const char *inputs[] = {
		"hello world\r\nthis is not SIP\r\n\r\n",
		"INVITE sip:bob@h2.sipsec.test SIP/2.0\r\nVia: x\r\n\r\n",
	};

	for (size_t i = 0; i < 2; i++) {
		struct idcheck_stream st = { .dir = IDCHECK_SENT };
		struct idcheck_out out;

		idcheck_feed(&st, &id, inputs[i], strlen(inputs[i]), true, &out,
			     NULL, NULL);
		cr_assert(out.bad, "input %zu", i);
		cr_assert_eq(out.v.what, IDCHECK_W_FRAMING);
		cr_assert_str_not_empty(out.v.why);
	}
}

Test(idcheck, a_head_over_the_limit_is_refused_under_enforce)
{
	struct sipsec_ctl_identity id = ident(0, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT };
	struct idcheck_out out;
	char line[128];
	size_t passed = 0;
	bool bad = false;

	static const char start[] = "INVITE sip:b@h2.sipsec.test SIP/2.0\r\n";

	cr_assert_eq(idcheck_feed(&st, &id, start, strlen(start), true, &out,
				  NULL, NULL), 0);
	memset(line, 'a', sizeof(line));
	memcpy(line, "X-Pad: ", 7);
	line[126] = '\r';
	line[127] = '\n';
	for (int i = 0; i < 200 && !bad; i++) {
		cr_assert_eq(idcheck_feed(&st, &id, line, sizeof(line), true,
					  &out, NULL, NULL), 0);
		bad = out.bad;
		passed += out.pass;
	}
	cr_assert(bad);
	cr_assert_eq(out.v.what, IDCHECK_W_FRAMING);
	cr_assert(strstr(out.v.why, "SIP_MAX_HEAD"), "%s", out.v.why);
	cr_assert_lt(passed, SIP_MAX_HEAD);
	idcheck_stream_free(&st);
}

Test(idcheck, log_mode_passes_everything_and_reports_each_kind_once)
{
	struct sipsec_ctl_identity id =
		ident(SIPSEC_IDCHECK_LOG, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT,
				     .mode = SIPSEC_IDCHECK_LOG };
	const char *s = BAD_SENT GOOD_SENT BAD_SENT BAD_SENT;
	struct reports r = { 0 };
	bool bad;

	cr_assert_eq(feed_cut(&st, &id, s, (size_t[]){ 30 }, 1, &bad, &r),
		     strlen(s));
	cr_assert(!bad);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.what[0], IDCHECK_W_RURI);
	cr_assert_eq(st.stopped, 0);
}

Test(idcheck, log_mode_stops_checking_an_unframeable_stream)
{
	struct sipsec_ctl_identity id =
		ident(SIPSEC_IDCHECK_LOG, 1, "h2.sipsec.test");
	struct idcheck_stream st = { .dir = IDCHECK_SENT,
				     .mode = SIPSEC_IDCHECK_LOG };
	const char *s = GOOD_SENT "garbage\r\n\r\n" BAD_SENT;
	struct reports r = { 0 };
	bool bad;

	cr_assert_eq(feed_cut(&st, &id, s, NULL, 0, &bad, &r), strlen(s));
	cr_assert(!bad);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.what[0], IDCHECK_W_FRAMING);
	cr_assert_eq(st.stopped, 1);
}

Test(idcheck, mode_off_passes_without_framing)
{
	struct sipsec_ctl_identity id = ident(SIPSEC_IDCHECK_OFF, 0);
	struct idcheck_stream st = { .dir = IDCHECK_SENT,
				     .mode = SIPSEC_IDCHECK_OFF };
	struct idcheck_out out;

	idcheck_feed(&st, &id, "garbage", 7, true, &out, NULL, NULL);
	cr_assert(!out.bad);
	cr_assert_eq(out.pass, 7);
	cr_assert_null(st.head);
}
