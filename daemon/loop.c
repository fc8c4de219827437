// SPDX-License-Identifier: MIT
/*
 * The daemon's event loop: readiness callbacks per descriptor.
 *
 * The io_uring backend arms a one-shot poll per descriptor and re-arms it
 * after each callback, so readiness is level-triggered as with poll(2): a
 * callback may read part of what is there and be called again. (Multishot
 * poll fires on wake-ups only, which would strand data a callback left
 * unread.) Completions are reaped in batches. The poll(2) backend exists
 * for hosts where io_uring is disabled (kernel.io_uring_disabled, seccomp
 * in containers) and is chosen, and said so, when the ring cannot be set
 * up. Both deliver the same callbacks, so nothing above this file knows
 * which one runs.
 *
 * A watch is identified by fd and a generation number; completions of a
 * removed watch (its poll was cancelled, or a new watch reuses the fd)
 * carry an old generation and are ignored.
 *
 * Listeners accept through loop_accept(), which keeps one descriptor in
 * reserve so that running out of them sheds connections instead of
 * spinning (level-triggered readiness on a backlog it cannot drain).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipsecd.h"

#define RING_ENTRIES 256
#define SHED_LOG_MS 10000 /* one line per this long while shedding */

struct watch {
	loop_cb cb;
	void *arg;
	uint32_t events;
	uint32_t gen;
	bool active;
};

struct loop {
	bool uring;
	bool stop;
	struct io_uring ring;
	struct watch *w; /* indexed by fd */
	size_t cap;
	/* poll backend */
	struct pollfd *pfd;
	uint32_t *pgen; /* generation of each pfd entry when it was built */
	size_t npfd;
	bool dirty;
	/* loop_accept() */
	int spare; /* closed to make room for one accept, then reopened */
	uint64_t shed, shed_log_ms;
};

static uint64_t udata(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static struct io_uring_sqe *get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

static int arm(struct loop *l, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, l->w[fd].events);
	io_uring_sqe_set_data64(sqe, udata(fd, l->w[fd].gen));
	return 0;
}

static int disarm(struct loop *l, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, udata(fd, l->w[fd].gen));
	io_uring_sqe_set_data64(sqe, UINT64_MAX); /* its own result: ignored */
	return 0;
}

int loop_new(struct loop **out, enum uring_mode mode)
{
	struct loop *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return -ENOMEM;
	l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (mode != URING_OFF) {
		err = io_uring_queue_init(RING_ENTRIES, &l->ring, 0);
		if (err == 0)
			l->uring = true;
		else
			log_info("io_uring unavailable (%s): using poll(2)",
				 strerror(-err));
	}
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->uring)
		io_uring_queue_exit(&l->ring);
	if (l->spare >= 0)
		close(l->spare);
	free(l->w);
	free(l->pfd);
	free(l->pgen);
	free(l);
}

const char *loop_backend(const struct loop *l)
{
	return l->uring ? "io_uring" : "poll";
}

static int grow(struct loop *l, int fd)
{
	size_t cap = l->cap ? l->cap : 64;
	struct watch *w;

	while (cap <= (size_t)fd)
		cap *= 2;
	if (cap == l->cap)
		return 0;
	w = realloc(l->w, cap * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + l->cap, 0, (cap - l->cap) * sizeof(*w));
	l->w = w;
	l->cap = cap;
	return 0;
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_cb cb, void *arg)
{
	int err;

	if (fd < 0)
		return -EBADF;
	err = grow(l, fd);
	if (err)
		return err;
	if (l->w[fd].active)
		return -EEXIST;
	l->w[fd].cb = cb;
	l->w[fd].arg = arg;
	l->w[fd].events = events;
	l->w[fd].gen++;
	l->w[fd].active = true;
	l->dirty = true;
	if (l->uring) {
		err = arm(l, fd);
		if (err)
			l->w[fd].active = false;
	}
	return err;
}

int loop_del(struct loop *l, int fd)
{
	int err = 0;

	if (fd < 0 || (size_t)fd >= l->cap || !l->w[fd].active)
		return -ENOENT;
	if (l->uring)
		err = disarm(l, fd);
	l->w[fd].active = false;
	l->w[fd].gen++;
	l->dirty = true;
	return err;
}

