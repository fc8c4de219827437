// SPDX-License-Identifier: MIT
/*
 * The agreement's messages, without I/O: what each side writes and what it
 * checks in what it reads (agree.c moves them over the TLS channel).
 *
 *   client                                         server
 *   OPTIONS  CSeq 1   Security-Client,         ->
 *                     X-SIP-SECURE-SUPPORTS
 *                                              <-  200  Security-Server,
 *                                                       X-SIP-SECURE-REQUIRES
 *   OPTIONS  CSeq 2   Security-Verify,         ->
 *                     X-SIP-SECURE-METHOD
 *                                              <-  200
 *
 * The server chooses (the draft's Requires); the client accepts the choice
 * only if its own policy allows it and the server listed it, and echoes
 * the server's list (RFC 3329's Security-Verify), which the server compares
 * with what it sent. A changed offer, list or choice therefore ends the
 * agreement on one side or the other, and refusal is the only outcome of
 * a disagreement: nothing falls back to cleartext. Inside TLS none of this
 * can be changed by the network; the checks hold a daemon to its word.
 *
 * Sipsec-Flow says what the channel is for: "tcp" (the program's TCP
 * connection travels in this TLS connection, so only tls fits).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>

#include "sipsecd.h"

/* Whether this side can key ESP in its kernel (keying exporter). */
static bool can_esp(const struct agree *a)
{
	return a->keyings & (1u << SEC_K_EXPORTER);
}

/* What this build can set up, per flow. A udp flow's datagrams ride in
 * the TLS channel between the two daemons (udp.c): mechanism tls; or,
 * where the kernel has ESP, ipsec keyed from that TLS session. */
static uint32_t flow_mechs(const struct agree *a)
{
	switch (a->flow) {
	case AGREE_FLOW_TCP:
		return 1u << SEC_MECH_TLS;
	case AGREE_FLOW_UDP:
		return 1u << SEC_MECH_TLS |
		       (can_esp(a) ? 1u << SEC_MECH_IPSEC : 0);
	default:
		return 0;
	}
}

/* Policy's require, for this flow: on a udp flow, 'tls' is also met by
 * ESP keyed from the daemons' TLS session (ipsec, keying exporter). */
static uint32_t flow_require(const struct agree *a)
{
	if (a->flow == AGREE_FLOW_UDP && can_esp(a) &&
	    a->require == 1u << SEC_MECH_TLS)
		return a->require | 1u << SEC_MECH_IPSEC;
	return a->require;
}

const char *agree_flow_name(uint8_t flow)
{
	switch (flow) {
	case AGREE_FLOW_TCP:
		return "tcp";
	case AGREE_FLOW_UDP:
		return "udp";
	default:
		return "?";
	}
}

/* Server: the flow the client asks for, if this host takes it. */
static int pick_flow(struct agree *a, const struct sip_header *h)
{
	static const uint8_t flows[] = { AGREE_FLOW_TCP, AGREE_FLOW_UDP };

	for (size_t i = 0; h && i < ARRAY_SIZE(flows); i++) {
		if (!sip_str_eq(h->value, agree_flow_name(flows[i])))
			continue;
		if (!(a->flows & flows[i])) {
			snprintf(a->why, sizeof(a->why), "no program here "
				 "takes SIP over %s there",
				 agree_flow_name(flows[i]));
			return -ENOENT;
		}
		a->flow = flows[i];
		return 0;
	}
	snprintf(a->why, sizeof(a->why), "no Sipsec-Flow this host knows");
	return -EPROTO;
}

static void rand_hex(char *out, size_t bytes)
{
	uint8_t r[16];

	if (bytes > sizeof(r))
		bytes = sizeof(r);
	if (RAND_bytes(r, (int)bytes) != 1)
		memset(r, 0x5a, bytes); /* only names a transaction */
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", r[i]);
}

/* Our mechanisms in preference order: the required ones first, then the
 * rest of 'allow' that this flow can use; on a udp flow the kernel's
 * ESP before datagrams in TLS. */
