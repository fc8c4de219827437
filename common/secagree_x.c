// SPDX-License-Identifier: MIT
/*
 * The framework draft's X-SIP-SECURE-SUPPORTS / -REQUIRES / -METHOD values
 * (draft-thomas-sip-sec-framework-00 4.1.3 - 4.1.5):
 *
 *   value  = elem *(";" elem) [";"]
 *   elem   = method ["=" "(" item *("," item) ")"]
 *   item   = "R" ":" realm / "K" ":" keying / "M"
 *
 * with LWS around every separator. Method names, R/K/M and keyings are
 * case-insensitive; a realm keeps its case. The draft writes R, K, M in that
 * order; any order is read, each at most once. A last ";" with nothing after
 * it is read because the draft's own example in section 4 ends so; an
 * empty element anywhere else is an error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "secagree_int.h"

static const char *hdr_name(enum secx_header h)
{
	return h == SECX_REQUIRES ? "X-SIP-SECURE-REQUIRES" :
	       h == SECX_METHOD	  ? "X-SIP-SECURE-METHOD" :
				    "X-SIP-SECURE-SUPPORTS";
}

/* One of R:realm, K:keying, M inside the parentheses. */
static int x_item(struct seca_lex *l, enum secx_header h, struct sec_mech *m,
		  bool *seen_k)
{
	size_t at = l->i, len = seca_token(l), vat;
	char c = at < l->n ? l->v[at] | 0x20 : 0;
	char wb[16];
	bool realm;
	int rc;

	if (!len)
		return seca_fail(l, -EBADMSG, "offset %zu: empty element in "
				 "parentheses (%s)", at,
				 seca_what(l, at, wb, sizeof(wb)));
	if (len != 1 || (c != 'r' && c != 'k' && c != 'm'))
		return seca_fail(l, -EBADMSG, "offset %zu: unknown parameter "
				 "'%.*s' in parentheses (R:, K: or M)", at,
				 (int)(len > 20 ? 20 : len), l->v + at);
	if (c == 'm') {
		if (h == SECX_REQUIRES)
			return seca_fail(l, -EBADMSG, "offset %zu: M is not "
					 "allowed in %s", at, hdr_name(h));
		if (m->mutual)
			return seca_fail(l, -EBADMSG, "offset %zu: M given "
					 "twice", at);
		m->mutual = true;
		return 0;
	}
	realm = c == 'r';
	if (realm ? m->realm[0] != '\0' : *seen_k)
		return seca_fail(l, -EBADMSG, "offset %zu: %c: given twice",
				 at, realm ? 'R' : 'K');
	seca_lws(l);
	if (!seca_at(l, ':'))
		return seca_fail(l, -EBADMSG, "offset %zu: expected ':' after "
				 "%c, got %s", l->i, realm ? 'R' : 'K',
				 seca_what(l, l->i, wb, sizeof(wb)));
	l->i++;
	seca_lws(l);
	vat = l->i;
	len = seca_token(l);
	if (!len)
		return seca_fail(l, -EBADMSG, "offset %zu: empty %s value, got "
				 "%s", vat, realm ? "R:" : "K:",
				 seca_what(l, vat, wb, sizeof(wb)));
	if (realm)
		return seca_field(l, m->realm, sizeof(m->realm), vat, len,
				  false, "realm");
	rc = seca_field(l, m->keying_name, sizeof(m->keying_name), vat, len,
			true, "keying");
	*seen_k = true;
	return rc;
}

