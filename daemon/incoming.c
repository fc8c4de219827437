// SPDX-License-Identifier: MIT
/*
 * Incoming connections: the program listens on a SIP port. Its shim let
 * the listen() happen on the program's own socket (so the program's epoll
 * registrations hold) with a socket filter that admits local connections
 * only, and told us (SIPSEC_CTL_LISTEN) the address and a secret. We
 * listen for TLS on the SIP port + 1 (5060 -> 5061) on the same address,
 * or on policy's tls_port.
 *
 *   CONN_HANDSHAKE  TLS server handshake, client certificate required
 *                   (or, for a peer with a psk, its TLS 1.3 external PSK)
 *   CONN_DELIVER    we connect to the program's socket over the local
 *                   host and open with a struct sipsec_preamble (secret,
 *                   real peer); the shim's accept() consumes it
 *   CONN_RELAY      user-space data path (relay.c)
 *
 * On the kernel path (conn_choose_path) the keys go into the accepted
 * socket after the handshake, and the preamble connection only rings the
 * doorbell (path KERNEL, our id): it wakes the program's accept() through
 * its listening socket, so the program's epoll on that socket keeps
 * working. The shim's accept() then fetches the kTLS socket itself
 * (SIPSEC_CTL_FETCH, with the listener's secret), puts it on the freshly
 * accepted descriptor number and closes the doorbell:
 *
 *   CONN_FETCH      the kTLS socket waits for the shim, until a deadline
 *   CONN_KERNEL     handed over; a record for status, no descriptor
 *
 * Handshakes run here, off the program's thread: a client that stalls or
 * sends garbage holds one pending slot until its deadline, and the
 * program's accept loop never sees it.
 *
 * A listener is forgotten when a delivery finds nobody listening
 * (ECONNREFUSED): the program closed its socket or exited. The shim does
 * not say so at close(): after fork() another process may still listen
 * on the same socket.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sipsecd.h"

struct listener {
	struct listener *next;
	struct daemon *d;
	int fd;
	struct sockaddr_storage bound; /* the program's SIP address */
	struct sockaddr_storage tls; /* ours */
	uint8_t secret[16];
	uint8_t flows; /* enum agree_flow bits: a TCP program listens, a
			* UDP program is bound (udp.c) */
	size_t users; /* connections still delivering to it */
	bool dead;
};