static size_t local_list(const struct agree *a, struct sec_mech *out)
{
	static const uint8_t tls_first[] = { SEC_MECH_TLS, SEC_MECH_IPSEC,
					     SEC_MECH_PRESHARED };
	static const uint8_t esp_first[] = { SEC_MECH_IPSEC, SEC_MECH_TLS,
					     SEC_MECH_PRESHARED };
	const uint8_t *order = a->flow == AGREE_FLOW_UDP ? esp_first :
							   tls_first;
	uint32_t can = a->allow & flow_mechs(a), require = flow_require(a);
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ARRAY_SIZE(tls_first); i++) {
			uint32_t bit = 1u << order[i];
			bool req = require & bit;

			if (!(can & bit) || req != (pass == 0))
				continue;
			sec_mech_make(&out[n], order[i],
				      order[i] == SEC_MECH_IPSEC ?
					      SEC_K_EXPORTER : SEC_K_DEFAULT);
			out[n].mutual = true; /* mutual TLS */
			out[n].q = (uint16_t)(1000 - 100 * n);
			out[n].has_q = true;
			n++;
		}
	}
	return n;
}

static int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *off)
		return -ENOSPC;
	*off += (size_t)n;
	return 0;
}

/* One header holding a list of mechanisms, in the grammar its name
 * belongs to: the draft's for X-SIP-SECURE-*, RFC 3329's otherwise. */
static int put_list(char *buf, size_t len, size_t *off, const char *name,
		    const struct sec_mech *m, size_t n)
{
	bool draft = !strncmp(name, "X-SIP-SECURE-", 13);
	char v[512];
	int r;

	r = draft ? secx_format(m, n, v, sizeof(v)) :
		    sec3329_format(m, n, v, sizeof(v));
	if (r < 0)
		return -ENOSPC;
	return put(buf, len, off, "%s: %s\r\n", name, v);
}

/* A list as the peer will read it in an RFC 3329 header (no M flag, q as
 * written): what its Security-Verify echo is compared with. */
static int as_sent_3329(struct sec_mech *m, size_t *n)
{
	char v[512], w[160];
	int r = sec3329_format(m, *n, v, sizeof(v));

	if (r < 0)
		return -ENOSPC;
	r = sec3329_parse(v, (size_t)r, m, SEC_MAX_MECHS, w, sizeof(w));
	if (r < 0)
		return -EINVAL;
	*n = (size_t)r;
	return 0;
}

static int request(struct agree *a, unsigned cseq, char *buf, size_t len)
{
	size_t off = 0;
	int err;

	err = put(buf, len, &off,
		  "OPTIONS sips:%s SIP/2.0\r\n"
		  "Via: SIP/2.0/TLS %s;branch=z9hG4bK%s%u\r\n"
		  "Max-Forwards: 0\r\n"
		  "From: <sips:%s>;tag=%s\r\n"
		  "To: <sips:%s>\r\n"
		  "Call-ID: %s\r\n"
		  "CSeq: %u OPTIONS\r\n"
		  "Supported: sec-agree\r\n"
		  "Require: sec-agree\r\n"
		  "Proxy-Require: sec-agree\r\n"
		  "Sipsec-Flow: %s\r\n"
		  "X-SIP-SECURE-FROM: %s\r\n"
		  "X-SIP-SECURE-TO: %s\r\n",
		  a->peer, a->self, a->call_id, cseq, a->self, a->tag,
		  a->peer, a->call_id, cseq, agree_flow_name(a->flow), a->self,
		  a->peer);
	if (err)
		return err;
	return (int)off;
}

static int finish(char *buf, size_t len, int off)
{
	size_t o = (size_t)off;
	int err = put(buf, len, &o, "Content-Length: 0\r\n\r\n");

	return err ? err : (int)o;
}

void agree_init(struct agree *a, bool server, uint8_t flow)
{
	memset(a, 0, sizeof(*a));
	a->server = server;
	a->flow = flow;
	if (!server) {
		rand_hex(a->call_id, 12);
		rand_hex(a->tag, 6);
	}
}

static bool offers_ipsec(const struct sec_mech *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].mech == SEC_MECH_IPSEC)
			return true;
	return false;
}

/* ESP needs our inbound SPI before the peer can key its outbound SA: it
 * rides in Sipsec-Spi (hex), inside TLS like the rest. */
static bool have_spi(struct agree *a)
{
	if (!a->spi_self && (!a->spi_alloc ||
			     a->spi_alloc(a->spi_arg, &a->spi_self))) {
		snprintf(a->why, sizeof(a->why), "no inbound SPI for ESP");
		return false;
	}
	return true;
}

