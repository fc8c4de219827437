// SPDX-License-Identifier: MIT
/* Received descriptors: only the socket the request claims passes. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipsecd.h"

static const struct sock_expect tcp_new = { SOCK_STREAM, TCP_CLOSE };
static const struct sock_expect udp_any = { SOCK_DGRAM, -1 };

Test(sockcheck, a_new_tcp_socket_of_either_family_passes)
{
	int s4 = socket(AF_INET, SOCK_STREAM, 0);
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);

	cr_assert_eq(sock_check(s4, &tcp_new, getuid()), 0);
	cr_assert_eq(sock_check(s6, &tcp_new, getuid()), 0);
	close(s4);
	close(s6);
}

Test(sockcheck, the_wrong_kind_of_descriptor_is_named)
{
	int file = open("/dev/null", O_RDONLY);
	int unix_sock = socket(AF_UNIX, SOCK_STREAM, 0);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int sctp_like = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

	cr_assert_eq(sock_check(file, &tcp_new, getuid()), -ENOTSOCK);
	cr_assert_eq(sock_check(unix_sock, &tcp_new, getuid()), -EAFNOSUPPORT);
	cr_assert_eq(sock_check(udp, &tcp_new, getuid()), -EPROTOTYPE);
	cr_assert_eq(sock_check(udp, &udp_any, getuid()), 0);
	cr_assert_eq(sock_check(sctp_like, &udp_any, getuid()), -EPROTOTYPE);
	cr_assert_eq(sock_check(-1, &tcp_new, getuid()), -EBADF);
	close(file);
	close(unix_sock);
	close(udp);
	close(sctp_like);
}

Test(sockcheck, a_connected_socket_is_not_a_new_one)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(bind(l, (void *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (void *)&a, &len), 0);
	cr_assert_eq(sock_check(l, &tcp_new, getuid()), -EBADFD);
	cr_assert_eq(connect(c, (void *)&a, sizeof(a)), 0);
	cr_assert_eq(sock_check(c, &tcp_new, getuid()), -EISCONN);
	close(l);
	close(c);
}

Test(sockcheck, another_users_socket_is_refused)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);

	/* created by us; claimed by a client running as someone else */
	cr_assert_eq(sock_check(s, &tcp_new, getuid() + 4242), -EPERM);
	close(s);
}
