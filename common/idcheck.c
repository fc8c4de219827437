// SPDX-License-Identifier: MIT
/*
 * The identity cross-check (include/idcheck.h): name matching, the check
 * of one message, and the framing of a stream that feeds it.
 *
 * Framing works on heads only (SIP_STREAM_HEAD): a body is counted and
 * passed, never buffered. A head that spans calls is kept in one buffer
 * of SIP_MAX_HEAD bytes, allocated when that happens and freed when the
 * head completes; it is parsed again only when new bytes bring a line
 * end, so a head that trickles in byte by byte costs one memchr a byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idcheck.h"
#include "sip_int.h"

static const char *const what_names[IDCHECK_W__COUNT] = {
	[IDCHECK_W_RURI] = "Request-URI",
	[IDCHECK_W_ROUTE] = "Route",
	[IDCHECK_W_FROM] = "From",
	[IDCHECK_W_PAI] = "P-Asserted-Identity",
	[IDCHECK_W_FRAMING] = "framing",
};

const char *idcheck_what_name(enum idcheck_what w)
{
	return w < IDCHECK_W__COUNT ? what_names[w] : "?";
}

/* An IP address in any textual form; false for a DNS name. */
static bool ip_of(const char *s, size_t n, int *fam, uint8_t a[16])
{
	char b[INET6_ADDRSTRLEN + 1];

	if (!n || n >= sizeof(b))
		return false;
	memcpy(b, s, n);
	b[n] = 0;
	if (inet_pton(AF_INET, b, a) == 1) {
		*fam = AF_INET;
		return true;
	}
	if (memchr(b, ':', n) && inet_pton(AF_INET6, b, a) == 1) {
		*fam = AF_INET6;
		return true;
	}
	return false;
}

bool idcheck_name_match(const char *name, struct sip_str host)
{
	size_t nl = strlen(name);
	uint8_t ha[16], na[16];
	int hf, nf;

	if (!nl || !host.n)
		return false;
	if (ip_of(host.p, host.n, &hf, ha))
		return ip_of(name, nl, &nf, na) && nf == hf &&
		       !memcmp(ha, na, hf == AF_INET ? 4 : 16);
	/* A fully qualified name may end in a dot (RFC 1034 3.1). */
	if (host.p[host.n - 1] == '.')
		host.n--;
	if (nl > 1 && name[nl - 1] == '.')
		nl--;
	if (nl > 2 && name[0] == '*' && name[1] == '.') {
		/* RFC 6125 6.4.3: the wildcard stands for one whole label. */
		size_t sl = nl - 1; /* ".domain" */
		size_t ll = host.n > sl ? host.n - sl : 0;

		return ll && sip_ci_eq(host.p + ll, name + 1, sl) &&
		       !memchr(host.p, '.', ll);
	}
	return nl == host.n && sip_ci_eq(host.p, name, nl);
}

bool idcheck_host_ok(const struct sipsec_ctl_identity *id,
		     struct sip_str host)
{
	for (size_t i = 0; i < id->n && i < SIPSEC_ID_MAX_NAMES; i++) {
		char name[SIPSEC_ID_NAME_LEN];

		/* The names come over the control socket: bounded here. */
		memcpy(name, id->names[i], sizeof(name));
		name[sizeof(name) - 1] = 0;
		if (idcheck_name_match(name, host))
			return true;
	}
	return false;
}

static int refuse(struct idcheck_verdict *v, enum idcheck_what w,
		  struct sip_str host, const char *why)
{
	v->what = w;
	sip_shown(v->host, sizeof(v->host), host.p, host.n);
	snprintf(v->why, sizeof(v->why), "%s", why ? why : "");
	return -EACCES;
}

static int check_uri(const struct sipsec_ctl_identity *id,
		     enum idcheck_what w, struct sip_str uri,
		     struct idcheck_verdict *v)
{
	struct sip_str host = { "", 0 };

	if (sip_uri_host(uri, &host))
		return refuse(v, w, host, "not a sip: or sips: URI with a "
			      "host");
	if (!idcheck_host_ok(id, host))
		return refuse(v, w, host, NULL);
	return 0;
}

