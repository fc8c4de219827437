// SPDX-License-Identifier: MIT
/*
 * multipart/mixed bodies (RFC 2046 5.1.1), as the framework draft carries
 * its message/sip-secure attachments (section 4.2). Each part's headers go
 * through the message's header parser (sip.c), compact forms and folding
 * included.
 *
 * Strict about delimiters: a line that begins with "--boundary" but is
 * neither a delimiter nor the close delimiter is a rejection (RFC 2046
 * forbids it inside a part), and so is a body without the close delimiter,
 * so that no two readers split one body differently.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sip.h"
#include "sip_int.h"

#define BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

const struct sip_header *sip_part_find(const struct sip_part *p,
				       enum sip_hdr id)
{
	for (size_t i = 0; i < p->n_hdr; i++)
		if (p->hdr[i].id == id)
			return &p->hdr[i];
	return NULL;
}

static bool is_bchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("'()+_,-./:=? ", c));
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The boundary parameter of a Content-Type value ("multipart/mixed;
 * boundary=..."), quoted or a token. */
static int boundary(struct sip_str v, struct sip_str *b, char *why,
		    size_t wlen)
{
	const char *p = memchr(v.p, ';', v.n), *e = v.p + v.n;
	bool seen = false;

	while (p && p < e) {
		const char *name, *ne, *val, *ve;

		for (p++; p < e && is_ws(*p); p++)
			;
		name = p;
		while (p < e && *p != '=' && *p != ';')
			p++;
		for (ne = p; ne > name && is_ws(ne[-1]); ne--)
			;
		if (p == e || *p == ';')
			continue; /* a parameter without a value */
		for (p++; p < e && is_ws(*p); p++)
			;
		if (p < e && *p == '"') {
			val = p + 1;
			p = sip_skip_quoted(p, e);
			if (!p)
				return sip_fail(why, wlen, -EBADMSG, "Content-"
						"Type: a quoted string does not "
						"end");
			ve = p - 1;
		} else {
			val = p;
			while (p < e && *p != ';')
				p++;
			for (ve = p; ve > val && is_ws(ve[-1]); ve--)
				;
		}
		while (p < e && *p != ';')
			p++;
		if (ne - name != 8 || !sip_ci_eq(name, "boundary", 8))
			continue;
		if (seen)
			return sip_fail(why, wlen, -EBADMSG, "Content-Type has "
					"two boundary parameters");
		seen = true;
		*b = (struct sip_str){ val, (size_t)(ve - val) };
	}
	if (!seen)
		return sip_fail(why, wlen, -EBADMSG, "Content-Type "
				"multipart/mixed without a boundary");
	if (!b->n || b->n > BOUNDARY_MAX || b->p[b->n - 1] == ' ')
		return sip_fail(why, wlen, -EBADMSG, "boundary of %zu "
				"characters (1 to %d, not ending in a space)",
				b->n, BOUNDARY_MAX);
	for (size_t i = 0; i < b->n; i++)
		if (!is_bchar(b->p[i]))
			return sip_fail(why, wlen, -EBADMSG, "boundary has a "
					"character RFC 2046 does not allow "
					"(0x%02x)", (unsigned char)b->p[i]);
	return 0;
}

/* The next line at or after p that begins with "--" boundary. */
static const char *next_delim(const char *p, const char *start,
			      const char *e, struct sip_str b)
{
	while (p < e) {
		if ((p == start || p[-1] == '\n') && (size_t)(e - p) >= b.n + 2 &&
		    p[0] == '-' && p[1] == '-' && !memcmp(p + 2, b.p, b.n))
			return p;
		p = memchr(p, '\n', (size_t)(e - p));
		if (!p)
			return NULL;
		p++;
	}
	return NULL;
}

/* After "--boundary": 1 the close delimiter, 0 a delimiter with *next
 * past its line end, -1 neither. */
