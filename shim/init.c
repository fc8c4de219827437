// SPDX-License-Identifier: MIT
/*
 * Resolving the real libc functions. A hook can run before the library
 * constructor (another constructor may open a socket), so every hook calls
 * shim_init() first; pthread_once makes that cheap after the first time.
 * A dlsym() that returns our own hook (a broken preload order) would
 * recurse forever: that is the one case where the shim aborts the program,
 * at load, with a message.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sipsec.h"
#include "shim.h"

struct real_calls real;
__thread int shim_busy;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *resolve(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);
	void *self = dlsym(RTLD_DEFAULT, name);
	Dl_info a, b;

	/* RTLD_NEXT from inside the preloaded library must find libc's
	 * function, never another copy of ours. */
	if (!fn || (self && fn == self && dladdr(fn, &a) && dladdr(shim_init, &b) &&
		    a.dli_fbase == b.dli_fbase)) {
		static const char msg[] = "libsipsec: cannot resolve the real "
					  "socket calls; aborting\n";

		/* Not write(): that is one of our hooks, and init is
		 * running. */
		(void)!syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		abort();
	}
	return fn;
}

static void init_once(void)
{
	const char *log = getenv("SIPSEC_LOG");

	real.bind = resolve("bind");
	real.connect = resolve("connect");
	real.listen = resolve("listen");
	real.accept = resolve("accept");
	real.accept4 = resolve("accept4");
	real.recv = resolve("recv");
	real.read = resolve("read");
	real.recvfrom = resolve("recvfrom");
	real.recvmsg = resolve("recvmsg");
	real.readv = resolve("readv");
	real.sendmsg = resolve("sendmsg");
	real.write = resolve("write");
	real.send = resolve("send");
	real.sendto = resolve("sendto");
	real.writev = resolve("writev");
	real.close = resolve("close");
	real.dup = resolve("dup");
	real.dup2 = resolve("dup2");
	real.dup3 = resolve("dup3");
	real.fcntl = resolve("fcntl");
	real.getpeername = resolve("getpeername");
	real.getsockname = resolve("getsockname");
	real.epoll_ctl = resolve("epoll_ctl");
	real.epoll_wait = resolve("epoll_wait");
	real.epoll_pwait = resolve("epoll_pwait");
	real.poll = resolve("poll");
	real.ppoll = resolve("ppoll");
	real.select = resolve("select");
	log_init("libsipsec", log && !strcmp(log, "stderr") ? LOG_TO_STDERR :
			      LOG_TO_SYSLOG, LOG_LVL_INFO);
	fdtab_init();
}

void shim_init(void)
{
	pthread_once(&once, init_once);
}

__attribute__((constructor)) static void shim_ctor(void)
{
	shim_init();
}

/* Refusals are logged once per (what, address, errno): a program that
 * retries in a loop must not flood the log. */
void shim_log_once(const char *what, const struct sockaddr *sa, int err,
		   const char *detail)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char seen[32][96];
	static unsigned next;
	char key[96], addr[64] = "";
	bool dup = false;

	if (sa)
		sipsec_sa_format(sa, addr, sizeof(addr));
	snprintf(key, sizeof(key), "%s %s %d", what, addr, err);
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < 32 && !dup; i++)
		dup = !strcmp(seen[i], key);
	if (!dup)
		sipsec_strlcpy(seen[next++ % 32], key, sizeof(seen[0]));
	pthread_mutex_unlock(&lock);
	if (dup)
		return;
	if (err)
		log_warnx("%s %s refused: %s%s%s", what, addr, strerror(err),
			  detail ? ": " : "", detail ? detail : "");
	else
		log_warnx("%s %s: %s", what, addr, detail ? detail : "");
}
