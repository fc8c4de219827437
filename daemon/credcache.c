// SPDX-License-Identifier: MIT
/*
 * The credential cache (framework draft 4.4): per next hop, what was
 * agreed with it and the TLS session to resume it with, for a bounded
 * time and in a bounded number of entries (least recently used goes
 * first).
 *
 * A next hop is the peer's TLS address with the identity its certificate
 * must prove (the policy's name, or its address): a session is only ever
 * offered to the identity it was verified for.
 *
 * Resumption skips the agreement only where both sides know it was made:
 * the server issues its TLS 1.3 ticket after the agreement, with the
 * agreed mechanism in the ticket's application data, and the client marks
 * a session it received during an agreement. A TLS 1.3 ticket is good for
 * one resumption (OpenSSL's client spends it), so a server that resumed an
 * agreement sends the next ticket at once; on the user-space path the
 * client's relay receives it, on the kernel path it reaches the program's
 * socket and the shim discards it, and the connection after next agrees
 * in full again. A resumed session without
 * both (a TLS 1.2 ticket, a standard SIPS server's ticket) runs the full
 * agreement, or none for a standard peer. Policy is checked again on
 * every use: a reload that no longer allows a cached mechanism refuses the
 * connection and drops the entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

#define TICKET_TAG 0x53 /* application data of a ticket after agreement */

struct cred {
	struct cred *prev, *next; /* most recently used first */
	struct sockaddr_storage peer;
	char name[80];
	uint8_t mech, keying; /* agreed; 0: no agreement (standard peer) */
	bool agreed_session; /* sess came with an agreement */
	SSL_SESSION *sess;
	uint64_t created_ms, expires_ms;
	uint32_t hits;
};

static struct cred *head, *tail;
static size_t n_creds;
static uint64_t (*clock_ms)(void) = now_ms;

void credcache_set_clock(uint64_t (*fn)(void))
{
	clock_ms = fn ? fn : now_ms;
}

static bool same_peer(const struct cred *e, const struct sockaddr_storage *p,
		      const char *name)
{
	return sipsec_sa_equal(&e->peer, p) && !strcmp(e->name, name);
}

static void unlink_cred(struct cred *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(struct cred *e)
{
	e->next = head;
	if (head)
		head->prev = e;
	head = e;
	if (!tail)
		tail = e;
}

static void drop(struct cred *e)
{
	unlink_cred(e);
	SSL_SESSION_free(e->sess);
	free(e);
	n_creds--;
}

static struct cred *lookup(const struct sockaddr_storage *peer,
			   const char *name, uint64_t now)
{
	for (struct cred *e = head, *next; e; e = next) {
		next = e->next;
		if (e->expires_ms <= now) {
			drop(e);
			continue;
		}
		if (same_peer(e, peer, name)) {
			unlink_cred(e);
			push_front(e);
			return e;
		}
	}
	return NULL;
}

/* The entry for a next hop, made (and the oldest evicted) if needed. */
static struct cred *get(struct daemon *d, const struct sockaddr_storage *peer,
			const char *name)
{
	uint64_t now = clock_ms();
	struct cred *e = lookup(peer, name, now);

	if (e)
		return e;
	if (!d->cfg->cache_size)
		return NULL;
	while (n_creds >= d->cfg->cache_size && tail)
		drop(tail);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->peer = *peer;
	sipsec_strlcpy(e->name, name, sizeof(e->name));
	e->created_ms = now;
	e->expires_ms = now + (uint64_t)d->cfg->cache_lifetime_s * 1000;
	push_front(e);
	n_creds++;
	return e;
}

int credcache_resume(struct conn *c)
{
	struct cred *e = lookup(&c->peer, c->expect, clock_ms());

	if (!e || !e->sess || tls_psk_expected(c->ssl))
		return 0;
	if (!SSL_SESSION_is_resumable(e->sess)) {
		log_debug("cache: the session for %s is spent", e->name);
		SSL_SESSION_free(e->sess);
		e->sess = NULL;
		return 0;
	}
	if (SSL_set_session(c->ssl, e->sess) != 1)
		return -EINVAL;
	return 1;
}

/* Called by OpenSSL with each session a server gives us (a TLS 1.3
 * ticket, or a TLS 1.2 session). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);
	struct cred *e;

	if (!c || !c->outgoing || !SSL_SESSION_is_resumable(sess))
		return 0;
	e = get(c->d, &c->peer, c->expect);
	if (!e)
		return 0;
	SSL_SESSION_free(e->sess);
	e->sess = sess; /* ours now: returning 1 keeps OpenSSL's reference */
	/* During an agreement, or on a connection that resumed one: the
	 * server put the outcome in this ticket. */
	e->agreed_session = c->state == CONN_AGREE || c->agreed == 2;
	return 1;
}

