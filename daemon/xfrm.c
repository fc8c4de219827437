// SPDX-License-Identifier: MIT
/*
 * The kernel's IPsec databases through XFRM netlink: requests on one
 * socket, ACQUIRE and EXPIRE events on a second one that the daemon's loop
 * watches (a multicast message arriving in the middle of a request's
 * answer would otherwise have to be queued by hand).
 *
 * Every failure returns -errno and writes a reason that names the cause
 * in terms an operator can act on ("no esp4 in this kernel"); no key ever
 * reaches a reason, a log line or a dump (request buffers holding a key
 * are wiped once sent).
 */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sipsecd.h"

#define DUMP_BUF 32768

struct xfrm {
	struct mnl_socket *nl, *ev;
	uint32_t seq, portid;
};

static const char *op_name(uint16_t type)
{
	switch (type) {
	case XFRM_MSG_NEWSA: return "adding an SA";
	case XFRM_MSG_UPDSA: return "updating an SA";
	case XFRM_MSG_DELSA: return "deleting an SA";
	case XFRM_MSG_ALLOCSPI: return "allocating an SPI";
	case XFRM_MSG_NEWPOLICY: return "adding a policy";
	case XFRM_MSG_DELPOLICY: return "deleting a policy";
	case XFRM_MSG_GETSA: return "listing SAs";
	case XFRM_MSG_GETPOLICY: return "listing policies";
	default: return "a request";
	}
}

/* The reason for err in an operation of type, named after its cause. */
static int fail(char *why, size_t wlen, uint16_t type, int err)
{
	const char *cause;

	switch (err) {
	case EPERM:
	case EACCES:
		cause = "needs CAP_NET_ADMIN in this network namespace";
		break;
	case EPROTONOSUPPORT:
	case ENOSYS:
		/* xfrm_get_type (no esp4/esp6) and the AEAD lookup both
		 * answer this way; the kernel does not say which. */
		cause = (type == XFRM_MSG_NEWSA || type == XFRM_MSG_UPDSA) ?
				"no esp4/esp6 or no " ESP_AEAD_NAME
				" in this kernel" :
				"not supported by this kernel";
		break;
	case EEXIST:
		cause = "it exists already";
		break;
	case ESRCH:
	case ENOENT:
		cause = "no such SA or policy";
		break;
	case ENOBUFS:
		cause = "events were lost (socket buffer full)";
		break;
	default:
		cause = strerror(err);
		break;
	}
	if (why && wlen)
		snprintf(why, wlen, "XFRM: %s: %s (%s)", op_name(type), cause,
			 strerrorname_np(err) ? strerrorname_np(err) : "?");
	return -err;
}

static int open_one(struct mnl_socket **out, unsigned groups, char *why,
		    size_t wlen)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_XFRM, SOCK_CLOEXEC);
	int err;

	if (!nl) {
		err = errno;
		if (err == EPROTONOSUPPORT && why && wlen) {
			snprintf(why, wlen, "XFRM: no XFRM netlink in this "
				 "kernel (xfrm_user not loaded or not built: "
				 "EPROTONOSUPPORT)");
			return -err;
		}
		if (why && wlen)
			snprintf(why, wlen, "XFRM: netlink socket: %s (%s)",
				 strerror(err), strerrorname_np(err));
		return -err;
	}
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		mnl_socket_close(nl);
		if (why && wlen)
			snprintf(why, wlen, "XFRM: %s: %s (%s)", groups ?
				 "subscribing to ACQUIRE and EXPIRE" :
				 "binding the netlink socket", err == EPERM ?
				 "needs CAP_NET_ADMIN" : strerror(err),
				 strerrorname_np(err));
		return -err;
	}
	*out = nl;
	return 0;
}