/* A tel: URI (RFC 3966) names no domain: nothing to cross-check. */
static bool is_tel(struct sip_str v)
{
	const char *lt = memchr(v.p, '<', v.n);
	const char *p = lt ? lt + 1 : v.p, *e = v.p + v.n;

	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return e - p >= 4 && sip_ci_eq(p, "tel:", 4);
}

int idcheck_msg(const struct sip_msg *m, enum idcheck_dir dir,
		const struct sipsec_ctl_identity *id,
		struct idcheck_verdict *v)
{
	static const struct sip_str none = { "", 0 };
	const struct sip_header *h;
	struct sip_str rest, item;
	int err, r;

	if (!m->request)
		return 0;
	if (dir == IDCHECK_SENT) {
		/* RFC 3261 16.12 / 8.1.2: with a route set, the request goes
		 * to the first Route's URI; that hop is the TLS peer. */
		for (size_t i = 0; i < m->n_hdr; i++) {
			h = &m->hdr[i];
			if (h->id != SIP_H_OTHER || !sip_str_eq(h->name, "Route"))
				continue;
			rest = h->value;
			if (sip_list_next(&rest, &item) != 1)
				return refuse(v, IDCHECK_W_ROUTE, none,
					      "an empty or malformed Route");
			return check_uri(id, IDCHECK_W_ROUTE, item, v);
		}
		return check_uri(id, IDCHECK_W_RURI, m->uri, v);
	}
	h = sip_find(m, SIP_H_FROM, NULL);
	if (!h)
		return refuse(v, IDCHECK_W_FROM, none, "no From header");
	err = check_uri(id, IDCHECK_W_FROM, h->value, v);
	if (err)
		return err;
	for (h = sip_find(m, SIP_H_P_ASSERTED_IDENTITY, NULL); h;
	     h = sip_find(m, SIP_H_P_ASSERTED_IDENTITY, h)) {
		rest = h->value;
		while ((r = sip_list_next(&rest, &item)) == 1) {
			if (is_tel(item))
				continue;
			err = check_uri(id, IDCHECK_W_PAI, item, v);
			if (err)
				return err;
		}
		if (r < 0)
			return refuse(v, IDCHECK_W_PAI, none, "a malformed "
				      "P-Asserted-Identity list");
	}
	return 0;
}

void idcheck_stream_free(struct idcheck_stream *st)
{
	free(st->head);
	st->head = NULL;
	st->len = 0;
}

/* A verdict on the message at the current position. @return true when
 * scanning goes on past it (log mode), false when it stops (enforce;
 * out filled). */
static bool verdict(struct idcheck_stream *st, struct idcheck_out *out,
		    const struct idcheck_verdict *v, idcheck_report_fn report,
		    void *arg)
{
	if (st->mode == SIPSEC_IDCHECK_LOG) {
		if (!(st->logged & (1u << v->what)) && report)
			report(arg, st, v);
		st->logged |= (uint8_t)(1u << v->what);
		if (v->what == IDCHECK_W_FRAMING)
			st->stopped = 1;
		return true;
	}
	out->bad = true;
	out->v = *v;
	return false;
}

/* One parse result at the current position: 1 to go on past m->len
 * bytes (then skip the body), 0 to stop. */
static int judge(struct idcheck_stream *st, const struct sipsec_ctl_identity *id,
		 const struct sip_msg *m, int err, const char *why,
		 struct idcheck_out *out, idcheck_report_fn report, void *arg)
{
	struct idcheck_verdict v = { 0 };

	if (err) {
		v.what = IDCHECK_W_FRAMING;
		snprintf(v.why, sizeof(v.why), "%s", why);
		return verdict(st, out, &v, report, arg) ? 1 : 0;
	}
	if (idcheck_msg(m, (enum idcheck_dir)st->dir, id, &v) == 0)
		return 1;
	return verdict(st, out, &v, report, arg) ? 1 : 0;
}

