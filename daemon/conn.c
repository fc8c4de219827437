// SPDX-License-Identifier: MIT
/*
 * Protected connections: one struct conn from the first packet to the
 * last byte, whichever way it was opened (outgoing.c, incoming.c) and
 * whichever data path carries it (relay.c for the user-space path).
 *
 * Limits: at most max_connections connections, of which at most
 * max_pending before the data path is up; each pending one has a deadline
 * (handshake_timeout_ms) checked by a 100 ms timer, so a peer that stalls
 * or sends garbage costs one slot for a bounded time and never blocks
 * anyone else.
 *
 * On the kernel path the daemon keeps, once the socket is handed over,
 * only this struct (about 1 KB: addresses, names, suite; no descriptor,
 * no OpenSSL state, no buffers) for `sipsecctl status`. Holding a
 * descriptor would keep the TCP connection open after the program closed
 * it; instead a sock_diag lookup of the 4-tuple every few seconds tells
 * when the socket is gone and the record can go too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "sipsecd.h"
#include "enforce.h"

bool conn_is_up(const struct conn *c)
{
	return c->state == CONN_RELAY || c->state == CONN_KERNEL ||
	       c->state == CONN_CHANNEL;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *nofile_note(char *buf, size_t len)
{
	struct rlimit rl = { 0, 0 };

	getrlimit(RLIMIT_NOFILE, &rl);
	snprintf(buf, len, "open-file limit %llu; a user-space connection "
		 "takes 2 descriptors", (unsigned long long)rl.rlim_cur);
	return buf;
}

static void aux_free(struct conn *c)
{
	if (!c->aux)
		return;
	OPENSSL_cleanse(c->aux->rx_secret, sizeof(c->aux->rx_secret));
	free(c->aux);
	c->aux = NULL;
}

static void on_event(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct conn *c = arg;

	(void)l;
	if (c->state == CONN_RELAY)
		relay_ready(c, fd, ev);
	conn_run(c);
}

static void watch_one(struct conn *c, int fd, uint32_t *cur, uint32_t want)
{
	struct loop *l = c->d->loop;

	if (fd < 0 || *cur == want)
		return;
	if (!want)
		loop_del(l, fd);
	else if (!*cur)
		loop_add(l, fd, want, on_event, c);
	else
		loop_mod(l, fd, want);
	*cur = want;
}

void conn_watch(struct conn *c, uint32_t tls_events, uint32_t plain_events)
{
	watch_one(c, c->tls_fd, &c->tls_ev, tls_events);
	watch_one(c, c->plain_fd, &c->plain_ev, plain_events);
}

struct conn *conn_new(struct daemon *d, bool outgoing)
{
	struct conn *c;

	if (d->n_conns >= d->cfg->max_conns) {
		log_warnx("refusing a connection: %zu connections already "
			  "(max_connections)", d->n_conns);
		return NULL;
	}
	if (d->n_pending >= d->cfg->max_pending) {
		log_warnx("refusing a connection: %zu handshakes in progress "
			  "(max_pending)", d->n_pending);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->aux = calloc(1, sizeof(*c->aux));
	if (!c->aux) {
		free(c);
		return NULL;
	}
	c->d = d;
	c->id = ++d->next_id;
	c->outgoing = outgoing;
	c->tls_fd = c->plain_fd = c->prog_fd = -1;
	c->reply_fd = -1;
	c->created_ms = now_ms();
	c->deadline_ms = c->created_ms + d->cfg->handshake_timeout_ms;
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->n_conns++;
	d->n_pending++;
	return c;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The protected connection, mirrored into the enforcement layer's
 * associations map: operators see it with bpftool, and a drop on its
 * flow is flagged in the drop event. A full map costs the mirror only. */
static uint16_t local_port(const struct conn *c)
{
	return sipsec_sa_port((const struct sockaddr *)&c->local);
}

void conn_mirror(struct conn *c, uint8_t path)
{
	if (enforce_assoc_add(c->d->enf, (struct sockaddr *)&c->peer,
			      local_port(c), IPPROTO_TCP, c->id, SIPSEC_MECH_TLS,
			      path) == 0)
		c->mirrored = c->d->enf != NULL;
}

