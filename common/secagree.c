// SPDX-License-Identifier: MIT
/*
 * Security agreement: the table of crypto-systems both grammars share, the
 * lexical helpers of RFC 3261 25.1 they both read with, the Security-Verify
 * comparison and the choice between a peer's offer and local policy. The
 * grammars themselves are in secagree_x.c (framework draft 4.1) and
 * secagree_3329.c (RFC 3329 2.2). Pure functions: no allocation, no state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "secagree_int.h"
#include "sipsec.h"

/*
 * Parsing the draft takes the first row whose method matches, RFC 3329 the
 * first whose mechanism-name matches; formatting takes the row of (mech,
 * keying). The draft's "ipsec" with no K: means IKE (draft 4: "IKE in the
 * case of IPsec"), hence the default row after the IKE row.
 */
static const struct seca_row rows[] = {
	{ SEC_MECH_TLS, SEC_K_DEFAULT, "tls", NULL, "tls" },
	{ SEC_MECH_IPSEC, SEC_K_IKE, "ipsec", "ike", "ipsec-ike" },
	{ SEC_MECH_IPSEC, SEC_K_DEFAULT, "ipsec", NULL, "ipsec-ike" },
	{ SEC_MECH_IPSEC, SEC_K_MANUAL, "ipsec", "manual", "ipsec-man" },
	{ SEC_MECH_IPSEC, SEC_K_EXPORTER, "ipsec", "exporter",
	  "ipsec-exporter" },
	{ SEC_MECH_IPSEC, SEC_K_PSK, "ipsec", "psk", "ipsec-psk" },
	{ SEC_MECH_PRESHARED, SEC_K_DEFAULT, "preshared", NULL, "preshared" },
};

#define NROWS ARRAY_SIZE(rows)

const struct seca_row *seca_row_by_draft(const char *method)
{
	for (size_t i = 0; i < NROWS; i++)
		if (!strcasecmp(rows[i].draft, method))
			return &rows[i];
	return NULL;
}

const struct seca_row *seca_row_by_kname(unsigned char mech,
					 const char *kname)
{
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].mech == mech && rows[i].kname &&
		    !strcasecmp(rows[i].kname, kname))
			return &rows[i];
	return NULL;
}

const struct seca_row *seca_row_by_3329(const char *name)
{
	for (size_t i = 0; i < NROWS; i++)
		if (!strcasecmp(rows[i].rfc3329, name))
			return &rows[i];
	return NULL;
}

const struct seca_row *seca_row_by_mech(unsigned char mech)
{
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].mech == mech)
			return &rows[i];
	return NULL;
}

const struct seca_row *seca_row_by_mk(unsigned char mech,
				      unsigned char keying)
{
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].mech == mech && rows[i].keying == keying)
			return &rows[i];
	return NULL;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* LWS = [*WSP CRLF] 1*WSP: a line break only as part of a fold. */