static int put_spi(struct agree *a, char *buf, size_t len, size_t *off)
{
	return put(buf, len, off, "Sipsec-Spi: %08x\r\n", a->spi_self);
}

static int get_spi(struct agree *a, const struct sip_msg *m)
{
	const struct sip_header *h = NULL;
	char v[16];
	char *end;
	unsigned long x;

	while ((h = sip_find(m, SIP_H_OTHER, h)) &&
	       !sip_str_eq(h->name, "Sipsec-Spi"))
		;
	if (!h || !h->value.n || h->value.n >= sizeof(v)) {
		snprintf(a->why, sizeof(a->why), "ipsec without a Sipsec-Spi");
		return -EPROTO;
	}
	memcpy(v, h->value.p, h->value.n);
	v[h->value.n] = '\0';
	x = strtoul(v, &end, 16);
	if (*end || x < 256 || x > 0xffffffffUL) {
		snprintf(a->why, sizeof(a->why), "Sipsec-Spi '%s' is not an SPI",
			 v);
		return -EPROTO;
	}
	a->spi_peer = (uint32_t)x;
	return 0;
}

int agree_offer(struct agree *a, char *buf, size_t len)
{
	size_t off;
	int n;

	a->n_offer = local_list(a, a->offer);
	if (offers_ipsec(a->offer, a->n_offer) && !have_spi(a)) {
		/* No SPI: no ESP; datagrams in TLS remain. */
		log_warnx("agreement: %s: ipsec not offered", a->why);
		a->keyings = 0;
		a->n_offer = local_list(a, a->offer);
	}
	if (!a->n_offer) {
		snprintf(a->why, sizeof(a->why), "policy allows nothing this "
			 "flow can use (%s)", agree_flow_name(a->flow));
		return -ENOENT;
	}
	n = request(a, 1, buf, len);
	if (n < 0)
		return n;
	off = (size_t)n;
	if (put_list(buf, len, &off, "Security-Client", a->offer,
		     a->n_offer) ||
	    put_list(buf, len, &off, "X-SIP-SECURE-SUPPORTS", a->offer,
		     a->n_offer) ||
	    (offers_ipsec(a->offer, a->n_offer) &&
	     put_spi(a, buf, len, &off)))
		return -ENOSPC;
	a->step = 1;
	return finish(buf, len, (int)off);
}

/* A header's value, parsed with one of the two grammars. */
static int list_of(const struct sip_msg *m, enum sip_hdr id, bool x,
		   struct sec_mech *out, size_t *n, char *why, size_t wlen)
{
	const struct sip_header *h = sip_find(m, id, NULL);
	char w[160];
	int r;

	*n = 0;
	if (!h)
		return 0;
	if (sip_find(m, id, h)) {
		snprintf(why, wlen, "%.*s appears twice", (int)h->name.n,
			 h->name.p);
		return -EBADMSG;
	}
	r = x ? secx_parse_header(id == SIP_H_X_SECURE_REQUIRES ?
					  SECX_REQUIRES :
				  id == SIP_H_X_SECURE_METHOD ? SECX_METHOD :
								SECX_SUPPORTS,
				  h->value.p, h->value.n, out, SEC_MAX_MECHS,
				  w, sizeof(w)) :
		sec3329_parse(h->value.p, h->value.n, out, SEC_MAX_MECHS, w,
			      sizeof(w));
	if (r < 0) {
		snprintf(why, wlen, "%.*s: %.140s", (int)h->name.n > 30 ? 30 : (int)h->name.n,
			 h->name.p, w);
		return r;
	}
	*n = (size_t)r;
	return 1;
}

static bool same_mechs(const struct sec_mech *a, size_t na,
		       const struct sec_mech *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].mech != b[i].mech || a[i].keying != b[i].keying ||
		    (a[i].mech == SEC_MECH_OTHER &&
		     strcasecmp(a[i].name, b[i].name)))
			return false; /* known ones have a name per grammar */
	return true;
}

static bool in_list(const struct sec_mech *l, size_t n,
		    const struct sec_mech *m)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].mech == m->mech && l[i].keying == m->keying)
			return true;
	return false;
}

/* The first header of a name sipsec has no id for. */
static const struct sip_header *named(const struct sip_msg *m,
				      const char *name)
{
	const struct sip_header *h = NULL;

	while ((h = sip_find(m, SIP_H_OTHER, h)) && !sip_str_eq(h->name, name))
		;
	return h;
}

