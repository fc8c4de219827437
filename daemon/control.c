// SPDX-License-Identifier: MIT
/*
 * The daemon's end of the control protocol (wire format: sipsec_ctl.h).
 *
 * Clients are the shim inside legacy programs and sipsecctl. Each is
 * checked once, at accept, by SO_PEERCRED against [control] allow_users /
 * allow_groups (root is always allowed). A client must say HELLO first; a
 * malformed message ends its connection, an unknown request gets an
 * ERROR reply. Descriptors are accepted only on requests that take one,
 * and are checked by sock_check() before use.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sipsecd.h"

#define MAX_CLIENTS 1024

struct client {
	struct daemon *d;
	int fd;
	struct ucred cred;
	uint16_t role;
	bool greeted;
};

bool control_cred_allowed(const struct config *cfg, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < cfg->n_allow_uids; i++)
		if (cfg->allow_uids[i] == uid)
			return true;
	for (size_t i = 0; i < cfg->n_allow_gids; i++)
		if (cfg->allow_gids[i] == gid)
			return true;
	return false;
}

static void client_close(struct client *c)
{
	loop_del(c->d->loop, c->fd);
	close(c->fd);
	c->d->n_clients--;
	free(c);
}

static int reply(struct client *c, uint16_t type, uint32_t seq,
		 int32_t status, uint16_t flags, const void *body, size_t len)
{
	int err;

	err = sipsec_ctl_send(c->fd, type, seq, status, flags, body, len, -1);
	if (err)
		log_debug("control: pid %d: reply failed: %s", c->cred.pid,
			  strerror(-err));
	return err;
}

static int on_hello(struct client *c, const struct sipsec_ctl_hdr *h,
		    const void *body, size_t len)
{
	struct sipsec_ctl_hello in, out = { 0 };

	if (len != sizeof(in))
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EBADMSG, 0, NULL, 0);
	memcpy(&in, body, sizeof(in));
	if (in.min_version > SIPSEC_CTL_VERSION ||
	    in.max_version < SIPSEC_CTL_VERSION) {
		log_warnx("control: pid %d speaks versions %u-%u, not %u",
			  c->cred.pid, in.min_version, in.max_version,
			  SIPSEC_CTL_VERSION);
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EPROTONOSUPPORT, 0,
			     NULL, 0);
	}
	c->greeted = true;
	c->role = in.role;
	out.min_version = out.max_version = SIPSEC_CTL_VERSION;
	snprintf(out.software, sizeof(out.software), "sipsecd %s",
		 SIPSEC_VERSION);
	return reply(c, SIPSEC_CTL_HELLO, h->seq, 0, 0, &out, sizeof(out));
}


struct status_to {
	struct client *c;
	uint32_t seq;
};

static int status_cache(void *arg, const struct sipsec_ctl_cache *e, bool last)
{
	struct status_to *to = arg;

	return reply(to->c, SIPSEC_CTL_STATUS_CACHE, to->seq, 0,
		     last ? 0 : SIPSEC_CTL_F_MORE, e, sizeof(*e)) ? -EIO : 0;
}

static int on_status(struct client *c, const struct sipsec_ctl_hdr *h,
		     size_t len)
{
	struct daemon *d = c->d;
	struct sipsec_ctl_status st = { 0 };

	if (len != 0)
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EBADMSG, 0, NULL, 0);
	st.pid = (uint32_t)getpid();
	st.uptime_s = (uint32_t)(time(NULL) - d->started);
	st.features = d->probe.features;
	st.n_conns = (uint32_t)d->n_conns;
	st.n_peers = (uint32_t)(d->cfg->n_pol - 1);
	st.config_loaded_at = (uint64_t)d->cfg->loaded_at;
	snprintf(st.software, sizeof(st.software), "sipsecd %s",
		 SIPSEC_VERSION);
	sipsec_strlcpy(st.loop_backend, loop_backend(d->loop), sizeof(st.loop_backend));
	sipsec_strlcpy(st.host_name, d->cfg->host_name, sizeof(st.host_name));
	sipsec_strlcpy(st.config_path, d->cfg->path, sizeof(st.config_path));
	sipsec_strlcpy(st.ktls_reason, d->probe.ktls, sizeof(st.ktls_reason));
	sipsec_strlcpy(st.esp_reason, d->probe.esp, sizeof(st.esp_reason));
	if (d->probe.features & SIPSEC_FEAT_ESP)
		snprintf(st.esp_reason, sizeof(st.esp_reason), "%.16s, %s",
			 d->probe.esp, esp_active(d) ? "in use for UDP" :
			 "not used (esp = off, no XFRM)");
	discovery_status(d, &st.disc);
	if (reply(c, SIPSEC_CTL_STATUS, h->seq, 0,
		  d->conns || credcache_count() ? SIPSEC_CTL_F_MORE : 0, &st,
		  sizeof(st)))
		return -EIO;
	for (struct conn *k = d->conns; k; k = k->next) {
		struct sipsec_ctl_conn e;

		/* The daemon never sees a kernel-path connection's bytes:
		 * ask the kernel's TCP counters at each status. */
		if (k->state == CONN_KERNEL)
			sockdiag_alive(&k->local, &k->peer, &k->bytes_in,
				       &k->bytes_out);
		conn_export(k, &e);
		if (reply(c, SIPSEC_CTL_STATUS_CONN, h->seq, 0,
			  k->next || credcache_count() ? SIPSEC_CTL_F_MORE : 0,
			  &e, sizeof(e)))
			return -EIO;
	}
	return credcache_walk(status_cache, &(struct status_to){ c, h->seq });
}

