// SPDX-License-Identifier: MIT
/*
 * A small UDP program that behaves like a legacy SIP program and checks,
 * from the inside, that under the shim its socket behaves as without it.
 * Run under LD_PRELOAD by tests/integration/udp.sh; each check that fails
 * prints "FAIL: ..." and the exit status is 1.
 *
 *   server ADDR PORT   non-blocking socket in epoll before bind(); echoes
 *                      each datagram to its source, printing "from ADDR
 *                      PORT LEN", until a datagram "quit"
 *   client ADDR PORT   an unbound blocking socket in epoll: datagram
 *                      boundaries (1 byte to 60000), the source reported,
 *                      truncation (MSG_TRUNC both ways), MSG_PEEK,
 *                      MSG_DONTWAIT on an empty queue, epoll and poll
 *                      readiness, sendmsg/readv with several iovecs,
 *                      connect() then send/recv/read/write, getpeername,
 *                      getsockname; then "quit"
 *   send ADDR PORT TEXT  one datagram, nothing else; TEXT "-": read it
 *                      from the standard input
 *   expect-errno ADDR PORT ERRNO
 *                      bind() to ADDR:PORT must fail with ERRNO
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                  \
	do {                                              \
		if (!(cond)) {                            \
			printf("FAIL: " __VA_ARGS__);     \
			printf(" (errno %s)\n", strerror(errno)); \
			failures++;                       \
		}                                         \
	} while (0)

static socklen_t addr_of(const char *host, const char *port,
			 struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)atoi(port));
		return sizeof(*in);
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(port));
		return sizeof(*in6);
	}
	fprintf(stderr, "bad address %s\n", host);
	exit(2);
}

static const char *fmt(const struct sockaddr_storage *ss, char *buf,
		       size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s %u", ip, port);
	return buf;
}

static bool same(const struct sockaddr_storage *a,
		 const struct sockaddr_storage *b)
{
	char x[64], y[64];

	return !strcmp(fmt(a, x, sizeof(x)), fmt(b, y, sizeof(y)));
}

static int server(const char *host, const char *port)
{
	struct sockaddr_storage me, from;
	struct epoll_event ev = { .events = EPOLLIN };
	static char buf[65536];
	socklen_t len = addr_of(host, port, &me), flen;
	int fd, ep, one = 1;
	char a[64];

	fd = socket(me.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	ep = epoll_create1(0);
	ev.data.fd = fd;
	/* The trap the design warns of: registered before bind(). */
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&me, len) < 0) {
		printf("FAIL: bind: %s\n", strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		ssize_t n;

		if (epoll_wait(ep, &ev, 1, 20000) != 1) {
			printf("FAIL: no datagram within 20 s\n");
			return 1;
		}
		for (;;) {
			flen = sizeof(from);
			n = recvfrom(fd, buf, sizeof(buf), 0,
				     (struct sockaddr *)&from, &flen);
			if (n < 0) {
				CHECK(errno == EAGAIN, "server recvfrom");
				break;
			}
			printf("from %s %zd\n", fmt(&from, a, sizeof(a)), n);
			fflush(stdout);
			if (n == 4 && !memcmp(buf, "quit", 4))
				return failures ? 1 : 0;
			CHECK(sendto(fd, buf, (size_t)n, 0,
				     (struct sockaddr *)&from, flen) == n,
			      "echo to %s", a);
		}
	}
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
}