int loop_mod(struct loop *l, int fd, uint32_t events)
{
	loop_cb cb;
	void *arg;
	int err;

	if (fd < 0 || (size_t)fd >= l->cap || !l->w[fd].active)
		return -ENOENT;
	if (l->w[fd].events == events)
		return 0;
	cb = l->w[fd].cb;
	arg = l->w[fd].arg;
	err = loop_del(l, fd);
	return err ? err : loop_add(l, fd, events, cb, arg);
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

static void dispatch(struct loop *l, int fd, uint32_t gen, uint32_t revents)
{
	struct watch *w;

	if ((size_t)fd >= l->cap)
		return;
	w = &l->w[fd];
	if (!w->active || w->gen != gen)
		return;
	w->cb(l, fd, revents, w->arg);
}

static int run_uring(struct loop *l)
{
	while (!l->stop) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int err;

		err = io_uring_submit_and_wait(&l->ring, 1);
		if (err < 0 && err != -EINTR)
			return err;
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			uint64_t ud = io_uring_cqe_get_data64(cqe);
			int fd = (int)(uint32_t)ud, res = cqe->res;
			uint32_t gen = (uint32_t)(ud >> 32);

			n++;
			if (ud == UINT64_MAX || res == -ECANCELED)
				continue;
			if (res < 0)
				res = POLLERR;
			dispatch(l, fd, gen, (uint32_t)res);
			/* Re-arm if the watch is still the one this poll
			 * served (the callback may have removed it). */
			if ((size_t)fd < l->cap && l->w[fd].active &&
			    l->w[fd].gen == gen)
				arm(l, fd);
		}
		io_uring_cq_advance(&l->ring, n);
	}
	return 0;
}

static int rebuild(struct loop *l)
{
	size_t n = 0;

	for (size_t fd = 0; fd < l->cap; fd++)
		n += l->w[fd].active;
	free(l->pfd);
	free(l->pgen);
	l->pfd = calloc(n ? n : 1, sizeof(*l->pfd));
	l->pgen = calloc(n ? n : 1, sizeof(*l->pgen));
	if (!l->pfd || !l->pgen)
		return -ENOMEM;
	l->npfd = 0;
	for (size_t fd = 0; fd < l->cap; fd++) {
		if (!l->w[fd].active)
			continue;
		l->pfd[l->npfd].fd = (int)fd;
		l->pfd[l->npfd].events = (short)l->w[fd].events;
		l->pgen[l->npfd] = l->w[fd].gen;
		l->npfd++;
	}
	l->dirty = false;
	return 0;
}

static int run_poll(struct loop *l)
{
	while (!l->stop) {
		int n;

		if (l->dirty && rebuild(l))
			return -ENOMEM;
		n = poll(l->pfd, l->npfd, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A callback may remove or re-add others: dispatch() skips
		 * entries whose generation is no longer current. */
		for (size_t i = 0; i < l->npfd && n > 0; i++) {
			int fd = l->pfd[i].fd;

			if (!l->pfd[i].revents)
				continue;
			n--;
			dispatch(l, fd, l->pgen[i], (uint16_t)l->pfd[i].revents);
			if (l->stop)
				break;
		}
	}
	return 0;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	return l->uring ? run_uring(l) : run_poll(l);
}

static void shed_log(struct loop *l, const char *what, int err)
{
	uint64_t now = now_ms();
	char note[96];

	l->shed++;
	if (now < l->shed_log_ms)
		return;
	log_warnx("%s: connection refused and closed: %s (%s); %llu refused "
		  "so far", what, strerror(-err),
		  nofile_note(note, sizeof(note)), (unsigned long long)l->shed);
	l->shed_log_ms = now + SHED_LOG_MS;
}

int loop_accept(struct loop *l, int fd, struct sockaddr *sa, socklen_t *len,
		const char *what)
{
	int s = accept4(fd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC), err;

	if (s >= 0)
		return s;
	err = -errno;
	if ((err != -EMFILE && err != -ENFILE) || l->spare < 0)
		return err;
	close(l->spare);
	s = accept4(fd, sa, len, SOCK_CLOEXEC);
	if (s >= 0) {
		close(s);
		shed_log(l, what, err);
	} else {
		err = -errno; /* nothing waited after all */
	}
	l->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return err;
}

int loop_listen(struct loop *l, int type, const struct sockaddr *sa,
		socklen_t len, int backlog, loop_cb cb, void *arg)
{
	int fd, err, one = 1, zero = 0;

	fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sa->sa_family != AF_UNIX) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* A TLS port on one address and on the wildcard (ESP
		 * keying, esp.c) at once; the kernel gives a connection to
		 * the more specific one. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	}
	/* An IPv6 wildcard listens for IPv4 too, as programs expect. */
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = loop_add(l, fd, POLLIN, cb, arg);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}