static void listener_put(struct daemon *d, struct listener *l)
{
	struct listener **pp;

	if (l->users || !l->dead)
		return;
	for (pp = &d->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	free(l);
}

/* The program is gone: stop taking TLS for it. */
static void listener_kill(struct daemon *d, struct listener *l)
{
	char a[64];

	if (l->dead)
		return;
	if (l->flows & AGREE_FLOW_UDP) {
		l->flows &= (uint8_t)~AGREE_FLOW_TCP; /* UDP still takes it */
		return;
	}
	log_info("listen: %s: the program no longer listens on port %u",
		 sipsec_sa_format((struct sockaddr *)&l->tls, a, sizeof(a)),
		 sipsec_sa_port((struct sockaddr *)&l->bound));
	loop_del(d->loop, l->fd);
	close(l->fd);
	l->fd = -1;
	l->dead = true;
	listener_put(d, l);
}

static void on_tls_accept(struct loop *lp, int fd, uint32_t ev, void *arg)
{
	struct listener *l = arg;
	struct daemon *d = l->d;
	const struct policy *p;
	struct policy eff;
	struct conn *c;
	socklen_t len;
	char why[256];
	SSL_CTX *ctx;
	int s, one = 1, kernel;

	(void)ev;
	s = loop_accept(lp, fd, NULL, NULL, "TLS listener");
	if (s < 0)
		return;
	/* One per wake-up: the level-triggered loop calls again while more
	 * wait, and other connections get their turn in between. */
	c = conn_new(d, false);
	if (!c) {
		close(s);
		return;
	}
	c->tls_fd = s;
	c->lst = l;
	/* Where ESP is on, any peer may agree keys for UDP here. */
	c->flows = l->flows | (esp_active(d) ? AGREE_FLOW_UDP : 0);
	l->users++;
	len = sizeof(c->peer);
	getpeername(s, (struct sockaddr *)&c->peer, &len);
	len = sizeof(c->local);
	getsockname(s, (struct sockaddr *)&c->local, &len);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p = policy_find(d->cfg, (struct sockaddr *)&c->peer);
	policy_effective(d->cfg, p ? p : policy_global(d->cfg), &eff);
	sipsec_strlcpy(c->expect, eff.name, sizeof(c->expect));
	kernel = conn_choose_path(c, &eff, c->ktls_reason,
				  sizeof(c->ktls_reason));
	if (kernel < 0) {
		conn_close(c, c->ktls_reason);
		return;
	}
	c->kernel = kernel == 1;
	ctx = tls_ctx_get(&eff, true, c->kernel ? d->probe.ktls_suites : 0,
			  why, sizeof(why));
	if (!ctx || !(c->ssl = tls_server_new(ctx, s)) ||
	    (eff.psk_len && tls_psk_server(c->ssl, &d->cfg,
					   (struct sockaddr *)&c->peer))) {
		conn_close(c, ctx ? "TLS setup failed" : why);
		return;
	}
	SSL_set_app_data(c->ssl, c); /* ktls_keylog() finds us */
	if (c->kernel)
		agree_watch_records(c);
	c->state = CONN_HANDSHAKE;
	conn_run(c);
}

/* The TLS listener for a program's SIP address, made if need be. */
static int listener_get(struct daemon *d, const struct sipsec_ctl_addr *bound,
			struct listener **out)
{
	const struct policy *g = policy_global(d->cfg);
	struct sockaddr_storage ss;
	struct listener *l;
	socklen_t len;
	char a[64];
	int err;

	if (bound->family != AF_INET && bound->family != AF_INET6)
		return -EAFNOSUPPORT;
	sipsec_ctl_to_sa(bound, &ss, &len);
	for (l = d->listeners; l; l = l->next) {
		if (!l->dead && !memcmp(&l->bound, &ss, sizeof(ss))) {
			*out = l;
			return 0;
		}
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->d = d;
	l->bound = ss;
	l->tls = l->bound;
	sipsec_sa_set_port(&l->tls, g->tls_port ? g->tls_port : bound->port + 1);
	l->fd = loop_listen(d->loop, SOCK_STREAM, (struct sockaddr *)&l->tls,
			    len, 1024, on_tls_accept, l);
	sipsec_sa_format((struct sockaddr *)&l->tls, a, sizeof(a));
	if (l->fd < 0) {
		err = l->fd;
		log_warnx("listen: TLS on %s for the program's port %u: %s", a,
			  bound->port, strerror(-err));
		free(l);
		return err;
	}
	l->next = d->listeners;
	d->listeners = l;
	log_info("listen: TLS on %s for the program on port %u", a,
		 bound->port);
	*out = l;
	return 0;
}

int incoming_listen(struct daemon *d, const struct sipsec_ctl_listen *req)
{
	struct listener *l;
	int err = listener_get(d, &req->bound, &l);

	if (err)
		return err;
	/* A program listening again (restarted, or another process on a
	 * shared port) takes over. */
	memcpy(l->secret, req->secret, sizeof(l->secret));
	l->flows |= AGREE_FLOW_TCP;
	return 0;
}

int incoming_listen_udp(struct daemon *d, const struct sipsec_ctl_addr *bound)
{
	struct listener *l;
	int err = listener_get(d, bound, &l);

	if (!err)
		l->flows |= AGREE_FLOW_UDP;
	return err;
}

void incoming_exit(struct daemon *d)
{
	for (struct listener *l = d->listeners; l; l = l->next)
		if (!l->dead) {
			loop_del(d->loop, l->fd);
			close(l->fd);
		}
	while (d->listeners) {
		struct listener *l = d->listeners;

		d->listeners = l->next;
		free(l);
	}
}

/* The identity a client proved: the name policy gives the section of
 * its PSK (proven by the key), or the name policy expects (checked), or
 * else its certificate's subject CN (chain verified, name unchecked). */
static int check_client(struct conn *c, char *why, size_t wlen)
{
	X509 *crt = SSL_get0_peer_certificate(c->ssl);
	const char *psk = tls_psk_identity(c->ssl);
	struct policy eff;
	int err;

	if (psk) {
		sipsec_strlcpy(c->psk_identity, psk, sizeof(c->psk_identity));
		conn_policy(c, &eff);
		tls_psk_name(&eff, c->peer_name, sizeof(c->peer_name));
		sipsec_strlcpy(c->expect, c->peer_name, sizeof(c->expect));
		c->name_verified = 1;
	} else if (c->expect[0]) {
		err = tls_check_client_name(c->ssl, c->expect, why, wlen);
		if (err)
			return err;
		sipsec_strlcpy(c->peer_name, c->expect, sizeof(c->peer_name));
		c->name_verified = 1;
	} else if (crt) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(crt),
					  NID_commonName, c->peer_name,
					  sizeof(c->peer_name));
	}
	/* What the certificate proved, for the shim's check of the
	 * requests the program receives. */
	conn_policy(c, &eff);
	tls_peer_identity(c->ssl, &eff, &c->aux->ident);
	tls_describe(c->ssl, c->tls_version, sizeof(c->tls_version),
		     c->cipher, sizeof(c->cipher));
	sipsec_strlcpy(c->path_reason, c->ktls_reason, sizeof(c->path_reason));
	return 0;
}

