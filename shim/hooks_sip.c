// SPDX-License-Identifier: MIT
/*
 * The identity cross-check of the framework draft, section 4.5, on the
 * program's plaintext: each request the program sends must go to a host
 * the peer authenticated as (the first Route's, else the Request-URI's),
 * and each request it receives must come from one (From and every
 * P-Asserted-Identity). The names and the mode come from sipsecd with
 * the connection (struct sipsec_ctl_identity); the logic is in
 * common/idcheck.c. Responses are framed and passed.
 *
 * Every read and write hook is here. Fast path first: a descriptor with
 * no check (not ours, or policy says off) goes to the real call (the
 * kTLS-aware one for reads) after one table load, no lock.
 *
 * enforce, received: the call returns the bytes before the refused
 * request (zeroing the rest of the program's buffer), or fails with
 * ECONNRESET when there are none; later calls fail with ECONNRESET. A
 * head that spans calls is delivered as it arrives and checked when it
 * completes: the program may have a prefix of a refused request, never
 * all of it. MSG_PEEK checks a copy of the framing state.
 * enforce, sent: the call fails with EACCES and no byte of the refused
 * request is written (requests before it in the same call go out, and
 * the call returns their length). A head that does not complete in one
 * call is held, reported written, and sent with the call that completes
 * it once it is checked.
 * In both cases the connection is shut down (close_notify first on the
 * kernel path) and one line is logged.
 * log: everything passes; one line per connection and header kind.
 *
 * Each socket's state is shared by its descriptors (dup) and guarded by
 * one lock per direction, held across the real call so that the framing
 * follows the bytes in the order the kernel moved them.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "idcheck.h"
#include "sipsec.h"
#include "sipsec_ctl.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define FLUSH_MS 5000 /* bound of the blocking flush of a held head */

struct shim_idc {
	_Atomic int refs;
	pthread_mutex_t rx_lock, tx_lock;
	struct sipsec_ctl_identity id;
	struct sockaddr_storage peer; /* for the log */
	struct idcheck_stream rx, tx;
	char *held; /* enforce, sent: an incomplete head, not sent yet */
	size_t n_held;
	bool rx_refused, tx_refused;
};

struct shim_idc *shim_idc_new(const struct sipsec_ctl_identity *id,
			      const struct sockaddr_storage *peer)
{
	struct shim_idc *x;

	if (id->mode == SIPSEC_IDCHECK_OFF)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	pthread_mutex_init(&x->rx_lock, NULL);
	pthread_mutex_init(&x->tx_lock, NULL);
	x->id = *id;
	if (x->id.n > SIPSEC_ID_MAX_NAMES)
		x->id.n = SIPSEC_ID_MAX_NAMES;
	x->peer = *peer;
	x->rx = (struct idcheck_stream){ .dir = IDCHECK_RECEIVED,
					 .mode = id->mode };
	x->tx = (struct idcheck_stream){ .dir = IDCHECK_SENT,
					 .mode = id->mode };
	return x;
}

void shim_idc_ref(struct shim_idc *x)
{
	atomic_fetch_add(&x->refs, 1);
}

void shim_idc_put(struct shim_idc *x)
{
	if (atomic_fetch_sub(&x->refs, 1) != 1)
		return;
	idcheck_stream_free(&x->rx);
	idcheck_stream_free(&x->tx);
	free(x->held);
	pthread_mutex_destroy(&x->rx_lock);
	pthread_mutex_destroy(&x->tx_lock);
	free(x);
}

/* log mode: once per connection and header kind (idcheck_feed keeps the
 * bits), so a busy connection does not flood the log. */
static void report(void *arg, const struct idcheck_stream *st,
		   const struct idcheck_verdict *v)
{
	struct shim_idc *x = arg;
	char line[512], addr[64];

	idcheck_describe(v, (enum idcheck_dir)st->dir, &x->id, line,
			 sizeof(line));
	sipsec_sa_format((struct sockaddr *)&x->peer, addr, sizeof(addr));
	log_warnx("identity check (log only) with %s: %s", addr, line);
}

/* enforce: log, and shut the connection so that nothing more flows. */
static void refuse(const struct sfd *s, int fd, struct shim_idc *x,
		   enum idcheck_dir dir, const struct idcheck_verdict *v)
{
	char line[512];
	int saved = errno;