void conn_close(struct conn *c, const char *reason)
{
	struct daemon *d = c->d;
	char peer[64];

	sipsec_sa_format((struct sockaddr *)&c->peer, peer, sizeof(peer));
	if (reason)
		log_warnx("%s %s%s%s: %s", c->outgoing ? "to" : "from", peer,
			  c->expect[0] ? " " : "", c->expect, reason);
	else
		log_debug("%s %s closed: %llu bytes in, %llu out",
			  c->outgoing ? "to" : "from", peer,
			  (unsigned long long)c->bytes_in,
			  (unsigned long long)c->bytes_out);
	if (c->kernel && c->state != CONN_KERNEL && c->tls_fd >= 0) {
		/* The program's own socket, mid-handshake or with keys half
		 * installed: make it unusable, so that nothing the program
		 * writes next can leave in cleartext. */
		shutdown(c->tls_fd, SHUT_RDWR);
		if (c->outgoing)
			fcntl(c->tls_fd, F_SETFL, c->prog_flags);
	}
	if (c->reply_fd >= 0) {
		/* The program's connect() is still waiting: refuse it. */
		sipsec_ctl_send(c->reply_fd, SIPSEC_CTL_ERROR, c->reply_seq,
				-ECONNREFUSED, 0, NULL, 0, -1);
		close_fd(&c->reply_fd);
	}
	if (c->mirrored)
		enforce_assoc_del(c->d->enf, (struct sockaddr *)&c->peer,
				  local_port(c), IPPROTO_TCP);
	relay_forget(c);
	incoming_drop(c);
	conn_watch(c, 0, 0);
	if (c->ssl) {
		/* Shut down quietly on errors; a clean end already sent its
		 * close_notify in the relay. */
		SSL_free(c->ssl);
	}
	close_fd(&c->tls_fd);
	close_fd(&c->plain_fd);
	close_fd(&c->prog_fd);
	free(c->up);
	free(c->down);
	agree_end(c);
	udp_chan_free(c);
	aux_free(c);
	if (!conn_is_up(c))
		d->n_pending--;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_conns--;
	free(c);
}

void conn_run(struct conn *c)
{
	int rc;

	if (c->state == CONN_KERNEL)
		return;
	if (c->state == CONN_CHANNEL) {
		udp_chan_run(c);
		return;
	}
	if (c->state != CONN_RELAY) {
		if (c->outgoing)
			outgoing_run(c);
		else
			incoming_run(c);
		return;
	}
	rc = relay_pump(c);
	if (rc == 1)
		conn_close(c, NULL);
	else if (rc < 0)
		conn_close(c, strerror(-rc));
}

static void on_tick(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct daemon *d = arg;
	uint64_t n, now = now_ms();
	struct conn *c, *next;

	(void)l;
	(void)ev;
	if (read(fd, &n, sizeof(n)) < 0)
		return;
	discovery_tick(d, now);
	for (c = d->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_KERNEL) {
			if (now < c->check_ms)
				continue;
			c->check_ms = now + 5000;
			if (sockdiag_alive(&c->local, &c->peer, NULL, NULL) == 0)
				conn_close(c, NULL);
			continue;
		}
		if (c->state == CONN_CHANNEL) {
			if (udp_chan_idle(c, now))
				conn_close(c, NULL);
			continue;
		}
		if (c->state == CONN_RELAY) {
			if (c->linger_ms && now >= c->linger_ms)
				conn_close(c, "the peer did not close within "
					      "30 s of the program");
			continue;
		}
		if (now >= c->deadline_ms) {
			char why[96];

			snprintf(why, sizeof(why), "no %s within %u ms",
				 c->state == CONN_TCP ? "TCP connection" :
				 c->state == CONN_HANDSHAKE ? "TLS handshake" :
				 c->state == CONN_FETCH ? "fetch by the program" :
				 "hand-over to the program",
				 d->cfg->handshake_timeout_ms);
			conn_close(c, why);
		}
	}
}

