// SPDX-License-Identifier: MIT
/*
 * RFC 3329 2.2: Security-Client / Security-Server / Security-Verify values.
 *
 *   value         = sec-mechanism *(COMMA sec-mechanism)
 *   sec-mechanism = mechanism-name *(SEMI mech-parameters)
 *
 * q= becomes the preference; every other parameter (d-alg, d-qop, d-ver,
 * and 3GPP's alg, spi-c, spi-s, port-c, port-s, prot, mod, ealg...) is kept
 * in params as ";name=value" without the LWS around its separators, so that
 * a Security-Verify echo can be compared (RFC 3329 2.3.1 step 4). No q means
 * 1 (the RFC 3261 reading of an absent q); ties fall to the list's order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "secagree_int.h"

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in 1/1000. */
static int qvalue(const char *s, size_t len)
{
	int q;

	if (!len || (s[0] != '0' && s[0] != '1') || len > 5 ||
	    (len > 1 && s[1] != '.'))
		return -1;
	q = (s[0] - '0') * 1000;
	for (size_t k = 2, scale = 100; k < len; k++, scale /= 10) {
		if (s[k] < '0' || s[k] > '9' || (s[0] == '1' && s[k] != '0'))
			return -1;
		q += (s[k] - '0') * (int)scale;
	}
	return q;
}

/* quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE (RFC 3261 25.1);
 * NUL is refused so that the value stays a C string. */
static int quoted(struct seca_lex *l)
{
	size_t open = l->i++;

	while (l->i < l->n) {
		unsigned char c = l->v[l->i];

		if (c == '"') {
			l->i++;
			return 0;
		}
		if (c == '\\' && l->i + 1 < l->n && l->v[l->i + 1] &&
		    (unsigned char)l->v[l->i + 1] < 0x80 &&
		    l->v[l->i + 1] != '\r' && l->v[l->i + 1] != '\n') {
			l->i += 2;
			continue;
		}
		if (c == '\r') {
			size_t before = l->i;

			seca_lws(l);
			if (l->i == before)
				break;
			continue;
		}
		if (c == '\\' || (c < 0x20 && c != '\t') || c == 0x7f)
			break;
		l->i++;
	}
	if (l->i == l->n)
		return seca_fail(l, -EBADMSG, "offset %zu: quoted string not "
				 "closed", open);
	return seca_fail(l, -EBADMSG, "offset %zu: byte 0x%02x in quoted "
			 "string", l->i, (unsigned char)l->v[l->i]);
}

/* gen-value = token / host / quoted-string; host's IPv6 reference is the
 * only form that is not a token. */
static int gen_value(struct seca_lex *l)
{
	size_t at = l->i;

	if (seca_at(l, '"'))
		return quoted(l);
	if (seca_at(l, '[')) {
		l->i++;
		while (l->i < l->n && strchr("0123456789abcdefABCDEF:.",
					      l->v[l->i]) && l->v[l->i])
			l->i++;
		if (!seca_at(l, ']') || l->i == at + 1)
			return seca_fail(l, -EBADMSG, "offset %zu: bad IPv6 "
					 "reference", at);
		l->i++;
		return 0;
	}
	return seca_token(l) ? 0 : -1;
}

static bool is_lhex32(const char *s, size_t len)
{
	if (len != 34 || s[0] != '"' || s[33] != '"')
		return false;
	for (size_t k = 1; k < 33; k++)
		if (!((s[k] >= '0' && s[k] <= '9') ||
		      (s[k] >= 'a' && s[k] <= 'f')))
			return false;
	return true;
}