	idcheck_describe(v, dir, &x->id, line, sizeof(line));
	shim_log_once(dir == IDCHECK_SENT ? "identity check: a request to" :
		      "identity check: a request from",
		      (const struct sockaddr *)&x->peer,
		      dir == IDCHECK_SENT ? EACCES : ECONNRESET, line);
	x->rx_refused = x->tx_refused = true;
	if (s->ktls)
		shim_ktls_close_notify(fd);
	shutdown(fd, SHUT_RDWR);
	errno = saved;
}

/* ---- received ---------------------------------------------------- */

static void zero_from(const struct iovec *iov, int cnt, size_t from,
		      size_t to)
{
	size_t at = 0;

	for (int i = 0; i < cnt && at < to; i++) {
		size_t a = from > at ? from - at : 0;
		size_t e = to - at < iov[i].iov_len ? to - at : iov[i].iov_len;

		if (a < e)
			memset((char *)iov[i].iov_base + a, 0, e - a);
		at += iov[i].iov_len;
	}
}

/* n bytes arrived in iov: how many the program gets (-1 and errno). */
static ssize_t rx_check(const struct sfd *s, int fd, const struct iovec *iov,
			int cnt, ssize_t n, int flags)
{
	struct shim_idc *x = s->idc;
	struct idcheck_stream copy, *st = &x->rx;
	struct idcheck_out out = { 0 };
	bool peek = flags & MSG_PEEK;
	size_t at = 0, good = 0;
	int saved = errno;

	if (n <= 0 || st->stopped)
		return n;
	if (flags & MSG_TRUNC) {
		/* The bytes were discarded unseen: nothing to frame with. */
		out.bad = true;
		out.v.what = IDCHECK_W_FRAMING;
		snprintf(out.v.why, sizeof(out.v.why), "MSG_TRUNC discards "
			 "bytes unseen");
		if (st->mode == SIPSEC_IDCHECK_LOG) {
			report(x, st, &out.v);
			st->stopped = 1;
			return n;
		}
		goto bad;
	}
	if (peek) {
		/* Nothing to log twice, nothing to refuse under log. */
		if (st->mode == SIPSEC_IDCHECK_LOG)
			return n;
		copy = *st;
		copy.head = NULL;
		if (st->len) {
			copy.head = malloc(SIP_MAX_HEAD);
			if (!copy.head)
				return n; /* the real read checks them */
			memcpy(copy.head, st->head, st->len);
		}
		st = &copy;
	}
	for (int i = 0; i < cnt && at < (size_t)n; i++) {
		size_t k = (size_t)n - at < iov[i].iov_len ? (size_t)n - at :
							     iov[i].iov_len;

		if (idcheck_feed(st, &x->id, iov[i].iov_base, k, true, &out,
				 report, x) < 0) {
			out.bad = true;
			out.v.what = IDCHECK_W_FRAMING;
			snprintf(out.v.why, sizeof(out.v.why), "no memory "
				 "for a head split across reads");
		}
		if (out.bad) {
			good = at + out.pass;
			break;
		}
		at += k;
	}
	if (peek)
		idcheck_stream_free(&copy);
	if (!out.bad) {
		errno = saved;
		return n;
	}
	if (peek && good) {
		errno = saved;
		return good; /* the real read refuses what follows */
	}
bad:
	refuse(s, fd, x, IDCHECK_RECEIVED, &out.v);
	zero_from(iov, cnt, good, (size_t)n);
	if (good) {
		errno = saved;
		return (ssize_t)good;
	}
	errno = ECONNRESET;
	return -1;
}

#define RX(fd, s, iov, cnt, flags, call)                                 \
	do {                                                             \
		ssize_t n_;                                              \
		pthread_mutex_lock(&(s)->idc->rx_lock);                  \
		if ((s)->idc->rx_refused) {                              \
			pthread_mutex_unlock(&(s)->idc->rx_lock);        \
			errno = ECONNRESET;                              \
			return -1;                                       \
		}                                                        \
		n_ = (call);                                             \
		n_ = rx_check(s, fd, iov, cnt, n_, flags);               \
		pthread_mutex_unlock(&(s)->idc->rx_lock);                \
		return n_;                                               \
	} while (0)

