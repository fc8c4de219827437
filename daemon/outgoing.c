// SPDX-License-Identifier: MIT
/*
 * Outgoing connections: the program called connect() to a SIP peer and
 * the shim handed its socket over (SIPSEC_CTL_CONNECT).
 *
 *   CONN_TCP        our own TCP connection to the peer's TLS port
 *   CONN_HANDSHAKE  TLS client handshake, peer identity checked
 *   CONN_PAIRING    the program's socket connected to the relay endpoint
 *   then the shim gets its reply and the program's connect() returns 0.
 *
 * On the kernel path (conn_choose_path) there is no second connection:
 * CONN_TCP and CONN_HANDSHAKE run on the program's own socket (our
 * duplicate of it, made non-blocking for the handshake; the program is
 * blocked in the shim's connect() meanwhile and gets its flags back),
 * connected to the peer's TLS port; ktls.c puts the record keys into it,
 * OpenSSL is freed without writing a byte, and only a record is kept.
 *
 * Any failure on the way closes the connection, and conn_close() answers
 * the shim with ECONNREFUSED: the program's connect() fails, nothing is
 * ever sent in cleartext.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

static uint16_t tls_port_for(const struct policy *eff, uint16_t sip_port)
{
	/* Unless policy names the peer's TLS port, SIP's convention:
	 * 5060 -> 5061 (RFC 3261 section 19.1.2). */
	return eff->tls_port ? eff->tls_port : (uint16_t)(sip_port + 1);
}

static int reply_pass(int client_fd, uint32_t seq)
{
	struct sipsec_ctl_connected r = { .path = SIPSEC_PATH_NONE,
					  .mech = SIPSEC_MECH_NONE };

	return sipsec_ctl_send(client_fd, SIPSEC_CTL_CONNECT, seq, 0, 0, &r,
			       sizeof(r), -1);
}

/* Our TLS client to c->peer (its TLS port): the program's own socket on
 * the kernel path (already in c->tls_fd), a new one otherwise. */
