// SPDX-License-Identifier: MIT
/*
 * Resolving the real libc functions. A hook can run before the library
 * constructor (another constructor may open a socket), so every hook calls
 * shim_init() first; pthread_once makes that cheap after the first time.
 * A dlsym() that returns our own hook (a broken preload order) would
 * recurse forever: that is the one case where the shim aborts the program,
 * at load, with a message.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim.h"

struct real_calls real;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *resolve(const char *name, void *self)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn || fn == self) {
		static const char msg[] = "libsipsec: cannot resolve the real "
					  "socket calls; aborting\n";

		(void)!write(2, msg, sizeof(msg) - 1);
		abort();
	}
	return fn;
}

static void init_once(void)
{
	real.connect = resolve("connect", NULL);
	real.close = resolve("close", NULL);
}

void shim_init(void)
{
	pthread_once(&once, init_once);
}

__attribute__((constructor)) static void shim_ctor(void)
{
	shim_init();
}
