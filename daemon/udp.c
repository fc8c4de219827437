// SPDX-License-Identifier: MIT
/*
 * SIP over UDP on the user-space path (DESIGN.md, "User-space data path").
 *
 *   program  --sendto(peer)-->  its own UDP socket  --[sipsec_dgram]-->
 *   our relay address  -->  the channel to the peer's sipsecd (TLS, agreed
 *   with Sipsec-Flow: udp)  -->  the peer's sipsecd  --[sipsec_dgram]-->
 *   the peer program's UDP socket  --recvfrom()--> (real source)
 *
 * The program keeps its own socket: no descriptor is replaced, so its
 * epoll registrations, flags and port stay what they were. The shim sends
 * each datagram to our relay address (loopback, one per family) behind a
 * struct sipsec_dgram naming where the program sent it, and strips the
 * one we put in front of what we deliver, which names where it came from.
 * The shim accepts datagrams from the relay address only.
 *
 * Endpoints: the shim registers each UDP SIP socket (SIPSEC_CTL_UDP) with
 * the socket itself, checked like any received descriptor and closed at
 * once (holding it would keep the port bound after the program exits).
 * A datagram is relayed only from a registered address: another local
 * user cannot have us send in its name.
 *
 * Channels: one TLS connection per peer host, either direction, opened
 * by the first datagram to it and kept while it lives; its datagrams
 * travel as frames, laid out as below. While it is set up,
 * datagrams wait in its bounded queue; a full queue drops, as a full
 * socket buffer would, and counts. The receiving daemon reports as
 * source the channel's authenticated peer address with the sender's
 * port, and delivers to the program registered on the destination port.
 *
 *   frame: be16 length, be16 source port, be16 destination port,
 *          be16 flags (0), then length bytes of the datagram
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "idcheck.h"
#include "sipsecd.h"

#define FRAME_HDR 8
#define DGRAM_MAX 65507 /* the largest UDP payload over IPv4 */
#define CHAN_QUEUE (256 * 1024) /* bytes of frames waiting per channel */
#define CHAN_IN (FRAME_HDR + DGRAM_MAX)
#define RX_BATCH 32 /* datagrams per wake-up, then others get a turn */
/* A channel with no datagram either way for this long is closed; the
 * next datagram, from either side, opens a new one. */
#define CHAN_IDLE_MS (10 * 60 * 1000)

struct udp_ep {
	struct udp_ep *next;
	struct sockaddr_storage bound; /* the program's socket */
	uid_t uid;
	uint64_t in, out, drops;
};

struct chan {
	bool up;
	uint8_t logged[2]; /* identity_check = log: kinds reported per
			    * direction (bits of 1 << idcheck_what) */
	uint64_t last_ms; /* the last datagram either way */
	size_t out_off, out_len, in_len;
	uint64_t in, out, drops; /* datagrams */
	uint8_t out_buf[CHAN_QUEUE];
	uint8_t in_buf[CHAN_IN];
};

static uint8_t pkt[sizeof(struct sipsec_dgram) + DGRAM_MAX];

static int fam_idx(int family)
{
	return family == AF_INET6;
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
		&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
					  sizeof(struct sockaddr_in6);
}

/* --- endpoints: the programs' UDP SIP sockets --- */

static struct udp_ep *ep_find(struct daemon *d, int family, uint16_t port,
			      const struct sockaddr_storage *addr)
{
	for (struct udp_ep *e = d->eps; e; e = e->next) {
		if (e->bound.ss_family != family ||
		    sipsec_sa_port((struct sockaddr *)&e->bound) != port)
			continue;
		if (!addr || is_wildcard(&e->bound) ||
		    sipsec_sa_same_ip(&e->bound, addr))
			return e;
	}
	return NULL;
}

