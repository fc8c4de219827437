// SPDX-License-Identifier: MIT
/*
 * The user-space data path: where the kernel cannot do the record crypto
 * (no kTLS), the daemon carries the bytes between the program and TLS.
 *
 * The program keeps a real TCP socket (its own, for connect(); a fresh
 * one handed to accept()), connected over loopback to one of the relay
 * endpoints below. Its epoll/poll registrations, socket options and
 * blocking behaviour therefore stay exactly as without sipsec. A relay
 * connection is paired with the protected connection it belongs to by
 * the address of the program's end, which relay_pair() learns when it
 * makes the connection; anything else that connects here is closed.
 *
 * The pump moves at most RELAY_BUF bytes each way per connection and
 * stops reading a side whose destination is full, so memory per
 * connection is bounded and a slow reader slows its writer, nothing else.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

#define RELAY_LINGER_MS 30000

struct pairing {
	struct pairing *next;
	struct sockaddr_storage addr;
	struct conn *c;
};

static struct pairing *pairings;

/* The pairing waiting for the program's end from ss, unlinked. */
static struct pairing *pairing_take(const struct sockaddr_storage *ss)
{
	struct pairing **pp, *p;

	for (pp = &pairings; (p = *pp); pp = &p->next)
		if (sipsec_sa_equal(&p->addr, ss)) {
			*pp = p->next;
			return p;
		}
	return NULL;
}

static void on_accept(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct pairing *p;
	char a[64];
	int s, one = 1;

	(void)ev;
	(void)arg;
	s = loop_accept(l, fd, (struct sockaddr *)&ss, &len, "relay");
	if (s == -EMFILE || s == -ENFILE) {
		/* Shed: the program's end is closed; so is what waited
		 * for it, at once rather than at its time-out. */
		p = pairing_take(&ss);
		if (p) {
			conn_close(p->c, "no descriptor left for the "
					 "program's end (open-file limit)");
			free(p);
		}
		return;
	}
	if (s < 0)
		return;
	p = pairing_take(&ss);
	if (!p) {
		log_warnx("relay: unexpected connection from %s closed",
			  sipsec_sa_format((struct sockaddr *)&ss, a, sizeof(a)));
		close(s);
		return;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->c->plain_fd = s;
	conn_run(p->c);
	free(p);
}

static int open_endpoint(struct daemon *d, int i, int family)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, err;

	if (family == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	fd = loop_listen(d->loop, SOCK_STREAM, (struct sockaddr *)&ss, len,
			 4096, on_accept, d);
	if (fd < 0)
		return fd;
	if (getsockname(fd, (struct sockaddr *)&d->relay_addr[i], &len) < 0) {
		err = -errno;
		loop_del(d->loop, fd);
		close(fd);
		return err;
	}
	d->relay_fd[i] = fd;
	return 0;
}

int relay_init(struct daemon *d)
{
	int err;

	d->relay_fd[0] = d->relay_fd[1] = -1;
	err = open_endpoint(d, 0, AF_INET);
	if (err)
		return err;
	/* IPv6 loopback can be disabled; IPv6 programs then cannot be
	 * relayed, and their connections are refused. */
	if (open_endpoint(d, 1, AF_INET6))
		log_info("relay: no IPv6 loopback; IPv6 programs cannot use "
			 "the user-space path");
	return 0;
}

void relay_exit(struct daemon *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->relay_fd[i] < 0)
			continue;
		loop_del(d->loop, d->relay_fd[i]);
		close(d->relay_fd[i]);
		d->relay_fd[i] = -1;
	}
}

int relay_pair(struct conn *c, int fd)
{
	struct daemon *d = c->d;
	struct pairing *p;
	socklen_t len;
	int domain, i;

	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	i = domain == AF_INET6;
	if (d->relay_fd[i] < 0)
		return -EAFNOSUPPORT;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	len = domain == AF_INET ? sizeof(struct sockaddr_in) :
				  sizeof(struct sockaddr_in6);
	/* On loopback a blocking connect completes at once, and a
	 * non-blocking one has its local address as soon as it starts. */
	if (connect(fd, (struct sockaddr *)&d->relay_addr[i], len) < 0 &&
	    errno != EINPROGRESS) {
		int err = -errno;

		free(p);
		return err;
	}
	len = sizeof(p->addr);
	if (getsockname(fd, (struct sockaddr *)&p->addr, &len) < 0) {
		int err = -errno;

		free(p);
		return err;
	}
	p->c = c;
	p->next = pairings;
	pairings = p;
	return 0;
}