/* Starts our connection to the program's socket: to its own address, or
 * to loopback if it listens on the wildcard address. */
static int deliver_start(struct conn *c)
{
	struct sockaddr_storage to = c->lst->bound;
	socklen_t len;
	int s, one = 1;

	if (to.ss_family == AF_INET) {
		struct sockaddr_in *in = (void *)&to;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)&to;

		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	s = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&to, len) < 0 && errno != EINPROGRESS) {
		int err = -errno;

		close(s);
		return err;
	}
	c->plain_fd = s;
	return 0;
}

/* Connected: open with the preamble. 408 bytes on a fresh connection
 * fit in the socket buffer; anything less is an error. The identity
 * rides in it on both paths (the doorbell of the kernel path too). */
static int deliver_finish(struct conn *c)
{
	struct sipsec_preamble m = { .id = c->id, .mech = SIPSEC_MECH_TLS,
				     .path = c->kernel ? SIPSEC_PATH_KERNEL :
							 SIPSEC_PATH_USERSPACE,
				     .name_verified = c->name_verified };
	socklen_t len = sizeof(int);
	int so = 0;
	ssize_t n;

	if (getsockopt(c->plain_fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0)
		so = errno;
	if (so)
		return -so;
	memcpy(m.magic, SIPSEC_PREAMBLE_MAGIC, sizeof(m.magic));
	memcpy(m.secret, c->lst->secret, sizeof(m.secret));
	sipsec_sa_to_ctl(&c->peer, &m.peer);
	sipsec_sa_to_ctl(&c->local, &m.local);
	m.local.port = sipsec_sa_port((struct sockaddr *)&c->lst->bound);
	memcpy(m.peer_name, c->peer_name, sizeof(m.peer_name));
	m.ident = c->aux->ident;
	n = send(c->plain_fd, &m, sizeof(m), MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == sizeof(m) ? 0 : -EIO;
}

void incoming_run(struct conn *c)
{
	struct daemon *d = c->d;
	char why[256] = "", peer[64];
	uint32_t want = 0;
	int err = 0;

	switch (c->state) {
	case CONN_HANDSHAKE:
		err = tls_handshake(c->ssl, &want, why, sizeof(why));
		if (err == -EAGAIN) {
			conn_watch(c, want, 0);
			return;
		}
		if (!err)
			err = check_client(c, why, sizeof(why));
		if (!err)
			err = agree_start(c, why, sizeof(why));
		if (err < 0)
			break;
		if (err == 0)
			goto deliver;
		/* fall through */
	case CONN_AGREE:
		err = agree_step(c, &want);
		if (err == -EAGAIN) {
			conn_watch(c, want, 0);
			return;
		}
		if (err) {
			snprintf(why, sizeof(why), "agreement with %.40s: %.190s",
				 c->agree->peer[0] ? c->agree->peer :
				 "the client", c->agree->why);
			break;
		}
		c->mech = c->agree->choice.mech;
		c->keying = c->agree->choice.keying;
		c->spi_in = c->agree->spi_self;
		c->spi_out = c->agree->spi_peer;
		c->agreed = 1;
		c->flow = c->agree->flow;
		agree_end(c);
	deliver:
		if (!c->flow)
			c->flow = AGREE_FLOW_TCP; /* SIPS, or resumed */
		if (c->flow == AGREE_FLOW_UDP) {
			incoming_drop(c);
			err = udp_chan_up(c, why, sizeof(why));
			if (err)
				break;
			return;
		}
		if (!(c->lst->flows & AGREE_FLOW_TCP)) {
			snprintf(why, sizeof(why), "no program here takes SIP "
				 "over tcp on port %u",
				 sipsec_sa_port((struct sockaddr *)&c->lst->bound));
			err = -ECONNREFUSED;
			break;
		}
		if (c->kernel)
			err = ktls_finish(c, c->tls_fd, why, sizeof(why));
		if (!err && c->lst->dead)
			snprintf(why, sizeof(why), "the program no longer "
				 "listens"), err = -ECONNREFUSED;
		if (err)
			break;
		err = deliver_start(c);
		if (err) {
			snprintf(why, sizeof(why), "connecting to the program: "
				 "%s", strerror(-err));
			break;
		}
		c->state = CONN_DELIVER;
		conn_watch(c, 0, POLLOUT);
		return;
	case CONN_DELIVER:
		err = deliver_finish(c);
		if (err == -ECONNREFUSED) {
			listener_kill(d, c->lst);
			snprintf(why, sizeof(why), "the program no longer "
				 "listens");
			break;
		}
		if (err) {
			snprintf(why, sizeof(why), "hand-over to the program: "
				 "%s", strerror(-err));
			break;
		}
		if (c->kernel) {
			/* The doorbell has rung; the shim fetches the
			 * socket within the deadline or it is dropped. */
			ktls_release(c);
			conn_watch(c, 0, 0);
			close(c->plain_fd);
			c->plain_fd = -1;
			c->state = CONN_FETCH;
			c->deadline_ms = now_ms() + d->cfg->handshake_timeout_ms;
			return;
		}
		c->lst->users--;
		listener_put(d, c->lst);
		c->lst = NULL;
		relay_start(c);
		log_info("from %s: %s%s, %s %s, %s, user-space relay (kTLS %s)",
			 sipsec_sa_format((struct sockaddr *)&c->peer, peer,
					  sizeof(peer)),
			 c->peer_name[0] ? c->peer_name : "(no name)",
			 c->name_verified ? " verified" : " (chain verified)",
			 c->tls_version, c->cipher, agree_describe(c),
			 c->path_reason);
		conn_run(c);
		return;
	default:
		return;
	}
	conn_close(c, why);
}

/* conn_close() calls this for a connection that never got delivered. */
void incoming_drop(struct conn *c)
{
	if (!c->lst)
		return;
	c->lst->users--;
	listener_put(c->d, c->lst);
	c->lst = NULL;
}

int incoming_fetch(struct daemon *d, int client_fd, uint32_t seq,
		   const struct sipsec_ctl_fetch *req)
{
	struct conn *c;
	char peer[64];
	uint8_t diff = 0;
	int err;

	for (c = d->conns; c; c = c->next)
		if (c->id == req->id && c->state == CONN_FETCH && c->lst)
			break;
	if (!c)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(req->secret); i++)
		diff |= req->secret[i] ^ c->lst->secret[i];
	if (diff) {
		/* Only the listening program knows the secret. */
		log_warnx("fetch: wrong secret for connection %llu",
			  (unsigned long long)req->id);
		return -EACCES;
	}
	err = sipsec_ctl_send(client_fd, SIPSEC_CTL_FETCH, seq, 0, 0, NULL, 0,
			      c->tls_fd);
	if (err) {
		conn_close(c, "the program did not take its socket");
		return 0;
	}
	c->lst->users--;
	listener_put(d, c->lst);
	c->lst = NULL;
	conn_to_kernel(c);
	log_info("from %s: %s%s, %s %s, %s, kernel TLS (TX %s, RX %s)",
		 sipsec_sa_format((struct sockaddr *)&c->peer, peer,
				  sizeof(peer)),
		 c->peer_name[0] ? c->peer_name : "(no name)",
		 c->name_verified ? " verified" : " (chain verified)",
		 c->tls_version, c->cipher, agree_describe(c),
		 c->ktls_tx ? "on" : "off",
		 c->ktls_rx ? "on" : "off");
	return 0;
}
