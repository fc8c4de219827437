/* SPDX-License-Identifier: MIT */
/*
 * libsipsec.so's map. The shim is loaded with LD_PRELOAD into a program
 * that cannot be changed; it intercepts the socket calls that carry SIP
 * and hands those sockets to sipsecd. Every other socket goes straight to
 * the real call: no allocation, no lock.
 */
#ifndef SIPSEC_SHIM_H
#define SIPSEC_SHIM_H

#include <sys/socket.h>

/* init.c: the real functions, resolved once */
struct real_calls {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*close)(int);
};

extern struct real_calls real;

/** @brief Resolve the real calls; safe to call from every hook. */
void shim_init(void);

#endif
