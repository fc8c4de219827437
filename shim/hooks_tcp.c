// SPDX-License-Identifier: MIT
/*
 * TCP hooks. A connect() to a SIP port hands the program's own socket to
 * sipsecd and returns only once it is protected (or fails with
 * ECONNREFUSED). A listen() on a SIP port keeps the program's socket but
 * filters it to local connections (filter.c) and has sipsecd take TLS
 * for it; sipsecd connects each authenticated connection to it, opened by
 * a preamble that accept() consumes. getpeername()/getsockname() report
 * what the program would see without sipsec.
 *
 * The program's own descriptors are never replaced (no dup2 over them):
 * a program may register a socket with epoll before connect() or
 * listen(), and the registration belongs to the open file it named.
 *
 * Every hook starts with the fast path: not a SIP socket, straight to the
 * real call, errno untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipsec.h"
#include "sipsec_ctl.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static bool is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	       type == SOCK_STREAM;
}

/* Copies a socket address the way the kernel does: truncated to *len,
 * *len set to the full size. */
static void give_addr(const struct sockaddr_storage *ss, struct sockaddr *addr,
		      socklen_t *len)
{
	socklen_t full = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
						    sizeof(struct sockaddr_in6);

	if (!addr || !len)
		return;
	memcpy(addr, ss, *len < full ? *len : full);
	*len = full;
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sipsec_ctl_connected r;
	struct sfd s = { .kind = SFD_CONN }, *u = NULL;
	int err;

	shim_init();
	u = fdtab_get(fd);
	if (!u && shim_udp_claim(fd, addr, len, &u)) {
		errno = ECONNREFUSED;
		return -1;
	}
	if (u && u->kind == SFD_UDP)
		return shim_udp_connect(u, addr, len);
	if (shim_busy || !addr || len < sizeof(struct sockaddr_in) ||
	    fdtab_get(fd) || /* already ours: the kernel's EISCONN */
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
	    (addr->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)) ||
	    !shim_is_sip_port(sipsec_sa_port(addr)) || !is_stream(fd))
		return real.connect(fd, addr, len);

	err = shim_handoff(fd, addr, &r);
	if (!err && r.path == SIPSEC_PATH_NONE)
		return real.connect(fd, addr, len); /* policy: cleartext */
	if (!err) {
		memcpy(&s.peer, addr, len < sizeof(s.peer) ? len : sizeof(s.peer));
		sipsec_ctl_to_sa(&r.local, &s.local, &len);
		s.id = r.id;
		s.idc = shim_idc_new(&r.ident, &s.peer);
		/* No state to check it with: refused, never unchecked. */
		if (!s.idc && r.ident.mode != SIPSEC_IDCHECK_OFF)
			err = -ENOMEM;
		if (!err && r.path == SIPSEC_PATH_KERNEL) {
			/* The socket is connected and keyed: from here
			 * the kernel encrypts; only the table is ours. */
			s.ktls = true;
			s.kref = shim_ktls_ref_new();
		}
		if (!err)
			err = fdtab_set(fd, &s);
		if (err && s.idc) {
			shim_idc_ref(s.idc);
			shim_idc_put(s.idc);
		}
	}
	if (err) {
		shim_log_once("connect to", addr, ECONNREFUSED,
			      err == -ESRCH ? "sipsecd is not running" :
			      err == -ECONNREFUSED ? "sipsecd could not protect "
			      "it (its log says why)" : strerror(-err));
		errno = ECONNREFUSED;
		return -1;
	}
	return 0;
}

EXPORT int listen(int fd, int backlog)
{
	struct sipsec_ctl_listen req = { 0 };
	struct sockaddr_storage ss = { 0 };
	struct sfd s = { .kind = SFD_LISTEN };
	socklen_t len = sizeof(ss);
	int err;

	shim_init();
	if (shim_busy || fdtab_get(fd) ||
	    real.getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    !shim_is_sip_port(sipsec_sa_port((struct sockaddr *)&ss)) || !is_stream(fd))
		return real.listen(fd, backlog);

	/* Local connections only, then sipsecd takes TLS for us: in this
	 * order, the socket never listens open to the network. */
	err = shim_filter_local_only(fd);
	if (!err && getrandom(req.secret, sizeof(req.secret), 0) !=
			    sizeof(req.secret))
		err = -EIO;
	sipsec_sa_to_ctl(&ss, &req.bound);
	if (!err)
		err = shim_listen_register(&req);
	if (err) {
		int e = err == -EADDRINUSE ? EADDRINUSE : EACCES;

		shim_log_once("listen on", (struct sockaddr *)&ss, e,
			      err == -ESRCH ? "sipsecd is not running" :
			      strerror(-err));
		errno = e;
		return -1;
	}
	s.local = ss;
	memcpy(s.secret, req.secret, sizeof(s.secret));
	fdtab_set(fd, &s);
	return real.listen(fd, backlog);
}

/* Reads exactly len bytes within ms milliseconds. */
static int read_full(int fd, void *buf, size_t len, int ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ms) != 1)
			return -ETIMEDOUT;
		n = real.recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

/* Checks the preamble sipsecd opens each delivered connection with.
 * Returns 0, or -1 for a connection that is not from sipsecd. */