int udp_register(struct daemon *d, const struct sipsec_ctl_udp *req, int fd,
		 uid_t uid, struct sipsec_ctl_udp_ok *ok)
{
	static const struct sock_expect want = { SOCK_DGRAM, -1 };
	struct sockaddr_storage ss = { 0 }, asked;
	socklen_t len = sizeof(ss);
	struct udp_ep *e;
	char a[64];
	int err, i;

	err = sock_check(fd, &want, uid);
	if (!err && getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		err = -errno;
	close(fd); /* never kept: the port is the program's */
	sipsec_ctl_to_sa(&req->bound, &asked, &len);
	if (!err && !sipsec_sa_equal(&ss, &asked))
		err = -EINVAL; /* not the socket it says it is */
	if (!err && !sipsec_sa_port((struct sockaddr *)&ss))
		err = -EDESTADDRREQ; /* the shim binds before it asks */
	sipsec_sa_format((struct sockaddr *)&asked, a, sizeof(a));
	if (err) {
		log_warnx("udp: refused the socket %s of uid %u: %s", a, uid,
			  strerror(-err));
		return err;
	}
	i = fam_idx(ss.ss_family);
	if (d->udp_fd[i] < 0) {
		log_warnx("udp: %s: no relay address for %s", a,
			  i ? "IPv6" : "IPv4");
		return -EAFNOSUPPORT;
	}
	e = ep_find(d, ss.ss_family, sipsec_sa_port((struct sockaddr *)&ss),
		    NULL);
	if (!e || !sipsec_sa_equal(&e->bound, &ss)) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->next = d->eps;
		d->eps = e;
		log_info("udp: the program's SIP socket %s (uid %u) goes "
			 "through sipsecd", a, uid);
	}
	e->bound = ss;
	e->uid = uid;
	/* A server on a SIP port: peers reach it through our TLS port next
	 * to it. A client's replies come back on the channel it opened. */
	if (policy_is_sip_port(d->cfg, req->bound.port)) {
		err = incoming_listen_udp(d, &req->bound);
		if (err)
			return err;
	}
	memset(ok, 0, sizeof(*ok));
	sipsec_sa_to_ctl(&d->udp_addr[i], &ok->relay);
	ok->path = SIPSEC_PATH_USERSPACE;
	if (esp_active(d)) {
		/* The kernel's ESP carries it: the program's socket is left
		 * alone, the policies cover it. */
		ok->path = SIPSEC_PATH_KERNEL;
		log_info("udp: the program's SIP socket %s: ESP in the kernel",
			 a);
	}
	return 0;
}

/* To the program on e: the datagram from @from (the channel's peer with
 * the sender's port). */
static int ep_deliver(struct daemon *d, struct udp_ep *e,
		      const struct sockaddr_storage *from, const uint8_t *p,
		      size_t n)
{
	struct sipsec_dgram h = { .magic = SIPSEC_DGRAM_MAGIC };
	struct sockaddr_storage to = e->bound, src = *from;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, n } };
	struct msghdr m = { .msg_name = &to, .msg_iov = iov, .msg_iovlen = 2 };

	if (src.ss_family == AF_INET && e->bound.ss_family == AF_INET6) {
		struct sockaddr_in in;
		struct sockaddr_in6 *s6 = (void *)&src;

		memcpy(&in, from, sizeof(in));
		memset(&src, 0, sizeof(src));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = in.sin_port;
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
	} else if (src.ss_family != e->bound.ss_family) {
		return -EAFNOSUPPORT;
	}
	if (is_wildcard(&to)) {
		if (to.ss_family == AF_INET)
			((struct sockaddr_in *)&to)->sin_addr.s_addr =
				htonl(INADDR_LOOPBACK);
		else
			((struct sockaddr_in6 *)&to)->sin6_addr =
				in6addr_loopback;
	}
	m.msg_namelen = sa_len(&to);
	sipsec_sa_to_ctl(&src, &h.peer);
	if (sendmsg(d->udp_fd[fam_idx(to.ss_family)], &m, MSG_DONTWAIT) < 0)
		return -errno;
	return 0;
}

/* --- channels: datagrams in TLS between two daemons --- */