static int start_tls(struct conn *c, const struct policy *eff, char *why,
		     size_t wlen)
{
	socklen_t len = c->peer.ss_family == AF_INET ?
				sizeof(struct sockaddr_in) :
				sizeof(struct sockaddr_in6);
	char peer[64];
	SSL_CTX *ctx;
	int one = 1;

	ctx = tls_ctx_get(eff, false, c->kernel ? c->d->probe.ktls_suites : 0,
			  why, wlen);
	if (!ctx)
		return -ECONNREFUSED;
	if (c->tls_fd < 0)
		c->tls_fd = socket(c->peer.ss_family,
				   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->tls_fd < 0) {
		int err = errno;
		char note[96];

		if (err == EMFILE)
			snprintf(why, wlen, "socket: %s (%s)", strerror(err),
				 nofile_note(note, sizeof(note)));
		else
			snprintf(why, wlen, "socket: %s", strerror(err));
		return -err;
	}
	setsockopt(c->tls_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = tls_client_new(ctx, c->tls_fd, eff,
				(struct sockaddr *)&c->peer, c->expect,
				sizeof(c->expect));
	if (!c->ssl) {
		snprintf(why, wlen, "TLS setup: %s", tls_error_string());
		return -ECONNREFUSED;
	}
	SSL_set_app_data(c->ssl, c); /* ktls_keylog() finds us */
	if (c->kernel)
		agree_watch_records(c);
	/* A channel is agreed afresh: a resumed session would not tell
	 * the server which flow it is for. */
	if (c->flow == AGREE_FLOW_TCP && credcache_resume(c) < 0)
		log_debug("to %s: cached session not usable",
			  sipsec_sa_format((struct sockaddr *)&c->peer, peer,
					   sizeof(peer)));
	if (connect(c->tls_fd, (struct sockaddr *)&c->peer, len) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(why, wlen, "TCP connect: %s", strerror(errno));
		return -errno;
	}
	c->state = CONN_TCP;
	conn_watch(c, POLLOUT, 0);
	return 0;
}

int outgoing_start(struct daemon *d, int client_fd, uint32_t seq,
		   const struct sipsec_ctl_connect *req, int prog_fd,
		   uid_t uid)
{
	static const struct sock_expect want = { SOCK_STREAM, TCP_CLOSE };
	const struct policy *p;
	struct policy eff;
	struct conn *c = NULL;
	socklen_t len;
	char peer[64], why[256];
	int err, kernel;

	err = sock_check(prog_fd, &want, uid);
	if (err) {
		log_warnx("connect: refused a descriptor from uid %u: %s", uid,
			  strerror(-err));
		close(prog_fd);
		return err;
	}
	if (req->peer.family != AF_INET && req->peer.family != AF_INET6) {
		close(prog_fd);
		return -EAFNOSUPPORT;
	}
	c = conn_new(d, true);
	if (!c) {
		close(prog_fd);
		return -EBUSY;
	}
	c->prog_fd = prog_fd;
	c->flow = AGREE_FLOW_TCP;
	sipsec_ctl_to_sa(&req->peer, &c->peer, &len);
	sipsec_sa_format((struct sockaddr *)&c->peer, peer, sizeof(peer));
	p = policy_find(d->cfg, (struct sockaddr *)&c->peer);
	policy_effective(d->cfg, p ? p : policy_global(d->cfg), &eff);
	if (eff.require == MECH_NONE) {
		/* Cleartext was configured for this peer, explicitly. */
		log_info("to %s: policy [%s] allows cleartext", peer, eff.label);
		conn_close(c, NULL);
		return reply_pass(client_fd, seq);
	}
	if (eff.require != MECH_TLS) {
		snprintf(why, sizeof(why), "policy [%s] requires %s, which TCP "
			 "cannot carry here", eff.label, mech_name(
				 (unsigned)__builtin_ctz(eff.require)));
		goto refuse;
	}
	kernel = conn_choose_path(c, &eff, c->ktls_reason,
				  sizeof(c->ktls_reason));
	if (kernel < 0) {
		sipsec_strlcpy(why, c->ktls_reason, sizeof(why));
		goto refuse;
	}
	c->kernel = kernel == 1;
	c->reply_fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 3);
	if (c->reply_fd < 0) {
		snprintf(why, sizeof(why), "dup: %s", strerror(errno));
		goto refuse;
	}
	c->reply_seq = seq;
	sipsec_sa_set_port(&c->peer, tls_port_for(&eff, req->peer.port));
	if (c->kernel) {
		/* The program's own socket carries the TLS connection. */
		c->tls_fd = c->prog_fd;
		c->prog_fd = -1;
		c->prog_flags = fcntl(c->tls_fd, F_GETFL);
		if (c->prog_flags < 0 ||
		    fcntl(c->tls_fd, F_SETFL, c->prog_flags | O_NONBLOCK) < 0) {
			snprintf(why, sizeof(why), "fcntl: %s", strerror(errno));
			goto refuse;
		}
	}
	if (start_tls(c, &eff, why, sizeof(why)))
		goto refuse;
	return 0;
refuse:
	conn_close(c, why);
	return 0; /* answered by conn_close() */
}

int outgoing_channel(struct daemon *d, const struct sockaddr_storage *peer,
		     struct conn **out)
{
	const struct policy *p = policy_find(d->cfg, (struct sockaddr *)peer);
	struct policy eff;
	struct conn *c;
	char why[256];

	policy_effective(d->cfg, p ? p : policy_global(d->cfg), &eff);
	c = conn_new(d, true);
	if (!c)
		return -EBUSY;
	c->flow = AGREE_FLOW_UDP;
	c->peer = *peer;
	sipsec_sa_set_port(&c->peer, tls_port_for(&eff, sipsec_sa_port(
						(struct sockaddr *)peer)));
	sipsec_strlcpy(c->ktls_reason, "a UDP channel is relayed by sipsecd",
		       sizeof(c->ktls_reason));
	if (start_tls(c, &eff, why, sizeof(why))) {
		conn_close(c, why);
		return -ECONNREFUSED;
	}
	*out = c;
	return 0;
}