static int param(struct seca_lex *l, struct sec_mech *m)
{
	size_t at = l->i, len = seca_token(l), vat = 0, vlen = 0;
	size_t have = strlen(m->params);
	const char *name = l->v + at;
	char wb[16];
	int rc;

	if (!len)
		return seca_fail(l, -EBADMSG, "offset %zu: empty parameter, "
				 "got %s", at,
				 seca_what(l, at, wb, sizeof(wb)));
	seca_lws(l);
	if (seca_at(l, '=')) {
		l->i++;
		seca_lws(l);
		vat = l->i;
		rc = gen_value(l);
		if (rc == -1)
			return seca_fail(l, -EBADMSG, "offset %zu: parameter "
					 "'%.*s' has no value, got %s", vat,
					 (int)(len > 20 ? 20 : len), name,
					 seca_what(l, vat, wb, sizeof(wb)));
		if (rc < 0)
			return rc;
		vlen = l->i - vat;
	}
	if (len == 1 && (name[0] | 0x20) == 'q') {
		int q = vlen ? qvalue(l->v + vat, vlen) : -1;

		if (m->has_q)
			return seca_fail(l, -EBADMSG, "offset %zu: q given "
					 "twice", at);
		if (q < 0)
			return seca_fail(l, -EBADMSG, "offset %zu: bad qvalue "
					 "'%.*s' (0 to 1, at most 3 decimals)",
					 vat ? vat : at,
					 (int)(vlen > 20 ? 20 : vlen),
					 l->v + vat);
		m->q = q;
		m->has_q = true;
		return 0;
	}
	if (len == 5 && !strncasecmp(name, "d-ver", 5) &&
	    !is_lhex32(l->v + vat, vlen))
		return seca_fail(l, -EBADMSG, "offset %zu: d-ver must be 32 "
				 "lower-case hex digits in quotes",
				 vat ? vat : at);
	if (len == 5 && (!strncasecmp(name, "d-alg", 5) ||
			 !strncasecmp(name, "d-qop", 5)) &&
	    (!vlen || l->v[vat] == '"' || l->v[vat] == '['))
		return seca_fail(l, -EBADMSG, "offset %zu: %.5s takes a token",
				 vat ? vat : at, name);
	if (have + 1 + len + (vlen ? 1 + vlen : 0) >= sizeof(m->params))
		return seca_fail(l, -EMSGSIZE, "offset %zu: params longer than "
				 "%zu bytes at '%.*s'", at,
				 sizeof(m->params) - 1,
				 (int)(len > 20 ? 20 : len), name);
	m->params[have++] = ';';
	memcpy(m->params + have, name, len);
	have += len;
	if (vlen) {
		m->params[have++] = '=';
		memcpy(m->params + have, l->v + vat, vlen);
		have += vlen;
	}
	m->params[have] = '\0';
	return 0;
}

static int mechanism(struct seca_lex *l, struct sec_mech *m, size_t pos,
		     const void *ctx)
{
	size_t at = l->i, len = seca_token(l);
	const struct seca_row *r;
	char wb[16];
	int rc;

	(void)pos;
	(void)ctx;
	memset(m, 0, sizeof(*m));
	m->q = 1000;
	if (!len)
		return seca_fail(l, -EBADMSG, "offset %zu: empty element: "
				 "expected a mechanism, got %s", at,
				 seca_what(l, at, wb, sizeof(wb)));
	rc = seca_field(l, m->name, sizeof(m->name), at, len, true,
			"mechanism");
	if (rc < 0)
		return rc;
	r = seca_row_by_3329(m->name);
	m->mech = r ? r->mech : SEC_MECH_OTHER;
	m->keying = r ? r->keying : SEC_K_DEFAULT;
	if (r && r->kname)
		snprintf(m->keying_name, sizeof(m->keying_name), "%s",
			 r->kname);
	for (;;) {
		seca_lws(l);
		if (!seca_at(l, ';'))
			return 0;
		l->i++;
		seca_lws(l);
		rc = param(l, m);
		if (rc < 0)
			return rc;
	}
}

int sec3329_parse(const char *v, size_t n, struct sec_mech *out, size_t max,
		  char *why, size_t wlen)
{
	static const struct seca_list_rules rules = { ',', false, NULL };
	struct seca_lex l = { v, n, 0, why, wlen };

	return seca_list(&l, &rules, mechanism, NULL, out, max);
}

int sec3329_format(const struct sec_mech *m, size_t n, char *buf, size_t len)
{
	struct seca_out o = { buf, len, 0, false };
	char qb[8];

	for (size_t i = 0; i < n; i++) {
		const struct seca_row *r =
			seca_row_by_mk(m[i].mech, m[i].keying);
		const char *name = m[i].mech == SEC_MECH_OTHER ? m[i].name :
				   r ? r->rfc3329 : NULL;

		/* as secx_format: an unknown name must stay unknown */
		if (!name || !name[0] || (m[i].has_q && m[i].q > 1000) ||
		    (m[i].mech == SEC_MECH_OTHER && seca_row_by_3329(name)))
			return -EINVAL;
		seca_put(&o, i ? ", " : "");
		seca_put(&o, name);
		if (m[i].has_q) {
			int k = snprintf(qb, sizeof(qb), "%u.%03u",
					 m[i].q / 1000u, m[i].q % 1000u);

			while (qb[k - 1] == '0') /* 0.500 -> 0.5, 1.000 -> 1 */
				qb[--k] = '\0';
			if (qb[k - 1] == '.')
				qb[--k] = '\0';
			seca_put(&o, ";q=");
			seca_put(&o, qb);
		}
		seca_put(&o, m[i].params);
	}
	return seca_out_end(&o);
}