int xfrm_open(struct xfrm **out, bool events, char *why, size_t wlen)
{
	struct xfrm *x = calloc(1, sizeof(*x));
	int err;

	*out = NULL;
	if (!x)
		return -ENOMEM;
	err = open_one(&x->nl, 0, why, wlen);
	if (err)
		goto out;
	x->portid = mnl_socket_get_portid(x->nl);
	x->seq = (uint32_t)time(NULL);
	if (events) {
		/* bind() takes the old group bitmask: bit (group - 1). */
		err = open_one(&x->ev, 1u << (XFRMNLGRP_ACQUIRE - 1) |
					       1u << (XFRMNLGRP_EXPIRE - 1),
			       why, wlen);
		if (err)
			goto out;
		if (fcntl(mnl_socket_get_fd(x->ev), F_SETFL, O_NONBLOCK) < 0) {
			err = -errno;
			if (why && wlen)
				snprintf(why, wlen, "XFRM: O_NONBLOCK: %s",
					 strerror(-err));
			goto out;
		}
	}
	*out = x;
	x = NULL;
out:
	xfrm_close(x);
	return err;
}

void xfrm_close(struct xfrm *x)
{
	if (!x)
		return;
	if (x->nl)
		mnl_socket_close(x->nl);
	if (x->ev)
		mnl_socket_close(x->ev);
	free(x);
}

int xfrm_events_fd(const struct xfrm *x)
{
	return x && x->ev ? mnl_socket_get_fd(x->ev) : -1;
}

/* Send a request built in buf and run cb over the answer until the ACK,
 * the end of a dump, or an error. The buffer is wiped: it may hold a
 * key. */
static int request(struct xfrm *x, void *buf, int len, mnl_cb_t cb,
		   void *arg, char *why, size_t wlen)
{
	const struct nlmsghdr *nlh = buf;
	uint16_t type = nlh->nlmsg_type;
	uint32_t seq = nlh->nlmsg_seq;
	char *rbuf = NULL;
	int r, err = 0;
	ssize_t n;

	if (len < 0)
		return len;
	if (mnl_socket_sendto(x->nl, buf, (size_t)len) < 0) {
		err = fail(why, wlen, type, errno);
		goto out;
	}
	explicit_bzero(buf, (size_t)len);
	rbuf = malloc(DUMP_BUF);
	if (!rbuf) {
		err = -ENOMEM;
		goto out;
	}
	do {
		n = mnl_socket_recvfrom(x->nl, rbuf, DUMP_BUF);
		if (n < 0) {
			err = fail(why, wlen, type, errno);
			goto out;
		}
		r = mnl_cb_run(rbuf, (size_t)n, seq, x->portid, cb, arg);
		if (r < 0) {
			err = fail(why, wlen, type, errno);
			goto out;
		}
	} while (r == MNL_CB_OK); /* a dump goes on; ACK and DONE stop */
	if (cb && arg && *(int *)arg)
		err = *(int *)arg; /* a walk callback asked to stop */
out:
	explicit_bzero(buf, XFRM_MSG_MAX_LEN);
	if (rbuf) {
		explicit_bzero(rbuf, DUMP_BUF);
		free(rbuf);
	}
	return err;
}

static int ack_only(struct xfrm *x, int len, void *buf, char *why,
		    size_t wlen)
{
	return request(x, buf, len, NULL, NULL, why, wlen);
}

struct spi_ctx {
	int stop; /* first: request() reads it */
	uint32_t spi;
	bool got;
};

static int spi_cb(const struct nlmsghdr *nlh, void *data)
{
	struct spi_ctx *c = data;
	struct xfrm_sa_status st;

	if (xfrm_parse_sa(nlh, &st, 0) == 0) {
		c->spi = st.spi;
		c->got = true;
	}
	return MNL_CB_STOP;
}

int xfrm_spi_alloc(struct xfrm *x, const struct sockaddr *src,
		   const struct sockaddr *dst, uint32_t reqid,
		   uint32_t acq_seq, uint32_t *spi, char *why, size_t wlen)
{
	uint8_t buf[XFRM_MSG_MAX_LEN];
	struct spi_ctx c = { 0 };
	int err;

	err = request(x, buf, xfrm_msg_spi(buf, ++x->seq, src, dst, reqid,
					   acq_seq, why, wlen),
		      spi_cb, &c, why, wlen);
	if (err)
		return err;
	if (!c.got) {
		snprintf(why, wlen, "XFRM: allocating an SPI: the kernel "
			 "answered without one (EPROTO)");
		return -EPROTO;
	}
	*spi = c.spi;
	return 0;
}