/* The handshake is done and the identity checked: connect the program's
 * socket to the relay and wait for the pair. */
static int start_pairing(struct conn *c, char *why, size_t wlen)
{
	socklen_t len = sizeof(c->local);
	int err;

	getsockname(c->tls_fd, (struct sockaddr *)&c->local, &len);
	tls_describe(c->ssl, c->tls_version, sizeof(c->tls_version),
		     c->cipher, sizeof(c->cipher));
	sipsec_strlcpy(c->peer_name, c->expect, sizeof(c->peer_name));
	c->name_verified = 1; /* SSL_set1_host / IP check passed */
	sipsec_strlcpy(c->path_reason, c->ktls_reason, sizeof(c->path_reason));
	err = relay_pair(c, c->prog_fd);
	if (err) {
		snprintf(why, wlen, "connecting the program to the relay: %s",
			 strerror(-err));
		return err;
	}
	c->state = CONN_PAIRING;
	conn_watch(c, 0, 0);
	return 0;
}

/* Kernel path: keys in the program's socket, its flags back, answer the
 * shim; from here on the daemon keeps a record only. */
static int finish_kernel(struct conn *c, char *why, size_t wlen)
{
	struct sipsec_ctl_connected r = { .mech = SIPSEC_MECH_TLS,
					  .path = SIPSEC_PATH_KERNEL };
	socklen_t len = sizeof(c->local);
	char peer[64];
	int err;

	getsockname(c->tls_fd, (struct sockaddr *)&c->local, &len);
	tls_describe(c->ssl, c->tls_version, sizeof(c->tls_version),
		     c->cipher, sizeof(c->cipher));
	sipsec_strlcpy(c->peer_name, c->expect, sizeof(c->peer_name));
	c->name_verified = 1;
	err = ktls_finish(c, c->tls_fd, why, wlen);
	if (err)
		return err;
	if (fcntl(c->tls_fd, F_SETFL, c->prog_flags) < 0) {
		snprintf(why, wlen, "fcntl: %s", strerror(errno));
		return -errno;
	}
	r.id = c->id;
	r.name_verified = c->name_verified;
	sipsec_sa_to_ctl(&c->local, &r.local);
	memcpy(r.peer_name, c->peer_name, sizeof(r.peer_name));
	r.ident = c->aux->ident;
	/* OpenSSL goes before the reply: once the program runs, nothing of
	 * ours may touch the socket. */
	ktls_release(c);
	err = sipsec_ctl_send(c->reply_fd, SIPSEC_CTL_CONNECT, c->reply_seq, 0,
			      0, &r, sizeof(r), -1);
	close(c->reply_fd);
	c->reply_fd = -1;
	if (err) {
		snprintf(why, wlen, "the program gave up waiting (%s)",
			 strerror(-err));
		return err;
	}
	conn_to_kernel(c);
	log_info("to %s: %s verified, %s %s, %s, kernel TLS (TX %s, RX %s)",
		 sipsec_sa_format((struct sockaddr *)&c->peer, peer,
				  sizeof(peer)), c->peer_name, c->tls_version,
		 c->cipher, agree_describe(c), c->ktls_tx ? "on" : "off",
		 c->ktls_rx ? "on" : "off");
	return 0;
}