/* A UDP SIP socket (hooks_udp.c): every receive is a recvmsg. */
static ssize_t udp_rx(struct sfd *s, int fd, const struct iovec *iov, int cnt,
		      int flags, struct sockaddr *from, socklen_t *flen)
{
	struct msghdr m = { .msg_name = from,
			    .msg_namelen = from && flen ? *flen : 0,
			    .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = cnt > 0 ? (size_t)cnt : 0 };
	ssize_t n = shim_udp_recvmsg(s, fd, &m, flags);

	if (n >= 0 && from && flen)
		*flen = m.msg_namelen;
	return n;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	struct sfd *s = fdtab_get(fd);
	struct iovec iov = { buf, len };

	if (s && s->kind == SFD_UDP)
		return udp_rx(s, fd, &iov, 1, 0, NULL, NULL);
	if (!s || !s->idc)
		return shim_ktls_read(fd, buf, len);
	RX(fd, s, &iov, 1, 0, shim_ktls_read(fd, buf, len));
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct sfd *s = fdtab_get(fd);
	struct iovec iov = { buf, len };

	if (s && s->kind == SFD_UDP)
		return udp_rx(s, fd, &iov, 1, flags, NULL, NULL);
	if (!s || !s->idc)
		return shim_ktls_recv(fd, buf, len, flags);
	RX(fd, s, &iov, 1, flags, shim_ktls_recv(fd, buf, len, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			struct sockaddr *from, socklen_t *flen)
{
	struct sfd *s = fdtab_get(fd);
	struct iovec iov = { buf, len };

	if (s && s->kind == SFD_UDP)
		return udp_rx(s, fd, &iov, 1, flags, from, flen);
	if (!s || !s->idc)
		return shim_ktls_recvfrom(fd, buf, len, flags, from, flen);
	RX(fd, s, &iov, 1, flags,
	   shim_ktls_recvfrom(fd, buf, len, flags, from, flen));
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct sfd *s = fdtab_get(fd);

	if (s && s->kind == SFD_UDP)
		return udp_rx(s, fd, iov, cnt, 0, NULL, NULL);
	if (!s || !s->idc)
		return shim_ktls_readv(fd, iov, cnt);
	RX(fd, s, iov, cnt, 0, shim_ktls_readv(fd, iov, cnt));
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	struct sfd *s = fdtab_get(fd);

	if (s && s->kind == SFD_UDP && m)
		return shim_udp_recvmsg(s, fd, m, flags);
	if (!s || !s->idc || !m)
		return shim_ktls_recvmsg(fd, m, flags);
	RX(fd, s, m->msg_iov, (int)m->msg_iovlen, flags,
	   shim_ktls_recvmsg(fd, m, flags));
}

/* ---- sent -------------------------------------------------------- */

enum tx_kind { TX_WRITE, TX_SEND, TX_SENDMSG };

struct tx_call {
	enum tx_kind kind;
	int flags;
	const struct sockaddr *to;
	socklen_t tolen;
	const struct msghdr *msg;
	const struct iovec *iov;
	int cnt;
};

/* The program's call as it asked (for the log mode, and a pass). */
static ssize_t tx_real(int fd, const struct tx_call *c)
{
	switch (c->kind) {
	case TX_WRITE:
		return c->cnt == 1 ? real.write(fd, c->iov[0].iov_base,
						c->iov[0].iov_len) :
				     real.writev(fd, c->iov, c->cnt);
	case TX_SEND:
		return real.sendto(fd, c->iov[0].iov_base, c->iov[0].iov_len,
				   c->flags, c->to, c->tolen);
	default:
		return real.sendmsg(fd, c->msg, c->flags);
	}
}

/* Only len bytes of p, with the call's flags and ancillary data. */
static ssize_t tx_part(int fd, const struct tx_call *c, const char *p,
		       size_t len)
{
	struct iovec iov = { (void *)p, len };
	struct msghdr m;

	switch (c->kind) {
	case TX_WRITE:
		return real.write(fd, p, len);
	case TX_SEND:
		return real.sendto(fd, p, len, c->flags, c->to, c->tolen);
	default:
		m = *c->msg;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		return real.sendmsg(fd, &m, c->flags);
	}
}

/* The held head's bytes were reported written: they go out whatever the
 * socket's blocking mode. Blocking here, bounded by FLUSH_MS, is the
 * price of the rare head split across writes. @return 0 or -errno. */
static int flush_all(int fd, const char *p, size_t len)
{
	struct timespec t0, t;
	size_t done = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < len) {
		ssize_t k = real.sendto(fd, p + done, len - done,
					MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
		long ms;

		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = FLUSH_MS - ((t.tv_sec - t0.tv_sec) * 1000 +
				 (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0)
			return -ETIMEDOUT;
		poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1,
		     (int)ms);
	}
	return 0;
}

/* log mode: send as asked, then frame what went. */
static ssize_t tx_log(struct shim_idc *x, int fd, const struct tx_call *c)
{
	struct idcheck_out out;
	ssize_t n = tx_real(fd, c);
	size_t at = 0;
	int saved = errno;

	for (int i = 0; n > 0 && i < c->cnt && at < (size_t)n; i++) {
		size_t k = (size_t)n - at < c->iov[i].iov_len ?
				   (size_t)n - at : c->iov[i].iov_len;

		if (idcheck_feed(&x->tx, &x->id, c->iov[i].iov_base, k, true,
				 &out, report, x) < 0)
			x->tx.stopped = 1; /* no memory: stop checking */
		at += k;
	}
	errno = saved;
	return n;
}

static ssize_t tx_enforce(struct sfd *s, int fd, const struct tx_call *c)
{
	struct shim_idc *x = s->idc;
	struct idcheck_stream snap = x->tx;
	struct idcheck_out out;
	size_t total = 0, u = x->n_held, all;
	char *data, *buf = NULL;
	ssize_t k, rc;
	int err;

	for (int i = 0; i < c->cnt; i++)
		total += c->iov[i].iov_len;
	if (!total)
		return tx_real(fd, c);
	if (!u && c->cnt == 1) {
		data = c->iov[0].iov_base; /* the common case: no copy */
	} else {
		buf = malloc(u + total);
		if (!buf) {
			errno = ENOBUFS;
			return -1;
		}
		memcpy(buf, x->held, u);
		all = u;
		for (int i = 0; i < c->cnt; i++) {
			memcpy(buf + all, c->iov[i].iov_base, c->iov[i].iov_len);
			all += c->iov[i].iov_len;
		}
		data = buf;
	}
	all = u + total;
	idcheck_feed(&x->tx, &x->id, data, all, false, &out, NULL, NULL);
	if (out.bad && !out.pass) {
		/* Nothing of the refused request is written, the held
		 * part of its head neither. */
		free(x->held);
		x->held = NULL;
		x->n_held = 0;
		refuse(s, fd, x, IDCHECK_SENT, &out.v);
		errno = EACCES;
		rc = -1;
		goto out;
	}
	if (!out.pass) {
		/* An incomplete head: held until the call that ends it. */
		if (!x->held && !(x->held = malloc(SIP_MAX_HEAD))) {
			errno = ENOBUFS;
			rc = -1;
			goto out;
		}
		memcpy(x->held + u, data + u, total); /* all < SIP_MAX_HEAD */
		x->n_held = all;
		rc = (ssize_t)total;
		goto out;
	}
	if (u) {
		err = flush_all(fd, data, out.pass);
		free(x->held);
		x->held = NULL;
		x->n_held = 0;
		if (err) {
			struct idcheck_verdict v = { .what = IDCHECK_W_FRAMING };

			snprintf(v.why, sizeof(v.why), "a held head could not "
				 "be sent: %s", strerror(-err));
			refuse(s, fd, x, IDCHECK_SENT, &v);
			errno = -err;
			rc = -1;
			goto out;
		}
		k = (ssize_t)out.pass;
	} else {
		k = tx_part(fd, c, data, out.pass);
		if (k < 0) {
			x->tx = snap; /* nothing went: as if not called */
			rc = -1;
			goto out;
		}
	}
	if ((size_t)k < out.pass) {
		/* A short write: the program gives the rest again, and
		 * those bytes are checked already. */
		x->tx.skip += out.pass - (size_t)k;
		rc = k;
		goto out;
	}
	rc = (ssize_t)(out.pass - u);
	if (out.tail && !out.bad) {
		x->held = malloc(SIP_MAX_HEAD);
		if (x->held) {
			memcpy(x->held, data + out.pass, out.tail);
			x->n_held = out.tail;
			rc = (ssize_t)total;
		}
	}
	/* out.bad: a short count; the next call starts with the refused
	 * request and fails. */
out:
	free(buf);
	return rc;
}

static ssize_t tx(struct sfd *s, int fd, const struct tx_call *c)
{
	struct shim_idc *x = s->idc;
	int saved = errno;
	ssize_t n;

	pthread_mutex_lock(&x->tx_lock);
	if (x->tx_refused) {
		/* We shut it down: the kernel's errno for that, without
		 * the SIGPIPE that could end a program not expecting it. */
		errno = EPIPE;
		n = -1;
	} else if (x->tx.stopped) {
		n = tx_real(fd, c);
	} else if (x->tx.mode == SIPSEC_IDCHECK_LOG) {
		n = tx_log(x, fd, c);
	} else {
		errno = saved;
		n = tx_enforce(s, fd, c);
		if (n >= 0)
			errno = saved;
	}
	pthread_mutex_unlock(&x->tx_lock);
	return n;
}

/* A UDP SIP socket (hooks_udp.c): every send is a sendmsg. */
static ssize_t udp_tx(struct sfd *s, int fd, const struct iovec *iov, int cnt,
		      int flags, const struct sockaddr *to, socklen_t tolen)
{
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
			    .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = cnt > 0 ? (size_t)cnt : 0 };

	return shim_udp_sendmsg(s, fd, &m, flags);
}

/* A send to a SIP port from a UDP socket the shim does not know yet
 * makes it ours (or fails, refused). @return false when refused. */
static bool udp_claim(int fd, const struct sockaddr *to, socklen_t tolen,
		      struct sfd **s)
{
	if (*s || !to)
		return true;
	if (shim_udp_claim(fd, to, tolen, s) == 0)
		return true;
	errno = EACCES;
	return false;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	struct sfd *s;
	struct iovec iov = { (void *)buf, len };

	shim_init();
	s = fdtab_get(fd);
	if (s && s->kind == SFD_UDP)
		return udp_tx(s, fd, &iov, 1, 0, NULL, 0);
	if (!s || !s->idc)
		return real.write(fd, buf, len);
	return tx(s, fd, &(struct tx_call){ .kind = TX_WRITE, .iov = &iov,
					    .cnt = 1 });
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct sfd *s;

	shim_init();
	s = fdtab_get(fd);
	if (s && s->kind == SFD_UDP)
		return udp_tx(s, fd, iov, cnt, 0, NULL, 0);
	if (!s || !s->idc || cnt <= 0 || !iov)
		return real.writev(fd, iov, cnt);
	return tx(s, fd, &(struct tx_call){ .kind = TX_WRITE, .iov = iov,
					    .cnt = cnt });
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct sfd *s;
	struct iovec iov = { (void *)buf, len };

	shim_init();
	s = fdtab_get(fd);
	if (s && s->kind == SFD_UDP)
		return udp_tx(s, fd, &iov, 1, flags, NULL, 0);
	if (!s || !s->idc)
		return real.send(fd, buf, len, flags);
	return tx(s, fd, &(struct tx_call){ .kind = TX_SEND, .iov = &iov,
					    .cnt = 1, .flags = flags });
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen)
{
	struct sfd *s;
	struct iovec iov = { (void *)buf, len };

	shim_init();
	s = fdtab_get(fd);
	if (!udp_claim(fd, to, tolen, &s))
		return -1;
	if (s && s->kind == SFD_UDP)
		return udp_tx(s, fd, &iov, 1, flags, to, tolen);
	if (!s || !s->idc)
		return real.sendto(fd, buf, len, flags, to, tolen);
	return tx(s, fd, &(struct tx_call){ .kind = TX_SEND, .iov = &iov,
					    .cnt = 1, .flags = flags,
					    .to = to, .tolen = tolen });
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	struct sfd *s;

	shim_init();
	s = fdtab_get(fd);
	if (m && !udp_claim(fd, m->msg_name, m->msg_namelen, &s))
		return -1;
	if (s && s->kind == SFD_UDP && m)
		return shim_udp_sendmsg(s, fd, m, flags);
	if (!s || !s->idc || !m || !m->msg_iov || !m->msg_iovlen)
		return real.sendmsg(fd, m, flags);
	return tx(s, fd, &(struct tx_call){ .kind = TX_SENDMSG, .msg = m,
					    .iov = m->msg_iov,
					    .cnt = (int)m->msg_iovlen,
					    .flags = flags });
}
