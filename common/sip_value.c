// SPDX-License-Identifier: MIT
/*
 * Inside header values: comma-separated lists (RFC 3261 7.3.1) and the
 * host of a SIP URI (RFC 3261 19.1.1, 25.1), for the shim's identity check
 * and the daemon's choice of peer. Views into the value, nothing copied.
 */
#include <errno.h>
#include <string.h>

#include "sip.h"
#include "sip_int.h"

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct sip_str trim(const char *p, const char *e)
{
	while (p < e && is_lws(*p))
		p++;
	while (e > p && is_lws(e[-1]))
		e--;
	return (struct sip_str){ p, (size_t)(e - p) };
}

/* The end of a quoted-string starting at p ('"'), just past its closing
 * quote; NULL if it does not close. quoted-pair = "\" any octet. */
const char *sip_skip_quoted(const char *p, const char *e)
{
	for (p++; p < e; p++) {
		if (*p == '\\') {
			if (++p == e)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

int sip_list_next(struct sip_str *rest, struct sip_str *item)
{
	const char *p = rest->p, *e = rest->p + rest->n;

	for (;;) {
		const char *s;

		while (p < e && (is_lws(*p) || *p == ','))
			p++; /* empty elements are skipped, as most stacks do */
		if (p == e) {
			*rest = (struct sip_str){ e, 0 };
			return 0;
		}
		s = p;
		while (p < e && *p != ',') {
			if (*p == '"') {
				p = sip_skip_quoted(p, e);
			} else if (*p == '<') {
				/* a URI: its commas and quotes are its own */
				p = memchr(p, '>', (size_t)(e - p));
				p = p ? p + 1 : NULL;
			} else {
				p++;
			}
			if (!p)
				return -EBADMSG;
		}
		*item = trim(s, p);
		*rest = (struct sip_str){ p, (size_t)(e - p) };
		return 1;
	}
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool is_v6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '.';
}

int sip_uri_host(struct sip_str v, struct sip_str *host)
{
	struct sip_str t = trim(v.p, v.p + v.n);
	const char *p = t.p, *e = t.p + t.n, *at, *h;

	/* name-addr = [ display-name ] "<" addr-spec ">" */
	if (p < e && *p == '"') {
		p = sip_skip_quoted(p, e);
		if (!p)
			return -EBADMSG;
		while (p < e && is_lws(*p))
			p++;
		if (p == e || *p != '<')
			return -EBADMSG;
	} else {
		/* a token display name holds no '<'; a bare addr-spec
		 * neither */
		const char *lt = memchr(p, '<', (size_t)(e - p));

		if (lt)
			p = lt;
	}
	if (p < e && *p == '<') {
		const char *gt = memchr(p, '>', (size_t)(e - p));

		if (!gt)
			return -EBADMSG;
		e = gt;
		p++;
	}
	if (e - p >= 4 && sip_ci_eq(p, "sip:", 4))
		p += 4;
	else if (e - p >= 5 && sip_ci_eq(p, "sips:", 5))
		p += 5;
	else
		return -EBADMSG;
	/* userinfo ends at '@'; no '@' is allowed in the host, params or
	 * headers that follow, so the last one is it. */
	for (at = e; at > p && at[-1] != '@'; at--)
		;
	p = at;
	if (p < e && *p == '[') {
		const char *rb = memchr(p, ']', (size_t)(e - p));

		if (!rb || rb == p + 1)
			return -EBADMSG;
		for (h = p + 1; h < rb; h++)
			if (!is_v6_char(*h))
				return -EBADMSG;
		*host = (struct sip_str){ p + 1, (size_t)(rb - p - 1) };
		h = rb + 1;
	} else {
		for (h = p; h < e && is_host_char(*h); h++)
			;
		if (h == p)
			return -EBADMSG;
		*host = (struct sip_str){ p, (size_t)(h - p) };
	}
	/* what follows the host: a port, params, headers, or nothing */
	if (h < e && *h != ':' && *h != ';' && *h != '?')
		return -EBADMSG;
	return 0;
}
