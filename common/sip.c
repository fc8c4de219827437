// SPDX-License-Identifier: MIT
/*
 * SIP message parser (RFC 3261 sections 7 and 25), zero-copy and
 * allocation-free: it runs in the shim on every message, so lines are
 * found with memchr and each byte of the head is looked at a bounded
 * number of times.
 *
 * Strict where leniency would let two parsers disagree about one message
 * (the shim and the peer must see the same headers and the same framing):
 * a bare CR, a NUL, a header without a colon, a second Content-Length with
 * another value are all rejections. Lenient only where nothing can be
 * smuggled: bare LF line ends, a status line without a reason phrase.
 *
 * multipart/mixed bodies are split in sip_multipart.c with the same header
 * parser (sip_headers(), declared in sip_int.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sip.h"
#include "sip_int.h"

/* RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" /
 * "+" / "`" / "'" / "~"); a table, as every header name goes through it. */
static const bool token_char[256] = {
	['a' ... 'z'] = true, ['A' ... 'Z'] = true, ['0' ... '9'] = true,
	['-'] = true, ['.'] = true, ['!'] = true, ['%'] = true, ['*'] = true,
	['_'] = true, ['+'] = true, ['`'] = true, ['\''] = true, ['~'] = true,
};

static bool is_token(unsigned char c)
{
	return token_char[c];
}

/* ASCII case-insensitive and locale-free: the shim runs in programs that
 * may set any locale, and strncasecmp follows it. */
bool sip_ci_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x |= 0x20;
		if (y >= 'A' && y <= 'Z')
			y |= 0x20;
		if (x != y)
			return false;
	}
	return true;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int sip_fail(char *why, size_t wlen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && wlen) {
		va_start(ap, fmt);
		vsnprintf(why, wlen, fmt, ap);
		va_end(ap);
	}
	return err;
}

const char *sip_shown(char *buf, size_t size, const char *p, size_t n)
{
	size_t k = 0, max = size > 4 ? size - 4 : 0;

	for (size_t i = 0; i < n && k < max; i++) {
		unsigned char c = (unsigned char)p[i];

		buf[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (k < n && size >= 4) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	if (size)
		buf[k < size ? k : size - 1] = '\0';
	return buf;
}

bool sip_str_eq(struct sip_str s, const char *c)
{
	size_t n = strlen(c);

	return s.n == n && sip_ci_eq(s.p, c, n);
}

static const struct {
	const char *name;
	unsigned char len;
	enum sip_hdr id;
} names[] = {
#define N(s, id) { s, sizeof(s) - 1, id }
	N("Via", SIP_H_VIA), N("v", SIP_H_VIA),
	N("From", SIP_H_FROM), N("f", SIP_H_FROM),
	N("To", SIP_H_TO), N("t", SIP_H_TO),
	N("Call-ID", SIP_H_CALL_ID), N("i", SIP_H_CALL_ID),
	N("CSeq", SIP_H_CSEQ),
	N("Contact", SIP_H_CONTACT), N("m", SIP_H_CONTACT),
	N("Content-Type", SIP_H_CONTENT_TYPE), N("c", SIP_H_CONTENT_TYPE),
	N("Content-Length", SIP_H_CONTENT_LENGTH),
	N("l", SIP_H_CONTENT_LENGTH),
	N("Max-Forwards", SIP_H_MAX_FORWARDS),
	N("P-Asserted-Identity", SIP_H_P_ASSERTED_IDENTITY),
	N("Supported", SIP_H_SUPPORTED), N("k", SIP_H_SUPPORTED),
	N("Require", SIP_H_REQUIRE),
	N("Proxy-Require", SIP_H_PROXY_REQUIRE),
	N("MIME-Version", SIP_H_MIME_VERSION),
	N("X-SIP-SECURE-TO", SIP_H_X_SECURE_TO),
	N("X-SIP-SECURE-FROM", SIP_H_X_SECURE_FROM),
	N("X-SIP-SECURE-SUPPORTS", SIP_H_X_SECURE_SUPPORTS),
	N("X-SIP-SECURE-REQUIRES", SIP_H_X_SECURE_REQUIRES),
	N("X-SIP-SECURE-METHOD", SIP_H_X_SECURE_METHOD),
	N("Security-Client", SIP_H_SECURITY_CLIENT),
	N("Security-Server", SIP_H_SECURITY_SERVER),
	N("Security-Verify", SIP_H_SECURITY_VERIFY),
	N("Authorization", SIP_H_AUTHORIZATION),
	N("Encryption", SIP_H_ENCRYPTION),
	N("Subject", SIP_H_SUBJECT), N("s", SIP_H_SUBJECT),
	N("Content-Encoding", SIP_H_CONTENT_ENCODING),
	N("e", SIP_H_CONTENT_ENCODING),
#undef N
};

enum sip_hdr sip_header_id(const char *name, size_t n)
{
	/* length and first letter before the full comparison */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].len == n && ((names[i].name[0] ^ name[0]) &
					  ~0x20) == 0 &&
		    sip_ci_eq(names[i].name, name, n))
			return names[i].id;
	return SIP_H_OTHER;
}

