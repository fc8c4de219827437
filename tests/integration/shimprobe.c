// SPDX-License-Identifier: MIT
/*
 * A small TCP program that behaves like a careful legacy SIP program and
 * checks, from the inside, what the shim must keep as without it. It is
 * run under LD_PRELOAD by tests/integration/shim_tcp.sh; each check that
 * fails prints "FAIL: ..." and the exit status is 1.
 *
 *   server ADDR PORT N   epoll registered before listen(); N connections
 *                        accepted with accept4(SOCK_NONBLOCK), their
 *                        addresses printed, lines echoed until EOF
 *   client ADDR PORT     non-blocking socket in epoll before connect();
 *                        connect() must return 0; addresses, sendmsg /
 *                        writev / MSG_PEEK / readv / recvmsg, dup, fork,
 *                        shutdown
 *   expect-errno ADDR PORT ERRNO [nonblock]
 *                        connect() must fail with ERRNO (a name, e.g.
 *                        ECONNREFUSED), or with nonblock return
 *                        EINPROGRESS and then report ERRNO in SO_ERROR
 *   expect-silence ADDR PORT MS
 *                        a non-blocking connect that must get no answer
 *                        within MS milliseconds (SYN dropped)
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("FAIL: " __VA_ARGS__);                      \
			printf(" (%s:%d)\n", __FILE__, __LINE__);          \
			failures++;                                        \
		}                                                          \
	} while (0)

static socklen_t make_addr(const char *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (void *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return sizeof(*a);
}

static const char *fmt(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, n, "%s %d", a, port);
	return buf;
}

static const char *names(struct sockaddr_storage *ss, int fd, bool peer)
{
	static char buf[2][80];
	socklen_t len = sizeof(*ss);
	int rc = peer ? getpeername(fd, (void *)ss, &len) :
			getsockname(fd, (void *)ss, &len);

	if (rc < 0)
		return strerror(errno);
	return fmt(ss, buf[peer], sizeof(buf[0]));
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, ms);
}

static int server(const char *ip, int port, int n)
{
	struct sockaddr_storage ss, a;
	socklen_t len = make_addr(ip, port, &ss);
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int l = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int ep = epoll_create1(0), one = 1;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The trap: registered before listen(). */
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0, "epoll_ctl");
	CHECK(bind(l, (void *)&ss, len) == 0, "bind: %s", strerror(errno));
	CHECK(listen(l, 16) == 0, "listen: %s", strerror(errno));
	printf("listening %s\n", names(&a, l, false));
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		char buf[4096];
		int c, fl;

		if (epoll_wait(ep, &out, 1, 20000) != 1) {
			CHECK(0, "no connection within 20 s (epoll)");
			break;
		}
		c = accept4(l, (void *)&a, &len, SOCK_NONBLOCK);
		if (c < 0 && errno == EAGAIN) {
			i--;
			continue;
		}
		CHECK(c >= 0, "accept4: %s", strerror(errno));
		if (c < 0)
			break;
		fl = fcntl(c, F_GETFL);
		CHECK(fl & O_NONBLOCK, "accept4(SOCK_NONBLOCK) gave a blocking socket");
		printf("accepted peer %s\n", names(&a, c, true));
		printf("accepted local %s\n", names(&a, c, false));
		fflush(stdout);
		for (;;) {
			ssize_t r;

			if (wait_fd(c, POLLIN, 10000) != 1) {
				CHECK(0, "no data within 10 s");
				break;
			}
			r = read(c, buf, sizeof(buf));
			if (r <= 0)
				break;
			CHECK(write(c, buf, (size_t)r) == r, "echo write");
		}
		close(c);
	}
	close(l);
	return failures ? 1 : 0;
}