static bool has_token(const struct sip_msg *m, enum sip_hdr id,
		      const char *tok)
{
	for (const struct sip_header *h = sip_find(m, id, NULL); h;
	     h = sip_find(m, id, h)) {
		struct sip_str rest = h->value, item;

		while (sip_list_next(&rest, &item) == 1)
			if (sip_str_eq(item, tok))
				return true;
	}
	return false;
}

static int check_request(struct agree *a, const struct sip_msg *m,
			 unsigned cseq)
{
	const struct sip_header *h;
	char want[32];
	int r;

	if (!m->request || !sip_str_eq(m->method, "OPTIONS")) {
		snprintf(a->why, sizeof(a->why), "expected an OPTIONS");
		return -EPROTO;
	}
	h = sip_find(m, SIP_H_CSEQ, NULL);
	snprintf(want, sizeof(want), "%u OPTIONS", cseq);
	if (!h || !sip_str_eq(h->value, want)) {
		snprintf(a->why, sizeof(a->why), "expected CSeq %s", want);
		return -EPROTO;
	}
	if (!has_token(m, SIP_H_REQUIRE, "sec-agree")) {
		snprintf(a->why, sizeof(a->why), "no Require: sec-agree");
		return -EPROTO;
	}
	h = named(m, "Sipsec-Flow");
	if (a->server && !a->flow) {
		r = pick_flow(a, h);
		if (r)
			return r;
	}
	if (!h || !sip_str_eq(h->value, agree_flow_name(a->flow))) {
		snprintf(a->why, sizeof(a->why), "Sipsec-Flow is not '%s'",
			 agree_flow_name(a->flow));
		return -EPROTO;
	}
	h = sip_find(m, SIP_H_X_SECURE_FROM, NULL);
	if (!h || h->value.n >= sizeof(a->peer)) {
		snprintf(a->why, sizeof(a->why), "no X-SIP-SECURE-FROM");
		return -EPROTO;
	}
	if (cseq == 1) {
		memcpy(a->peer, h->value.p, h->value.n);
		a->peer[h->value.n] = '\0';
		h = sip_find(m, SIP_H_CALL_ID, NULL);
		if (!h || h->value.n >= sizeof(a->call_id)) {
			snprintf(a->why, sizeof(a->why), "no usable Call-ID");
			return -EPROTO;
		}
		memcpy(a->call_id, h->value.p, h->value.n);
		a->call_id[h->value.n] = '\0';
		r = 0;
	} else {
		h = sip_find(m, SIP_H_CALL_ID, NULL);
		r = h && sip_str_eq(h->value, a->call_id) ? 0 : -EPROTO;
		if (r)
			snprintf(a->why, sizeof(a->why), "Call-ID changed");
	}
	return r;
}

/* A response repeats the request's Via, From, To, Call-ID and CSeq. */
static int response(const struct sip_msg *req, int status, const char *reason,
		    const char *warning, char *buf, size_t len, size_t *off)
{
	static const enum sip_hdr copy[] = { SIP_H_VIA, SIP_H_FROM, SIP_H_TO,
					     SIP_H_CALL_ID, SIP_H_CSEQ };
	int err = put(buf, len, off, "SIP/2.0 %d %s\r\n", status, reason);

	for (size_t i = 0; !err && i < ARRAY_SIZE(copy); i++) {
		const struct sip_header *h = NULL;

		while (!err && (h = sip_find(req, copy[i], h)))
			err = put(buf, len, off, "%.*s: %.*s\r\n",
				  (int)h->name.n, h->name.p, (int)h->value.n,
				  h->value.p);
	}
	if (!err && warning)
		err = put(buf, len, off, "Warning: 399 sipsecd \"%s\"\r\n",
			  warning);
	return err;
}

static int refuse(struct agree *a, const struct sip_msg *req, int code,
		  const char *text, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	if (response(req, code, text, a->why, buf, len, &off))
		return -ENOSPC;
	n = finish(buf, len, (int)off);
	if (n < 0)
		return n;
	a->refused = true;
	return n;
}