static int take_preamble(int c, const struct sfd *l, struct sfd *s)
{
	struct sipsec_preamble m;
	socklen_t len;
	uint8_t diff = 0;

	/* sipsecd writes it with the connection; only a local process that
	 * is not sipsecd can make us wait, and not for long. */
	if (read_full(c, &m, sizeof(m), 1000))
		return -1;
	for (size_t i = 0; i < sizeof(m.secret); i++)
		diff |= m.secret[i] ^ l->secret[i];
	if (memcmp(m.magic, SIPSEC_PREAMBLE_MAGIC, sizeof(m.magic)) || diff)
		return -1;
	s->kind = SFD_CONN;
	sipsec_ctl_to_sa(&m.peer, &s->peer, &len);
	sipsec_ctl_to_sa(&m.local, &s->local, &len);
	s->id = m.id;
	s->ktls = m.path == SIPSEC_PATH_KERNEL;
	s->idc = shim_idc_new(&m.ident, &s->peer);
	/* No state to check it with: dropped, never unchecked. */
	return s->idc || m.ident.mode == SIPSEC_IDCHECK_OFF ? 0 : -1;
}

/* The preamble rang the doorbell for a kernel-path connection: fetch the
 * kTLS socket and put it on the descriptor accept() just made (a fresh
 * number: no epoll registration can name it yet). The doorbell closes. */
static int take_kernel(int c, const struct sfd *l, struct sfd *s, int flags)
{
	int k, fl, err = 0;

	k = shim_fetch(s->id, l->secret);
	if (k < 0)
		return k;
	if (real.dup3(k, c, flags & SOCK_CLOEXEC ? O_CLOEXEC : 0) < 0) {
		err = -errno;
		goto out;
	}
	/* The open file is the daemon's: its flags become accept4()'s. */
	fl = real.fcntl(c, F_GETFL);
	if (fl >= 0)
		real.fcntl(c, F_SETFL, flags & SOCK_NONBLOCK ? fl | O_NONBLOCK :
						      fl & ~O_NONBLOCK);
	s->kref = shim_ktls_ref_new();
out:
	real.close(k);
	return err;
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct sfd *l, s = { 0 };
	int saved = errno, c;

	shim_init();
	l = fdtab_get(fd);
	if (!l || l->kind != SFD_LISTEN)
		return real.accept4(fd, addr, len, flags);
	for (;;) {
		errno = saved;
		c = real.accept4(fd, NULL, NULL, flags);
		if (c < 0)
			return -1;
		if (take_preamble(c, l, &s) == 0 &&
		    (!s.ktls || take_kernel(c, l, &s, flags) == 0) &&
		    fdtab_set(c, &s) == 0)
			break;
		/* Not from sipsecd (the socket filter admits local
		 * connections only): drop it, try the next one. */
		if (s.idc) {
			shim_idc_ref(s.idc); /* never in the table: freed */
			shim_idc_put(s.idc);
			s.idc = NULL;
		}
		real.close(c);
	}
	give_addr(&s.peer, addr, len);
	errno = saved;
	return c;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	shim_init();
	if (!fdtab_get(fd))
		return real.accept(fd, addr, len);
	return accept4(fd, addr, len, 0);
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sfd *s;

	shim_init();
	s = fdtab_get(fd);
	if (s && s->kind == SFD_UDP && !s->peer.ss_family) {
		errno = ENOTCONN;
		return -1;
	}
	if (!s || (s->kind != SFD_CONN && s->kind != SFD_UDP))
		return real.getpeername(fd, addr, len);
	if (!addr || !len) {
		errno = EFAULT;
		return -1;
	}
	give_addr(&s->peer, addr, len);
	return 0;
}

EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sfd *s;

	shim_init();
	s = fdtab_get(fd);
	if (!s || !s->local.ss_family)
		return real.getsockname(fd, addr, len);
	if (!addr || !len) {
		errno = EFAULT;
		return -1;
	}
	give_addr(&s->local, addr, len);
	return 0;
}

EXPORT int close(int fd)
{
	struct sfd *s;

	shim_init();
	s = fdtab_get(fd);
	if (s) {
		int saved = errno;

		/* The last descriptor, in the process that got the socket
		 * from sipsecd, of a kTLS socket: say goodbye in TLS (RFC
		 * 8446 6.1); the kernel does not. */
		if (s->ktls && s->kref && s->kref->pid == getpid() &&
		    atomic_load(&s->kref->refs) == 1)
			shim_ktls_close_notify(fd);
		fdtab_clear(fd);
		errno = saved;
	}
	return real.close(fd);
}

EXPORT int dup(int fd)
{
	int n;

	shim_init();
	n = real.dup(fd);
	if (n >= 0 && fdtab_get(fd))
		fdtab_copy(fd, n);
	return n;
}

EXPORT int dup2(int fd, int to)
{
	int n;

	shim_init();
	n = real.dup2(fd, to);
	if (n >= 0 && fd != to)
		fdtab_copy(fd, n);
	return n;
}

EXPORT int dup3(int fd, int to, int flags)
{
	int n;

	shim_init();
	n = real.dup3(fd, to, flags);
	if (n >= 0)
		fdtab_copy(fd, n);
	return n;
}

/* fcntl's third argument is an int or a pointer; on the ABIs we build for
 * both travel in the same register, so it is passed on as a pointer. */
EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int n;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	shim_init();
	n = real.fcntl(fd, cmd, arg);
	if (n >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) &&
	    fdtab_get(fd))
		fdtab_copy(fd, n);
	return n;
}