static int sa_send(struct xfrm *x, uint16_t type, const struct esp_sa *sa,
		   char *why, size_t wlen)
{
	uint8_t buf[XFRM_MSG_MAX_LEN];

	return ack_only(x, xfrm_msg_sa(buf, type, ++x->seq, sa, why, wlen),
			buf, why, wlen);
}

int xfrm_sa_add(struct xfrm *x, const struct esp_sa *sa, char *why,
		size_t wlen)
{
	int err = sa_send(x, XFRM_MSG_NEWSA, sa, why, wlen);

	return err == -EEXIST ? 1 : err;
}

int xfrm_sa_update(struct xfrm *x, const struct esp_sa *sa, char *why,
		   size_t wlen)
{
	return sa_send(x, XFRM_MSG_UPDSA, sa, why, wlen);
}

int xfrm_sa_del(struct xfrm *x, const struct sockaddr *dst, uint32_t spi,
		char *why, size_t wlen)
{
	uint8_t buf[XFRM_MSG_MAX_LEN];

	return ack_only(x, xfrm_msg_sa_del(buf, ++x->seq, dst, spi, why,
					   wlen),
			buf, why, wlen);
}

int xfrm_policy_add(struct xfrm *x, const struct xfrm_sp *sp, char *why,
		    size_t wlen)
{
	uint8_t buf[XFRM_MSG_MAX_LEN];
	int err;

	/* NEWPOLICY is exclusive: a policy found after a restart is kept
	 * as it is, never doubled. */
	err = ack_only(x, xfrm_msg_policy(buf, XFRM_MSG_NEWPOLICY, ++x->seq,
					  sp, why, wlen),
		       buf, why, wlen);
	return err == -EEXIST ? 1 : err;
}

int xfrm_policy_del(struct xfrm *x, const struct xfrm_sp *sp, char *why,
		    size_t wlen)
{
	uint8_t buf[XFRM_MSG_MAX_LEN];

	return ack_only(x, xfrm_msg_policy(buf, XFRM_MSG_DELPOLICY, ++x->seq,
					   sp, why, wlen),
			buf, why, wlen);
}

struct walk {
	int stop; /* first: request() reads it */
	int (*sa_fn)(void *arg, const struct xfrm_sa_status *st);
	int (*sp_fn)(void *arg, const struct xfrm_sp *sp);
	void *arg;
	time_t now;
	bool larval; /* SAs with an SPI but no algorithm yet too */
};

static int walk_cb(const struct nlmsghdr *nlh, void *data)
{
	struct walk *w = data;

	/* After a stop the dump is read to its end all the same: what is
	 * left on the socket would be taken for the next request's answer. */
	if (w->stop)
		return MNL_CB_OK;
	if (w->sa_fn) {
		struct xfrm_sa_status st;

		/* Larval SAs (an ACQUIRE's, an allocated SPI's) have no
		 * algorithm yet; they are the kernel's, not ours to show. */
		if (xfrm_parse_sa(nlh, &st, w->now) < 0 ||
		    !XFRM_IS_SIPSEC(st.reqid) || !st.spi ||
		    (!st.icv_bits && !w->larval))
			return MNL_CB_OK;
		w->stop = w->sa_fn(w->arg, &st);
	} else {
		struct xfrm_sp sp;

		if (xfrm_parse_policy(nlh, &sp) < 0 ||
		    !(XFRM_IS_SIPSEC(sp.reqid) ||
		      (sp.bypass && sp.priority == XFRM_PRIO_BYPASS)))
			return MNL_CB_OK;
		w->stop = w->sp_fn(w->arg, &sp);
	}
	return MNL_CB_OK;
}

static int dump(struct xfrm *x, uint16_t type, struct walk *w, char *why,
		size_t wlen)
{
	uint8_t buf[XFRM_MSG_MAX_LEN];
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++x->seq;
	w->now = time(NULL);
	return request(x, buf, (int)nlh->nlmsg_len, walk_cb, w, why, wlen);
}