/* The SIP ports of every policy, so the shim can tell a SIP connect()
 * from any other without asking. */
static int on_policy(struct client *c, const struct sipsec_ctl_hdr *h)
{
	const struct config *cfg = c->d->cfg;
	struct sipsec_ctl_policy pol = {
		.handshake_timeout_ms = cfg->handshake_timeout_ms,
	};
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_pol; i++) {
		const struct policy *p = &cfg->pol[i];

		for (size_t j = 0; j < p->n_sip_ports; j++) {
			size_t k;

			for (k = 0; k < n; k++)
				if (pol.sip_ports[k] == p->sip_ports[j])
					break;
			if (k == n && n < ARRAY_SIZE(pol.sip_ports))
				pol.sip_ports[n++] = p->sip_ports[j];
		}
	}
	return reply(c, SIPSEC_CTL_POLICY, h->seq, 0, 0, &pol, sizeof(pol));
}

static int on_listen(struct client *c, const struct sipsec_ctl_hdr *h,
		     const void *body, size_t len)
{
	struct sipsec_ctl_listen req;
	int err;

	if (len != sizeof(req))
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EBADMSG, 0, NULL, 0);
	memcpy(&req, body, sizeof(req));
	err = incoming_listen(c->d, &req);
	return reply(c, err ? SIPSEC_CTL_ERROR : SIPSEC_CTL_LISTEN, h->seq,
		     err, 0, NULL, 0);
}

static int on_connect(struct client *c, const struct sipsec_ctl_hdr *h,
		      const void *body, size_t len, int rfd)
{
	struct sipsec_ctl_connect req;
	int err;

	if (len != sizeof(req) || rfd < 0) {
		if (rfd >= 0)
			close(rfd);
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EBADMSG, 0, NULL, 0);
	}
	memcpy(&req, body, sizeof(req));
	/* The reply comes later (outgoing.c), or now on an early refusal. */
	err = outgoing_start(c->d, c->fd, h->seq, &req, rfd, c->cred.uid);
	if (err)
		return reply(c, SIPSEC_CTL_ERROR, h->seq, err, 0, NULL, 0);
	return 0;
}

static int on_udp(struct client *c, const struct sipsec_ctl_hdr *h,
		  const void *body, size_t len, int rfd)
{
	struct sipsec_ctl_udp_ok ok;
	struct sipsec_ctl_udp req;
	int err;

	if (len != sizeof(req) || rfd < 0) {
		if (rfd >= 0)
			close(rfd);
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EBADMSG, 0, NULL, 0);
	}
	memcpy(&req, body, sizeof(req));
	err = udp_register(c->d, &req, rfd, c->cred.uid, &ok);
	if (err)
		return reply(c, SIPSEC_CTL_ERROR, h->seq, err, 0, NULL, 0);
	return reply(c, SIPSEC_CTL_UDP, h->seq, 0, 0, &ok, sizeof(ok));
}

static int on_fetch(struct client *c, const struct sipsec_ctl_hdr *h,
		    const void *body, size_t len)
{
	struct sipsec_ctl_fetch req;
	int err;

	if (len != sizeof(req))
		return reply(c, SIPSEC_CTL_ERROR, h->seq, -EBADMSG, 0, NULL, 0);
	memcpy(&req, body, sizeof(req));
	/* incoming.c answers with the socket attached, or not at all. */
	err = incoming_fetch(c->d, c->fd, h->seq, &req);
	if (err)
		return reply(c, SIPSEC_CTL_ERROR, h->seq, err, 0, NULL, 0);
	return 0;
}