static int x_elem(struct seca_lex *l, struct sec_mech *m, size_t pos,
		  const void *ctx)
{
	enum secx_header h = *(const enum secx_header *)ctx;
	size_t at = l->i, len = seca_token(l), open;
	const struct seca_row *r;
	bool seen_k = false;
	char wb[16];
	int rc;

	memset(m, 0, sizeof(*m));
	/* the draft's order is its preference; lists past 100 all get 0 */
	m->q = pos < 100 ? 1000 - 10 * pos : 0;
	if (!len)
		return seca_fail(l, -EBADMSG, "offset %zu: empty element: "
				 "expected a method, got %s", at,
				 seca_what(l, at, wb, sizeof(wb)));
	if (len >= SECA_SUFFIX_LEN &&
	    !strncasecmp(l->v + at + len - SECA_SUFFIX_LEN, SECA_SUFFIX,
			 SECA_SUFFIX_LEN))
		len -= SECA_SUFFIX_LEN;
	if (!len)
		return seca_fail(l, -EBADMSG, "offset %zu: no method before "
				 SECA_SUFFIX, at);
	rc = seca_field(l, m->name, sizeof(m->name), at, len, true, "method");
	if (rc < 0)
		return rc;
	r = seca_row_by_draft(m->name);
	m->mech = r ? r->mech : SEC_MECH_OTHER;
	seca_lws(l);
	if (!seca_at(l, '='))
		return 0;
	l->i++;
	seca_lws(l);
	if (!seca_at(l, '('))
		return seca_fail(l, -EBADMSG, "offset %zu: expected '(' after "
				 "'=', got %s", l->i,
				 seca_what(l, l->i, wb, sizeof(wb)));
	open = l->i++;
	for (;;) {
		seca_lws(l);
		rc = x_item(l, h, m, &seen_k);
		if (rc < 0)
			return rc;
		seca_lws(l);
		if (seca_at(l, ',')) {
			l->i++;
			continue;
		}
		if (seca_at(l, ')'))
			break;
		if (l->i == l->n)
			return seca_fail(l, -EBADMSG, "unbalanced parentheses: "
					 "'(' at offset %zu is not closed",
					 open);
		return seca_fail(l, -EBADMSG, "offset %zu: expected ',' or "
				 "')', got %s", l->i,
				 seca_what(l, l->i, wb, sizeof(wb)));
	}
	l->i++;
	if (seen_k) {
		r = seca_row_by_kname(m->mech, m->keying_name);
		m->keying = r ? r->keying : SEC_K_OTHER;
	}
	return 0;
}

int secx_parse_header(enum secx_header h, const char *v, size_t n,
		      struct sec_mech *out, size_t max, char *why, size_t wlen)
{
	/* "tls.sec.sip.iana=(r:bar.com);" ends the draft's example in 4 */
	struct seca_list_rules rules = {
		';', true, h == SECX_SUPPORTS ? NULL : hdr_name(h)
	};
	struct seca_lex l = { v, n, 0, why, wlen };

	return seca_list(&l, &rules, x_elem, &h, out, max);
}

int secx_parse(const char *v, size_t n, struct sec_mech *out, size_t max,
	       char *why, size_t wlen)
{
	return secx_parse_header(SECX_SUPPORTS, v, n, out, max, why, wlen);
}

/* The K: text of an entry, "" for none, NULL when it has none to write. */
static const char *x_keying(const struct sec_mech *m)
{
	const struct seca_row *r;

	if (m->keying == SEC_K_DEFAULT)
		return "";
	r = seca_row_by_mk(m->mech, m->keying);
	if (m->keying != SEC_K_OTHER && r && r->kname)
		return r->kname;
	return m->keying_name[0] ? m->keying_name : NULL;
}

int secx_format(const struct sec_mech *m, size_t n, char *buf, size_t len)
{
	struct seca_out o = { buf, len, 0, false };

	for (size_t i = 0; i < n; i++) {
		const struct seca_row *r = seca_row_by_mech(m[i].mech);
		const char *method = m[i].mech == SEC_MECH_OTHER ? m[i].name :
				     r ? r->draft : NULL;
		const char *k = x_keying(&m[i]), *sep = "=(";

		/* An unknown method named like a known one ("ipsec" read from
		 * RFC 3329) would change its meaning here. */
		if (!method || !method[0] || !k ||
		    (m[i].mech == SEC_MECH_OTHER && seca_row_by_draft(method)))
			return -EINVAL;
		seca_put(&o, i ? "; " : "");
		seca_put(&o, method);
		seca_put(&o, SECA_SUFFIX);
		if (m[i].realm[0]) {
			seca_put(&o, "=(r:");
			seca_put(&o, m[i].realm);
			sep = ", ";
		}
		if (k[0]) {
			seca_put(&o, sep);
			seca_put(&o, "k:");
			seca_put(&o, k);
			sep = ", ";
		}
		if (m[i].mutual) {
			seca_put(&o, sep);
			seca_put(&o, "m");
			sep = ", ";
		}
		if (sep[0] == ',')
			seca_put(&o, ")");
	}
	return seca_out_end(&o);
}