int xfrm_dump_sas(struct xfrm *x,
		  int (*fn)(void *arg, const struct xfrm_sa_status *st),
		  void *arg, char *why, size_t wlen)
{
	struct walk w = { .sa_fn = fn, .arg = arg };

	return dump(x, XFRM_MSG_GETSA, &w, why, wlen);
}

int xfrm_dump_policies(struct xfrm *x,
		       int (*fn)(void *arg, const struct xfrm_sp *sp),
		       void *arg, char *why, size_t wlen)
{
	struct walk w = { .sp_fn = fn, .arg = arg };

	return dump(x, XFRM_MSG_GETPOLICY, &w, why, wlen);
}

/* Deleting inside a dump's callback would change the table under the
 * dump; collect first, then delete. */
#define FLUSH_MAX 4096

struct collect {
	struct xfrm_sa_status *sa;
	struct xfrm_sp *sp;
	size_t n;
};

static int collect(struct collect *c, void *to, const void *from,
		   size_t size)
{
	if (c->n == FLUSH_MAX)
		return -E2BIG;
	memcpy((uint8_t *)to + c->n++ * size, from, size);
	return 0;
}

static int collect_sa(void *arg, const struct xfrm_sa_status *st)
{
	return collect(arg, ((struct collect *)arg)->sa, st, sizeof(*st));
}

static int collect_sp(void *arg, const struct xfrm_sp *sp)
{
	return collect(arg, ((struct collect *)arg)->sp, sp, sizeof(*sp));
}

int xfrm_flush(struct xfrm *x, char *why, size_t wlen)
{
	struct collect c = { 0 };
	struct walk w;
	int err;

	c.sa = calloc(FLUSH_MAX, sizeof(*c.sa));
	c.sp = calloc(FLUSH_MAX, sizeof(*c.sp));
	if (!c.sa || !c.sp) {
		err = -ENOMEM;
		goto out;
	}
	/* Policies first: with SAs gone and policies left, the flows stop
	 * (level required) instead of leaking. */
	err = xfrm_dump_policies(x, collect_sp, &c, why, wlen);
	for (size_t i = 0; !err && i < c.n; i++) {
		err = xfrm_policy_del(x, &c.sp[i], why, wlen);
		if (err == -ENOENT || err == -ESRCH)
			err = 0;
	}
	if (err)
		goto out;
	c.n = 0;
	/* An allocated SPI's larval SA too; an ACQUIRE's (SPI 0) expires
	 * by itself and cannot be named in a DELSA. */
	w = (struct walk){ .sa_fn = collect_sa, .arg = &c, .larval = true };
	err = dump(x, XFRM_MSG_GETSA, &w, why, wlen);
	for (size_t i = 0; !err && i < c.n; i++) {
		err = xfrm_sa_del(x, (const void *)&c.sa[i].dst, c.sa[i].spi,
				  why, wlen);
		if (err == -ENOENT || err == -ESRCH)
			err = 0;
	}
out:
	free(c.sa);
	free(c.sp);
	return err;
}

int xfrm_events_read(struct xfrm *x, struct xfrm_event *ev, size_t max,
		     char *why, size_t wlen)
{
	uint8_t buf[8192];
	size_t got = 0;
	ssize_t n;
	int left;

	if (!x->ev) {
		snprintf(why, wlen, "XFRM: events: not subscribed (EBADF)");
		return -EBADF;
	}
	while (got < max) {
		struct nlmsghdr *nlh;

		n = recv(mnl_socket_get_fd(x->ev), buf, sizeof(buf),
			 MSG_DONTWAIT);
		if (n < 0) {
			int err = errno;

			if (err == EAGAIN || err == EINTR)
				break;
			snprintf(why, wlen, "XFRM: reading events: %s (%s)",
				 err == ENOBUFS ? "events were lost, the "
				 "socket buffer was full" : strerror(err),
				 strerrorname_np(err));
			return got ? (int)got : -err;
		}
		/* One datagram may carry several messages. */
		left = (int)n;
		for (nlh = (void *)buf; mnl_nlmsg_ok(nlh, left) && got < max;
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			if (xfrm_parse_event(nlh, &ev[got]) == 1)
				got++;
		}
	}
	return (int)got;
}
