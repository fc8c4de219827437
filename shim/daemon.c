// SPDX-License-Identifier: MIT
/*
 * The shim's conversations with sipsecd. Each request opens its own
 * control connection: no lock around a shared one, nothing to redo after
 * fork(), and a connection setup is cheap next to a TLS handshake.
 *
 * The SIP ports are asked once and cached (SIPSEC_SIP_PORTS overrides);
 * while the daemon is unreachable the shim assumes 5060 and asks again
 * every few seconds, so that a connect to a SIP port is refused, never
 * let out in cleartext.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sipsec.h"
#include "sipsec_ctl.h"
#include "shim.h"

#define RETRY_S 5

/* Read on every connect() and listen() without a lock: each port is an
 * atomic, and a fetch (under the lock, at most every RETRY_S seconds
 * until one succeeds) rewrites them in place. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint16_t ports[32] = { 5060 };
static _Atomic uint32_t timeout_ms = 5000;
static _Atomic time_t fetched_at;
static _Atomic bool settled; /* from the environment or the daemon */

static const char *ctl_name(void)
{
	return getenv("SIPSEC_CONTROL");
}

/* Returns a greeted control connection, or -ESRCH when the daemon cannot
 * be reached at all (not running in this network namespace), or another
 * -errno when it refused us. */
static int open_ctl(void)
{
	int fd, err;

	shim_busy++;
	fd = sipsec_ctl_connect(ctl_name());
	if (fd == -ECONNREFUSED || fd == -ENOENT)
		fd = -ESRCH;
	if (fd >= 0 && (err = sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_SHIM))) {
		real.close(fd);
		fd = err;
	}
	shim_busy--;
	return fd;
}

/* Waits for the reply to seq; returns its length or -errno. */
static ssize_t wait_reply(int fd, uint32_t seq, char *buf, size_t cap,
			  int timeout)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct sipsec_ctl_hdr h;
		long left;
		ssize_t n;
		int rfd, rc;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout - ((now.tv_sec - start.tv_sec) * 1000 +
				  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return rc < 0 ? -errno : -ETIMEDOUT;
		n = sipsec_ctl_recv(fd, buf, cap, &rfd);
		if (rfd >= 0)
			real.close(rfd);
		if (n <= 0)
			return n ? n : -ECONNRESET;
		memcpy(&h, buf, sizeof(h));
		if (h.seq != seq)
			continue;
		return h.status ? h.status : n;
	}
}

static void set_ports(const uint16_t *p, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(ports); i++)
		ports[i] = i < n ? p[i] : 0;
}

static void parse_env_ports(const char *s)
{
	uint16_t p[ARRAY_SIZE(ports)] = { 5060 };
	size_t n = 1;

	if (sipsec_parse_port_list(s, p, ARRAY_SIZE(p), &n)) {
		p[0] = 5060; /* unreadable: fail closed on the usual port */
		n = 1;
	}
	set_ports(p, n);
}

static void fetch_policy(void)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_policy pol;
	time_t now = time(NULL);
	const char *env;
	ssize_t n;
	int fd;

	if (settled || now - fetched_at < RETRY_S)
		return;
	fetched_at = now;
	if ((env = getenv("SIPSEC_SIP_PORTS"))) {
		parse_env_ports(env);
		settled = true;
		return;
	}
	fd = open_ctl();
	if (fd < 0)
		return;
	if (sipsec_ctl_send(fd, SIPSEC_CTL_POLICY, 1, 0, 0, NULL, 0, -1) == 0 &&
	    (n = wait_reply(fd, 1, buf, sizeof(buf), 2000)) ==
		    (ssize_t)(sizeof(struct sipsec_ctl_hdr) + sizeof(pol))) {
		size_t k = 0;

		memcpy(&pol, buf + sizeof(struct sipsec_ctl_hdr), sizeof(pol));
		while (k < ARRAY_SIZE(pol.sip_ports) && pol.sip_ports[k])
			k++;
		set_ports(pol.sip_ports, k);
		timeout_ms = pol.handshake_timeout_ms;
		settled = true;
	}
	real.close(fd);
}

bool shim_is_sip_port(uint16_t port)
{
	if (!settled && time(NULL) - fetched_at >= RETRY_S) {
		pthread_mutex_lock(&lock);
		fetch_policy();
		pthread_mutex_unlock(&lock);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		uint16_t p = ports[i];

		if (!p)
			break;
		if (p == port)
			return true;
	}
	return false;
}

uint32_t shim_handshake_timeout_ms(void)
{
	return timeout_ms;
}