int credcache_agreed(struct conn *c)
{
	struct cred *e = lookup(&c->peer, c->expect, clock_ms());

	if (!e || !e->agreed_session || !SSL_session_reused(c->ssl) ||
	    !e->mech || tls_psk_expected(c->ssl))
		return 0;
	e->hits++;
	c->mech = e->mech;
	c->keying = e->keying;
	return 1;
}

void credcache_store(struct conn *c)
{
	struct cred *e = get(c->d, &c->peer, c->expect);

	if (!e)
		return;
	e->mech = c->mech;
	e->keying = c->keying;
}

void credcache_forget(struct conn *c)
{
	struct cred *e = lookup(&c->peer, c->expect, clock_ms());

	if (e)
		drop(e);
}

/* Server: the ticket issued after an agreement carries its outcome. */
static int ticket_gen(SSL *ssl, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);
	uint8_t data[3];

	(void)arg;
	data[0] = TICKET_TAG;
	if (c && c->agree && c->agree->step == 4) {
		data[1] = c->agree->choice.mech; /* just agreed */
		data[2] = c->agree->choice.keying;
	} else if (c && c->agreed == 2) {
		data[1] = c->mech; /* resumed: the next ticket */
		data[2] = c->keying;
	} else {
		return 1; /* a ticket without an agreement */
	}
	return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), data,
					       sizeof(data));
}

static SSL_TICKET_RETURN ticket_dec(SSL *ssl, SSL_SESSION *ss,
				    const unsigned char *keyname,
				    size_t keyname_len,
				    SSL_TICKET_STATUS status, void *arg)
{
	(void)ssl;
	(void)ss;
	(void)keyname;
	(void)keyname_len;
	(void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
		return SSL_TICKET_RETURN_USE;
	case SSL_TICKET_SUCCESS_RENEW:
		return SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_EMPTY:
	case SSL_TICKET_NO_DECRYPT:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	default:
		return SSL_TICKET_RETURN_ABORT;
	}
}

int credcache_ticket_agreed(struct conn *c)
{
	SSL_SESSION *sess = SSL_get0_session(c->ssl);
	const uint8_t *data = NULL;
	size_t len = 0;

	if (!SSL_session_reused(c->ssl) || !sess ||
	    SSL_SESSION_get0_ticket_appdata(sess, (void **)&data, &len) != 1 ||
	    len != 3 || data[0] != TICKET_TAG)
		return 0;
	c->mech = data[1];
	c->keying = data[2];
	return 1;
}

int credcache_issue_ticket(struct conn *c, bool flush)
{
	/* A PSK client is not resumed: OpenSSL reports an external PSK as
	 * a resumption, which would read as a cached agreement. */
	if (SSL_version(c->ssl) != TLS1_3_VERSION || tls_psk_expected(c->ssl))
		return 0;
	if (SSL_new_session_ticket(c->ssl) != 1)
		return -EIO;
	/* Sent with the next write, or now. */
	return !flush || SSL_do_handshake(c->ssl) == 1 ? 0 : -EIO;
}

void credcache_ctx_setup(SSL_CTX *ctx, bool server)
{
	if (server) {
		/* Tickets only after an agreement, with its outcome. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_ticket_cb(ctx, ticket_gen, ticket_dec,
					      NULL);
		return;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
					    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

void credcache_flush(void)
{
	while (head)
		drop(head);
}

int credcache_walk(int (*fn)(void *arg, const struct sipsec_ctl_cache *e,
			     bool last),
		   void *arg)
{
	uint64_t now = clock_ms();

	for (struct cred *e = head; e; e = e->next) {
		struct sipsec_ctl_cache o = { 0 };
		int err;

		sipsec_sa_to_ctl(&e->peer, &o.peer);
		sipsec_strlcpy(o.name, e->name, sizeof(o.name));
		o.mech = e->mech;
		o.keying = e->keying;
		o.resumable = e->sess != NULL;
		o.agreed_session = e->agreed_session;
		o.hits = e->hits;
		o.age_s = (uint32_t)((now - e->created_ms) / 1000);
		o.expires_in_s = e->expires_ms > now ?
			(uint32_t)((e->expires_ms - now) / 1000) : 0;
		err = fn(arg, &o, !e->next);
		if (err)
			return err;
	}
	return 0;
}

size_t credcache_count(void)
{
	return n_creds;
}

int credcache_lookup(const struct sockaddr_storage *peer, const char *name,
		     uint8_t *mech, uint8_t *keying)
{
	struct cred *e = lookup(peer, name, clock_ms());

	if (!e)
		return -ENOENT;
	*mech = e->mech;
	*keying = e->keying;
	return 0;
}