void relay_forget(struct conn *c)
{
	struct pairing **pp, *p;

	for (pp = &pairings; (p = *pp); pp = &p->next) {
		if (p->c == c) {
			*pp = p->next;
			free(p);
			return;
		}
	}
}

/* Relay buffers exist only while they hold bytes: an idle connection
 * costs its socket and SSL state, not 2 x RELAY_BUF. */
static struct relay_buf *buf_get(struct relay_buf **b)
{
	if (!*b)
		*b = malloc(sizeof(**b));
	if (*b)
		(*b)->off = (*b)->len = 0;
	return *b;
}

static void buf_put(struct relay_buf **b)
{
	if (*b && (*b)->off == (*b)->len) {
		free(*b);
		*b = NULL;
	}
}

static size_t buf_used(const struct relay_buf *b)
{
	return b ? b->len - b->off : 0;
}

static void compact(struct relay_buf *b)
{
	if (b->off && b->len == RELAY_BUF) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
}

/* program -> peer: read plaintext, SSL_write it. Reads only when the loop
 * said the program's side is readable, so an idle side costs no EAGAIN. */
static int pump_up(struct conn *c, bool *progress)
{
	struct relay_buf *b = c->up;
	ssize_t n;
	int r;

	if (!c->plain_eof && c->plain_readable && (b || buf_get(&c->up))) {
		b = c->up;
		compact(b);
		if (b->len < RELAY_BUF) {
			n = read(c->plain_fd, b->data + b->len, RELAY_BUF - b->len);
			if (n > 0) {
				/* A short read drained the socket: no need to
				 * ask again until the loop says so. */
				if ((size_t)n < RELAY_BUF - b->len)
					c->plain_readable = false;
				b->len += (size_t)n;
				c->bytes_out += (uint64_t)n;
				*progress = true;
			} else if (n == 0) {
				c->plain_eof = true;
				*progress = true;
			} else if (errno == EAGAIN) {
				c->plain_readable = false;
			} else if (errno != EINTR) {
				return -errno;
			}
		}
	} else if (!c->plain_eof && c->plain_readable) {
		return -ENOMEM;
	}
	if (buf_used(b)) {
		c->ssl_wants_write = false;
		r = SSL_write(c->ssl, b->data + b->off, (int)(b->len - b->off));
		if (r > 0) {
			b->off += (size_t)r;
			*progress = true;
		} else {
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_WRITE: c->ssl_wants_write = true; break;
			case SSL_ERROR_WANT_READ: c->ssl_wants_read = true; break;
			default: return -EPIPE;
			}
		}
	}
	buf_put(&c->up);
	if (c->plain_eof && !buf_used(c->up) && !c->tls_shut) {
		/* The program closed or shut down its sending side: say so
		 * with close_notify; the other direction can go on. */
		SSL_shutdown(c->ssl);
		c->tls_shut = true;
		*progress = true;
	}
	return 0;
}

