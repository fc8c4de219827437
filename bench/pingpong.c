// SPDX-License-Identifier: MIT
/*
 * The message path of a SIP program, measured from the program's side.
 * The same binary runs with and without the shim, so the only difference
 * between contenders is the path the bytes take.
 *
 *   pingpong server ADDR PORT           echo every byte; connections are
 *                                       served concurrently (poll)
 *   pingpong client ADDR PORT N SIZE    N request/response round trips of
 *                                       SIZE bytes on one connection:
 *                                       "msgs_per_s=.. p50_us=.. p99_us=.."
 *   pingpong stream ADDR PORT N SIZE    N messages sent back to back while
 *                                       the echoes are read: "msgs_per_s=.."
 *   pingpong connect ADDR PORT N SIZE   N connections one after another,
 *                                       each one round trip, then closed:
 *                                       "conns_per_s=.. p50_us=.. p99_us=.."
 *   pingpong hold ADDR PORT N           open N connections, one round trip
 *                                       each, print "held=N", keep them
 *                                       until stdin closes
 *   pingpong passthru N                 N times socket(), connect() to a
 *                                       closed non-SIP port, close(): the
 *                                       calls the shim passes straight
 *                                       through: "ns_per_iter=.."
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
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
	struct pollfd *p = calloc(65536, sizeof(*p));
	size_t n = 1;
	char buf[65536];

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&ss, len) < 0 || listen(l, 4096) < 0) {
		perror("server");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	p[0].fd = l;
	p[0].events = POLLIN;
	for (;;) {
		if (poll(p, n, -1) < 0)
			continue;
		if ((p[0].revents & POLLIN) && n < 65536) {
			int c = accept(l, NULL, NULL);

			if (c >= 0) {
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				p[n].fd = c;
				p[n].events = POLLIN;
				p[n++].revents = 0;
			}
		}
		for (size_t i = 1; i < n; i++) {
			ssize_t r;

			if (!p[i].revents)
				continue;
			r = read(p[i].fd, buf, sizeof(buf));
			if (r <= 0 || full(p[i].fd, buf, (size_t)r, false)) {
				close(p[i].fd);
				p[i--] = p[--n];
			}
		}
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

struct streamer {
	int fd;
	long n;
	size_t size;
};

static void *writer(void *arg)
{
	struct streamer *w = arg;
	char *buf = malloc(w->size);

	memset(buf, 's', w->size);
	for (long i = 0; i < w->n; i++)
		if (full(w->fd, buf, w->size, false))
			break;
	free(buf);
	return NULL;
}

static int stream(const char *ip, int port, long n, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	int s = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
	struct streamer w = { s, n, size };
	char *buf = malloc(size);
	pthread_t t;
	uint64_t t0;

	if (connect(s, (void *)&ss, len) < 0) {
		perror("stream: connect");
		return 1;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	t0 = now_ns();
	pthread_create(&t, NULL, writer, &w);
	for (long i = 0; i < n; i++)
		if (full(s, buf, size, true)) {
			perror("stream: read");
			return 1;
		}
	t0 = now_ns() - t0;
	pthread_join(t, NULL);
	printf("msgs_per_s=%.0f\n", (double)n * 1e9 / (double)t0);
	close(s);
	return 0;
}

static int one_conn(const struct sockaddr_storage *ss, socklen_t len,
		    char *buf, size_t size)
{
	int s = socket(ss->ss_family, SOCK_STREAM, 0), one = 1;

	if (s < 0)
		return -1;
	if (connect(s, (const void *)ss, len) < 0 ||
	    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    full(s, buf, size, false) || full(s, buf, size, true)) {
		close(s);
		return -1;
	}
	return s;
}

static int connrate(const char *ip, int port, long n, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	uint64_t *rtt = calloc((size_t)n, sizeof(*rtt)), t0;
	char *buf = malloc(size);

	memset(buf, 'c', size);
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t t = now_ns();
		int s = one_conn(&ss, len, buf, size);

		if (s < 0) {
			perror("connect: round trip");
			return 1;
		}
		close(s);
		rtt[i] = now_ns() - t;
	}
	t0 = now_ns() - t0;
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp);
	printf("conns_per_s=%.0f p50_us=%.1f p99_us=%.1f\n",
	       (double)n * 1e9 / (double)t0, rtt[n / 2] / 1e3,
	       rtt[(n * 99) / 100] / 1e3);
	return 0;
}

static int hold(const char *ip, int port, long n)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(ip, port, &ss);
	char buf[64] = "hold", c;
	long held = 0;

	for (; held < n; held++)
		if (one_conn(&ss, len, buf, sizeof(buf)) < 0) {
			perror("hold");
			break;
		}
	printf("held=%ld\n", held);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return held == n ? 0 : 1;
}

static int passthru(long n)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr("127.0.0.1", 9, &ss);
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0 || connect(s, (void *)&ss, len) == 0 ||
		    errno != ECONNREFUSED) {
			perror("passthru");
			return 1;
		}
		close(s);
	}
	printf("ns_per_iter=%.0f\n", (double)(now_ns() - t0) / (double)n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atol(argv[4]),
			      (size_t)atol(argv[5]));
	if (argc == 6 && !strcmp(argv[1], "stream"))
		return stream(argv[2], atoi(argv[3]), atol(argv[4]),
			      (size_t)atol(argv[5]));
	if (argc == 6 && !strcmp(argv[1], "connect"))
		return connrate(argv[2], atoi(argv[3]), atol(argv[4]),
				(size_t)atol(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return hold(argv[2], atoi(argv[3]), atol(argv[4]));
	if (argc == 3 && !strcmp(argv[1], "passthru"))
		return passthru(atol(argv[2]));
	fprintf(stderr, "usage: see the comment at the top of pingpong.c\n");
	return 2;
}
