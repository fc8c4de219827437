// SPDX-License-Identifier: MIT
/*
 * Per-descriptor state, in a table indexed by fd. The table is one
 * lazily-backed mapping sized by the descriptor limit, so a lookup is a
 * bounds check and a load: no lock, no allocation on the fast path. Only
 * SIP sockets get an entry.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "shim.h"

#define MAX_FDS (1u << 20)

static _Atomic(struct sfd *) *tab;
static size_t tab_size;
/* One past the highest fd that ever held a kTLS socket: the readiness
 * hooks (hooks_poll.c) look no further, and not at all while it is 0. */
static _Atomic int ktls_end;

int fdtab_init(void)
{
	struct rlimit rl;
	size_t n = 65536;
	void *p;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max > n)
		n = rl.rlim_max;
	if (n > MAX_FDS)
		n = MAX_FDS;
	p = mmap(NULL, n * sizeof(*tab), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	tab = p;
	tab_size = n;
	return 0;
}

struct sfd *fdtab_get(int fd)
{
	if (fd < 0 || (size_t)fd >= tab_size)
		return NULL;
	return atomic_load_explicit(&tab[fd], memory_order_acquire);
}

int fdtab_set(int fd, const struct sfd *s)
{
	struct sfd *n, *old;

	if (fd < 0 || (size_t)fd >= tab_size)
		return -EMFILE;
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *s;
	if (n->ktls) {
		int end = atomic_load(&ktls_end);

		while (fd >= end &&
		       !atomic_compare_exchange_weak(&ktls_end, &end, fd + 1))
			;
	}
	if (n->kref)
		atomic_fetch_add(&n->kref->refs, 1);
	if (n->idc)
		shim_idc_ref(n->idc);
	old = atomic_exchange(&tab[fd], n);
	if (old && old->kref && atomic_fetch_sub(&old->kref->refs, 1) == 1)
		free(old->kref);
	if (old && old->idc)
		shim_idc_put(old->idc);
	free(old);
	return 0;
}

void fdtab_clear(int fd)
{
	if (fd < 0 || (size_t)fd >= tab_size)
		return;
	struct sfd *s = atomic_exchange(&tab[fd], NULL);

	if (s && s->kref && atomic_fetch_sub(&s->kref->refs, 1) == 1)
		free(s->kref);
	if (s && s->idc)
		shim_idc_put(s->idc);
	free(s);
}

void fdtab_copy(int from, int to)
{
	struct sfd *s = fdtab_get(from);

	fdtab_clear(to);
	if (s)
		fdtab_set(to, s);
}

int fdtab_ktls_end(void)
{
	return atomic_load_explicit(&ktls_end, memory_order_relaxed);
}