static struct conn *chan_find(struct daemon *d,
			      const struct sockaddr_storage *peer)
{
	struct conn *best = NULL;

	for (struct conn *c = d->conns; c; c = c->next) {
		if (!c->chan || !sipsec_sa_same_ip(&c->peer, peer))
			continue;
		if (c->chan->up)
			return c;
		best = c;
	}
	return best;
}

static int chan_attach(struct conn *c)
{
	if (c->chan)
		return 0;
	c->chan = calloc(1, sizeof(*c->chan));
	return c->chan ? 0 : -ENOMEM;
}

/* The identity cross-check (draft 4.5) of one datagram on c, which we
 * see in plaintext: a request sent must go to, and one received must
 * come from, a domain the peer authenticated. A keep-alive (blank) is
 * not SIP and passes. @return true when it may go on. */
static bool chan_check(struct conn *c, enum idcheck_dir dir,
		       const uint8_t *p, size_t n)
{
	const struct sipsec_ctl_identity *id = &c->aux->ident;
	struct idcheck_verdict v = { 0 };
	struct sip_msg m;
	char line[256];
	size_t i;
	int err;

	if (id->mode == SIPSEC_IDCHECK_OFF)
		return true;
	for (i = 0; i < n && (p[i] == '\r' || p[i] == '\n' || p[i] == ' '); i++)
		;
	if (i == n)
		return true;
	err = sip_parse((const char *)p, n, SIP_DGRAM, &m, v.why,
			sizeof(v.why));
	if (err) {
		v.what = IDCHECK_W_FRAMING;
	} else if (!idcheck_msg(&m, dir, id, &v)) {
		return true;
	}
	if (id->mode == SIPSEC_IDCHECK_LOG &&
	    (c->chan->logged[dir] & (1u << v.what)))
		return true;
	idcheck_describe(&v, dir, id, line, sizeof(line));
	if (id->mode == SIPSEC_IDCHECK_LOG) {
		c->chan->logged[dir] |= (uint8_t)(1u << v.what);
		log_warnx("udp: %s %s: %s (identity_check = log: passed)",
			  dir == IDCHECK_SENT ? "to" : "from", c->peer_name,
			  line);
		return true;
	}
	log_warnx("udp: %s %s: %s: datagram dropped",
		  dir == IDCHECK_SENT ? "to" : "from", c->peer_name, line);
	return false;
}

static int chan_queue(struct conn *c, uint16_t sport, uint16_t dport,
		      const uint8_t *p, size_t n)
{
	struct chan *ch = c->chan;
	uint8_t *f;

	if (ch->out_off == ch->out_len)
		ch->out_off = ch->out_len = 0;
	if (ch->out_len + FRAME_HDR + n > sizeof(ch->out_buf) &&
	    ch->out_off) {
		memmove(ch->out_buf, ch->out_buf + ch->out_off,
			ch->out_len - ch->out_off);
		ch->out_len -= ch->out_off;
		ch->out_off = 0;
	}
	if (ch->out_len + FRAME_HDR + n > sizeof(ch->out_buf)) {
		ch->drops++;
		return -ENOBUFS;
	}
	f = ch->out_buf + ch->out_len;
	f[0] = (uint8_t)(n >> 8);
	f[1] = (uint8_t)n;
	f[2] = (uint8_t)(sport >> 8);
	f[3] = (uint8_t)sport;
	f[4] = (uint8_t)(dport >> 8);
	f[5] = (uint8_t)dport;
	f[6] = f[7] = 0;
	memcpy(f + FRAME_HDR, p, n);
	ch->out_len += FRAME_HDR + n;
	ch->out++;
	c->bytes_out += n;
	return 0;
}