int agree_answer(struct agree *a, const struct sip_msg *req, char *buf,
		 size_t len)
{
	struct sec_mech x[SEC_MAX_MECHS], choice;
	size_t nx = 0, off = 0;
	char w[160];
	int r;

	r = check_request(a, req, 1);
	if (r == -ENOENT)
		return refuse(a, req, 488, "Not Acceptable Here", buf, len);
	if (r)
		return req->request ? refuse(a, req, 400, "Bad Request", buf,
					     len) : r;
	r = list_of(req, SIP_H_SECURITY_CLIENT, false, a->offer, &a->n_offer,
		    w, sizeof(w));
	if (r >= 0)
		r = list_of(req, SIP_H_X_SECURE_SUPPORTS, true, x, &nx, w,
			    sizeof(w));
	if (r < 0) {
		snprintf(a->why, sizeof(a->why), "%s", w);
		return refuse(a, req, 400, "Bad Request", buf, len);
	}
	if (!a->n_offer && nx) {
		memcpy(a->offer, x, nx * sizeof(x[0]));
		a->n_offer = nx;
	}
	if (!a->n_offer) {
		snprintf(a->why, sizeof(a->why), "no Security-Client or "
			 "X-SIP-SECURE-SUPPORTS");
		return refuse(a, req, 494, "Security Agreement Required", buf,
			      len);
	}
	if (nx && !same_mechs(a->offer, a->n_offer, x, nx)) {
		snprintf(a->why, sizeof(a->why), "Security-Client and "
			 "X-SIP-SECURE-SUPPORTS offer different mechanisms");
		return refuse(a, req, 400, "Bad Request", buf, len);
	}
	if (a->id_ok && !a->id_ok(a->id_arg, a->peer)) {
		snprintf(a->why, sizeof(a->why), "X-SIP-SECURE-FROM '%s' is not "
			 "the identity the certificate or PSK proved", a->peer);
		return refuse(a, req, 403, "Forbidden", buf, len);
	}
	if (a->require && !(flow_require(a) & flow_mechs(a))) {
		snprintf(a->why, sizeof(a->why), "policy requires %s, which a "
			 "%s flow cannot use", sec_mech_name((uint8_t)
			 __builtin_ctz(a->require)), agree_flow_name(a->flow));
		return refuse(a, req, 488, "Not Acceptable Here", buf, len);
	}
	r = sec_select(a->offer, a->n_offer, a->allow & flow_mechs(a),
		       flow_require(a), a->keyings, &a->choice, w, sizeof(w));
	if (r) {
		snprintf(a->why, sizeof(a->why), "%s", w);
		return refuse(a, req, 488, "Not Acceptable Here", buf, len);
	}
	a->n_server = local_list(a, a->server_list);
	r = as_sent_3329(a->server_list, &a->n_server);
	if (r)
		return r;
	choice = a->choice;
	choice.mutual = false; /* the draft's Requires has no M flag */
	choice.has_q = false;
	if (a->choice.mech == SEC_MECH_IPSEC && get_spi(a, req))
		return refuse(a, req, 400, "Bad Request", buf, len);
	if (a->choice.mech == SEC_MECH_IPSEC && !have_spi(a))
		return refuse(a, req, 500, "Server Internal Error", buf, len);
	if (response(req, 200, "OK", NULL, buf, len, &off) ||
	    put_list(buf, len, &off, "Security-Server", a->server_list,
		     a->n_server) ||
	    put_list(buf, len, &off, "X-SIP-SECURE-REQUIRES", &choice,
		     1))
		return -ENOSPC;
	if (a->choice.mech == SEC_MECH_IPSEC && put_spi(a, buf, len, &off))
		return -ENOSPC;
	a->step = 2;
	return finish(buf, len, (int)off);
}

static int check_response(struct agree *a, const struct sip_msg *m,
			  unsigned cseq)
{
	const struct sip_header *h;
	char want[32];

	if (m->request) {
		snprintf(a->why, sizeof(a->why), "expected a response");
		return -EPROTO;
	}
	h = sip_find(m, SIP_H_CSEQ, NULL);
	snprintf(want, sizeof(want), "%u OPTIONS", cseq);
	if (!h || !sip_str_eq(h->value, want)) {
		snprintf(a->why, sizeof(a->why), "response for another CSeq");
		return -EPROTO;
	}
	if (m->status != 200) {
		const struct sip_header *wh = named(m, "Warning");

		snprintf(a->why, sizeof(a->why), "the peer refused: %d %.*s%s%.*s",
			 m->status, (int)m->reason.n, m->reason.p,
			 wh ? ": " : "", wh ? (int)wh->value.n : 0,
			 wh ? wh->value.p : "");
		return -EACCES;
	}
	return 0;
}