/* Returns < 0 when the client must be dropped. */
static int handle(struct client *c, const char *buf, size_t n, int rfd)
{
	struct sipsec_ctl_hdr h;
	const char *body = buf + sizeof(h);
	size_t len = n - sizeof(h);

	memcpy(&h, buf, sizeof(h));
	if (rfd >= 0 && c->greeted && h.type == SIPSEC_CTL_CONNECT)
		return on_connect(c, &h, body, len, rfd);
	if (rfd >= 0 && c->greeted && h.type == SIPSEC_CTL_UDP)
		return on_udp(c, &h, body, len, rfd);
	if (rfd >= 0) {
		/* Only CONNECT and UDP take a descriptor; one that arrives with
		 * anything else is refused unused. */
		close(rfd);
		log_warnx("control: pid %d sent a descriptor with request %u",
			  c->cred.pid, h.type);
		reply(c, SIPSEC_CTL_ERROR, h.seq, -EBADMSG, 0, NULL, 0);
		return -EBADMSG;
	}
	if (!c->greeted && h.type != SIPSEC_CTL_HELLO) {
		reply(c, SIPSEC_CTL_ERROR, h.seq, -EPROTO, 0, NULL, 0);
		return -EPROTO;
	}
	switch (h.type) {
	case SIPSEC_CTL_HELLO:
		return on_hello(c, &h, body, len);
	case SIPSEC_CTL_STATUS:
		return on_status(c, &h, len);
	case SIPSEC_CTL_POLICY:
		return on_policy(c, &h);
	case SIPSEC_CTL_CONNECT:
		return on_connect(c, &h, body, len, -1);
	case SIPSEC_CTL_LISTEN:
		return on_listen(c, &h, body, len);
	case SIPSEC_CTL_FETCH:
		return on_fetch(c, &h, body, len);
	case SIPSEC_CTL_UDP:
		return on_udp(c, &h, body, len, -1);
	default:
		return reply(c, SIPSEC_CTL_ERROR, h.seq, -EOPNOTSUPP, 0, NULL,
			     0) ? -EIO : 0;
	}
}

static void on_client(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct client *c = arg;
	char buf[SIPSEC_CTL_MAX_MSG];
	ssize_t n;
	int rfd;

	(void)l;
	(void)revents;
	n = sipsec_ctl_recv(fd, buf, sizeof(buf), &rfd);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		if (n < 0)
			log_warnx("control: pid %d uid %d: %s; closing",
				  c->cred.pid, c->cred.uid,
				  n == -EMSGSIZE ? "message too long" :
				  n == -EBADMSG	 ? "malformed message" :
						   strerror((int)-n));
		client_close(c);
		return;
	}
	if (handle(c, buf, (size_t)n, rfd) < 0)
		client_close(c);
}

static void on_accept(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct daemon *d = arg;
	struct client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int cfd;

	(void)revents;
	cfd = loop_accept(l, fd, NULL, NULL, "control");
	if (cfd < 0) {
		if (cfd != -EAGAIN && cfd != -EINTR && cfd != -EMFILE &&
		    cfd != -ENFILE)
			log_warnx("control: accept: %s", strerror(-cfd));
		return;
	}
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("control: SO_PEERCRED");
		close(cfd);
		return;
	}
	if (!control_cred_allowed(d->cfg, cred.uid, cred.gid)) {
		log_warnx("control: refused pid %d uid %d gid %d: not root and "
			  "not in [control] allow_users / allow_groups",
			  cred.pid, cred.uid, cred.gid);
		close(cfd);
		return;
	}
	if (d->n_clients >= MAX_CLIENTS) {
		log_warnx("control: refused pid %d: %d clients already",
			  cred.pid, MAX_CLIENTS);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || loop_add(l, cfd, POLLIN, on_client, c)) {
		log_warnx("control: cannot take pid %d: out of memory",
			  cred.pid);
		free(c);
		close(cfd);
		return;
	}
	c->d = d;
	c->fd = cfd;
	c->cred = cred;
	d->n_clients++;
	log_debug("control: pid %d uid %d connected", cred.pid, cred.uid);
}

int control_open(struct daemon *d)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, err;

	err = sipsec_ctl_sockaddr(d->cfg->ctl_name, (struct sockaddr *)&ss,
				  &len);
	if (err)
		return err;
	fd = loop_listen(d->loop, SOCK_SEQPACKET, (struct sockaddr *)&ss, len,
			 128, on_accept, d);
	if (fd < 0)
		return fd;
	d->ctl_fd = fd;
	return 0;
}

void control_close(struct daemon *d)
{
	if (d->ctl_fd < 0)
		return;
	loop_del(d->loop, d->ctl_fd);
	close(d->ctl_fd);
	d->ctl_fd = -1;
}