/* A frame from the peer: to the program on its destination port. */
static void chan_deliver(struct conn *c, const uint8_t *f)
{
	struct daemon *d = c->d;
	size_t n = (size_t)f[0] << 8 | f[1];
	uint16_t sport = (uint16_t)(f[2] << 8 | f[3]);
	uint16_t dport = (uint16_t)(f[4] << 8 | f[5]);
	struct sockaddr_storage from = c->peer;
	struct udp_ep *e;
	int err;

	sipsec_sa_set_port(&from, sport);
	c->chan->last_ms = now_ms();
	if (!chan_check(c, IDCHECK_RECEIVED, f + FRAME_HDR, n)) {
		c->chan->drops++;
		return;
	}
	e = ep_find(d, c->local.ss_family, dport, &c->local);
	if (!e && c->local.ss_family == AF_INET)
		e = ep_find(d, AF_INET6, dport, NULL); /* dual-stack */
	if (!e) {
		c->chan->drops++;
		log_debug("udp: from %s: no program on port %u",
			  c->peer_name, dport);
		return;
	}
	err = ep_deliver(d, e, &from, f + FRAME_HDR, n);
	if (err) {
		c->chan->drops++;
		e->drops++;
		log_debug("udp: to the program on port %u: %s", dport,
			  strerror(-err));
		return;
	}
	c->chan->in++;
	c->bytes_in += n;
	e->in++;
}

static int ssl_err(struct conn *c, int rc, uint32_t *want)
{
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*want |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want |= POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return 1;
	default:
		return -EIO;
	}
}

/* Moves what can move both ways. @return 0, 1 when the peer closed,
 * -errno. */
static int chan_pump(struct conn *c)
{
	struct chan *ch = c->chan;
	uint32_t want = POLLIN;
	int rc;

	while (ch->out_off < ch->out_len) {
		rc = SSL_write(c->ssl, ch->out_buf + ch->out_off,
			       (int)(ch->out_len - ch->out_off));
		if (rc <= 0) {
			rc = ssl_err(c, rc, &want);
			if (rc)
				return rc;
			break;
		}
		ch->out_off += (size_t)rc;
	}
	for (;;) {
		size_t used = 0;

		rc = SSL_read(c->ssl, ch->in_buf + ch->in_len,
			      (int)(sizeof(ch->in_buf) - ch->in_len));
		if (rc <= 0) {
			rc = ssl_err(c, rc, &want);
			if (rc)
				return rc;
			break;
		}
		ch->in_len += (size_t)rc;
		while (ch->in_len - used >= FRAME_HDR) {
			const uint8_t *f = ch->in_buf + used;
			size_t n = (size_t)f[0] << 8 | f[1];

			if (n > DGRAM_MAX || f[6] || f[7])
				return -EPROTO;
			if (ch->in_len - used < FRAME_HDR + n)
				break;
			chan_deliver(c, f);
			used += FRAME_HDR + n;
		}
		memmove(ch->in_buf, ch->in_buf + used, ch->in_len - used);
		ch->in_len -= used;
	}
	conn_watch(c, want, 0);
	return 0;
}

/* The datagrams queued while the channel was set up, checked now that
 * the peer's identity is known; refused ones are taken out. */
static void chan_check_queue(struct conn *c)
{
	struct chan *ch = c->chan;
	size_t rd = ch->out_off, wr = ch->out_off;

	while (rd + FRAME_HDR <= ch->out_len) {
		uint8_t *f = ch->out_buf + rd;
		size_t n = (size_t)f[0] << 8 | f[1];

		if (chan_check(c, IDCHECK_SENT, f + FRAME_HDR, n)) {
			memmove(ch->out_buf + wr, f, FRAME_HDR + n);
			wr += FRAME_HDR + n;
		} else {
			ch->drops++;
			ch->out--;
			c->bytes_out -= n;
		}
		rd += FRAME_HDR + n;
	}
	ch->out_len = wr;
}

