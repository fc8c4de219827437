// SPDX-License-Identifier: MIT
/*
 * Every descriptor a client passes is checked before the daemon acts on
 * it: a client could pass a file, a Unix socket, a raw socket, someone
 * else's connection, or a socket in another state than it claims.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sipsecd.h"

static int sockopt_int(int fd, int level, int name, int *out)
{
	socklen_t len = sizeof(*out);

	if (getsockopt(fd, level, name, out, &len) < 0)
		return -errno;
	return len == sizeof(*out) ? 0 : -EINVAL;
}

int sock_check(int fd, const struct sock_expect *want, uid_t sender_uid)
{
	int domain, type, proto, err;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	/* A socket inode belongs to the user that created it; an
	 * unprivileged client may hand over only its own sockets. */
	if (sender_uid != 0 && st.st_uid != sender_uid)
		return -EPERM;
	if ((err = sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain)))
		return err;
	if (domain != AF_INET && domain != AF_INET6)
		return -EAFNOSUPPORT;
	if ((err = sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type)))
		return err;
	if (type != want->type)
		return -EPROTOTYPE;
	if ((err = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &proto)))
		return err;
	if (proto != (type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP))
		return -EPROTONOSUPPORT;
	if (type == SOCK_STREAM && want->state >= 0) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &len) < 0)
			return -errno;
		if (ti.tcpi_state != want->state)
			return ti.tcpi_state == TCP_ESTABLISHED ? -EISCONN :
								  -EBADFD;
	}
	return 0;
}