const char *sip_header_name(enum sip_hdr id)
{
	/* the long form comes first in names[] */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].id == id)
			return names[i].name;
	return "";
}

const struct sip_header *sip_find(const struct sip_msg *m, enum sip_hdr id,
				  const struct sip_header *after)
{
	size_t i = 0;

	if (after) {
		if (after < m->hdr || after >= m->hdr + m->n_hdr)
			return NULL;
		i = (size_t)(after - m->hdr) + 1;
	}
	for (; i < m->n_hdr; i++)
		if (m->hdr[i].id == id)
			return &m->hdr[i];
	return NULL;
}

/* One header, first physical line [p, eol) and value end vend (the end of
 * the last line of a folded value, before its CR LF). */
static int header(const char *p, const char *eol, const char *vend,
		  struct sip_header *h, const struct sip_hscan *hs,
		  unsigned line, char *why, size_t wlen)
{
	const char *colon = memchr(p, ':', (size_t)(eol - p));
	const char *ne, *v;
	char shown[48];

	if (!colon)
		return sip_fail(why, wlen, -EBADMSG, "%sline %u: header "
				"without a colon", hs->where, line);
	/* RFC 3261 7.3.1: HCOLON = *( SP / HTAB ) ":" SWS */
	for (ne = colon; ne > p && is_wsp(ne[-1]); ne--)
		;
	if (ne == p)
		return sip_fail(why, wlen, -EBADMSG, "%sline %u: header "
				"without a name", hs->where, line);
	for (const char *q = p; q < ne; q++)
		if (!is_token((unsigned char)*q))
			return sip_fail(why, wlen, -EBADMSG, "%sline %u: "
					"header name '%s' has a character not "
					"allowed in a token", hs->where, line,
					sip_shown(shown, sizeof(shown), p,
						  (size_t)(ne - p)));
	for (v = colon + 1; v < vend && (is_wsp(*v) || *v == '\r' ||
					 *v == '\n'); v++)
		;
	while (vend > v && (is_wsp(vend[-1]) || vend[-1] == '\r' ||
			    vend[-1] == '\n'))
		vend--;
	h->name = (struct sip_str){ p, (size_t)(ne - p) };
	h->value = (struct sip_str){ v, (size_t)(vend - v) };
	h->id = sip_header_id(p, h->name.n);
	return 0;
}

/* A physical line: [p, *eol) without its CR LF (or LF), *next after it.
 * Returns 1 when no LF comes before end. */
static int phys_line(const char *p, const char *end, const char **eol,
		     const char **next, const struct sip_hscan *hs,
		     unsigned line, char *why, size_t wlen)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	const char *e = lf ? lf : end;

	/* Without an LF yet, a CR at the end may still get its LF. */
	if (e > p && e[-1] == '\r' && (lf || !hs->end_is_blank))
		e--;
	/* A bare CR is a line end to some stacks and not to others. */
	if (memchr(p, '\r', (size_t)(e - p)))
		return sip_fail(why, wlen, -EBADMSG, "%sline %u: CR not "
				"followed by LF", hs->where, line);
	if (memchr(p, '\0', (size_t)(e - p)))
		return sip_fail(why, wlen, -EBADMSG, "%sline %u: NUL byte",
				hs->where, line);
	*eol = e;
	*next = lf ? lf + 1 : end;
	return lf ? 0 : 1;
}

/* The pending header [start..) is complete: add it. */
static int flush(struct sip_hscan *hs, const char *start,
		 const char *first_eol, const char *vend, unsigned line,
		 char *why, size_t wlen)
{
	if (hs->n == hs->max)
		return sip_fail(why, wlen, -EMSGSIZE, "%smore than %s (%zu) "
				"headers", hs->where, hs->limit_name, hs->max);
	return header(start, first_eol, vend, &hs->hdr[hs->n++], hs, line,
		      why, wlen);
}