int udp_chan_up(struct conn *c, char *why, size_t wlen)
{
	struct policy eff;
	char peer[64];
	int err;

	if (c->mech == SEC_MECH_IPSEC) {
		/* ESP: the keys go into the kernel; the channel's job is
		 * done, and its datagrams (if any waited) go in ESP. */
		err = esp_up(c, why, wlen);
		if (!err)
			conn_close(c, NULL);
		return err;
	}
	err = chan_attach(c);
	if (err) {
		snprintf(why, wlen, "no memory for a UDP channel");
		return err;
	}
	c->state = CONN_CHANNEL;
	c->d->n_pending--;
	c->chan->up = true;
	c->chan->last_ms = now_ms();
	if (c->outgoing)
		c->name_verified = 1; /* tls_client_new() checked it */
	sipsec_strlcpy(c->path_reason, "UDP datagrams in TLS, relayed by "
		       "sipsecd", sizeof(c->path_reason));
	if (!c->local.ss_family) {
		socklen_t len = sizeof(c->local);

		getsockname(c->tls_fd, (struct sockaddr *)&c->local, &len);
	}
	if (!c->peer_name[0])
		sipsec_strlcpy(c->peer_name, c->expect, sizeof(c->peer_name));
	conn_policy(c, &eff);
	tls_peer_identity(c->ssl, &eff, &c->aux->ident);
	chan_check_queue(c);
	tls_describe(c->ssl, c->tls_version, sizeof(c->tls_version),
		     c->cipher, sizeof(c->cipher));
	SSL_set_read_ahead(c->ssl, 1);
	log_info("%s %s: %s, %s %s, %s, UDP channel (user-space relay)",
		 c->outgoing ? "to" : "from",
		 sipsec_sa_format((struct sockaddr *)&c->peer, peer,
				  sizeof(peer)),
		 c->peer_name[0] ? c->peer_name : "(no name)", c->tls_version,
		 c->cipher, agree_describe(c));
	udp_chan_run(c);
	return 0;
}

void udp_chan_run(struct conn *c)
{
	int rc = chan_pump(c);

	if (rc == 1)
		conn_close(c, NULL);
	else if (rc < 0)
		conn_close(c, rc == -EPROTO ? "malformed UDP channel frame" :
					      tls_error_string());
}

bool udp_chan_idle(const struct conn *c, uint64_t now)
{
	return c->chan && c->chan->up && now - c->chan->last_ms > CHAN_IDLE_MS;
}

void udp_chan_free(struct conn *c)
{
	if (!c->chan)
		return;
	if (c->chan->out_len > c->chan->out_off)
		log_warnx("udp: channel to %s closed with %zu bytes of "
			  "datagrams unsent", c->peer_name,
			  c->chan->out_len - c->chan->out_off);
	free(c->chan);
	c->chan = NULL;
}

void udp_chan_describe(const struct conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "UDP in TLS: %llu dgrams in, %llu out, %llu "
		 "dropped", (unsigned long long)c->chan->in,
		 (unsigned long long)c->chan->out,
		 (unsigned long long)c->chan->drops);
}

/* --- the relay address: datagrams from the programs --- */