static bool unexpected_eof(void)
{
	unsigned long e = ERR_peek_error();

	ERR_clear_error();
	return !e || ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* peer -> program: SSL_read, write the plaintext. */
static int pump_down(struct conn *c, bool *progress)
{
	struct relay_buf *b = c->down;
	ssize_t n;
	int r;

	if (!c->tls_eof && (c->tls_readable || SSL_has_pending(c->ssl))) {
		if (!b && !(b = buf_get(&c->down)))
			return -ENOMEM;
		compact(b);
	}
	if (b && !c->tls_eof && (c->tls_readable || SSL_has_pending(c->ssl)) &&
	    b->len < RELAY_BUF) {
		c->ssl_wants_read = false;
		r = SSL_read(c->ssl, b->data + b->len, (int)(RELAY_BUF - b->len));
		if (r > 0) {
			b->len += (size_t)r;
			c->bytes_in += (uint64_t)r;
			*progress = true;
			/* Read-ahead took what the socket held; nothing left
			 * in OpenSSL's buffer means it was drained: wait for
			 * the loop rather than read into EAGAIN (one syscall
			 * less per record; the poll is level-triggered). */
			if (!SSL_has_pending(c->ssl))
				c->tls_readable = false;
		} else {
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				c->ssl_wants_read = true;
				c->tls_readable = false;
				/* SSL_MODE_RELEASE_BUFFERS frees the read
				 * buffer after application data, not after a
				 * record OpenSSL consumes itself (a session
				 * ticket): 16.7 KB an idle connection would
				 * hold. Kept while a partial record is in it. */
				SSL_free_buffers(c->ssl);
				break;
			case SSL_ERROR_WANT_WRITE: c->ssl_wants_write = true; break;
			case SSL_ERROR_ZERO_RETURN: /* close_notify */
				c->tls_eof = true;
				*progress = true;
				break;
			case SSL_ERROR_SYSCALL:
			case SSL_ERROR_SSL:
				/* TCP closed without close_notify (OpenSSL 3
				 * reports it as UNEXPECTED_EOF_WHILE_READING):
				 * common among SIP servers, which close with a
				 * bare FIN. The program sees the end all the
				 * same, as it would have without TLS. */
				if (!unexpected_eof())
					return -EPROTO;
				log_debug("peer closed without close_notify");
				c->tls_eof = true;
				*progress = true;
				break;
			default:
				return -EPROTO;
			}
		}
	}
	if (buf_used(b)) {
		n = write(c->plain_fd, b->data + b->off, b->len - b->off);
		if (n > 0) {
			b->off += (size_t)n;
			*progress = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
	buf_put(&c->down);
	if (c->tls_eof && !buf_used(c->down) && !c->plain_shut) {
		shutdown(c->plain_fd, SHUT_WR);
		c->plain_shut = true;
		*progress = true;
	}
	return 0;
}

void relay_start(struct conn *c)
{
	c->state = CONN_RELAY;
	c->d->n_pending--;
	conn_mirror(c, SIPSEC_PATH_USERSPACE);
	/* Either side may hold bytes already: look once. */
	c->plain_readable = c->tls_readable = true;
	/* Handshake done: read records in batches (one recv for several),
	 * SSL_has_pending() tells what is buffered. */
	SSL_set_read_ahead(c->ssl, 1);
}

void relay_ready(struct conn *c, int fd, uint32_t revents)
{
	bool in = revents & (POLLIN | POLLHUP | POLLERR);

	if (fd == c->plain_fd && in)
		c->plain_readable = true;
	if (fd == c->tls_fd && in)
		c->tls_readable = true;
}

int relay_pump(struct conn *c)
{
	uint32_t tls_ev = 0, plain_ev = 0;
	bool progress;
	int err;

	do {
		progress = false;
		if ((err = pump_up(c, &progress)) ||
		    (err = pump_down(c, &progress)))
			return err;
	} while (progress);
	if (c->plain_eof && c->tls_shut && c->tls_eof && c->plain_shut &&
	    !buf_used(c->up) && !buf_used(c->down))
		return 1;
	/* The program has finished sending; a peer that never finishes
	 * must not hold the connection for ever (conn.c's timer). */
	if (c->tls_shut && !c->linger_ms)
		c->linger_ms = now_ms() + RELAY_LINGER_MS;
	if (!c->plain_eof && buf_used(c->up) < RELAY_BUF)
		plain_ev |= POLLIN;
	if (buf_used(c->down))
		plain_ev |= POLLOUT;
	if ((!c->tls_eof && buf_used(c->down) < RELAY_BUF) || c->ssl_wants_read)
		tls_ev |= POLLIN;
	if (c->ssl_wants_write)
		tls_ev |= POLLOUT;
	conn_watch(c, tls_ev, plain_ev);
	return 0;
}