int conn_init(struct daemon *d)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = 100 * 1000000 },
		.it_value = { .tv_nsec = 100 * 1000000 },
	};

	d->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->timer_fd < 0)
		return -errno;
	if (timerfd_settime(d->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	return loop_add(d->loop, d->timer_fd, POLLIN, on_tick, d);
}

void conn_exit(struct daemon *d)
{
	while (d->conns)
		conn_close(d->conns, NULL);
	if (d->timer_fd >= 0) {
		loop_del(d->loop, d->timer_fd);
		close(d->timer_fd);
		d->timer_fd = -1;
	}
}

void conn_policy(const struct conn *c, struct policy *eff)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
	const struct policy *p = NULL;
	bool known;

	/* A client that proved a PSK is the section that holds it. */
	if (c->psk_identity[0])
		p = policy_find_psk(c->d->cfg, sa, c->psk_identity, &known);
	if (!p)
		p = policy_find(c->d->cfg, sa);

	policy_effective(c->d->cfg, p ? p : policy_global(c->d->cfg), eff);
}

void conn_export(const struct conn *c, struct sipsec_ctl_conn *out)
{
	memset(out, 0, sizeof(*out));
	out->id = c->id;
	sipsec_sa_to_ctl(&c->local, &out->local);
	sipsec_sa_to_ctl(&c->peer, &out->peer);
	out->bytes_in = c->bytes_in;
	out->bytes_out = c->bytes_out;
	out->age_s = (uint32_t)((now_ms() - c->created_ms) / 1000);
	out->mech = c->mech ? c->mech : SIPSEC_MECH_TLS;
	out->agreed = c->agreed;
	out->keying = c->keying;
	out->flow = c->flow;
	out->path = c->state == CONN_RELAY || c->state == CONN_CHANNEL ?
			    SIPSEC_PATH_USERSPACE :
		    c->state == CONN_KERNEL ? SIPSEC_PATH_KERNEL :
					      SIPSEC_PATH_NONE;
	out->ktls_tx = c->ktls_tx;
	out->ktls_rx = c->ktls_rx;
	memcpy(out->ktls_reason, c->ktls_reason, sizeof(out->ktls_reason));
	out->name_verified = c->name_verified;
	out->outgoing = c->outgoing;
	memcpy(out->peer_name, c->peer_name, sizeof(out->peer_name));
	memcpy(out->tls_version, c->tls_version, sizeof(out->tls_version));
	memcpy(out->cipher, c->cipher, sizeof(out->cipher));
	if (c->state == CONN_CHANNEL)
		udp_chan_describe(c, out->path_reason,
				  sizeof(out->path_reason));
	else if (conn_is_up(c))
		memcpy(out->path_reason, c->path_reason,
		       sizeof(out->path_reason));
	else
		snprintf(out->path_reason, sizeof(out->path_reason),
			 "setting up");
}

int conn_choose_path(struct conn *c, const struct policy *eff, char *why,
		     size_t wlen)
{
	const struct probe_result *p = &c->d->probe;
	bool have = (p->features & SIPSEC_FEAT_KTLS) && p->ktls_suites;
	const char *no = !(p->features & SIPSEC_FEAT_KTLS) ? p->ktls :
			 "no (TLS_TX takes none of the TLS AEADs)";

	switch (eff->ktls) {
	case KTLS_OFF:
		snprintf(why, wlen, "off (policy [%s])", eff->label);
		return 0;
	case KTLS_REQUIRE:
		if (have)
			return 1;
		snprintf(why, wlen, "policy [%s] requires kTLS: %s",
			 eff->label, no);
		return -ECONNREFUSED;
	case KTLS_PREFER:
	default:
		if (have)
			return 1;
		snprintf(why, wlen, "%s", no);
		return 0;
	}
}

void conn_to_kernel(struct conn *c)
{
	conn_watch(c, 0, 0);
	ktls_release(c);
	aux_free(c);
	close_fd(&c->tls_fd);
	close_fd(&c->plain_fd);
	close_fd(&c->prog_fd);
	snprintf(c->path_reason, sizeof(c->path_reason), "TX %s, RX %s",
		 c->ktls_tx ? "on" : "off", c->ktls_rx ? "on" : "off");
	if (!conn_is_up(c))
		c->d->n_pending--;
	c->state = CONN_KERNEL;
	c->check_ms = now_ms() + 5000;
	conn_mirror(c, SIPSEC_PATH_KERNEL);
}