/* One datagram from a program: through the channel to its destination. */
static void from_program(struct daemon *d, const struct sockaddr_storage *src,
			 const uint8_t *p, size_t n)
{
	struct sipsec_dgram h;
	struct sockaddr_storage dst;
	const struct policy *pol;
	struct policy eff;
	struct udp_ep *e;
	struct conn *c;
	socklen_t len;
	char a[64];
	int err;

	e = ep_find(d, src->ss_family, sipsec_sa_port((struct sockaddr *)src),
		    src);
	if (!e || n < sizeof(h)) {
		log_debug("udp: datagram from %s, not a registered SIP "
			  "socket: dropped", sipsec_sa_format(
				  (struct sockaddr *)src, a, sizeof(a)));
		return;
	}
	memcpy(&h, p, sizeof(h));
	if (h.magic != SIPSEC_DGRAM_MAGIC ||
	    (h.peer.family != AF_INET && h.peer.family != AF_INET6)) {
		e->drops++;
		return;
	}
	sipsec_ctl_to_sa(&h.peer, &dst, &len);
	sipsec_sa_unmap(&dst);
	sipsec_sa_format((struct sockaddr *)&dst, a, sizeof(a));
	pol = policy_find(d->cfg, (struct sockaddr *)&dst);
	policy_effective(d->cfg, pol ? pol : policy_global(d->cfg), &eff);
	if (eff.require != MECH_TLS) {
		/* Cleartext (require = none) or a mechanism a UDP flow
		 * cannot have here: refused, never sent in the clear. */
		e->drops++;
		log_warnx("udp: to %s: policy [%s] requires %s, which SIP over "
			  "UDP cannot have here: dropped", a, eff.label,
			  eff.require == MECH_NONE ? "cleartext" :
			  mech_name((unsigned)__builtin_ctz(eff.require)));
		return;
	}
	c = chan_find(d, &dst);
	if (!c && discovery_wanted(d, &dst)) {
		/* The peer agrees by discovery first; SIP retransmits
		 * this datagram once it has. */
		e->drops++;
		discovery_start(d, &dst, sipsec_sa_port((struct sockaddr *)&dst));
		return;
	}
	if (!c) {
		err = outgoing_channel(d, &dst, &c);
		if (!err)
			err = chan_attach(c);
		if (err) {
			e->drops++;
			log_warnx("udp: to %s: no channel: %s", a,
				  strerror(-err));
			if (!err)
				conn_close(c, "no memory for a UDP channel");
			return;
		}
	}
	/* Before the channel is up its identity is not known yet: the
	 * check runs when the queue is first sent (udp_chan_up()). */
	if (c->chan->up && !chan_check(c, IDCHECK_SENT, p + sizeof(h),
				       n - sizeof(h))) {
		e->drops++;
		c->chan->drops++;
		return;
	}
	c->chan->last_ms = now_ms();
	if (chan_queue(c, sipsec_sa_port((struct sockaddr *)&e->bound),
		       sipsec_sa_port((struct sockaddr *)&dst),
		       p + sizeof(h), n - sizeof(h))) {
		e->drops++;
		log_debug("udp: to %s: channel queue full: dropped", a);
		return;
	}
	e->out++;
	if (c->chan->up)
		udp_chan_run(c);
}

static void on_relay(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct daemon *d = arg;

	(void)l;
	(void)ev;
	for (int i = 0; i < RX_BATCH; i++) {
		struct sockaddr_storage src = { 0 };
		socklen_t len = sizeof(src);
		ssize_t n = recvfrom(fd, pkt, sizeof(pkt), MSG_DONTWAIT,
				     (struct sockaddr *)&src, &len);

		if (n < 0)
			return;
		from_program(d, &src, pkt, (size_t)n);
	}
}

static int relay_socket(struct daemon *d, int i)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1;

	if (i) {
		struct sockaddr_in6 *in6 = (void *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (void *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (i)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&d->udp_addr[i], &len) < 0 ||
	    loop_add(d->loop, fd, POLLIN, on_relay, d) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	d->udp_fd[i] = fd;
	return 0;
}

int udp_init(struct daemon *d)
{
	char a[64];

	for (int i = 0; i < 2; i++) {
		int err;

		d->udp_fd[i] = -1;
		err = relay_socket(d, i);
		if (err) {
			log_warnx("udp: no %s relay address: %s", i ? "IPv6" :
				  "IPv4", strerror(-err));
			if (!i)
				return err;
			continue;
		}
		log_debug("udp: relay address %s",
			  sipsec_sa_format((struct sockaddr *)&d->udp_addr[i],
					   a, sizeof(a)));
	}
	return 0;
}

void udp_exit(struct daemon *d)
{
	for (int i = 0; i < 2; i++) {
		if (d->udp_fd[i] >= 0) {
			loop_del(d->loop, d->udp_fd[i]);
			close(d->udp_fd[i]);
		}
		d->udp_fd[i] = -1;
	}
	while (d->eps) {
		struct udp_ep *e = d->eps;

		d->eps = e->next;
		free(e);
	}
}