static void roundtrip(int fd, const char *msg)
{
	struct iovec iov[2] = { { (void *)msg, strlen(msg) }, { "\n", 1 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	char peek[8] = "", a[64] = "", b[64] = "";
	struct iovec riov[2] = { { a, 3 }, { b, sizeof(b) - 1 } };
	struct msghdr rh = { .msg_iov = riov, .msg_iovlen = 2 };
	size_t want = strlen(msg) + 1;
	ssize_t n;

	CHECK(sendmsg(fd, &mh, 0) == (ssize_t)want, "sendmsg");
	CHECK(wait_fd(fd, POLLIN, 5000) == 1, "no echo within 5 s");
	/* wait for the whole line, then peek before reading */
	for (int i = 0; i < 100; i++) {
		n = recv(fd, b, sizeof(b), MSG_PEEK);
		if (n >= (ssize_t)want)
			break;
		usleep(10000);
	}
	CHECK(recv(fd, peek, 3, MSG_PEEK) == 3 && !memcmp(peek, msg, 3),
	      "MSG_PEEK");
	memset(b, 0, sizeof(b));
	n = recvmsg(fd, &rh, 0);
	CHECK(n == (ssize_t)want && !memcmp(a, msg, 3) &&
		      !strncmp(b, msg + 3, strlen(msg) - 3),
	      "recvmsg: got %zd bytes", n);
}

static int client(const char *ip, int port)
{
	struct sockaddr_storage ss, a;
	socklen_t len = make_addr(ip, port, &ss);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT }, out;
	int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int ep = epoll_create1(0), rc, d, st;
	struct iovec wv[2] = { { "wri", 3 }, { "tev\n", 4 } };
	char buf[64];
	pid_t pid;

	/* The trap: registered before connect(). */
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll_ctl");
	rc = connect(s, (void *)&ss, len);
	CHECK(rc == 0, "non-blocking connect to a SIP port returned %d (%s), "
		       "want 0: it must return only once protected", rc,
	      rc ? strerror(errno) : "");
	printf("peer %s\n", names(&a, s, true));
	CHECK(!memcmp(&a, &ss, len), "getpeername is not the address connected to");
	printf("local %s\n", names(&a, s, false));
	CHECK(epoll_wait(ep, &out, 1, 2000) == 1 && (out.events & EPOLLOUT),
	      "epoll registered before connect saw no EPOLLOUT");
	roundtrip(s, "INVITE sip:probe@example.test SIP/2.0");
	CHECK(writev(s, wv, 2) == 7, "writev");
	CHECK(wait_fd(s, POLLIN, 5000) == 1, "writev echo");
	usleep(50000);
	CHECK(read(s, buf, sizeof(buf)) == 7 && !memcmp(buf, "writev\n", 7),
	      "writev echo content");
	CHECK(epoll_wait(ep, &out, 1, 0) >= 0, "epoll after data");
	d = dup(s);
	CHECK(d >= 0 && !strcmp(names(&a, d, true), names(&ss, s, true)),
	      "getpeername on a dup differs");
	pid = fork();
	if (pid == 0) {
		roundtrip(d, "OPTIONS from the child");
		_exit(failures ? 1 : 0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the forked child failed");
	close(d);
	roundtrip(s, "BYE after fork");
	CHECK(shutdown(s, SHUT_WR) == 0, "shutdown");
	CHECK(wait_fd(s, POLLIN, 5000) == 1 && read(s, buf, sizeof(buf)) == 0,
	      "no end of file after shutdown(SHUT_WR)");
	close(s);
	printf("%s\n", failures ? "client: failed" : "client: ok");
	return failures ? 1 : 0;
}

static int expect_errno(const char *ip, int port, const char *want, bool nb)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	int s = socket(ss.ss_family, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
	int rc, err, so = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	rc = connect(s, (void *)&ss, len);
	err = errno;
	if (nb && rc < 0 && err == EINPROGRESS) {
		socklen_t sl = sizeof(so);

		wait_fd(s, POLLOUT, 10000);
		getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &sl);
		err = so;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("connect: %s after %ld ms\n", rc == 0 && !so ? "0" :
	       strerrorname_np(err),
	       (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	CHECK(rc < 0 && strerrorname_np(err) && !strcmp(strerrorname_np(err), want),
	      "want %s", want);
	return failures ? 1 : 0;
}

static int expect_silence(const char *ip, int port, int ms)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int rc = connect(s, (void *)&ss, len);

	CHECK(rc < 0 && errno == EINPROGRESS, "connect: %s", strerror(errno));
	rc = wait_fd(s, POLLOUT, ms);
	printf("connect: %s within %d ms\n", rc == 0 ? "no answer" : "answered", ms);
	CHECK(rc == 0, "the port answered a connection from the network");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "expect-errno"))
		return expect_errno(argv[2], atoi(argv[3]), argv[4], argc == 6);
	if (argc == 5 && !strcmp(argv[1], "expect-silence"))
		return expect_silence(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: see the comment at the top of shimprobe.c\n");
	return 2;
}
