// SPDX-License-Identifier: MIT
/* The event loop: both backends deliver the same callbacks. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipsecd.h"

struct state {
	int fired, other_fd;
	struct loop *l;
};

static void on_read(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct state *s = arg;
	char c;

	cr_assert(ev & POLLIN);
	cr_assert_eq(read(fd, &c, 1), 1);
	if (++s->fired == 3)
		loop_stop(l);
}

ParameterizedTestParameters(loop, callbacks_fire_until_stopped)
{
	static enum uring_mode modes[] = { URING_AUTO, URING_OFF };

	return cr_make_param_array(enum uring_mode, modes, 2);
}

ParameterizedTest(enum uring_mode *mode, loop, callbacks_fire_until_stopped)
{
	struct state s = { 0 };
	struct loop *l;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(loop_new(&l, *mode), 0);
	if (*mode == URING_OFF)
		cr_assert_str_eq(loop_backend(l), "poll");
	cr_assert_eq(loop_add(l, p[0], POLLIN, on_read, &s), 0);
	cr_assert_eq(loop_add(l, p[0], POLLIN, on_read, &s), -EEXIST);
	cr_assert_eq(write(p[1], "abc", 3), 3);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(s.fired, 3);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

/* Removing another watch from inside a callback must stop its delivery,
 * even when its readiness was already reported in the same batch. */
static void on_first(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct state *s = arg;
	char c;

	(void)ev;
	cr_assert_eq(read(fd, &c, 1), 1);
	s->fired++;
	loop_del(l, s->other_fd);
	loop_stop(l);
}

static void on_never(struct loop *l, int fd, uint32_t ev, void *arg)
{
	(void)l;
	(void)fd;
	(void)ev;
	(void)arg;
	cr_assert_fail("a removed watch fired");
}

ParameterizedTestParameters(loop, a_removed_watch_never_fires)
{
	static enum uring_mode modes[] = { URING_AUTO, URING_OFF };

	return cr_make_param_array(enum uring_mode, modes, 2);
}

ParameterizedTest(enum uring_mode *mode, loop, a_removed_watch_never_fires)
{
	struct state s = { 0 };
	struct loop *l;
	int a[2], b[2];

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	cr_assert_eq(loop_new(&l, *mode), 0);
	s.other_fd = b[0];
	/* lower fd first: the poll backend reports in fd order */
	cr_assert_eq(loop_add(l, a[0], POLLIN, on_first, &s), 0);
	cr_assert_eq(loop_add(l, b[0], POLLIN, on_never, &s), 0);
	cr_assert_eq(write(b[1], "x", 1), 1);
	cr_assert_eq(write(a[1], "x", 1), 1);
	usleep(1000);
	cr_assert_eq(loop_run(l), 0);
	/* one more turn, to reap anything left of the removed watch */
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(s.fired, 2);
	loop_free(l);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* Out of descriptors, a listener's waiting connection is shed: taken with
 * the loop's spare descriptor and closed, so the backlog drains (the loop
 * would otherwise be woken for it again and again) and the peer learns at
 * once. With a descriptor free again, accepting works as before. */
Test(loop, accept_sheds_a_connection_when_out_of_descriptors)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage from;
	socklen_t len = sizeof(sa), flen = sizeof(from);
	struct rlimit rl;
	struct loop *l;
	int lfd, c1, c2, s, filler[64], n = 0;
	char b;

	cr_assert_eq(loop_new(&l, URING_OFF), 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	cr_assert(lfd >= 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(listen(lfd, 8), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	c1 = socket(AF_INET, SOCK_STREAM, 0);
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(c1, (struct sockaddr *)&sa, len), 0);
	/* Every descriptor below the limit in use. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)c2 + 8;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while ((filler[n] = dup(0)) >= 0)
		cr_assert(++n < 64);
	cr_assert_eq(errno, EMFILE);

	s = loop_accept(l, lfd, (struct sockaddr *)&from, &flen, "test");
	cr_assert_eq(s, -EMFILE);
	cr_assert_eq(((struct sockaddr_in *)&from)->sin_family, AF_INET,
		     "the shed connection's address is reported");
	/* Its peer sees the end; nothing waits any more. */
	cr_assert_eq(read(c1, &b, 1), 0);
	cr_assert_eq(loop_accept(l, lfd, NULL, NULL, "test"), -EAGAIN);

	/* The spare is back: the next shortage sheds again. */
	cr_assert_eq(connect(c2, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(loop_accept(l, lfd, NULL, NULL, "test"), -EMFILE);
	cr_assert_eq(read(c2, &b, 1), 0);

	/* A descriptor free: a connection is accepted as usual. */
	close(filler[--n]);
	close(c1);
	c1 = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(c1 >= 0);
	cr_assert_eq(connect(c1, (struct sockaddr *)&sa, len), 0);
	s = loop_accept(l, lfd, NULL, NULL, "test");
	cr_assert(s >= 0, "accept: %s", strerror(-s));
	close(s);
	while (n)
		close(filler[--n]);
	close(c1);
	close(c2);
	close(lfd);
	loop_free(l);
}
