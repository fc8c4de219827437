// SPDX-License-Identifier: MIT
/*
 * The read path of kernel TLS sockets. The kernel decrypts application
 * data; every other record (alert, handshake) makes a plain read() fail
 * with EIO, and only recvmsg() with room for a SOL_TLS cmsg returns it.
 * So each read hook calls the real function first (no cost for any other
 * descriptor), and only on EIO asks whether this is a kTLS socket
 * (getsockopt TCP_ULP: sockets also arrive across exec, unknown to our
 * table) and takes the record off itself:
 *
 *   close_notify    end of file (0), later reads too (SHUT_RD)
 *   NewSessionTicket consumed, the read is done again
 *   other alerts    ECONNRESET
 *   KeyUpdate       kernels before 6.14 cannot rekey: close_notify, the
 *                   connection is shut down, logged, end of file
 *
 * The program never sees a record header, a record's content or
 * ciphertext. errno, blocking and MSG_PEEK behave as the real call's.
 * The exported read hooks are in hooks_sip.c: they call these, then
 * check the SIP requests received.
 *
 * On close() the shim sends close_notify (the kernel does not), once the
 * process that got the socket from sipsecd closes its last descriptor of
 * it; a process that merely inherited it through fork() does not.
 */
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sipsec.h"
#include "shim.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define RECORD_MAX 16384 /* TLSPlaintext.length limit, RFC 8446 5.1 */

bool shim_is_ktls(int fd)
{
	struct sfd *s = fdtab_get(fd);
	char ulp[16] = "";
	socklen_t len = sizeof(ulp);
	int saved = errno;
	bool yes;

	if (s && s->ktls)
		return true;
	yes = getsockopt(fd, SOL_TCP, TCP_ULP, ulp, &len) == 0 &&
	      !strcmp(ulp, "tls");
	errno = saved;
	return yes;
}

int shim_ktls_close_notify(int fd)
{
	/* An alert record: level warning (1), close_notify (0). */
	static const uint8_t alert[2] = { 1, 0 };
	char cbuf[CMSG_SPACE(sizeof(uint8_t))] = { 0 };
	struct iovec iov = { .iov_base = (void *)alert, .iov_len = 2 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int saved = errno, err = 0;

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(uint8_t));
	*CMSG_DATA(cm) = SIPSEC_TLS_ALERT;
	if (real.sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != 2)
		err = -errno;
	errno = saved;
	return err;
}

/* Acts on a record the kernel handed up; 1: read again, 0: end of file,
 * -errno: the error for the program. */
static int act(int fd, uint8_t type, const uint8_t *buf, size_t len)
{
	switch (sipsec_ktls_record_action(type, buf, len)) {
	case SIPSEC_KREC_SKIP:
		return 1;
	case SIPSEC_KREC_EOF:
		shutdown(fd, SHUT_RD);
		return 0;
	case SIPSEC_KREC_KEYUPDATE:
		log_warnx("fd %d: the peer sent a TLS KeyUpdate; this "
			  "kernel cannot rekey (before 6.14): connection "
			  "closed", fd);
		shim_ktls_close_notify(fd);
		shutdown(fd, SHUT_RDWR);
		return 0;
	case SIPSEC_KREC_DATA:
		/* Cannot happen: EIO means a non-data record is first. */
		return -EIO;
	default:
		if (type == SIPSEC_TLS_ALERT && len >= 2)
			log_info("fd %d: TLS alert %u from the peer", fd,
				 buf[1]);
		shutdown(fd, SHUT_RDWR);
		return -ECONNRESET;
	}
}

static uint8_t record_type(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
		if (c->cmsg_level == SOL_TLS &&
		    c->cmsg_type == TLS_GET_RECORD_TYPE)
			return *CMSG_DATA(c);
	return 0;
}

/* A read hook's call failed with EIO: take the non-data record. */
static int on_eio(int fd)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	uint8_t *buf;
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int rc;

	if (!shim_is_ktls(fd))
		return -EIO;
	buf = malloc(RECORD_MAX);
	if (!buf)
		return -EIO;
	iov = (struct iovec){ .iov_base = buf, .iov_len = RECORD_MAX };
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	n = real.recvmsg(fd, &m, MSG_DONTWAIT);
	if (n < 0)
		rc = -errno;
	else
		rc = act(fd, record_type(&m), buf, (size_t)n);
	free(buf);
	return rc;
}

/* Peeks at the record at the head of the queue into buf: its length, or
 * -errno; *type 0 when the kernel gave none. */