int sip_headers(struct sip_hscan *hs, const char *p, const char *end,
		char *why, size_t wlen)
{
	const char *start = NULL, *first_eol = NULL, *vend = NULL;
	const char *eol, *next;
	unsigned start_line = 0;
	int err;

	for (;; hs->line++, p = next) {
		bool blank;

		if (p == end) {
			if (!hs->end_is_blank)
				return 1;
			eol = next = end;
		} else {
			err = phys_line(p, end, &eol, &next, hs, hs->line,
					why, wlen);
			if (err < 0)
				return err;
			if (err && !hs->end_is_blank) {
				/* Its first byte shows whether the line
				 * before is complete (no fold), so a bad
				 * header is refused without waiting. */
				if (start && !is_wsp(*p))
					return flush(hs, start, first_eol,
						     vend, start_line, why,
						     wlen) ?: 1;
				return 1;
			}
		}
		blank = eol == p;
		if (blank || !is_wsp(*p)) {
			if (start) {
				err = flush(hs, start, first_eol, vend,
					    start_line, why, wlen);
				if (err)
					return err;
			}
			if (blank) {
				hs->end = next;
				return 0;
			}
			start = p;
			first_eol = vend = eol;
			start_line = hs->line;
		} else {
			if (!start)
				return sip_fail(why, wlen, -EBADMSG, "%sline "
						"%u: continuation line without "
						"a header before it",
						hs->where, hs->line);
			vend = eol; /* RFC 3261 7.3.1: folding */
		}
	}
}

static bool is_version(const char *p, size_t n)
{
	return n == 7 && sip_ci_eq(p, "SIP/2.0", 7);
}