static int client(const char *host, const char *port)
{
	static char out[65536], in[65536];
	static const size_t sizes[] = { 1, 100, 1400, 8000, 60000 };
	struct sockaddr_storage srv, from, me;
	socklen_t slen = addr_of(host, port, &srv), flen;
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, ep;
	ssize_t n;
	char a[64];

	fd = socket(srv.ss_family, SOCK_DGRAM, 0);
	ep = epoll_create1(0);
	ev.data.fd = fd;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");

	/* boundaries and the source */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(out, sizes[i], (unsigned)i);
		n = sendto(fd, out, sizes[i], 0, (struct sockaddr *)&srv, slen);
		CHECK(n == (ssize_t)sizes[i], "sendto %zu bytes: %zd", sizes[i], n);
		CHECK(epoll_wait(ep, &ev, 1, 5000) == 1, "epoll: no reply to %zu",
		      sizes[i]);
		flen = sizeof(from);
		n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from,
			     &flen);
		CHECK(n == (ssize_t)sizes[i] && !memcmp(in, out, sizes[i]),
		      "datagram of %zu bytes came back as %zd", sizes[i], n);
		CHECK(same(&from, &srv), "source %s", fmt(&from, a, sizeof(a)));
		CHECK(flen == slen, "address length %u", flen);
	}
	flen = sizeof(me);
	CHECK(getsockname(fd, (struct sockaddr *)&me, &flen) == 0 &&
	      me.ss_family == srv.ss_family &&
	      ((struct sockaddr_in *)&me)->sin_port != 0, "getsockname");
	printf("local %s\n", fmt(&me, a, sizeof(a)));

	/* truncation, both ways of asking */
	fill(out, 1000, 3);
	sendto(fd, out, 1000, 0, (struct sockaddr *)&srv, slen);
	{
		struct iovec v = { in, 10 };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };

		n = recvmsg(fd, &m, 0);
		CHECK(n == 10 && (m.msg_flags & MSG_TRUNC) &&
		      !memcmp(in, out, 10), "truncated recvmsg: %zd flags %x", n,
		      m.msg_flags);
	}
	sendto(fd, out, 1000, 0, (struct sockaddr *)&srv, slen);
	n = recv(fd, in, 10, MSG_TRUNC);
	CHECK(n == 1000, "recv(MSG_TRUNC) gives the real length: %zd", n);

	/* peek, then the same datagram */
	sendto(fd, "peek-me", 7, 0, (struct sockaddr *)&srv, slen);
	n = recv(fd, in, sizeof(in), MSG_PEEK);
	CHECK(n == 7 && !memcmp(in, "peek-me", 7), "MSG_PEEK: %zd", n);
	n = recv(fd, in, sizeof(in), 0);
	CHECK(n == 7 && !memcmp(in, "peek-me", 7), "after MSG_PEEK: %zd", n);

	/* an empty queue */
	errno = 0;
	n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
	CHECK(n < 0 && errno == EAGAIN, "MSG_DONTWAIT on nothing: %zd", n);
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		CHECK(poll(&p, 1, 200) == 0, "poll reports a datagram that "
		      "is not there");
		sendto(fd, "poll", 4, 0, (struct sockaddr *)&srv, slen);
		CHECK(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN),
		      "poll: no POLLIN");
		CHECK(recv(fd, in, sizeof(in), 0) == 4, "poll datagram");
	}

	/* several iovecs: one datagram out, split in */
	{
		struct iovec o[3] = { { "abc", 3 }, { "defg", 4 }, { "hi", 2 } };
		struct msghdr m = { .msg_name = &srv, .msg_namelen = slen,
				    .msg_iov = o, .msg_iovlen = 3 };
		char x[4] = "", y[16] = "";
		struct iovec v[2] = { { x, 4 }, { y, sizeof(y) } };

		CHECK(sendmsg(fd, &m, 0) == 9, "sendmsg of 3 iovecs");
		n = readv(fd, v, 2);
		CHECK(n == 9 && !memcmp(x, "abcd", 4) && !memcmp(y, "efghi", 5),
		      "readv: %zd", n);
	}

	/* connected */
	CHECK(connect(fd, (struct sockaddr *)&srv, slen) == 0, "connect");
	flen = sizeof(from);
	CHECK(getpeername(fd, (struct sockaddr *)&from, &flen) == 0 &&
	      same(&from, &srv), "getpeername after connect");
	CHECK(send(fd, "conn", 4, 0) == 4, "send when connected");
	CHECK(recv(fd, in, sizeof(in), 0) == 4 && !memcmp(in, "conn", 4),
	      "recv when connected");
	CHECK(write(fd, "wr", 2) == 2, "write when connected");
	CHECK(read(fd, in, sizeof(in)) == 2, "read when connected");
	{
		struct sockaddr_storage none = { .ss_family = AF_UNSPEC };

		CHECK(connect(fd, (struct sockaddr *)&none, sizeof(none)) == 0,
		      "disconnect");
		errno = 0;
		CHECK(send(fd, "x", 1, 0) < 0 && errno == EDESTADDRREQ,
		      "send after disconnect");
	}
	CHECK(sendto(fd, "quit", 4, 0, (struct sockaddr *)&srv, slen) == 4,
	      "quit");
	printf(failures ? "client: %d failures\n" : "client: all checks passed\n",
	       failures);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "send")) {
		static char text[65536];
		size_t n = strlen(argv[4]);

		if (!strcmp(argv[4], "-"))
			n = fread(text, 1, sizeof(text), stdin);
		else
			memcpy(text, argv[4], n);
		len = addr_of(argv[2], argv[3], &ss);
		fd = socket(ss.ss_family, SOCK_DGRAM, 0);
		return sendto(fd, text, n, 0, (struct sockaddr *)&ss, len) < 0;
	}
	if (argc == 5 && !strcmp(argv[1], "expect-errno")) {
		len = addr_of(argv[2], argv[3], &ss);
		fd = socket(ss.ss_family, SOCK_DGRAM, 0);
		if (bind(fd, (struct sockaddr *)&ss, len) == 0) {
			printf("FAIL: bind succeeded\n");
			return 1;
		}
		if (strcmp(strerrorname_np(errno), argv[4])) {
			printf("FAIL: bind: %s, expected %s\n",
			       strerrorname_np(errno), argv[4]);
			return 1;
		}
		printf("bind: %s\n", argv[4]);
		return 0;
	}
	fprintf(stderr, "usage: udpprobe server|client ADDR PORT | send ADDR "
		"PORT TEXT | expect-errno ADDR PORT ERRNO\n");
	return 2;
}
