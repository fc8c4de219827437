/* SPDX-License-Identifier: MIT */
/*
 * Two daemon ends of one TLS connection in a test process, on a socket
 * pair: what each end holds, stepping both handshakes, and freeing both.
 * Shared by the tests that run daemon/tls.c's handshakes (test_tls_psk,
 * test_tls_chain); each keeps the ends in its own statics.
 */
#ifndef SIPSEC_TESTS_TLS_PAIR_H
#define SIPSEC_TESTS_TLS_PAIR_H

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

struct end {
	struct config *cfg;
	SSL *ssl;
	int fd, rc;
	char why[256], expect[80];
};

/* Step both handshakes until neither waits; a side that fails closes its
 * end, as the daemon would, so the other one ends too. */
static inline void tls_pair_handshake(struct end *cli, struct end *srv)
{
	struct end *ends[] = { cli, srv };
	uint32_t want;

	cli->rc = srv->rc = -EAGAIN;
	for (int round = 0; round < 100; round++) {
		for (int i = 0; i < 2; i++) {
			struct end *e = ends[i];

			if (e->rc != -EAGAIN)
				continue;
			e->rc = tls_handshake(e->ssl, &want, e->why,
					      sizeof(e->why));
			if (e->rc && e->rc != -EAGAIN)
				shutdown(e->fd, SHUT_RDWR);
		}
		if (cli->rc != -EAGAIN && srv->rc != -EAGAIN)
			return;
		poll(&(struct pollfd){ .fd = cli->fd, .events = POLLIN }, 1, 10);
	}
	cr_assert_fail("handshake still running: client %d, server %d",
		       cli->rc, srv->rc);
}

/* Both ends freed, their descriptors closed, the TLS contexts flushed. */
static inline void tls_pair_free(struct end *cli, struct end *srv)
{
	struct end *ends[] = { cli, srv };

	for (int i = 0; i < 2; i++) {
		SSL_free(ends[i]->ssl);
		if (ends[i]->fd >= 0)
			close(ends[i]->fd);
		config_free(ends[i]->cfg);
		memset(ends[i], 0, sizeof(*ends[i]));
		ends[i]->fd = -1;
	}
	tls_ctx_flush();
}

#endif