int agree_verify(struct agree *a, const struct sip_msg *resp, char *buf,
		 size_t len)
{
	struct sec_mech req[SEC_MAX_MECHS];
	size_t nreq = 0, off;
	char w[160];
	bool listed;
	int r;

	r = check_response(a, resp, 1);
	if (r)
		return r;
	r = list_of(resp, SIP_H_SECURITY_SERVER, false, a->server_list,
		    &a->n_server, w, sizeof(w));
	if (r >= 0)
		r = list_of(resp, SIP_H_X_SECURE_REQUIRES, true, req, &nreq, w,
			    sizeof(w));
	if (r < 0 || nreq != 1 || !a->n_server) {
		snprintf(a->why, sizeof(a->why), "%s", r < 0 ? w :
			 "the answer lacks Security-Server or a single "
			 "X-SIP-SECURE-REQUIRES");
		return -EPROTO;
	}
	a->choice = req[0];
	/* The choice must be ours to accept, whatever the answer says. */
	if (sec_select(&a->choice, 1, a->allow & flow_mechs(a),
		       flow_require(a), a->keyings, &a->choice, w, sizeof(w))) {
		snprintf(a->why, sizeof(a->why), "the peer requires %s, which "
			 "policy does not accept", sec_mech_name(a->choice.mech));
		return -EACCES;
	}
	listed = in_list(a->offer, a->n_offer, &a->choice) &&
		 in_list(a->server_list, a->n_server, &a->choice);
	if (!listed) {
		snprintf(a->why, sizeof(a->why), "the peer requires %s, which "
			 "is not in both lists", sec_mech_name(a->choice.mech));
		return -EACCES;
	}
	if (a->choice.mech == SEC_MECH_IPSEC && (r = get_spi(a, resp)))
		return r;
	r = request(a, 2, buf, len);
	if (r < 0)
		return r;
	off = (size_t)r;
	if (put_list(buf, len, &off, "Security-Verify", a->server_list,
		     a->n_server) ||
	    put_list(buf, len, &off, "X-SIP-SECURE-METHOD", &a->choice, 1))
		return -ENOSPC;
	a->step = 3;
	return finish(buf, len, (int)off);
}

int agree_confirm(struct agree *a, const struct sip_msg *req, char *buf,
		  size_t len)
{
	struct sec_mech ver[SEC_MAX_MECHS], meth[SEC_MAX_MECHS];
	size_t nver = 0, nmeth = 0, off = 0;
	char w[160];
	int r;

	r = check_request(a, req, 2);
	if (r)
		return req->request ? refuse(a, req, 400, "Bad Request", buf,
					     len) : r;
	r = list_of(req, SIP_H_SECURITY_VERIFY, false, ver, &nver, w,
		    sizeof(w));
	if (r >= 0)
		r = list_of(req, SIP_H_X_SECURE_METHOD, true, meth, &nmeth, w,
			    sizeof(w));
	if (r < 0) {
		snprintf(a->why, sizeof(a->why), "%s", w);
		return refuse(a, req, 400, "Bad Request", buf, len);
	}
	if (!sec_list_equal(ver, nver, a->server_list, a->n_server)) {
		snprintf(a->why, sizeof(a->why), "Security-Verify differs from "
			 "the Security-Server sent: changed on the way");
		return refuse(a, req, 494, "Security Agreement Required", buf,
			      len);
	}
	if (nmeth != 1 || meth[0].mech != a->choice.mech ||
	    meth[0].keying != a->choice.keying) {
		snprintf(a->why, sizeof(a->why), "X-SIP-SECURE-METHOD is not "
			 "the mechanism chosen: changed on the way");
		return refuse(a, req, 494, "Security Agreement Required", buf,
			      len);
	}
	if (response(req, 200, "OK", NULL, buf, len, &off))
		return -ENOSPC;
	a->step = 4;
	return finish(buf, len, (int)off);
}

int agree_done(struct agree *a, const struct sip_msg *resp)
{
	int r = check_response(a, resp, 2);

	if (!r)
		a->step = 4;
	return r;
}
