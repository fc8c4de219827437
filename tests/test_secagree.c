// SPDX-License-Identifier: MIT
/* Security-agreement headers: the framework draft's X-SIP-SECURE-* values,
 * RFC 3329's Security-Client/-Server/-Verify, the mapping between them,
 * selection against policy and the Security-Verify comparison. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "secagree.h"
#include "sipsec.h"

#define BIT(x) (1u << (x))
#define ALL_KEYINGS (BIT(SEC_K_IKE) | BIT(SEC_K_MANUAL) | \
		     BIT(SEC_K_EXPORTER) | BIT(SEC_K_PSK))

struct want {
	uint8_t mech, keying;
	const char *name, *realm, *kname;
	bool mutual;
};

struct draft_case {
	int line; /* in draft-thomas-sip-sec-framework-00.txt */
	enum secx_header h;
	const char *v;
	int rc;
	struct want m[3];
	const char *why;
};

/* Every X-SIP-SECURE-SUPPORTS/-REQUIRES/-METHOD value of sections 4 and 5,
 * as it stands after the colon (folded lines joined by CRLF). */
static const struct draft_case draft_values[] = {
	{ 854, SECX_SUPPORTS,
	  "ipsec.sec.sip.iana=(r:mtcc.com, k:kink);\r\n"
	  "                               ipsec.sec.sip.iana=(r:bar.com, k:ike);\r\n"
	  "                               tls.sec.sip.iana=(r:bar.com);",
	  3,
	  { { SEC_MECH_IPSEC, SEC_K_OTHER, "ipsec", "mtcc.com", "kink", 0 },
	    { SEC_MECH_IPSEC, SEC_K_IKE, "ipsec", "bar.com", "ike", 0 },
	    { SEC_MECH_TLS, SEC_K_DEFAULT, "tls", "bar.com", "", 0 } }, NULL },
	/* The draft's typo for (r:mtcc.com, k:kink): a realm is a token, so
	 * the second ':' is refused rather than guessed at. */
	{ 873, SECX_REQUIRES, "ipsec.sec.sip.iana=(r:mtcc.com:kink)", -EBADMSG,
	  { { 0 } }, "offset 30: expected ',' or ')', got ':'" },
	{ 1551, SECX_SUPPORTS, "ipsec.sec.sip.iana=(r:mtcc.com, k:IKE)", 1,
	  { { SEC_MECH_IPSEC, SEC_K_IKE, "ipsec", "mtcc.com", "ike", 0 } }, NULL },
	{ 1570, SECX_REQUIRES, "ipsec.sec.sip.iana=(r:mtcc.com, k:IKE)", 1,
	  { { SEC_MECH_IPSEC, SEC_K_IKE, "ipsec", "mtcc.com", "ike", 0 } }, NULL },
	{ 1596, SECX_SUPPORTS, "SMIME.sec.sip.iana=(r:mtcc.com)", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "mtcc.com", "", 0 } }, NULL },
	{ 1597, SECX_METHOD, "preshared.sec.sip.iana", 1,
	  { { SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", "", "", 0 } }, NULL },
	{ 1610, SECX_SUPPORTS, "TLS.sec.sip.iana=(r:mtcc.com)", 1,
	  { { SEC_MECH_TLS, SEC_K_DEFAULT, "tls", "mtcc.com", "", 0 } }, NULL },
	{ 1630, SECX_REQUIRES, "TLS.sec.sip.iana=(r:mtcc.com)", 1,
	  { { SEC_MECH_TLS, SEC_K_DEFAULT, "tls", "mtcc.com", "", 0 } }, NULL },
	{ 1656, SECX_REQUIRES, "  CHAP.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "chap", "", "", 0 } }, NULL },
	{ 1657, SECX_METHOD, "preshared.sec.sip.iana", 1,
	  { { SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", "", "", 0 } }, NULL },
	{ 1692, SECX_METHOD, "CHAP.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "chap", "", "", 0 } }, NULL },
	{ 1701, SECX_SUPPORTS, "SMIME.sec.sip.iana=(r:mtcc.com)", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "mtcc.com", "", 0 } }, NULL },
	{ 1702, SECX_METHOD, "preshared.sec.sip.iana", 1,
	  { { SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", "", "", 0 } }, NULL },
	{ 1718, SECX_SUPPORTS, "tls.sec.sip.iana; preshared.sec.sip.iana", 2,
	  { { SEC_MECH_TLS, SEC_K_DEFAULT, "tls", "", "", 0 },
	    { SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", "", "", 0 } }, NULL },
	{ 1726, SECX_REQUIRES, "preshared.sec.sip.iana", 1,
	  { { SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", "", "", 0 } }, NULL },
	{ 1763, SECX_METHOD, "SMIME.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "", "", 0 } }, NULL },
	{ 1764, SECX_REQUIRES, "SMIME.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "", "", 0 } }, NULL },
	{ 1786, SECX_METHOD, "CHAP.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "chap", "", "", 0 } }, NULL },
	{ 1807, SECX_METHOD, "SMIME.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "", "", 0 } }, NULL },
	{ 1833, SECX_METHOD, "SMIME.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "", "", 0 } }, NULL },
	{ 1959, SECX_SUPPORTS, "SMIME.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "", "", 0 } }, NULL },
	{ 1960, SECX_METHOD, "preshared.sec.sip.iana", 1,
	  { { SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", "", "", 0 } }, NULL },
	{ 1992, SECX_METHOD, "SMIME.sec.sip.iana", 1,
	  { { SEC_MECH_OTHER, SEC_K_DEFAULT, "smime", "", "", 0 } }, NULL },
};

static void assert_mech(const struct sec_mech *m, const struct want *w,
			int line, size_t k)
{
	cr_assert_eq(m->mech, w->mech, "line %d #%zu: mech %u", line, k, m->mech);
	cr_assert_eq(m->keying, w->keying, "line %d #%zu: keying %u", line, k,
		     m->keying);
	cr_assert_str_eq(m->name, w->name, "line %d #%zu", line, k);
	cr_assert_str_eq(m->realm, w->realm, "line %d #%zu", line, k);
	cr_assert_str_eq(m->keying_name, w->kname, "line %d #%zu", line, k);
	cr_assert_eq(m->mutual, w->mutual, "line %d #%zu", line, k);
}

static int xparse(enum secx_header h, const char *v, struct sec_mech *m,
		  char *why)
{
	return secx_parse_header(h, v, strlen(v), m, SEC_MAX_MECHS, why, 128);
}

static int rparse(const char *v, struct sec_mech *m, char *why)
{
	return sec3329_parse(v, strlen(v), m, SEC_MAX_MECHS, why, 128);
}

Test(secagree, every_draft_example_parses_as_the_draft_means_it)
{
	for (size_t i = 0; i < ARRAY_SIZE(draft_values); i++) {
		const struct draft_case *c = &draft_values[i];
		struct sec_mech m[SEC_MAX_MECHS];
		char why[128];
		int rc = xparse(c->h, c->v, m, why);

		cr_assert_eq(rc, c->rc, "line %d: %d (%s)", c->line, rc, why);
		if (rc < 0) {
			cr_assert(strstr(why, c->why), "line %d: %s", c->line, why);
			continue;
		}
		for (int k = 0; k < rc; k++) {
			assert_mech(&m[k], &c->m[k], c->line, k);
			cr_assert_eq(m[k].q, 1000 - 10 * k);
			cr_assert_not(m[k].has_q);
		}
	}
}

Test(secagree, draft_values_read_in_any_case_and_spacing)
{
	struct sec_mech m[SEC_MAX_MECHS];
	char why[128];

	cr_assert_eq(xparse(SECX_METHOD,
			    "\tIpsec.SEC.sip.IANA = (\r\n R : Mtcc.Com ,K:Exporter"
			    " ,  m ) ", m, why), 1, "%s", why);
	assert_mech(&m[0], &(struct want){ SEC_MECH_IPSEC, SEC_K_EXPORTER,
		    "ipsec", "Mtcc.Com", "exporter", true }, 0, 0);
	/* Order inside the parentheses is free, and the suffix optional. */
	cr_assert_eq(xparse(SECX_SUPPORTS, "ipsec=(M, k:psk, r:a.b); tls", m,
			    why), 2, "%s", why);
	assert_mech(&m[0], &(struct want){ SEC_MECH_IPSEC, SEC_K_PSK, "ipsec",
		    "a.b", "psk", true }, 0, 0);
	cr_assert_eq(m[1].mech, SEC_MECH_TLS);
}

Test(secagree, draft_preference_follows_the_order_and_stops_at_zero)
{
	static struct sec_mech m[128];
	char v[128 * 4 + 1] = "", why[128];

	for (int k = 0; k < 120; k++)
		strcat(v, "tls;");
	cr_assert_eq(secx_parse(v, strlen(v), m, 128, why, sizeof(why)), 120);
	cr_assert_eq(m[0].q, 1000);
	cr_assert_eq(m[99].q, 10);
	cr_assert_eq(m[100].q, 0);
	cr_assert_eq(m[119].q, 0);
}

Test(secagree, draft_formats_with_the_suffix_and_reads_back_equal)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "ipsec=(K:IKE,R:mtcc.com)", "ipsec.sec.sip.iana=(r:mtcc.com, k:ike)" },
		{ "TLS; preshared.sec.sip.iana", "tls.sec.sip.iana; preshared.sec.sip.iana" },
		{ "smime.sec.sip.iana=(m)", "smime.sec.sip.iana=(m)" },
		{ "ipsec=(k:kink, r:Bar.com, m)",
		  "ipsec.sec.sip.iana=(r:Bar.com, k:kink, m)" },
	};
	struct sec_mech a[SEC_MAX_MECHS], b[SEC_MAX_MECHS];
	char why[128], buf[512];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int n = xparse(SECX_SUPPORTS, cases[i].in, a, why);

		cr_assert_gt(n, 0, "%s: %s", cases[i].in, why);
		cr_assert_eq(secx_format(a, n, buf, sizeof(buf)),
			     (int)strlen(cases[i].out));
		cr_assert_str_eq(buf, cases[i].out);
		cr_assert_eq(xparse(SECX_SUPPORTS, buf, b, why), n);
		cr_assert(sec_list_equal(a, n, b, n), "%s", buf);
	}
	for (size_t i = 0; i < ARRAY_SIZE(draft_values); i++) {
		int n = xparse(draft_values[i].h, draft_values[i].v, a, why);

		if (n < 0)
			continue;
		cr_assert_gt(secx_format(a, n, buf, sizeof(buf)), 0);
		cr_assert_eq(xparse(draft_values[i].h, buf, b, why), n, "%s", buf);
		cr_assert(sec_list_equal(a, n, b, n), "%s", buf);
	}
	cr_assert_eq(secx_format(a, 1, buf, 10), -ENOSPC);
}

Test(secagree, rfc3329_client_and_server_examples)
{
	struct sec_mech m[SEC_MAX_MECHS];
	char why[128], buf[256];

	cr_assert_eq(rparse("digest, tls;q=0.2, ipsec-ike;q=0.1", m, why), 3);
	assert_mech(&m[0], &(struct want){ SEC_MECH_OTHER, SEC_K_DEFAULT,
		    "digest", "", "", 0 }, 0, 0);
	cr_assert(!m[0].has_q && m[0].q == 1000);
	assert_mech(&m[1], &(struct want){ SEC_MECH_TLS, SEC_K_DEFAULT, "tls",
		    "", "", 0 }, 0, 1);
	cr_assert(m[1].has_q && m[1].q == 200);
	assert_mech(&m[2], &(struct want){ SEC_MECH_IPSEC, SEC_K_IKE,
		    "ipsec-ike", "", "ike", 0 }, 0, 2);
	cr_assert(m[2].has_q && m[2].q == 100);

	cr_assert_eq(rparse("ipsec-ike;q=0.1, tls;q=0.2", m, why), 2);
	cr_assert_eq(sec3329_format(m, 2, buf, sizeof(buf)), 26);
	cr_assert_str_eq(buf, "ipsec-ike;q=0.1, tls;q=0.2");
}

Test(secagree, rfc3329_keeps_3gpp_and_digest_parameters_as_written)
{
	static const char *v =
		"ipsec-3gpp; alg=hmac-sha-1-96 ;spi-c=23456789;spi-s=12345678;"
		"port-c=2468;port-s=1357;q=0.5,\r\n Digest;d-alg=md5;d-qop=auth;"
		"d-ver=\"0123456789abcdef0123456789abcdef\"";
	struct sec_mech m[SEC_MAX_MECHS], b[SEC_MAX_MECHS];
	char why[128], buf[512];

	cr_assert_eq(rparse(v, m, why), 2, "%s", why);
	cr_assert_eq(m[0].mech, SEC_MECH_OTHER);
	cr_assert_str_eq(m[0].name, "ipsec-3gpp");
	cr_assert_str_eq(m[0].params, ";alg=hmac-sha-1-96;spi-c=23456789;"
			 "spi-s=12345678;port-c=2468;port-s=1357");
	cr_assert(m[0].has_q && m[0].q == 500);
	cr_assert_str_eq(m[1].name, "digest");
	cr_assert_str_eq(m[1].params, ";d-alg=md5;d-qop=auth;"
			 "d-ver=\"0123456789abcdef0123456789abcdef\"");
	cr_assert_gt(sec3329_format(m, 2, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;spi-c=23456789;"
			 "spi-s=12345678;port-c=2468;port-s=1357, digest;"
			 "d-alg=md5;d-qop=auth;"
			 "d-ver=\"0123456789abcdef0123456789abcdef\"");
	cr_assert_eq(rparse(buf, b, why), 2);
	cr_assert(sec_list_equal(m, 2, b, 2));
	/* gen-value may be a host with an IPv6 reference or a quoted string */
	cr_assert_eq(rparse("tls;maddr=[2001:db8::1];x=\"a\\\"b, c\"", m, why),
		     1, "%s", why);
	cr_assert_str_eq(m[0].params, ";maddr=[2001:db8::1];x=\"a\\\"b, c\"");
}

Test(secagree, rfc3329_q_is_formatted_with_at_most_three_decimals)
{
	static const struct {
		uint16_t q;
		const char *out;
	} cases[] = { { 1000, "tls;q=1" }, { 500, "tls;q=0.5" },
		      { 250, "tls;q=0.25" }, { 1, "tls;q=0.001" },
		      { 0, "tls;q=0" }, { 10, "tls;q=0.01" } };
	struct sec_mech m, b, many[SEC_MAX_MECHS];
	char buf[64], why[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		sec_mech_make(&m, SEC_MECH_TLS, SEC_K_DEFAULT);
		m.q = cases[i].q;
		m.has_q = true;
		cr_assert_gt(sec3329_format(&m, 1, buf, sizeof(buf)), 0);
		cr_assert_str_eq(buf, cases[i].out);
		cr_assert_eq(rparse(buf, &b, why), 1);
		cr_assert(sec_list_equal(&m, 1, &b, 1), "%s", buf);
	}
	sec_mech_make(&m, SEC_MECH_TLS, SEC_K_DEFAULT);
	cr_assert_gt(sec3329_format(&m, 1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "tls", "no q unless has_q");
	cr_assert_eq(sec3329_parse("tls;q=1.000, ipsec-man;q=0., x;q=0.999", 38,
				   &b, 1, why, sizeof(why)), -EMSGSIZE);
	cr_assert_eq(rparse("tls;q=1.000, ipsec-man;q=0., x;q=0.999", many, why),
		     3, "%s", why);
	cr_assert(many[0].q == 1000 && many[1].q == 0 && many[2].q == 999);
}

Test(secagree, both_grammars_map_onto_the_same_mechanism_and_keying)
{
	static const struct {
		const char *draft, *rfc3329;
		uint8_t mech, keying;
	} map[] = {
		{ "tls.sec.sip.iana", "tls", SEC_MECH_TLS, SEC_K_DEFAULT },
		{ "ipsec.sec.sip.iana=(k:IKE)", "ipsec-ike", SEC_MECH_IPSEC, SEC_K_IKE },
		{ "ipsec.sec.sip.iana=(k:manual)", "ipsec-man", SEC_MECH_IPSEC,
		  SEC_K_MANUAL },
		{ "ipsec.sec.sip.iana=(k:exporter)", "ipsec-exporter",
		  SEC_MECH_IPSEC, SEC_K_EXPORTER },
		{ "ipsec.sec.sip.iana=(k:psk)", "ipsec-psk", SEC_MECH_IPSEC, SEC_K_PSK },
		{ "preshared.sec.sip.iana", "preshared", SEC_MECH_PRESHARED,
		  SEC_K_DEFAULT },
	};
	struct sec_mech x, r, made;
	char why[128], buf[128];

	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		cr_assert_eq(xparse(SECX_SUPPORTS, map[i].draft, &x, why), 1);
		cr_assert_eq(rparse(map[i].rfc3329, &r, why), 1);
		cr_assert(x.mech == map[i].mech && r.mech == map[i].mech, "%s",
			  map[i].rfc3329);
		cr_assert(x.keying == map[i].keying && r.keying == map[i].keying,
			  "%s", map[i].rfc3329);
		cr_assert_str_eq(x.keying_name, r.keying_name);
		/* either grammar writes the other's entry under its own name */
		cr_assert_gt(sec3329_format(&x, 1, buf, sizeof(buf)), 0);
		cr_assert_str_eq(buf, map[i].rfc3329);
		cr_assert_gt(secx_format(&r, 1, buf, sizeof(buf)), 0);
		cr_assert_eq(strcasecmp(buf, map[i].draft), 0, "%s", buf);
		/* and a made entry is what RFC 3329 reads */
		sec_mech_make(&made, map[i].mech, map[i].keying);
		cr_assert(sec_list_equal(&made, 1, &r, 1), "%s", map[i].rfc3329);
	}
	/* no K: is IPsec's default, IKE (draft 4) */
	cr_assert_eq(xparse(SECX_SUPPORTS, "ipsec.sec.sip.iana", &x, why), 1);
	cr_assert_eq(x.keying, SEC_K_DEFAULT);
	cr_assert_gt(sec3329_format(&x, 1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "ipsec-ike");
	/* a keying RFC 3329 has no name for is not written under another */
	cr_assert_eq(xparse(SECX_SUPPORTS, "ipsec=(k:kink)", &x, why), 1);
	cr_assert_eq(sec3329_format(&x, 1, buf, sizeof(buf)), -EINVAL);
	/* unknown names are kept by name in both */
	cr_assert_eq(rparse("SMIME", &r, why), 1);
	cr_assert_eq(r.mech, SEC_MECH_OTHER);
	cr_assert_gt(secx_format(&r, 1, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "smime.sec.sip.iana");
	/* an unknown name that the other grammar knows keeps its meaning */
	cr_assert_eq(rparse("ipsec", &r, why), 1);
	cr_assert_eq(r.mech, SEC_MECH_OTHER);
	cr_assert_eq(secx_format(&r, 1, buf, sizeof(buf)), -EINVAL);
	cr_assert_eq(xparse(SECX_SUPPORTS, "ipsec-ike.sec.sip.iana", &x, why), 1);
	cr_assert_eq(x.mech, SEC_MECH_OTHER);
	cr_assert_eq(sec3329_format(&x, 1, buf, sizeof(buf)), -EINVAL);
	cr_assert_str_eq(sec_mech_name(SEC_MECH_IPSEC), "ipsec");
	cr_assert_str_eq(sec_mech_name(SEC_MECH_NONE), "none");
}

static int offer(const char *v, struct sec_mech *m)
{
	char why[128];
	int n = rparse(v, m, why);

	cr_assert_gt(n, 0, "%s: %s", v, why);
	return n;
}

Test(secagree, selection_takes_the_highest_preference_then_the_peers_order)
{
	uint32_t allow = BIT(SEC_MECH_TLS) | BIT(SEC_MECH_IPSEC);
	struct sec_mech m[SEC_MAX_MECHS], c;
	char why[128];
	int n;

	n = offer("ipsec-ike;q=0.1, tls;q=0.2", m);
	cr_assert_eq(sec_select(m, n, allow, 0, ALL_KEYINGS, &c, why, 128), 0);
	cr_assert_eq(c.mech, SEC_MECH_TLS);
	n = offer("ipsec-exporter;q=0.5, tls;q=0.5", m);
	cr_assert_eq(sec_select(m, n, allow, 0, ALL_KEYINGS, &c, why, 128), 0);
	cr_assert_eq(c.mech, SEC_MECH_IPSEC, "a tie goes to the peer's first");
	/* q=0 is only the lowest preference, not a refusal */
	n = offer("tls;q=0", m);
	cr_assert_eq(sec_select(m, n, allow, 0, ALL_KEYINGS, &c, why, 128), 0);
	/* the draft's order is its preference */
	cr_assert_eq(xparse(SECX_SUPPORTS, "preshared; ipsec=(k:psk); tls", m,
			    why), 3);
	cr_assert_eq(sec_select(m, 3, allow, 0, ALL_KEYINGS, &c, why, 128), 0);
	cr_assert_eq(c.keying, SEC_K_PSK);
}

Test(secagree, selection_honours_require_and_keyings)
{
	uint32_t allow = BIT(SEC_MECH_TLS) | BIT(SEC_MECH_IPSEC);
	struct sec_mech m[SEC_MAX_MECHS], c;
	char why[128];
	int n;

	n = offer("tls;q=0.9, ipsec-psk;q=0.1", m);
	cr_assert_eq(sec_select(m, n, allow, BIT(SEC_MECH_IPSEC), ALL_KEYINGS, &c,
				why, 128), 0);
	cr_assert_eq(c.mech, SEC_MECH_IPSEC);
	n = offer("ipsec-man, ipsec-ike;q=0.5, ipsec-exporter;q=0.1", m);
	cr_assert_eq(sec_select(m, n, allow, 0, BIT(SEC_K_EXPORTER), &c, why, 128),
		     0);
	cr_assert_eq(c.keying, SEC_K_EXPORTER);
	cr_assert_eq(sec_select(m, n, allow, 0, 0, &c, why, 128), -ENOENT);
	/* the draft's ipsec with no K: is IKE */
	cr_assert_eq(xparse(SECX_SUPPORTS, "ipsec", m, why), 1);
	cr_assert_eq(sec_select(m, 1, allow, 0, BIT(SEC_K_IKE), &c, why, 128), 0);
	cr_assert_eq(sec_select(m, 1, allow, 0, BIT(SEC_K_PSK), &c, why, 128),
		     -ENOENT);
	/* an unknown keying can never be set up */
	cr_assert_eq(xparse(SECX_SUPPORTS, "ipsec=(k:kink)", m, why), 1);
	cr_assert_eq(sec_select(m, 1, allow, 0, ~0u, &c, why, 128), -ENOENT);
	m[0].keying = 40; /* not from a parser: still no undefined shift */
	cr_assert_eq(sec_select(m, 1, allow, 0, ~0u, &c, why, 128), -ENOENT);
}

Test(secagree, selection_never_takes_other_and_none_only_when_allowed)
{
	uint32_t allow = BIT(SEC_MECH_TLS) | BIT(SEC_MECH_OTHER);
	struct sec_mech m[SEC_MAX_MECHS], c;
	char why[128];
	int n;

	n = offer("smime, chap", m);
	cr_assert_eq(sec_select(m, n, allow, 0, ALL_KEYINGS, &c, why, 128),
		     -ENOENT);
	cr_assert_str_eq(why, "peer offers smime, chap; policy allows tls, other");
	cr_assert_eq(sec_select(m, n, allow | BIT(SEC_MECH_NONE), 0, 0, &c, why,
				128), 0);
	cr_assert_eq(c.mech, SEC_MECH_NONE);
	cr_assert_eq(sec_select(NULL, 0, BIT(SEC_MECH_NONE), 0, 0, &c, why, 128),
		     0);
	cr_assert_eq(c.mech, SEC_MECH_NONE);
	/* require without NONE: nothing is not a choice */
	cr_assert_eq(sec_select(m, n, allow | BIT(SEC_MECH_NONE),
				BIT(SEC_MECH_TLS), 0, &c, why, 128), -ENOENT);
	cr_assert_str_eq(why, "peer offers smime, chap; policy requires tls");
	cr_assert_eq(sec_select(NULL, 0, BIT(SEC_MECH_TLS), 0, 0, &c, why, 128),
		     -ENOENT);
	cr_assert_str_eq(why, "peer offers nothing; policy allows tls");
	n = offer("ipsec-man, tls", m);
	cr_assert_eq(sec_select(m, n, BIT(SEC_MECH_IPSEC), 0, BIT(SEC_K_PSK), &c,
				why, 128), -ENOENT);
	cr_assert_str_eq(why, "peer offers ipsec-man, tls; policy allows ipsec "
			 "(keying psk)");
	/* a reason cut to its buffer is still a string */
	cr_assert_eq(sec_select(m, n, BIT(SEC_MECH_IPSEC), 0, 0, &c, why, 16),
		     -ENOENT);
	cr_assert_lt(strlen(why), 16);
}

Test(secagree, verify_comparison_detects_every_change)
{
	static const char *server = "ipsec-ike;q=0.1, tls;q=0.2";
	struct sec_mech s[SEC_MAX_MECHS], v[SEC_MAX_MECHS];
	char why[128];
	int ns = offer(server, s), nv;

	nv = offer("IPSEC-IKE;Q=0.100,  TLS;q=0.2", v);
	cr_assert(sec_list_equal(s, ns, v, nv), "case and spelling of q differ");
	/* a man in the middle strips tls from the Security-Server list */
	nv = offer("ipsec-ike;q=0.1", v);
	cr_assert_not(sec_list_equal(s, ns, v, nv));
	nv = offer("ipsec-ike;q=0.1, tls;q=0.3", v);
	cr_assert_not(sec_list_equal(s, ns, v, nv), "changed q");
	nv = offer("tls;q=0.2, ipsec-ike;q=0.1", v);
	cr_assert_not(sec_list_equal(s, ns, v, nv), "reordered");
	nv = offer("ipsec-ike;q=0.1, tls", v);
	cr_assert_not(sec_list_equal(s, ns, v, nv), "q dropped");
	ns = offer("digest;d-alg=md5", s);
	nv = offer("digest;d-alg=sha", v);
	cr_assert_not(sec_list_equal(s, ns, v, nv), "changed parameter");
	ns = xparse(SECX_SUPPORTS, "tls=(r:Mtcc.com)", s, why);
	nv = xparse(SECX_SUPPORTS, "TLS=(R:mtcc.COM)", v, why);
	cr_assert(sec_list_equal(s, ns, v, nv), "realms compare without case");
	nv = xparse(SECX_SUPPORTS, "tls=(r:mtcc.com, m)", v, why);
	cr_assert_not(sec_list_equal(s, ns, v, nv), "M added");
}

struct bad {
	enum secx_header h; /* for the draft */
	const char *v;
	int rc;
	const char *why;
};

static int rparse_any(enum secx_header h, const char *v, struct sec_mech *m,
		      char *why)
{
	(void)h;
	return rparse(v, m, why);
}

static void assert_refused(const struct bad *c, size_t n,
			   int (*parse)(enum secx_header, const char *,
					struct sec_mech *, char *))
{
	struct sec_mech m[SEC_MAX_MECHS];
	char why[128];

	for (size_t i = 0; i < n; i++) {
		int rc = parse(c[i].h, c[i].v, m, why);

		cr_assert_eq(rc, c[i].rc, "'%s': %d (%s)", c[i].v, rc, why);
		cr_assert(strstr(why, c[i].why), "'%s': %s", c[i].v, why);
	}
}

Test(secagree, draft_syntax_errors_are_refused_with_where_and_why)
{
	static char longname[80], longrealm[90], longkey[40];
	static const struct bad cases[] = {
		{ SECX_SUPPORTS, "", -EBADMSG, "offset 0: empty element" },
		{ SECX_SUPPORTS, " \t", -EBADMSG, "offset 2: empty element" },
		{ SECX_SUPPORTS, ";tls", -EBADMSG, "offset 0: empty element" },
		{ SECX_SUPPORTS, "tls;;preshared", -EBADMSG, "offset 4: empty element" },
		{ SECX_SUPPORTS, "tls; ;", -EBADMSG, "offset 5: empty element" },
		{ SECX_SUPPORTS, ".sec.sip.iana", -EBADMSG, "no method before" },
		{ SECX_SUPPORTS, "tls=(r:a", -EBADMSG,
		  "unbalanced parentheses: '(' at offset 4 is not closed" },
		{ SECX_SUPPORTS, "tls=(r:a))", -EBADMSG,
		  "offset 9: unbalanced parentheses: ')' without '('" },
		{ SECX_SUPPORTS, "tls)", -EBADMSG, "offset 3: unbalanced" },
		{ SECX_SUPPORTS, "tls=(x:a)", -EBADMSG,
		  "offset 5: unknown parameter 'x'" },
		{ SECX_SUPPORTS, "tls=(mutual)", -EBADMSG, "unknown parameter 'mutual'" },
		{ SECX_SUPPORTS, "tls=(r:a,,k:b)", -EBADMSG,
		  "offset 9: empty element in parentheses" },
		{ SECX_SUPPORTS, "tls=()", -EBADMSG, "offset 5: empty element" },
		{ SECX_SUPPORTS, "tls=(r:a,)", -EBADMSG, "offset 9: empty element" },
		{ SECX_SUPPORTS, "tls=r:a", -EBADMSG, "offset 4: expected '('" },
		{ SECX_SUPPORTS, "tls=(r a)", -EBADMSG, "offset 7: expected ':' after R" },
		{ SECX_SUPPORTS, "tls=(k:)", -EBADMSG, "offset 7: empty K: value" },
		{ SECX_SUPPORTS, "tls=(r:a, r:b)", -EBADMSG, "offset 10: R: given twice" },
		{ SECX_SUPPORTS, "tls=(k:a, K:b)", -EBADMSG, "K: given twice" },
		{ SECX_SUPPORTS, "tls=(m, M)", -EBADMSG, "M given twice" },
		{ SECX_SUPPORTS, "tls preshared", -EBADMSG,
		  "offset 4: expected ';' between mechanisms, got 'p'" },
		{ SECX_SUPPORTS, "tls\r\npreshared", -EBADMSG, "got byte 0x0d" },
		{ SECX_SUPPORTS, "tls,preshared", -EBADMSG, "got ','" },
		{ SECX_REQUIRES, "tls; preshared", -EBADMSG,
		  "offset 5: X-SIP-SECURE-REQUIRES takes exactly one method" },
		{ SECX_METHOD, "smime;chap", -EBADMSG,
		  "X-SIP-SECURE-METHOD takes exactly one method" },
		{ SECX_REQUIRES, "tls=(m)", -EBADMSG,
		  "offset 5: M is not allowed in X-SIP-SECURE-REQUIRES" },
		{ SECX_SUPPORTS, longname, -EMSGSIZE, "offset 0: method '" },
		{ SECX_SUPPORTS, longrealm, -EMSGSIZE, "offset 7: realm '" },
		{ SECX_SUPPORTS, longkey, -EMSGSIZE, "offset 7: keying 'abcdefghij" },
	};
	struct sec_mech m[SEC_MAX_MECHS];
	char why[128];

	memset(longname, 'a', 32);
	strcpy(longname + 32, ".sec.sip.iana");
	strcpy(longrealm, "tls=(r:");
	memset(longrealm + 7, 'r', 64);
	strcpy(longrealm + 71, ")");
	strcpy(longkey, "tls=(k:abcdefghijklmnop)");
	assert_refused(cases, ARRAY_SIZE(cases), xparse);
	/* 31 bytes fit the name, 63 the realm, 15 the keying */
	cr_assert_eq(xparse(SECX_SUPPORTS, longname + 1, m, why), 1, "%s", why);
	cr_assert_eq(secx_parse("tls;tls;tls", 11, m, 2, why, sizeof(why)),
		     -EMSGSIZE);
	cr_assert(strstr(why, "offset 8: more than 2 mechanisms"), "%s", why);
	cr_assert_eq(secx_parse("tls;tls", 7, m, 2, NULL, 0), 2);
	cr_assert_eq(secx_parse("tls\0x", 5, m, 2, why, sizeof(why)), -EBADMSG);
	cr_assert(strstr(why, "byte 0x00"), "%s", why);
}

Test(secagree, rfc3329_syntax_errors_are_refused_with_where_and_why)
{
	static char longname[40], longparams[200];
	static const struct bad cases[] = {
		{ 0, "", -EBADMSG, "offset 0: empty element" },
		{ 0, "tls,", -EBADMSG, "offset 4: empty element" },
		{ 0, ",tls", -EBADMSG, "offset 0: empty element" },
		{ 0, "tls, ,ipsec-ike", -EBADMSG, "offset 5: empty element" },
		{ 0, "tls;", -EBADMSG, "offset 4: empty parameter" },
		{ 0, "tls;;q=1", -EBADMSG, "offset 4: empty parameter" },
		{ 0, "tls;q=1.5", -EBADMSG, "offset 6: bad qvalue '1.5'" },
		{ 0, "tls;q=0.1234", -EBADMSG, "bad qvalue '0.1234'" },
		{ 0, "tls;q=2", -EBADMSG, "bad qvalue '2'" },
		{ 0, "tls;q=.5", -EBADMSG, "bad qvalue '.5'" },
		{ 0, "tls;q=0.5.5", -EBADMSG, "bad qvalue '0.5.5'" },
		{ 0, "tls;q", -EBADMSG, "offset 4: bad qvalue ''" },
		{ 0, "tls;q=", -EBADMSG, "offset 6: parameter 'q' has no value" },
		{ 0, "tls;q=0.1;Q=0.2", -EBADMSG, "offset 10: q given twice" },
		{ 0, "tls;q=\"0.5\"", -EBADMSG, "bad qvalue '\"0.5\"'" },
		{ 0, "digest;d-ver=\"abc\"", -EBADMSG,
		  "offset 13: d-ver must be 32 lower-case hex digits in quotes" },
		{ 0, "digest;d-ver=0123456789abcdef0123456789abcdef", -EBADMSG,
		  "d-ver must be" },
		{ 0, "digest;d-ver=\"0123456789ABCDEF0123456789abcdef\"", -EBADMSG,
		  "d-ver must be" },
		{ 0, "digest;d-ver", -EBADMSG, "offset 7: d-ver must be" },
		{ 0, "digest;d-alg=\"md5\"", -EBADMSG, "offset 13: d-alg takes a token" },
		{ 0, "digest;d-qop", -EBADMSG, "d-qop takes a token" },
		{ 0, "tls;x=\"abc", -EBADMSG, "offset 6: quoted string not closed" },
		{ 0, "tls;x=\"a\rb\"", -EBADMSG, "offset 8: byte 0x0d in quoted" },
		{ 0, "tls;x=[zz]", -EBADMSG, "offset 6: bad IPv6 reference" },
		{ 0, "tls;x=(y)", -EBADMSG, "offset 6: parameter 'x' has no value" },
		{ 0, "tls ipsec-ike", -EBADMSG, "offset 4: expected ',' between mechanisms" },
		{ 0, "tls=(r:a)", -EBADMSG, "offset 3: expected ',' between mechanisms, got '='" },
		{ 0, longname, -EMSGSIZE, "offset 0: mechanism '" },
		{ 0, longparams, -EMSGSIZE, "params longer than 127 bytes" },
	};
	struct sec_mech m[SEC_MAX_MECHS];
	char why[128];

	memset(longname, 'a', 32);
	strcpy(longparams, "ipsec-3gpp");
	for (int k = 0; k < 13; k++)
		strcat(longparams, ";spi-c=123");
	assert_refused(cases, ARRAY_SIZE(cases), rparse_any);
	cr_assert_eq(rparse("tls;q=\"\r\n x\"", m, why), -EBADMSG);
	cr_assert(strstr(why, "bad qvalue '\"?? x\"'"), "%s", why);
	cr_assert_eq(sec3329_parse("a, b, c", 7, m, 2, why, sizeof(why)),
		     -EMSGSIZE);
	cr_assert(strstr(why, "offset 6: more than 2 mechanisms"), "%s", why);
}