static int delim_kind(const char *p, const char *e, const char **next)
{
	if (e - p >= 2 && p[0] == '-' && p[1] == '-')
		return 1;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++; /* transport padding */
	if (p < e && *p == '\r')
		p++;
	if (p == e || *p != '\n')
		return -1;
	*next = p + 1;
	return 0;
}

int sip_multipart(const struct sip_msg *m, struct sip_part *parts,
		  size_t max, char *why, size_t wlen)
{
	const struct sip_header *ct = sip_find(m, SIP_H_CONTENT_TYPE, NULL);
	const char *start = m->body.p, *e = start + m->body.n, *d, *semi;
	struct sip_str b, type;
	size_t n = 0;
	char shown[80];
	int err, kind;

	if (!ct)
		return sip_fail(why, wlen, -ENOMSG, "no Content-Type");
	semi = memchr(ct->value.p, ';', ct->value.n);
	type.p = ct->value.p;
	type.n = semi ? (size_t)(semi - type.p) : ct->value.n;
	while (type.n && is_ws(type.p[type.n - 1]))
		type.n--;
	if (!sip_str_eq(type, "multipart/mixed"))
		return sip_fail(why, wlen, -ENOMSG, "Content-Type '%s' is not "
				"multipart/mixed",
				sip_shown(shown, sizeof(shown), type.p, type.n));
	err = boundary(ct->value, &b, why, wlen);
	if (err)
		return err;
	d = next_delim(start, start, e, b); /* what precedes is preamble */
	if (!d)
		return sip_fail(why, wlen, -EBADMSG, "no delimiter '--%s' in "
				"the body",
				sip_shown(shown, sizeof(shown), b.p, b.n));
	for (;;) {
		char where[32];
		struct sip_hscan hs = {
			.max = SIP_MAX_PART_HEADERS,
			.limit_name = "SIP_MAX_PART_HEADERS", .where = where,
			.line = 1, .end_is_blank = true,
		};
		const char *p, *pe;
		size_t cl;

		kind = delim_kind(d + 2 + b.n, e, &p);
		if (kind == 1)
			return (int)n; /* what follows is epilogue */
		if (kind < 0 && !n)
			return sip_fail(why, wlen, -EBADMSG, "the first line "
					"with the boundary is no delimiter");
		if (kind < 0)
			return sip_fail(why, wlen, -EBADMSG, "part %zu: a line "
					"begins with the boundary but is no "
					"delimiter", n);
		if (n == max || n == SIP_MAX_PARTS)
			return sip_fail(why, wlen, -EMSGSIZE, "more than %zu "
					"parts (SIP_MAX_PARTS is %d)", n,
					SIP_MAX_PARTS);
		snprintf(where, sizeof(where), "part %zu: ", n + 1);
		d = next_delim(p, start, e, b);
		if (!d)
			return sip_fail(why, wlen, -EBADMSG, "part %zu: no "
					"close delimiter '--%s--'", n + 1,
					sip_shown(shown, sizeof(shown), b.p,
						  b.n));
		/* the line end before a delimiter belongs to it */
		pe = d > p ? d - 1 : d;
		if (pe > p && pe[-1] == '\r')
			pe--;
		hs.hdr = parts[n].hdr;
		err = sip_headers(&hs, p, pe, why, wlen);
		if (err)
			return err < 0 ? err : -EBADMSG;
		parts[n].n_hdr = hs.n;
		parts[n].body = (struct sip_str){ hs.end,
						  (size_t)(pe - hs.end) };
		err = sip_content_length(parts[n].hdr, hs.n, where, &cl, why,
					 wlen);
		if (err < 0)
			return err;
		if (err && cl != parts[n].body.n)
			return sip_fail(why, wlen, -EBADMSG, "part %zu: Content-"
					"Length is not the length of its body "
					"(%zu bytes)", n + 1,
					parts[n].body.n);
		n++;
	}
}
