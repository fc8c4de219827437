// SPDX-License-Identifier: MIT
/*
 * 1 KB request/response over one TCP connection: the message path of a
 * SIP program. The same binary is run with and without the shim, so the
 * only difference between contenders is the path the bytes take.
 *
 *   pingpong server ADDR PORT          echo every message, any number of
 *                                      connections, one after another
 *   pingpong client ADDR PORT N SIZE   N round trips of SIZE bytes; prints
 *                                      "msgs_per_s=... p50_us=... p99_us=..."
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static int full(int fd, char *buf, size_t n, bool rd)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = rd ? read(fd, buf + done, n - done) :
				 write(fd, buf + done, n - done);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int server(const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	int l = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
	char buf[65536];

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&ss, len) < 0 || listen(l, 16) < 0) {
		perror("server");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		ssize_t n;

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while ((n = read(c, buf, sizeof(buf))) > 0)
			if (full(c, buf, (size_t)n, false))
				break;
		close(c);
	}
}

static int client(const char *ip, int port, long n, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	int s = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
	uint64_t *rtt = calloc((size_t)n, sizeof(*rtt)), t0;
	char *buf = malloc(size);

	memset(buf, 'x', size);
	if (connect(s, (void *)&ss, len) < 0) {
		perror("client: connect");
		return 1;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* warm up */
	for (int i = 0; i < 100; i++)
		if (full(s, buf, size, false) || full(s, buf, size, true))
			return 1;
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();

		if (full(s, buf, size, false) || full(s, buf, size, true)) {
			perror("client: round trip");
			return 1;
		}
		rtt[i] = now_ns() - t;
	}
	t0 = now_ns() - t0;
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp);
	printf("msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f\n",
	       (double)n * 1e9 / (double)t0, rtt[n / 2] / 1e3,
	       rtt[(n * 99) / 100] / 1e3);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atol(argv[4]),
			      (size_t)atol(argv[5]));
	fprintf(stderr, "usage: pingpong server ADDR PORT | "
			"client ADDR PORT N SIZE\n");
	return 2;
}