int idcheck_feed(struct idcheck_stream *st,
		 const struct sipsec_ctl_identity *id, const char *p,
		 size_t n, bool hold, struct idcheck_out *out,
		 idcheck_report_fn report, void *arg)
{
	struct sip_msg m;
	char why[128];
	size_t off = 0;
	int err;

	memset(out, 0, sizeof(*out));
	while (off < n && !st->stopped && st->mode != SIPSEC_IDCHECK_OFF) {
		if (st->skip) {
			size_t k = n - off < st->skip ? n - off : st->skip;

			off += k;
			st->skip -= k;
			continue;
		}
		if (st->len) {
			/* The rest of a head that began in an earlier call
			 * (hold: those bytes went on already). */
			size_t c = n - off, old = st->len;

			if (c > SIP_MAX_HEAD - old)
				c = SIP_MAX_HEAD - old;
			memcpy(st->head + old, p + off, c);
			st->len += c;
			if (!memchr(p + off, '\n', c) && st->len < SIP_MAX_HEAD) {
				off += c;
				continue;
			}
			err = sip_parse(st->head, st->len, SIP_STREAM_HEAD, &m,
					why, sizeof(why));
			if (err == -EAGAIN) {
				off += c;
				continue;
			}
			if (!judge(st, id, &m, err, why, out, report, arg)) {
				out->pass = off;
				idcheck_stream_free(st);
				return 0;
			}
			if (!err) {
				off += m.len - old;
				st->skip = m.body.n;
			} else {
				off = n;
			}
			idcheck_stream_free(st);
			continue;
		}
		err = sip_parse(p + off, n - off, SIP_STREAM_HEAD, &m, why,
				sizeof(why));
		if (err == -EAGAIN) {
			off += m.len; /* keep-alive CRLFs */
			if (off == n)
				break;
			if (!hold) {
				out->tail = n - off;
				n = off;
				break;
			}
			st->head = malloc(SIP_MAX_HEAD);
			if (!st->head) {
				out->pass = 0;
				return -ENOMEM;
			}
			st->len = n - off; /* < SIP_MAX_HEAD, or it would
					    * not be -EAGAIN */
			memcpy(st->head, p + off, st->len);
			off = n;
			continue;
		}
		if (!judge(st, id, &m, err, why, out, report, arg)) {
			out->pass = off;
			return 0;
		}
		if (err)
			break; /* log mode: stopped */
		off += m.len;
		st->skip = m.body.n;
	}
	out->pass = n;
	return 0;
}

void idcheck_describe(const struct idcheck_verdict *v, enum idcheck_dir dir,
		      const struct sipsec_ctl_identity *id, char *buf,
		      size_t len)
{
	size_t k;
	int r;

	if (v->what == IDCHECK_W_FRAMING)
		r = snprintf(buf, len, "%s stream: cannot check: %s",
			     dir == IDCHECK_SENT ? "sent" : "received", v->why);
	else if (v->why[0])
		r = snprintf(buf, len, "%s request: cannot check %s: %s%s%s%s",
			     dir == IDCHECK_SENT ? "sent" : "received",
			     what_names[v->what], v->why,
			     v->host[0] ? " ('" : "", v->host,
			     v->host[0] ? "')" : "");
	else
		r = snprintf(buf, len, "%s request: %s host '%s' is not the "
			     "peer's identity (", dir == IDCHECK_SENT ? "sent" :
			     "received", what_names[v->what], v->host);
	if (r < 0 || (size_t)r >= len)
		return;
	k = (size_t)r;
	if (v->what != IDCHECK_W_FRAMING && !v->why[0]) {
		for (size_t i = 0; i < id->n && i < SIPSEC_ID_MAX_NAMES &&
				   k < len; i++) {
			r = snprintf(buf + k, len - k, "%s%.*s", i ? ", " : "",
				     SIPSEC_ID_NAME_LEN - 1, id->names[i]);
			if (r < 0)
				return;
			k += (size_t)r;
		}
		if (k < len)
			snprintf(buf + k, len - k, "%s)", id->n ? "" : "none");
	}
}