int shim_handoff(int fd, const struct sockaddr *peer,
		 struct sipsec_ctl_connected *out)
{
	struct sipsec_ctl_connect req = { 0 };
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sockaddr_storage ss;
	int c, err;
	ssize_t n;

	memcpy(&ss, peer, peer->sa_family == AF_INET ?
				  sizeof(struct sockaddr_in) :
				  sizeof(struct sockaddr_in6));
	sipsec_sa_to_ctl(&ss, &req.peer);
	c = open_ctl();
	if (c < 0)
		return c;
	err = sipsec_ctl_send(c, SIPSEC_CTL_CONNECT, 1, 0, 0, &req,
			      sizeof(req), fd);
	if (!err) {
		/* The daemon bounds the handshake; allow it a margin. */
		n = wait_reply(c, 1, buf, sizeof(buf),
			       (int)shim_handshake_timeout_ms() + 2000);
		if (n == (ssize_t)(sizeof(struct sipsec_ctl_hdr) + sizeof(*out)))
			memcpy(out, buf + sizeof(struct sipsec_ctl_hdr),
			       sizeof(*out));
		else
			err = n < 0 ? (int)n : -EBADMSG;
	}
	real.close(c);
	return err;
}

int shim_listen_register(const struct sipsec_ctl_listen *req)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	ssize_t n;
	int c, err;

	c = open_ctl();
	if (c < 0)
		return c;
	err = sipsec_ctl_send(c, SIPSEC_CTL_LISTEN, 1, 0, 0, req, sizeof(*req),
			      -1);
	if (!err) {
		n = wait_reply(c, 1, buf, sizeof(buf), 3000);
		err = n < 0 ? (int)n : 0;
	}
	real.close(c);
	return err;
}

int shim_udp_register(int fd, const struct sockaddr_storage *bound,
		      struct sockaddr_storage *relay, uint8_t *path)
{
	struct sipsec_ctl_udp req = { 0 };
	struct sipsec_ctl_udp_ok ok;
	char buf[SIPSEC_CTL_MAX_MSG];
	socklen_t len;
	ssize_t n;
	int c, err;

	sipsec_sa_to_ctl(bound, &req.bound);
	c = open_ctl();
	if (c < 0)
		return c;
	err = sipsec_ctl_send(c, SIPSEC_CTL_UDP, 1, 0, 0, &req, sizeof(req),
			      fd);
	if (!err) {
		n = wait_reply(c, 1, buf, sizeof(buf), 3000);
		if (n == (ssize_t)(sizeof(struct sipsec_ctl_hdr) + sizeof(ok))) {
			memcpy(&ok, buf + sizeof(struct sipsec_ctl_hdr),
			       sizeof(ok));
			sipsec_ctl_to_sa(&ok.relay, relay, &len);
			*path = ok.path;
			if (relay->ss_family != bound->ss_family ||
			    (ok.path != SIPSEC_PATH_USERSPACE &&
			     ok.path != SIPSEC_PATH_KERNEL))
				err = -EBADMSG;
		} else {
			err = n < 0 ? (int)n : -EBADMSG;
		}
	}
	real.close(c);
	return err;
}

int shim_fetch(uint64_t id, const uint8_t *secret)
{
	struct sipsec_ctl_fetch req = { .id = id };
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_hdr h;
	int c, err, k = -1, type = 0;
	socklen_t len = sizeof(type);
	ssize_t n;

	memcpy(req.secret, secret, sizeof(req.secret));
	c = open_ctl();
	if (c < 0)
		return c;
	err = sipsec_ctl_send(c, SIPSEC_CTL_FETCH, 1, 0, 0, &req, sizeof(req),
			      -1);
	if (err)
		goto out;
	/* The socket is waiting already: the reply is immediate. */
	{
		struct pollfd p = { .fd = c, .events = POLLIN };

		if (poll(&p, 1, 2000) != 1) {
			err = -ETIMEDOUT;
			goto out;
		}
	}
	n = sipsec_ctl_recv(c, buf, sizeof(buf), &k);
	if (n < (ssize_t)sizeof(h)) {
		err = n < 0 ? (int)n : -EBADMSG;
		goto out;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.status || h.type != SIPSEC_CTL_FETCH) {
		err = h.status ? h.status : -EBADMSG;
		goto out;
	}
	/* Validated before use: a connected TCP socket. */
	if (k < 0 || getsockopt(k, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM) {
		err = -EBADMSG;
		goto out;
	}
out:
	real.close(c);
	if (err && k >= 0)
		real.close(k);
	return err ? err : k;
}