static ssize_t peek_record(int fd, uint8_t *buf, size_t len, uint8_t *type)
{
	char cbuf[CMSG_SPACE(sizeof(uint8_t))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	ssize_t n = real.recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	*type = record_type(&m);
	return n;
}

bool shim_ktls_settle(int fd)
{
	uint8_t head, type, *buf = NULL;
	int saved = errno;
	bool left = true;
	ssize_t n;

	/* A bound: a peer cannot keep us here with a stream of tickets. */
	for (int i = 0; i < 16; i++) {
		/* One byte first: a data record (the common case) costs
		 * one call and no copy; the kernel keeps it decrypted for
		 * the program's read. */
		n = peek_record(fd, &head, 1, &type);
		if (n < 0) {
			left = n != -EAGAIN && n != -EWOULDBLOCK;
			break;
		}
		/* Data, end of file: the program's. */
		if (n == 0 || type == 0 || type == SIPSEC_TLS_APPLICATION_DATA)
			break;
		if (!buf && !(buf = malloc(RECORD_MAX)))
			break;
		n = peek_record(fd, buf, RECORD_MAX, &type);
		/* Alerts and KeyUpdate stay for the read path to act on. */
		if (n <= 0 || sipsec_ktls_record_action(type, buf, (size_t)n) !=
				      SIPSEC_KREC_SKIP)
			break;
		if (on_eio(fd) != 1)
			break;
	}
	free(buf);
	errno = saved;
	return left;
}

/* Runs a read-like call again while it meets skipped records. */
#define KTLS_READ(fd, call)                                         \
	do {                                                        \
		int saved_ = errno, rc_;                            \
		ssize_t n_;                                         \
		shim_init();                                        \
		for (;;) {                                          \
			n_ = (call);                                \
			if (n_ >= 0 || errno != EIO)                \
				return n_;                          \
			rc_ = on_eio(fd);                           \
			if (rc_ == 1) {                             \
				errno = saved_;                     \
				continue;                           \
			}                                           \
			if (rc_ == 0) {                             \
				errno = saved_;                     \
				return 0;                           \
			}                                           \
			errno = -rc_;                               \
			return -1;                                  \
		}                                                   \
	} while (0)

ssize_t shim_ktls_read(int fd, void *buf, size_t len)
{
	KTLS_READ(fd, real.read(fd, buf, len));
}

ssize_t shim_ktls_recv(int fd, void *buf, size_t len, int flags)
{
	KTLS_READ(fd, real.recv(fd, buf, len, flags));
}

ssize_t shim_ktls_recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *from, socklen_t *flen)
{
	KTLS_READ(fd, real.recvfrom(fd, buf, len, flags, from, flen));
}

ssize_t shim_ktls_readv(int fd, const struct iovec *iov, int cnt)
{
	KTLS_READ(fd, real.readv(fd, iov, cnt));
}

/* A program's own control buffer may be large enough for the kernel to
 * hand it a non-data record as if it were data, with its type in a cmsg:
 * that record is acted on here and never returned. */
static ssize_t recvmsg_once(int fd, struct msghdr *m, int flags)
{
	size_t clen = m->msg_controllen;
	ssize_t n = real.recvmsg(fd, m, flags);
	uint8_t type, *rec;
	size_t got = 0;
	int rc;

	if (n <= 0 || !clen || !m->msg_control)
		return n;
	type = record_type(m);
	if (!type || type == SIPSEC_TLS_APPLICATION_DATA)
		return n;
	rec = malloc(RECORD_MAX);
	if (!rec) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < m->msg_iovlen && got < (size_t)n; i++) {
		size_t k = m->msg_iov[i].iov_len;

		if (k > (size_t)n - got)
			k = (size_t)n - got;
		if (k > RECORD_MAX - got)
			k = RECORD_MAX - got;
		memcpy(rec + got, m->msg_iov[i].iov_base, k);
		got += k;
	}
	if (flags & MSG_PEEK) {
		/* Take it off the queue before acting on it. */
		struct msghdr t = *m;

		t.msg_controllen = clen;
		real.recvmsg(fd, &t, (flags & ~MSG_PEEK) | MSG_DONTWAIT);
	}
	m->msg_controllen = clen;
	m->msg_flags = 0;
	rc = act(fd, type, rec, got);
	free(rec);
	if (rc == 1) {
		errno = EAGAIN; /* marker: read again */
		return -2;
	}
	if (rc == 0) {
		m->msg_controllen = 0;
		return 0;
	}
	errno = -rc;
	return -1;
}

ssize_t shim_ktls_recvmsg(int fd, struct msghdr *m, int flags)
{
	size_t clen = m ? m->msg_controllen : 0;
	int saved = errno, rc;
	ssize_t n;

	shim_init();
	for (;;) {
		if (m)
			m->msg_controllen = clen;
		n = m ? recvmsg_once(fd, m, flags) : real.recvmsg(fd, m, flags);
		if (n == -2) {
			errno = saved;
			continue;
		}
		if (n >= 0 || errno != EIO)
			return n;
		rc = on_eio(fd);
		if (rc == 1) {
			errno = saved;
			continue;
		}
		if (rc == 0) {
			errno = saved;
			if (m)
				m->msg_controllen = 0;
			return 0;
		}
		errno = -rc;
		return -1;
	}
}

struct ktls_ref *shim_ktls_ref_new(void)
{
	struct ktls_ref *r = calloc(1, sizeof(*r));

	if (r)
		r->pid = getpid();
	return r;
}
