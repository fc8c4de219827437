// SPDX-License-Identifier: MIT
/* sock_diag lookups: how a kernel-path record learns its socket is gone. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipsecd.h"

Test(sockdiag, a_connected_socket_is_alive_and_gone_once_closed)
{
	struct sockaddr_storage l = { 0 }, a = { 0 }, b = { 0 };
	struct sockaddr_in *in = (void *)&l;
	socklen_t len = sizeof(*in);
	uint64_t rx = 0, tx = 0;
	int ls, c, s;

	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(ls >= 0);
	cr_assert_eq(bind(ls, (struct sockaddr *)in, len), 0);
	cr_assert_eq(listen(ls, 1), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)in, &len), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)in, len), 0);
	s = accept(ls, NULL, NULL);
	cr_assert(s >= 0);
	len = sizeof(a);
	getsockname(c, (struct sockaddr *)&a, &len);
	len = sizeof(b);
	getpeername(c, (struct sockaddr *)&b, &len);
	cr_assert_eq(send(c, "abc", 3, 0), 3);
	usleep(100000);
	cr_assert_eq(sockdiag_alive(&a, &b, &rx, &tx), 1);
	cr_assert_eq(rx, 0);
	cr_assert_eq(tx, 3);
	/* The other end: the same bytes, received. */
	cr_assert_eq(sockdiag_alive(&b, &a, &rx, &tx), 1);
	cr_assert_eq(rx, 3);
	cr_assert_eq(tx, 0);
	close(c);
	close(s);
	close(ls);
	usleep(100000);
	cr_assert_eq(sockdiag_alive(&a, &b, NULL, NULL), 0);
}
