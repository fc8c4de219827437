// SPDX-License-Identifier: MIT
/*
 * Readiness of kernel TLS sockets. The kernel wakes poll and epoll for
 * any complete record, also one the program must never see: a TLS 1.3
 * server (Kamailio, anything OpenSSL-based) sends NewSessionTickets right
 * after the handshake, while the program has nothing to read yet. A
 * program that waits for readability and then reads a *blocking* socket
 * (SIPp: "we have only non-blocking reads") relies on that read not
 * blocking; the read hook takes the ticket off and the read then waits
 * for data that only comes after the program's next request: the program
 * hangs in recv() and never sends it.
 *
 * So a readiness report on a kTLS socket is checked before the program
 * sees it: skippable records at the head of the queue are taken off
 * (shim_ktls_settle), and if nothing is left the report is withdrawn (and
 * the wait goes on for the rest of its timeout). Data, end of file,
 * alerts and KeyUpdate stay for the read path, which acts on them.
 *
 * epoll reports the program's data, not descriptors: epoll_ctl records
 * each descriptor's registration (in a table indexed by fd, no syscall),
 * and a report is matched to the kTLS descriptors registered with that
 * data. Nothing of this runs in a process that never got a kTLS socket.
 * select() is covered for descriptors below FD_SETSIZE; pselect() is not.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <time.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))
#define REG_FDS 65536 /* registrations above this fd are not tracked */

struct reg {
	int epfd; /* 0: none (0 is never an epoll descriptor we track) */
	uint32_t events;
	uint64_t data;
};

static struct reg *regs;
static pthread_once_t regs_once = PTHREAD_ONCE_INIT;

static void regs_init(void)
{
	void *p = mmap(NULL, REG_FDS * sizeof(*regs), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	regs = p == MAP_FAILED ? NULL : p;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int rc;

	shim_init();
	rc = real.epoll_ctl(epfd, op, fd, ev);
	if (rc < 0 || fd < 0 || fd >= REG_FDS || epfd <= 0)
		return rc;
	pthread_once(&regs_once, regs_init);
	if (!regs)
		return rc;
	if (op == EPOLL_CTL_DEL) {
		if (regs[fd].epfd == epfd)
			regs[fd].epfd = 0;
	} else if (ev) {
		/* One registration per descriptor is kept, the last. */
		regs[fd] = (struct reg){ .epfd = epfd, .events = ev->events,
					 .data = ev->data.u64 };
	}
	return rc;
}

static bool is_ktls_fd(int fd)
{
	struct sfd *s = fdtab_get(fd);

	return s && s->ktls;
}

/* Withdraws EPOLLIN from reports on kTLS sockets with nothing to read;
 * returns the number of reports left. */
static int filter_epoll(int epfd, struct epoll_event *evs, int n)
{
	int end = fdtab_ktls_end(), saved = errno;

	if (!regs)
		return n;
	for (int fd = 0; fd < end && fd < REG_FDS; fd++) {
		struct reg r = regs[fd];

		if (r.epfd != epfd || !is_ktls_fd(fd))
			continue;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 != r.data ||
			    !(evs[i].events & EPOLLIN) || shim_ktls_settle(fd))
				continue;
			evs[i].events &= ~(uint32_t)(EPOLLIN | EPOLLRDNORM);
			if (evs[i].events)
				continue;
			/* A one-shot registration was disarmed by this
			 * report: arm it again, as the program would have
			 * after reading. */
			if (r.events & EPOLLONESHOT) {
				struct epoll_event e = { .events = r.events,
							 .data.u64 = r.data };

				real.epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
			}
			evs[i--] = evs[--n];
		}
	}
	errno = saved;
	return n;
}

