// SPDX-License-Identifier: MIT
/*
 * The agreement between two sipsec daemons, run inside the TLS connection
 * right after the handshake and before the hand-over (DESIGN.md,
 * "Agreement"). A client offers the ALPN protocol "sipsec/1" to every
 * peer; a sipsecd server selects it, a standard SIP-over-TLS server
 * ignores it, and then the connection is plain SIPS interop.
 *
 * agree_msg.c writes and checks the four messages; this file moves them
 * over the non-blocking TLS connection, one message per record each way.
 * On the kernel path the handshake's end is followed by these records, so
 * OpenSSL's record count from then on (counted in a message callback) is
 * the sequence number TLS 1.3 receive starts from. Each side reads
 * exactly one message at a time and never past it: the client hands over
 * only after the server's last answer, the server only after writing it,
 * so the programs' first bytes are always in later records.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sipsecd.h"

static const unsigned char alpn[] = "\x08" AGREE_ALPN;

static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
		if (in[i] == sizeof(alpn) - 2 && i + 1u + in[i] <= inlen &&
		    !memcmp(in + i + 1, alpn + 1, in[i])) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK; /* a standard SIPS client */
}

/* Records read after the handshake: on the kernel path, where TLS 1.3
 * receive starts. */
static void count_records(int write_p, int version, int type,
			  const void *buf, size_t len, SSL *ssl, void *arg)
{
	struct conn *c = arg;

	(void)version;
	(void)buf;
	(void)len;
	if (!write_p && type == SSL3_RT_HEADER && SSL_is_init_finished(ssl))
		c->rx_records++;
}

void agree_ctx_setup(SSL_CTX *ctx, bool server)
{
	if (server)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	else
		SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
}

void agree_watch_records(struct conn *c)
{
	SSL_set_msg_callback(c->ssl, count_records);
	SSL_set_msg_callback_arg(c->ssl, c);
}

bool agree_selected(SSL *ssl)
{
	const unsigned char *p = NULL;
	unsigned n = 0;

	SSL_get0_alpn_selected(ssl, &p, &n);
	return n == sizeof(alpn) - 2 && !memcmp(p, alpn + 1, n);
}

/* Server: the client's X-SIP-SECURE-FROM must be a name (or address) its
 * certificate holds, or the identity of the PSK it proved (draft 4.5). */
static bool client_named(void *arg, const char *name)
{
	X509 *crt = SSL_get0_peer_certificate(arg);
	const char *psk = tls_psk_identity(arg);

	if (psk)
		return !strcmp(name, psk);

	if (!crt)
		return false;
	if (X509_check_ip_asc(crt, name, 0) == 1)
		return true;
	return X509_check_host(crt, name, 0, 0, NULL) == 1;
}

/* Who we say we are (X-SIP-SECURE-FROM): a client over a PSK, the
 * identity of its key, which is what the server checks; else our host
 * name. */
static void self_name(struct conn *c, char *out, size_t len)
{
	const char *psk = c->outgoing ? tls_psk_identity(c->ssl) : NULL;

	if (psk) {
		sipsec_strlcpy(out, psk, len);
		return;
	}
	if (c->d->cfg->host_name[0]) {
		sipsec_strlcpy(out, c->d->cfg->host_name, len);
		return;
	}
	if (sipsec_sa_ip((struct sockaddr *)&c->local, out, len))
		sipsec_strlcpy(out, "unnamed", len);
}

/* What the policy for c's peer says now of a cached outcome. */
static int cached_ok(struct conn *c, char *why, size_t wlen)
{
	struct policy eff;
	uint32_t bit = 1u << c->mech;

	conn_policy(c, &eff);
	if (c->mech == SEC_MECH_TLS && (eff.allow & bit) &&
	    (!eff.require || (eff.require & bit)))
		return 0;
	snprintf(why, wlen, "the cached agreement (%s) is no longer what "
		 "policy [%s] accepts", sec_mech_name(c->mech), eff.label);
	return -EACCES;
}

static int begin(struct conn *c, const struct policy *eff)
{
	struct agree *a = calloc(1, sizeof(*a));
	int n;

	if (!a)
		return -ENOMEM;
	c->agree = a;
	agree_init(a, !c->outgoing, c->outgoing ? c->flow : 0);
	a->flows = c->flows;
	a->allow = eff->allow;
	a->require = eff->require;
	esp_agree_setup(c, a); /* ipsec for udp flows, where ESP is on */
	self_name(c, a->self, sizeof(a->self));
	if (c->outgoing) {
		const char *peer = c->expect;

		if (!strncmp(peer, "IP:", 3))
			peer += 3;
		sipsec_strlcpy(a->peer, peer, sizeof(a->peer));
		n = agree_offer(a, a->out, sizeof(a->out));
		if (n < 0)
			return n;
		a->out_len = (size_t)n;
		a->writing = true;
	} else {
		a->id_ok = client_named;
		a->id_arg = c->ssl;
	}
	return 0;
}

