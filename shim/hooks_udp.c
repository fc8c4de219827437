// SPDX-License-Identifier: MIT
/*
 * UDP SIP sockets (daemon/udp.c has the whole path). A UDP socket becomes
 * ours when the program binds it to a SIP port, or connects it or sends
 * from it to one. The shim registers it with sipsecd (which checks the
 * socket and learns its address), then:
 *
 *   sendto(peer)  -> the same socket sends [sipsec_dgram peer][data] to
 *                    sipsecd's relay address
 *   recvfrom()    <- only datagrams from the relay address are taken;
 *                    the header is stripped and its address reported as
 *                    the source. Anything else arriving at the port
 *                    (cleartext from the network, a forgery) is dropped.
 *
 * The program's descriptor, flags and epoll registrations are never
 * touched: readiness is the socket's own. connect() on such a socket only
 * records the peer (a connected socket would refuse the relay's
 * datagrams); getpeername() reports it and receives are filtered to it,
 * as the kernel would.
 *
 * Where sipsecd keys ESP in the kernel, the registration says so and the
 * socket is left alone (SFD_UDP_KERNEL): the kernel's policies protect
 * every UDP SIP datagram, whichever program sends it.
 *
 * Not covered: sendmmsg/recvmmsg, and ancillary data the program asks
 * for (IP_PKTINFO describes the loopback hop). A refusal is EACCES with
 * one log line: nothing leaves in cleartext.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipsec.h"
#include "sipsec_ctl.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_IOV 64

static socklen_t sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) :
				   sizeof(struct sockaddr_in6);
}

static bool is_inet_dgram(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_DGRAM)
		return false;
	len = sizeof(domain);
	return !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) &&
	       (domain == AF_INET || domain == AF_INET6);
}

static bool valid_inet(const struct sockaddr *sa, socklen_t len)
{
	return sa && len >= sizeof(struct sockaddr_in) &&
	       (sa->sa_family == AF_INET ||
		(sa->sa_family == AF_INET6 &&
		 len >= sizeof(struct sockaddr_in6)));
}

static void refuse_log(const char *what, const struct sockaddr *sa, int err)
{
	shim_log_once(what, sa, EACCES,
		      err == -ESRCH ? "sipsecd is not running" :
		      strerror(-err));
}

/* Registers fd (bound first if it is not) and enters it in the table. */
static int adopt(int fd, struct sfd **out)
{
	struct sockaddr_storage ss = { 0 };
	struct sfd s = { .kind = SFD_UDP };
	socklen_t len = sizeof(ss);
	uint8_t path = 0;
	int err;

	if (real.getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!sipsec_sa_port((struct sockaddr *)&ss)) {
		/* What the kernel would do at the first send: any
		 * address, an ephemeral port. */
		struct sockaddr_storage any = { .ss_family = ss.ss_family };

		if (real.bind(fd, (struct sockaddr *)&any, sa_len(ss.ss_family)))
			return -errno;
		len = sizeof(ss);
		if (real.getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			return -errno;
	}
	err = shim_udp_register(fd, &ss, &s.relay, &path);
	if (!err && path == SIPSEC_PATH_KERNEL)
		s.kind = SFD_UDP_KERNEL; /* ESP: the kernel protects it */
	if (!err)
		err = fdtab_set(fd, &s);
	if (!err)
		*out = fdtab_get(fd);
	return err;
}

int shim_udp_claim(int fd, const struct sockaddr *to, socklen_t tolen,
		   struct sfd **out)
{
	int err;

	*out = NULL;
	if (shim_busy || !valid_inet(to, tolen) ||
	    !shim_is_sip_port(sipsec_sa_port(to)) || !is_inet_dgram(fd))
		return 0;
	err = adopt(fd, out);
	if (err)
		refuse_log("UDP SIP to", to, err);
	return err;
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sfd *s;
	int rc, err;

	shim_init();
	rc = real.bind(fd, addr, len);
	if (rc || shim_busy || fdtab_get(fd) || !valid_inet(addr, len) ||
	    !shim_is_sip_port(sipsec_sa_port(addr)) || !is_inet_dgram(fd))
		return rc;
	err = adopt(fd, &s);
	if (err) {
		/* Bound but unprotected: the program must not use it. */
		refuse_log("UDP SIP on", addr, err);
		errno = EACCES;
		return -1;
	}
	return 0;
}

int shim_udp_connect(struct sfd *s, const struct sockaddr *addr,
		     socklen_t len)
{
	if (addr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
		memset(&s->peer, 0, sizeof(s->peer));
		return 0;
	}
	if (!valid_inet(addr, len)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(&s->peer, 0, sizeof(s->peer));
	memcpy(&s->peer, addr, sa_len(addr->sa_family));
	return 0;
}

ssize_t shim_udp_sendmsg(struct sfd *s, int fd, const struct msghdr *m,
			 int flags)
{
	struct sipsec_dgram h = { .magic = SIPSEC_DGRAM_MAGIC };
	struct iovec iov[MAX_IOV + 1];
	struct sockaddr_storage dst = { 0 };
	struct msghdr out = { .msg_name = &s->relay,
			      .msg_namelen = sa_len(s->relay.ss_family),
			      .msg_iov = iov };
	ssize_t n;

	if (m->msg_name && m->msg_namelen) {
		if (!valid_inet(m->msg_name, m->msg_namelen)) {
			errno = EAFNOSUPPORT;
			return -1;
		}
		memcpy(&dst, m->msg_name,
		       sa_len(((struct sockaddr *)m->msg_name)->sa_family));
	} else if (s->peer.ss_family) {
		dst = s->peer;
	} else {
		errno = EDESTADDRREQ;
		return -1;
	}
	if (m->msg_iovlen > MAX_IOV) {
		errno = EMSGSIZE;
		return -1;
	}
	sipsec_sa_to_ctl(&dst, &h.peer);
	iov[0] = (struct iovec){ &h, sizeof(h) };
	if (m->msg_iovlen)
		memcpy(iov + 1, m->msg_iov, m->msg_iovlen * sizeof(*iov));
	out.msg_iovlen = m->msg_iovlen + 1;
	n = real.sendmsg(fd, &out, flags & (MSG_DONTWAIT | MSG_NOSIGNAL));
	if (n < 0)
		return -1;
	return n - (ssize_t)sizeof(h);
}

static bool nonblocking(int fd, int flags)
{
	return (flags & MSG_DONTWAIT) || (real.fcntl(fd, F_GETFL) & O_NONBLOCK);
}

ssize_t shim_udp_recvmsg(struct sfd *s, int fd, struct msghdr *m, int flags)
{
	struct iovec iov[MAX_IOV + 1];

	if (m->msg_iovlen > MAX_IOV) {
		errno = EMSGSIZE;
		return -1;
	}
	for (;;) {
		struct sipsec_dgram h;
		struct sockaddr_storage from = { 0 }, src;
		struct msghdr in = { .msg_name = &from,
				     .msg_namelen = sizeof(from),
				     .msg_iov = iov,
				     .msg_iovlen = m->msg_iovlen + 1,
				     .msg_control = m->msg_control,
				     .msg_controllen = m->msg_controllen };
		socklen_t len;
		ssize_t n;

		iov[0] = (struct iovec){ &h, sizeof(h) };
		if (m->msg_iovlen)
			memcpy(iov + 1, m->msg_iov, m->msg_iovlen * sizeof(*iov));
		n = real.recvmsg(fd, &in, flags);
		if (n < 0)
			return -1;
		src.ss_family = 0;
		if (sipsec_sa_equal(&from, &s->relay) &&
		    n >= (ssize_t)sizeof(h) && h.magic == SIPSEC_DGRAM_MAGIC &&
		    (h.peer.family == AF_INET || h.peer.family == AF_INET6))
			sipsec_ctl_to_sa(&h.peer, &src, &len);
		if (src.ss_family &&
		    (!s->peer.ss_family || sipsec_sa_equal(&src, &s->peer))) {
			if (m->msg_name) {
				socklen_t full = sa_len(src.ss_family);

				memcpy(m->msg_name, &src, m->msg_namelen < full ?
						  m->msg_namelen : full);
				m->msg_namelen = full;
			}
			m->msg_controllen = in.msg_controllen;
			m->msg_flags = in.msg_flags;
			return n - (ssize_t)sizeof(h);
		}
		if (!src.ss_family) {
			/* Once per sending host, whatever its ports. */
			sipsec_sa_set_port(&from, 0);
			shim_log_once("dropped a datagram from",
				      (struct sockaddr *)&from, 0,
				      "not from sipsecd, and a UDP SIP socket "
				      "takes protected datagrams only");
		}
		if (flags & MSG_PEEK) /* take it off the queue */
			real.recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		if (nonblocking(fd, flags)) {
			errno = EAGAIN;
			return -1;
		}
	}
}