/* Paired: answer the shim, hand the program its connection. */
static int finish(struct conn *c, char *why, size_t wlen)
{
	struct sipsec_ctl_connected r = { .id = c->id,
					  .mech = SIPSEC_MECH_TLS,
					  .path = SIPSEC_PATH_USERSPACE,
					  .name_verified = c->name_verified };
	char peer[64];
	int err;

	sipsec_sa_to_ctl(&c->local, &r.local);
	memcpy(r.peer_name, c->peer_name, sizeof(r.peer_name));
	r.ident = c->aux->ident;
	err = sipsec_ctl_send(c->reply_fd, SIPSEC_CTL_CONNECT, c->reply_seq, 0,
			      0, &r, sizeof(r), -1);
	close(c->reply_fd);
	c->reply_fd = -1;
	if (err) {
		snprintf(why, wlen, "the program gave up waiting (%s)",
			 strerror(-err));
		return err;
	}
	close(c->prog_fd);
	c->prog_fd = -1;
	relay_start(c);
	log_info("to %s: %s verified, %s %s, %s, user-space relay (kTLS %s)",
		 sipsec_sa_format((struct sockaddr *)&c->peer, peer,
				  sizeof(peer)), c->peer_name, c->tls_version,
		 c->cipher, agree_describe(c), c->path_reason);
	return 0;
}

/* Handshake (and agreement) done: hand over. @return 0, 1 when done
 * (kernel path), -errno. */
static int hand_over(struct conn *c, char *why, size_t wlen)
{
	struct policy eff;
	int err;

	/* While OpenSSL still holds the certificate: what the shim checks
	 * the program's requests against. */
	conn_policy(c, &eff);
	tls_peer_identity(c->ssl, &eff, &c->aux->ident);
	if (c->kernel) {
		err = finish_kernel(c, why, wlen);
		return err ? err : 1;
	}
	return start_pairing(c, why, wlen);
}

void outgoing_run(struct conn *c)
{
	char why[256] = "";
	uint32_t want = 0;
	socklen_t len;
	int err = 0, so = 0;

	switch (c->state) {
	case CONN_TCP:
		len = sizeof(so);
		if (getsockopt(c->tls_fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0)
			so = errno;
		if (so) {
			snprintf(why, sizeof(why), "TCP connect to the TLS port: "
				 "%s", strerror(so));
			err = -so;
			break;
		}
		c->state = CONN_HANDSHAKE;
		/* fall through */
	case CONN_HANDSHAKE:
		err = tls_handshake(c->ssl, &want, why, sizeof(why));
		if (err == -EAGAIN) {
			conn_watch(c, want, 0);
			return;
		}
		if (!err)
			err = agree_start(c, why, sizeof(why));
		if (err < 0)
			break;
		if (err == 0 && c->flow == AGREE_FLOW_UDP && !c->agreed) {
			snprintf(why, sizeof(why), "the peer is a standard SIPS "
				 "server (no sipsec/1): it cannot take SIP over "
				 "UDP in TLS");
			err = -ECONNREFUSED;
			break;
		}
		if (err == 0) {
			if (!c->mech)
				c->mech = SEC_MECH_TLS;
			goto hand_over;
		}
		/* fall through */
	case CONN_AGREE:
		err = agree_step(c, &want);
		if (err == -EAGAIN) {
			conn_watch(c, want, 0);
			return;
		}
		if (err) {
			snprintf(why, sizeof(why), "agreement with %.40s: %.190s",
				 c->expect, c->agree->why);
			credcache_forget(c);
			break;
		}
		c->mech = c->agree->choice.mech;
		c->keying = c->agree->choice.keying;
		c->spi_in = c->agree->spi_self;
		c->spi_out = c->agree->spi_peer;
		c->agreed = 1;
		agree_end(c);
		credcache_store(c);
		if (c->flow == AGREE_FLOW_UDP) {
			err = udp_chan_up(c, why, sizeof(why));
			break;
		}
	hand_over:
		err = hand_over(c, why, sizeof(why));
		if (err < 0 || err == 1 || c->plain_fd < 0)
			break;
		/* fall through */
	case CONN_PAIRING:
		if (c->plain_fd < 0)
			return; /* relay.c calls again when it is paired */
		err = finish(c, why, sizeof(why));
		if (!err)
			conn_run(c);
		return;
	default:
		return;
	}
	if (err < 0)
		conn_close(c, why);
}