void seca_lws(struct seca_lex *l)
{
	for (;;) {
		while (l->i < l->n && is_wsp(l->v[l->i]))
			l->i++;
		if (l->i + 2 < l->n && l->v[l->i] == '\r' &&
		    l->v[l->i + 1] == '\n' && is_wsp(l->v[l->i + 2])) {
			l->i += 3;
			continue;
		}
		return;
	}
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-.!%*_+`'~", c));
}

size_t seca_token(struct seca_lex *l)
{
	size_t at = l->i;

	while (l->i < l->n && is_tchar((unsigned char)l->v[l->i]))
		l->i++;
	return l->i - at;
}

bool seca_at(const struct seca_lex *l, char c)
{
	return l->i < l->n && l->v[l->i] == c;
}

const char *seca_what(const struct seca_lex *l, size_t at, char *buf,
		      size_t len)
{
	unsigned char c = at < l->n ? (unsigned char)l->v[at] : 0;

	if (at >= l->n)
		return "end of value";
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, len, "'%c'", c);
	else
		snprintf(buf, len, "byte 0x%02x", c);
	return buf;
}

int seca_fail(struct seca_lex *l, int err, const char *fmt, ...)
{
	va_list ap;

	if (l->why && l->wlen) {
		va_start(ap, fmt);
		vsnprintf(l->why, l->wlen, fmt, ap);
		va_end(ap);
		/* it quotes the peer and goes to the log: no line breaks */
		for (char *p = l->why; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
	}
	return err;
}

int seca_field(struct seca_lex *l, char *dst, size_t size, size_t at,
	       size_t len, bool lower, const char *field)
{
	if (len >= size)
		return seca_fail(l, -EMSGSIZE,
				 "offset %zu: %s '%.*s' longer than %zu bytes",
				 at, field, (int)(len > 40 ? 40 : len),
				 l->v + at, size - 1);
	for (size_t k = 0; k < len; k++) {
		char c = l->v[at + k];

		dst[k] = lower && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
	}
	dst[len] = '\0';
	return 0;
}

int seca_list(struct seca_lex *l, const struct seca_list_rules *r,
	      seca_elem_fn elem, const void *ctx, struct sec_mech *out,
	      size_t max)
{
	size_t count = 0;
	char wb[16];
	int rc;

	if (l->why && l->wlen)
		l->why[0] = '\0';
	seca_lws(l);
	for (;;) {
		if (count && r->one)
			return seca_fail(l, -EBADMSG, "offset %zu: %s takes "
					 "exactly one method", l->i, r->one);
		if (count == max)
			return seca_fail(l, -EMSGSIZE, "offset %zu: more than "
					 "%zu mechanisms", l->i, max);
		rc = elem(l, &out[count], count, ctx);
		if (rc < 0)
			return rc;
		count++;
		seca_lws(l);
		if (l->i == l->n)
			break;
		if (seca_at(l, ')'))
			return seca_fail(l, -EBADMSG, "offset %zu: unbalanced "
					 "parentheses: ')' without '('", l->i);
		if (!seca_at(l, r->sep))
			return seca_fail(l, -EBADMSG, "offset %zu: expected "
					 "'%c' between mechanisms, got %s",
					 l->i, r->sep,
					 seca_what(l, l->i, wb, sizeof(wb)));
		l->i++;
		seca_lws(l);
		if (r->trailing_sep && l->i == l->n)
			break;
	}
	return (int)count;
}

void seca_put(struct seca_out *o, const char *s)
{
	size_t k = strlen(s);

	if (o->over || o->pos + k >= o->len) {
		o->over = true;
		return;
	}
	memcpy(o->buf + o->pos, s, k + 1);
	o->pos += k;
}

int seca_out_end(struct seca_out *o)
{
	if (o->len)
		o->buf[o->over ? 0 : o->pos] = '\0';
	return o->over ? -ENOSPC : (int)o->pos;
}

bool sec_list_equal(const struct sec_mech *a, size_t na,
		    const struct sec_mech *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const struct sec_mech *x = &a[i], *y = &b[i];

		if (x->mech != y->mech || x->keying != y->keying ||
		    x->mutual != y->mutual || x->has_q != y->has_q ||
		    x->q != y->q || strcasecmp(x->name, y->name) ||
		    strcasecmp(x->realm, y->realm) ||
		    strcasecmp(x->keying_name, y->keying_name) ||
		    strcmp(x->params, y->params))
			return false;
	}
	return true;
}

void sec_mech_make(struct sec_mech *m, uint8_t mech, uint8_t keying)
{
	const struct seca_row *r = seca_row_by_mk(mech, keying);

	memset(m, 0, sizeof(*m));
	m->mech = mech;
	m->keying = keying;
	m->q = 1000;
	/* The RFC 3329 name: that grammar's Security-Verify compares names. */
	snprintf(m->name, sizeof(m->name), "%s",
		 r ? r->rfc3329 : sec_mech_name(mech));
	if (r && r->kname)
		snprintf(m->keying_name, sizeof(m->keying_name), "%s",
			 r->kname);
}

const char *sec_mech_name(uint8_t mech)
{
	switch (mech) {
	case SEC_MECH_NONE:
		return "none";
	case SEC_MECH_TLS:
		return "tls";
	case SEC_MECH_IPSEC:
		return "ipsec";
	case SEC_MECH_PRESHARED:
		return "preshared";
	case SEC_MECH_OTHER:
		return "other";
	}
	return "unknown";
}

/*
 * A keying the table does not know cannot be set up, whatever the method.
 * For ipsec the keying must be in @keyings; no K: counts as the keying its
 * default row shares an RFC 3329 name with (IKE).
 */
static bool keying_ok(const struct sec_mech *m, uint32_t keyings)
{
	const struct seca_row *d;

	if (m->keying == SEC_K_OTHER || m->keying >= 32)
		return false;
	if (m->mech != SEC_MECH_IPSEC || (keyings & (1u << m->keying)))
		return true;
	if (m->keying != SEC_K_DEFAULT ||
	    !(d = seca_row_by_mk(m->mech, SEC_K_DEFAULT)))
		return false;
	for (size_t i = 0; i < NROWS; i++)
		if (rows[i].mech == m->mech &&
		    rows[i].keying != SEC_K_DEFAULT &&
		    !strcmp(rows[i].rfc3329, d->rfc3329) &&
		    (keyings & (1u << rows[i].keying)))
			return true;
	return false;
}

static void label(const struct sec_mech *m, char *buf, size_t len)
{
	const struct seca_row *r = seca_row_by_mk(m->mech, m->keying);

	if (m->mech != SEC_MECH_OTHER && r)
		snprintf(buf, len, "%s", r->rfc3329);
	else if (m->keying_name[0])
		snprintf(buf, len, "%s(k:%s)", m->name, m->keying_name);
	else
		snprintf(buf, len, "%s", m->name);
}

static void why_mask(struct seca_out *o, uint32_t mask, uint32_t keyings)
{
	const char *sep = "";

	for (unsigned id = 0; id < 32; id++) {
		if (!(mask & (1u << id)))
			continue;
		seca_put(o, sep);
		seca_put(o, sec_mech_name(id));
		sep = ", ";
		if (id != SEC_MECH_IPSEC)
			continue;
		seca_put(o, " (keying");
		for (size_t i = 0; i < NROWS; i++)
			if (rows[i].mech == id && rows[i].kname &&
			    (keyings & (1u << rows[i].keying))) {
				seca_put(o, " ");
				seca_put(o, rows[i].kname);
			}
		seca_put(o, ")");
	}
	if (!*sep)
		seca_put(o, "nothing");
}

static int select_fail(const struct sec_mech *offer, size_t n, uint32_t allow,
		       uint32_t require, uint32_t keyings, char *why,
		       size_t wlen)
{
	struct seca_out o = { why, wlen, 0, false };
	char lb[64];

	if (!wlen)
		return -ENOENT;
	why[0] = '\0'; /* a cut reason beats none: seca_put keeps a prefix */
	seca_put(&o, "peer offers ");
	for (size_t i = 0; i < n; i++) {
		label(&offer[i], lb, sizeof(lb));
		seca_put(&o, i ? ", " : "");
		seca_put(&o, lb);
	}
	seca_put(&o, n ? "; policy " : "nothing; policy ");
	seca_put(&o, require ? "requires " : "allows ");
	why_mask(&o, require ? require & allow : allow, keyings);
	return -ENOENT;
}

int sec_select(const struct sec_mech *offer, size_t n, uint32_t allow,
	       uint32_t require, uint32_t keyings, struct sec_mech *choice,
	       char *why, size_t wlen)
{
	uint32_t ok = require ? allow & require : allow;
	const struct sec_mech *best = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct sec_mech *m = &offer[i];

		if (m->mech == SEC_MECH_OTHER || m->mech == SEC_MECH_NONE ||
		    m->mech >= 32 || !(ok & (1u << m->mech)) ||
		    !keying_ok(m, keyings))
			continue;
		if (!best || m->q > best->q) /* ties: the peer's order */
			best = m;
	}
	if (best) {
		*choice = *best;
		return 0;
	}
	if (ok & (1u << SEC_MECH_NONE)) {
		sec_mech_make(choice, SEC_MECH_NONE, SEC_K_DEFAULT);
		return 0;
	}
	return select_fail(offer, n, allow, require, keyings, why, wlen);
}