void agree_end(struct conn *c)
{
	free(c->agree);
	c->agree = NULL;
}

static int ssl_want(SSL *ssl, int rc, uint32_t *want, struct agree *a)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(a->why, sizeof(a->why), "the peer closed during the "
			 "agreement");
		return -ECONNRESET;
	default:
		snprintf(a->why, sizeof(a->why), "agreement I/O: %s",
			 tls_error_string());
		return -EIO;
	}
}

/* A whole message has been read: the next one to write, or the end. */
static int handle(struct agree *a, const struct sip_msg *m)
{
	int n;

	if (!a->server && a->step == 1)
		n = agree_verify(a, m, a->out, sizeof(a->out));
	else if (!a->server)
		return agree_done(a, m);
	else if (a->step == 0)
		n = agree_answer(a, m, a->out, sizeof(a->out));
	else
		n = agree_confirm(a, m, a->out, sizeof(a->out));
	if (n < 0)
		return n;
	a->out_len = (size_t)n;
	a->out_off = 0;
	a->writing = true;
	return -EINPROGRESS;
}

static int read_one(struct conn *c, uint32_t *want)
{
	struct agree *a = c->agree;
	struct sip_msg m;
	char w[160];
	int rc, err;

	for (;;) {
		if (a->in_len == sizeof(a->in)) {
			snprintf(a->why, sizeof(a->why), "agreement message "
				 "over %zu bytes", sizeof(a->in));
			return -EMSGSIZE;
		}
		rc = SSL_read(c->ssl, a->in + a->in_len,
			      (int)(sizeof(a->in) - a->in_len));
		if (rc <= 0)
			return ssl_want(c->ssl, rc, want, a);
		a->in_len += (size_t)rc;
		err = sip_parse(a->in, a->in_len, SIP_STREAM, &m, w, sizeof(w));
		if (err == -EAGAIN)
			continue;
		if (err) {
			snprintf(a->why, sizeof(a->why), "agreement message: "
				 "%s", w);
			return err;
		}
		if (m.len != a->in_len) {
			snprintf(a->why, sizeof(a->why), "%zu bytes after an "
				 "agreement message", a->in_len - m.len);
			return -EPROTO;
		}
		err = handle(a, &m);
		a->in_len = 0;
		/* The server's last answer carries a ticket with the
		 * outcome: the client can resume without agreeing again. */
		if (err == -EINPROGRESS && a->server && a->step == 4 &&
		    credcache_issue_ticket(c, false))
			log_debug("agreement: no ticket: %s", tls_error_string());
		return err;
	}
}

int agree_step(struct conn *c, uint32_t *want)
{
	struct agree *a = c->agree;
	int rc;

	for (;;) {
		if (!a->writing) {
			rc = read_one(c, want);
			if (rc != -EINPROGRESS)
				return rc;
			continue;
		}
		while (a->out_off < a->out_len) {
			rc = SSL_write(c->ssl, a->out + a->out_off,
				       (int)(a->out_len - a->out_off));
			if (rc <= 0)
				return ssl_want(c->ssl, rc, want, a);
			a->out_off += (size_t)rc;
		}
		a->writing = false;
		a->out_len = a->out_off = 0;
		if (a->refused)
			return -EACCES; /* a->why says why */
		if (a->server && a->step == 4)
			return 0;
	}
}

const char *agree_describe(const struct conn *c)
{
	switch (c->agreed) {
	case 1:
		return "tls agreed with the peer's sipsecd";
	case 2:
		return "tls agreement resumed from the cache";
	default:
		return "standard SIPS peer (no sipsec/1)";
	}
}

int agree_start(struct conn *c, char *why, size_t wlen)
{
	struct policy eff;
	int err;

	if (!agree_selected(c->ssl)) {
		c->mech = SEC_MECH_TLS; /* a standard SIPS peer */
		return 0;
	}
	/* A resumed session that carries an agreement: the client knows
	 * from its cache, the server from the ticket. */
	if (c->outgoing ? credcache_agreed(c) : credcache_ticket_agreed(c)) {
		c->agreed = 2;
		err = cached_ok(c, why, wlen);
		if (err && c->outgoing)
			credcache_forget(c);
		/* The ticket just used is spent: the next one, at once. */
		if (!err && !c->outgoing && credcache_issue_ticket(c, true))
			log_debug("resumed agreement: no new ticket: %s",
				  tls_error_string());
		return err;
	}
	conn_policy(c, &eff);
	err = begin(c, &eff);
	if (err) {
		snprintf(why, wlen, "agreement: %s",
			 c->agree && c->agree->why[0] ? c->agree->why :
							strerror(-err));
		return err;
	}
	c->state = CONN_AGREE;
	return 1;
}