static int start_line(struct sip_msg *m, const char *p, const char *e,
		      char *why, size_t wlen)
{
	size_t n = (size_t)(e - p);
	const char *sp1, *sp2;
	char shown[48];

	if (n >= 4 && sip_ci_eq(p, "SIP/", 4)) {
		/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase;
		 * the reason may be empty, and so may its SP be missing. */
		sp1 = memchr(p, ' ', n);
		if (!sp1 || !is_version(p, (size_t)(sp1 - p)))
			return sip_fail(why, wlen, -EBADMSG, "line 1: version "
					"'%s' is not SIP/2.0",
					sip_shown(shown, sizeof(shown), p,
						  sp1 ? (size_t)(sp1 - p) : n));
		sp1++;
		if (e - sp1 < 3 || (e - sp1 > 3 && sp1[3] != ' ') ||
		    sp1[0] < '1' || sp1[0] > '6' || sp1[1] < '0' ||
		    sp1[1] > '9' || sp1[2] < '0' || sp1[2] > '9')
			return sip_fail(why, wlen, -EBADMSG, "line 1: status "
					"code '%s' is not 100..699",
					sip_shown(shown, sizeof(shown), sp1,
						  (size_t)(e - sp1)));
		m->request = false;
		m->status = (sp1[0] - '0') * 100 + (sp1[1] - '0') * 10 +
			    (sp1[2] - '0');
		sp1 += e - sp1 > 3 ? 4 : 3;
		m->reason = (struct sip_str){ sp1, (size_t)(e - sp1) };
		return 0;
	}
	/* Request-Line = Method SP Request-URI SP SIP-Version */
	sp1 = memchr(p, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1)
		return sip_fail(why, wlen, -EBADMSG, "line 1: start line '%s' "
				"is neither a request line nor a status line",
				sip_shown(shown, sizeof(shown), p, n));
	for (const char *q = p; q < sp1; q++)
		if (!is_token((unsigned char)*q))
			return sip_fail(why, wlen, -EBADMSG, "line 1: method "
					"'%s' is not a token",
					sip_shown(shown, sizeof(shown), p,
						  (size_t)(sp1 - p)));
	if (!is_version(sp2 + 1, (size_t)(e - sp2 - 1)))
		return sip_fail(why, wlen, -EBADMSG, "line 1: version '%s' is "
				"not SIP/2.0",
				sip_shown(shown, sizeof(shown), sp2 + 1,
					  (size_t)(e - sp2 - 1)));
	m->request = true;
	m->status = 0;
	m->method = (struct sip_str){ p, (size_t)(sp1 - p) };
	m->uri = (struct sip_str){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
	return 0;
}

int sip_content_length(const struct sip_header *hdr, size_t n,
		       const char *where, size_t *cl, char *why, size_t wlen)
{
	bool seen = false;
	char shown[48];

	for (size_t i = 0; i < n; i++) {
		const struct sip_header *h = &hdr[i];
		size_t v = 0;

		if (h->id != SIP_H_CONTENT_LENGTH)
			continue;
		if (!h->value.n)
			return sip_fail(why, wlen, -EBADMSG, "%sContent-Length "
					"is empty", where);
		for (size_t k = 0; k < h->value.n; k++) {
			char c = h->value.p[k];

			if (c < '0' || c > '9')
				return sip_fail(why, wlen, -EBADMSG, "%s"
						"Content-Length '%s' is not a "
						"number", where,
						sip_shown(shown, sizeof(shown),
							  h->value.p,
							  h->value.n));
			/* saturate: anything past the limit is too large */
			if (v <= SIP_MAX_BODY)
				v = v * 10 + (size_t)(c - '0');
		}
		if (seen && v != *cl)
			return sip_fail(why, wlen, -EBADMSG, "%sduplicate "
					"Content-Length with different values",
					where);
		seen = true;
		*cl = v;
	}
	return seen ? 1 : 0;
}

int sip_parse(const char *buf, size_t len, enum sip_framing framing,
	      struct sip_msg *m, char *why, size_t wlen)
{
	const char *p = buf, *end = buf + len, *scan_end, *eol, *next;
	struct sip_hscan hs = {
		.hdr = m->hdr, .max = SIP_MAX_HEADERS,
		.limit_name = "SIP_MAX_HEADERS", .where = "", .line = 1,
	};
	size_t skipped, avail, cl = 0, rest;
	int err, has_cl;

	m->n_hdr = 0;
	m->len = 0;
	/* RFC 5626 3.5.1 keep-alives; RFC 3261 7.5 lets CRLFs precede a
	 * message on a stream. */
	while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end &&
					  p[1] == '\n')))
		p += *p == '\r' ? 2 : 1;
	skipped = (size_t)(p - buf);
	avail = (size_t)(end - p);
	m->len = skipped; /* what -EAGAIN lets the caller drop */
	if (!avail || (avail == 1 && *p == '\r')) {
		if (framing != SIP_DGRAM)
			return sip_fail(why, wlen, -EAGAIN, "no message yet "
					"(%zu bytes of keep-alive)", skipped);
		return sip_fail(why, wlen, -EBADMSG, "no message, only CRLF "
				"keep-alives");
	}
	scan_end = p + (avail < SIP_MAX_HEAD ? avail : SIP_MAX_HEAD);

	err = phys_line(p, scan_end, &eol, &next, &hs, 1, why, wlen);
	if (err < 0)
		return err;
	if (!err)
		err = start_line(m, p, eol, why, wlen);
	if (!err) {
		hs.line = 2;
		err = sip_headers(&hs, next, scan_end, why, wlen);
	}
	if (err < 0)
		return err;
	if (err) {
		if (avail >= SIP_MAX_HEAD)
			return sip_fail(why, wlen, -EMSGSIZE, "start line and "
					"headers longer than SIP_MAX_HEAD (%d "
					"bytes)", SIP_MAX_HEAD);
		if (framing != SIP_DGRAM)
			return sip_fail(why, wlen, -EAGAIN, "the headers have "
					"not ended (%zu bytes so far)", avail);
		return sip_fail(why, wlen, -EBADMSG, "line %u: the datagram "
				"ends inside the headers (no empty line)",
				hs.line);
	}
	m->n_hdr = hs.n;
	has_cl = sip_content_length(m->hdr, m->n_hdr, "", &cl, why, wlen);
	if (has_cl < 0)
		return has_cl;
	if (has_cl && cl > SIP_MAX_BODY)
		return sip_fail(why, wlen, -EMSGSIZE, "Content-Length is more "
				"than SIP_MAX_BODY (%d bytes)", SIP_MAX_BODY);
	rest = (size_t)(end - hs.end);
	if (framing != SIP_DGRAM) {
		/* RFC 3261 18.3: mandatory on a stream, it is the framing */
		if (!has_cl)
			return sip_fail(why, wlen, -EBADMSG, "no "
					"Content-Length (mandatory on a "
					"stream)");
		if (framing == SIP_STREAM_HEAD) {
			m->body = (struct sip_str){ NULL, cl };
			m->len = (size_t)(hs.end - buf);
			return 0;
		}
		if (rest < cl)
			return sip_fail(why, wlen, -EAGAIN, "the body has %zu "
					"of %zu bytes", rest, cl);
		m->body = (struct sip_str){ hs.end, cl };
		m->len = (size_t)(hs.end - buf) + cl;
		return 0;
	}
	if (has_cl && cl > rest)
		return sip_fail(why, wlen, -EBADMSG, "Content-Length %zu is "
				"more than the %zu bytes after the headers", cl,
				rest);
	if (!has_cl && rest > SIP_MAX_BODY)
		return sip_fail(why, wlen, -EMSGSIZE, "body longer than "
				"SIP_MAX_BODY (%d bytes)", SIP_MAX_BODY);
	/* RFC 3261 18.3: octets past Content-Length in a datagram are
	 * discarded. */
	m->body = (struct sip_str){ hs.end, has_cl ? cl : rest };
	m->len = len;
	return 0;
}