/* Milliseconds left of a poll timeout begun at *start; -1: no limit. */
static int left_ms(int timeout, const struct timespec *start)
{
	struct timespec now;
	long long gone;

	if (timeout < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	gone = (now.tv_sec - start->tv_sec) * 1000LL +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
	return gone >= timeout ? 0 : (int)(timeout - gone);
}

static int epoll_common(int epfd, struct epoll_event *evs, int max,
			int timeout, const sigset_t *mask, bool pwait)
{
	struct timespec start;
	int n, t = timeout;

	shim_init();
	if (!fdtab_ktls_end())
		return pwait ? real.epoll_pwait(epfd, evs, max, t, mask) :
			       real.epoll_wait(epfd, evs, max, t);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		n = pwait ? real.epoll_pwait(epfd, evs, max, t, mask) :
			    real.epoll_wait(epfd, evs, max, t);
		if (n <= 0)
			return n;
		n = filter_epoll(epfd, evs, n);
		if (n > 0 || (t = left_ms(timeout, &start)) == 0)
			return n;
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	return epoll_common(epfd, evs, max, timeout, NULL, false);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max,
		       int timeout, const sigset_t *mask)
{
	return epoll_common(epfd, evs, max, timeout, mask, true);
}

static int filter_poll(struct pollfd *fds, nfds_t nfds, int n)
{
	int saved = errno;

	for (nfds_t i = 0; i < nfds; i++) {
		if (!(fds[i].revents & POLLIN) || !is_ktls_fd(fds[i].fd) ||
		    shim_ktls_settle(fds[i].fd))
			continue;
		fds[i].revents &= ~(short)(POLLIN | POLLRDNORM);
		if (!fds[i].revents)
			n--;
	}
	errno = saved;
	return n;
}

EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct timespec start;
	int n, t = timeout;

	shim_init();
	if (!fdtab_ktls_end())
		return real.poll(fds, nfds, t);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		n = real.poll(fds, nfds, t);
		if (n <= 0)
			return n;
		n = filter_poll(fds, nfds, n);
		if (n > 0 || (t = left_ms(timeout, &start)) == 0)
			return n;
	}
}

EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *ts,
		 const sigset_t *mask)
{
	struct timespec start, left;
	const struct timespec *t = ts;
	long long ms = 0;
	int n;

	shim_init();
	if (!fdtab_ktls_end())
		return real.ppoll(fds, nfds, ts, mask);
	if (ts) {
		ms = ts->tv_sec * 1000LL + ts->tv_nsec / 1000000;
		if (ms > INT_MAX)
			ms = INT_MAX;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		n = real.ppoll(fds, nfds, t, mask);
		if (n <= 0)
			return n;
		n = filter_poll(fds, nfds, n);
		if (n > 0)
			return n;
		if (ts) {
			int l = left_ms((int)ms, &start);

			if (l == 0)
				return 0;
			left = (struct timespec){ .tv_sec = l / 1000,
						  .tv_nsec = l % 1000 * 1000000L };
			t = &left;
		}
	}
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
		  struct timeval *tv)
{
	fd_set r0, w0, e0;
	int n, end;

	shim_init();
	end = fdtab_ktls_end();
	if (!end || !rd)
		return real.select(nfds, rd, wr, ex, tv);
	if (end > nfds)
		end = nfds;
	if (end > FD_SETSIZE)
		end = FD_SETSIZE;
	/* select() overwrites the sets: keep them for a wait that goes on. */
	memcpy(&r0, rd, sizeof(r0));
	if (wr)
		memcpy(&w0, wr, sizeof(w0));
	if (ex)
		memcpy(&e0, ex, sizeof(e0));
	for (;;) {
		int saved;

		n = real.select(nfds, rd, wr, ex, tv);
		if (n <= 0)
			return n;
		saved = errno;
		for (int fd = 0; fd < end; fd++) {
			if (!FD_ISSET(fd, rd) || !is_ktls_fd(fd) ||
			    shim_ktls_settle(fd))
				continue;
			FD_CLR(fd, rd);
			if (!(wr && FD_ISSET(fd, wr)) && !(ex && FD_ISSET(fd, ex)))
				n--;
		}
		errno = saved;
		/* Linux's select() leaves the time not slept in *tv. */
		if (n > 0 || (tv && !tv->tv_sec && !tv->tv_usec))
			return n;
		memcpy(rd, &r0, sizeof(r0));
		if (wr)
			memcpy(wr, &w0, sizeof(w0));
		if (ex)
			memcpy(ex, &e0, sizeof(e0));
	}
}
