// SPDX-License-Identifier: MIT
/*
 * XFRM netlink messages for ESP transport-mode SAs and the policies of SIP
 * flows, written and read without I/O (xfrm.c does the talking), so that
 * each attribute can be checked without a kernel.
 *
 * Choices the kernel depends on (linux/xfrm.h, net/xfrm/xfrm_user.c):
 *  - The AEAD key is the AES key followed by the 4-byte salt, and its
 *    length is given in bits, salt included (RFC 4106 3.1, 8.1).
 *  - A replay window above 32 needs XFRMA_REPLAY_ESN_VAL (the legacy
 *    bitmap is one u32), and then xfrm_usersa_info.replay_window must be
 *    0; without XFRM_STATE_ESN the kernel keeps 32-bit sequence numbers.
 *  - A template with aalgos, ealgos and calgos all ~0 accepts any
 *    algorithm ("allalgs"); optional 0 makes the SA required. Transport
 *    mode templates take their addresses from the flow, so they stay 0.
 *  - Policies carry no mark: a marked policy would only match marked
 *    packets, and these must match whatever program sends. sipsec's
 *    objects are recognised by their reqid (XFRM_REQID_BASE).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sipsecd.h"

#define REPLAY_BMP_WORDS (ESP_REPLAY_WINDOW / 32)

static int reason(char *why, size_t wlen, int err, const char *fmt,
		  const char *what)
{
	if (why && wlen)
		snprintf(why, wlen, fmt, what);
	return err;
}

/* An address (and port, network order) of a sockaddr, for XFRM. */
static int xaddr(const struct sockaddr *sa, xfrm_address_t *a,
		 uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		a->a4 = in->sin_addr.s_addr;
		if (port)
			*port = in->sin_port;
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		memcpy(a->a6, &in6->sin6_addr, sizeof(a->a6));
		if (port)
			*port = in6->sin6_port;
		return AF_INET6;
	}
	return -EAFNOSUPPORT;
}

static void to_sockaddr(int family, const xfrm_address_t *a, uint16_t port,
			struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = a->a4;
		in->sin_port = port;
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a->a6, sizeof(in6->sin6_addr));
		in6->sin6_port = port;
	}
}

/* Both ends as XFRM addresses, of one family: the family or -errno. */
static int xends(const struct sockaddr *src, const struct sockaddr *dst,
		 xfrm_address_t *s, uint16_t *sport, xfrm_address_t *d,
		 uint16_t *dport, char *why, size_t wlen)
{
	int fs = xaddr(src, s, sport), fd = xaddr(dst, d, dport);

	if (fs < 0 || fd < 0)
		return reason(why, wlen, -EAFNOSUPPORT,
			      "XFRM: %s is not IPv4 or IPv6 (EAFNOSUPPORT)",
			      fs < 0 ? "the source" : "the destination");
	if (fs != fd)
		return reason(why, wlen, -EINVAL,
			      "XFRM: %s (EINVAL)",
			      "source and destination of different families");
	return fs;
}

static struct nlmsghdr *put_header(void *buf, uint16_t type, uint16_t flags,
				   uint32_t seq)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, XFRM_MSG_MAX_LEN);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	return nlh;
}

static void lifetime_infinite(struct xfrm_lifetime_cfg *lft)
{
	lft->soft_byte_limit = XFRM_INF;
	lft->hard_byte_limit = XFRM_INF;
	lft->soft_packet_limit = XFRM_INF;
	lft->hard_packet_limit = XFRM_INF;
}

/* A host-to-host selector: /32 or /128 at both ends, ports if given. */
static void host_selector(struct xfrm_selector *sel, int family,
			  const xfrm_address_t *s, uint16_t sport,
			  const xfrm_address_t *d, uint16_t dport,
			  uint8_t proto)
{
	uint8_t bits = family == AF_INET ? 32 : 128;

	sel->family = (uint16_t)family;
	sel->saddr = *s;
	sel->daddr = *d;
	sel->prefixlen_s = bits;
	sel->prefixlen_d = bits;
	sel->sport = sport;
	sel->sport_mask = sport ? 0xffff : 0;
	sel->dport = dport;
	sel->dport_mask = dport ? 0xffff : 0;
	sel->proto = proto;
}

int xfrm_msg_sa(void *buf, uint16_t type, uint32_t seq,
		const struct esp_sa *sa, char *why, size_t wlen)
{
	uint8_t blob[sizeof(struct xfrm_algo_aead) + ESP_KEY_MAX +
		     ESP_SALT_LEN];
	uint8_t rblob[sizeof(struct xfrm_replay_state_esn) +
		      REPLAY_BMP_WORDS * sizeof(uint32_t)];
	struct xfrm_replay_state_esn *rs = (void *)rblob;
	struct xfrm_algo_aead *aead = (void *)blob;
	struct xfrm_usersa_info *p;
	struct nlmsghdr *nlh;
	xfrm_address_t s, d;
	int family;

	if (type != XFRM_MSG_NEWSA && type != XFRM_MSG_UPDSA)
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "not an SA message type");
	if (sa->key_len != 16 && sa->key_len != 32)
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "the AES-GCM key is neither 16 nor 32 bytes");
	if (sa->spi < 256)
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "SPI below 256 (reserved, RFC 4303 2.1)");
	if (!XFRM_IS_SIPSEC(sa->reqid))
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "reqid outside sipsec's range");
	family = xends((const void *)&sa->src, (const void *)&sa->dst, &s,
		       NULL, &d, NULL, why, wlen);
	if (family < 0)
		return family;

	/* NEWSA fails with EEXIST on a duplicate, so that a restarted
	 * daemon keeps what it finds; UPDSA replaces or completes. */
	nlh = put_header(buf, type, NLM_F_ACK |
			 (type == XFRM_MSG_NEWSA ? NLM_F_CREATE | NLM_F_EXCL :
						   0), seq);
	p = mnl_nlmsg_put_extra_header(nlh, sizeof(*p));
	host_selector(&p->sel, family, &s, 0, &d, 0, 0);
	p->id.daddr = d;
	p->id.spi = htonl(sa->spi);
	p->id.proto = IPPROTO_ESP;
	p->saddr = s;
	lifetime_infinite(&p->lft);
	if (sa->soft_packets)
		p->lft.soft_packet_limit = sa->soft_packets;
	if (sa->hard_packets)
		p->lft.hard_packet_limit = sa->hard_packets;
	p->lft.soft_add_expires_seconds = sa->soft_s;
	p->lft.hard_add_expires_seconds = sa->hard_s;
	p->reqid = sa->reqid;
	p->family = (uint16_t)family;
	p->mode = XFRM_MODE_TRANSPORT;
	p->replay_window = 0; /* the window is in XFRMA_REPLAY_ESN_VAL */

	memset(blob, 0, sizeof(blob));
	snprintf(aead->alg_name, sizeof(aead->alg_name), "%s", ESP_AEAD_NAME);
	aead->alg_key_len = (sa->key_len + ESP_SALT_LEN) * 8u;
	aead->alg_icv_len = ESP_ICV_BITS;
	memcpy(aead->alg_key, sa->key, sa->key_len);
	memcpy(aead->alg_key + sa->key_len, sa->salt, ESP_SALT_LEN);
	mnl_attr_put(nlh, XFRMA_ALG_AEAD,
		     sizeof(*aead) + sa->key_len + ESP_SALT_LEN, blob);
	explicit_bzero(blob, sizeof(blob));

	memset(rblob, 0, sizeof(rblob));
	rs->bmp_len = REPLAY_BMP_WORDS;
	rs->replay_window = ESP_REPLAY_WINDOW;
	mnl_attr_put(nlh, XFRMA_REPLAY_ESN_VAL, sizeof(rblob), rblob);
	return (int)nlh->nlmsg_len;
}

int xfrm_msg_sa_del(void *buf, uint32_t seq, const struct sockaddr *dst,
		    uint32_t spi, char *why, size_t wlen)
{
	struct xfrm_usersa_id *id;
	struct nlmsghdr *nlh;
	xfrm_address_t d;
	int family = xaddr(dst, &d, NULL);

	if (family < 0)
		return reason(why, wlen, -EAFNOSUPPORT, "XFRM: %s "
			      "(EAFNOSUPPORT)", "the SA's destination is not "
			      "IPv4 or IPv6");
	nlh = put_header(buf, XFRM_MSG_DELSA, NLM_F_ACK, seq);
	id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
	id->daddr = d;
	id->spi = htonl(spi);
	id->family = (uint16_t)family;
	id->proto = IPPROTO_ESP;
	return (int)nlh->nlmsg_len;
}

int xfrm_msg_spi(void *buf, uint32_t seq, const struct sockaddr *src,
		 const struct sockaddr *dst, uint32_t reqid, uint32_t acq_seq,
		 char *why, size_t wlen)
{
	struct xfrm_userspi_info *p;
	struct nlmsghdr *nlh;
	xfrm_address_t s, d;
	int family = xends(src, dst, &s, NULL, &d, NULL, why, wlen);

	if (family < 0)
		return family;
	/* No NLM_F_ACK: the answer is the larval SA itself (a NEWSA). */
	nlh = put_header(buf, XFRM_MSG_ALLOCSPI, 0, seq);
	p = mnl_nlmsg_put_extra_header(nlh, sizeof(*p));
	p->info.id.daddr = d;
	p->info.id.proto = IPPROTO_ESP;
	p->info.saddr = s;
	p->info.family = (uint16_t)family;
	p->info.reqid = reqid;
	p->info.mode = XFRM_MODE_TRANSPORT;
	p->info.seq = acq_seq;
	p->min = XFRM_SPI_MIN;
	p->max = XFRM_SPI_MAX;
	return (int)nlh->nlmsg_len;
}

int xfrm_msg_policy(void *buf, uint16_t type, uint32_t seq,
		    const struct xfrm_sp *sp, char *why, size_t wlen)
{
	struct xfrm_user_tmpl t;
	struct xfrm_selector sel;
	struct nlmsghdr *nlh;
	xfrm_address_t s, d;
	uint16_t sport, dport;
	int family;

	if (sp->dir != XFRM_POLICY_IN && sp->dir != XFRM_POLICY_OUT)
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "a policy is either in or out");
	family = xends((const void *)&sp->src, (const void *)&sp->dst, &s,
		       &sport, &d, &dport, why, wlen);
	if (family < 0)
		return family;
	memset(&sel, 0, sizeof(sel));
	host_selector(&sel, family, &s, sport, &d, dport, IPPROTO_UDP);
	if (sp->prefixed) {
		uint8_t bits = family == AF_INET ? 32 : 128;

		if (sp->src_plen > bits || sp->dst_plen > bits)
			return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
				      "a prefix longer than the address");
		sel.prefixlen_s = sp->src_plen;
		sel.prefixlen_d = sp->dst_plen;
	}

	if (type == XFRM_MSG_DELPOLICY) {
		struct xfrm_userpolicy_id *id;

		nlh = put_header(buf, type, NLM_F_ACK, seq);
		id = mnl_nlmsg_put_extra_header(nlh, sizeof(*id));
		id->sel = sel;
		id->dir = sp->dir;
		return (int)nlh->nlmsg_len;
	}
	if (type != XFRM_MSG_NEWPOLICY && type != XFRM_MSG_UPDPOLICY)
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "not a policy message type");
	if (!XFRM_IS_SIPSEC(sp->reqid) &&
	    !(sp->bypass && sp->priority == XFRM_PRIO_BYPASS))
		return reason(why, wlen, -EINVAL, "XFRM: %s (EINVAL)",
			      "reqid outside sipsec's range");

	nlh = put_header(buf, type, NLM_F_ACK, seq);
	{
		struct xfrm_userpolicy_info *p;

		p = mnl_nlmsg_put_extra_header(nlh, sizeof(*p));
		p->sel = sel;
		lifetime_infinite(&p->lft);
		p->priority = sp->priority;
		p->dir = sp->dir;
		p->action = XFRM_POLICY_ALLOW;
		p->share = XFRM_SHARE_ANY;
	}
	if (sp->bypass)
		return (int)nlh->nlmsg_len; /* no template: in the clear */
	memset(&t, 0, sizeof(t));
	t.id.proto = IPPROTO_ESP;
	t.family = (uint16_t)family;
	t.reqid = sp->reqid;
	t.mode = XFRM_MODE_TRANSPORT;
	t.optional = 0; /* level required: no SA, no packet */
	t.aalgos = ~0u;
	t.ealgos = ~0u;
	t.calgos = ~0u;
	mnl_attr_put(nlh, XFRMA_TMPL, sizeof(t), &t);
	return (int)nlh->nlmsg_len;
}

void xfrm_sip_policies(const struct sockaddr *self,
		       const struct sockaddr *peer, uint16_t port,
		       uint32_t reqid, struct xfrm_sp sp[4])
{
	const socklen_t sl = self->sa_family == AF_INET6 ?
				     sizeof(struct sockaddr_in6) :
				     sizeof(struct sockaddr_in);
	const socklen_t pl = peer->sa_family == AF_INET6 ?
				     sizeof(struct sockaddr_in6) :
				     sizeof(struct sockaddr_in);

	/* [0] out to the peer's port, [1] out from ours, [2] in from the
	 * peer's port, [3] in to ours: requests and responses both ways. */
	for (int i = 0; i < 4; i++) {
		bool out = i < 2;

		memset(&sp[i], 0, sizeof(sp[i]));
		memcpy(&sp[i].src, out ? self : peer, out ? sl : pl);
		memcpy(&sp[i].dst, out ? peer : self, out ? pl : sl);
		sipsec_sa_set_port(&sp[i].src, 0);
		sipsec_sa_set_port(&sp[i].dst, 0);
		sp[i].dir = out ? XFRM_POLICY_OUT : XFRM_POLICY_IN;
		sp[i].reqid = reqid;
	}
	sipsec_sa_set_port(&sp[0].dst, port);
	sipsec_sa_set_port(&sp[1].src, port);
	sipsec_sa_set_port(&sp[2].src, port);
	sipsec_sa_set_port(&sp[3].dst, port);
}

struct sa_attrs {
	const struct xfrm_algo_aead *aead;
	const struct xfrm_replay_state_esn *esn;
	const struct xfrm_user_tmpl *tmpl;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct sa_attrs *t = data;
	uint16_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case XFRMA_ALG_AEAD:
		if (len >= sizeof(*t->aead))
			t->aead = mnl_attr_get_payload(a);
		break;
	case XFRMA_REPLAY_ESN_VAL:
		if (len >= sizeof(*t->esn))
			t->esn = mnl_attr_get_payload(a);
		break;
	case XFRMA_TMPL:
		if (len >= sizeof(*t->tmpl))
			t->tmpl = mnl_attr_get_payload(a);
		break;
	}
	return MNL_CB_OK;
}

static int parse_attrs(const struct nlmsghdr *nlh, size_t hdr,
		       struct sa_attrs *t)
{
	memset(t, 0, sizeof(*t));
	if (nlh->nlmsg_len < mnl_nlmsg_size(hdr))
		return -EINVAL;
	return mnl_attr_parse(nlh, (unsigned)hdr, attr_cb, t) < 0 ? -EINVAL :
								     0;
}

int xfrm_parse_sa(const struct nlmsghdr *nlh, struct xfrm_sa_status *st,
		  time_t now)
{
	const struct xfrm_usersa_info *p = mnl_nlmsg_get_payload(nlh);
	struct sa_attrs t;

	if (nlh->nlmsg_type != XFRM_MSG_NEWSA || parse_attrs(nlh, sizeof(*p),
							      &t) < 0)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	to_sockaddr(p->family, &p->saddr, 0, &st->src);
	to_sockaddr(p->family, &p->id.daddr, 0, &st->dst);
	st->spi = ntohl(p->id.spi);
	st->reqid = p->reqid;
	if (t.aead) {
		unsigned bits = t.aead->alg_key_len;

		snprintf(st->alg, sizeof(st->alg), "%.*s",
			 (int)sizeof(t.aead->alg_name), t.aead->alg_name);
		/* rfc4106's key length counts the salt; report the AES key */
		st->key_bits = (uint16_t)(bits > ESP_SALT_LEN * 8 &&
						  strstr(st->alg, "rfc4106") ?
					  bits - ESP_SALT_LEN * 8 : bits);
		st->icv_bits = (uint16_t)t.aead->alg_icv_len;
	} else {
		snprintf(st->alg, sizeof(st->alg), "%s",
			 p->id.spi ? "(not AEAD)" : "(larval)");
	}
	st->replay_window = t.esn ? t.esn->replay_window : p->replay_window;
	st->life_left_s = -1;
	if (p->lft.hard_add_expires_seconds && p->curlft.add_time) {
		int64_t end = (int64_t)(p->curlft.add_time +
					p->lft.hard_add_expires_seconds);

		st->life_left_s = end > now ? end - now : 0;
	}
	if (p->lft.hard_packet_limit != XFRM_INF)
		st->hard_packets = p->lft.hard_packet_limit;
	st->packets = p->curlft.packets;
	st->bytes = p->curlft.bytes;
	st->replay = p->stats.replay;
	st->replay_window_drops = p->stats.replay_window;
	st->integrity_failed = p->stats.integrity_failed;
	return 0;
}

int xfrm_parse_policy(const struct nlmsghdr *nlh, struct xfrm_sp *sp)
{
	const struct xfrm_userpolicy_info *p = mnl_nlmsg_get_payload(nlh);
	struct sa_attrs t;

	if (nlh->nlmsg_type != XFRM_MSG_NEWPOLICY ||
	    parse_attrs(nlh, sizeof(*p), &t) < 0)
		return -EINVAL;
	memset(sp, 0, sizeof(*sp));
	to_sockaddr(p->sel.family, &p->sel.saddr, p->sel.sport, &sp->src);
	to_sockaddr(p->sel.family, &p->sel.daddr, p->sel.dport, &sp->dst);
	sp->dir = p->dir;
	sp->priority = p->priority;
	sp->index = p->index;
	sp->reqid = t.tmpl ? t.tmpl->reqid : 0;
	sp->bypass = !t.tmpl;
	sp->prefixed = true;
	sp->src_plen = p->sel.prefixlen_s;
	sp->dst_plen = p->sel.prefixlen_d;
	return 0;
}

int xfrm_parse_event(const struct nlmsghdr *nlh, struct xfrm_event *ev)
{
	struct sa_attrs t;

	memset(ev, 0, sizeof(*ev));
	if (nlh->nlmsg_type == XFRM_MSG_ACQUIRE) {
		const struct xfrm_user_acquire *a = mnl_nlmsg_get_payload(nlh);

		if (parse_attrs(nlh, sizeof(*a), &t) < 0)
			return -EINVAL;
		ev->type = XFRM_EV_ACQUIRE;
		ev->proto = a->sel.proto;
		to_sockaddr(a->sel.family, &a->sel.saddr, a->sel.sport,
			    &ev->src);
		to_sockaddr(a->sel.family, &a->sel.daddr, a->sel.dport,
			    &ev->dst);
		ev->policy_index = a->policy.index;
		ev->policy_dir = a->policy.dir;
		ev->seq = a->seq;
		ev->reqid = t.tmpl ? t.tmpl->reqid : 0;
		return 1;
	}
	if (nlh->nlmsg_type == XFRM_MSG_EXPIRE) {
		const struct xfrm_user_expire *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			return -EINVAL;
		ev->type = XFRM_EV_EXPIRE;
		ev->hard = e->hard != 0;
		to_sockaddr(e->state.family, &e->state.saddr, 0, &ev->src);
		to_sockaddr(e->state.family, &e->state.id.daddr, 0, &ev->dst);
		ev->spi = ntohl(e->state.id.spi);
		ev->reqid = e->state.reqid;
		return 1;
	}
	return 0;
}

void xfrm_sa_format(const struct xfrm_sa_status *st, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN] = "?", d[INET6_ADDRSTRLEN] = "?", life[32];

	sipsec_sa_ip((const void *)&st->src, s, sizeof(s));
	sipsec_sa_ip((const void *)&st->dst, d, sizeof(d));
	if (st->life_left_s < 0)
		snprintf(life, sizeof(life), "no time limit");
	else
		snprintf(life, sizeof(life), "%" PRId64 " s left",
			 st->life_left_s);
	snprintf(buf, len, "spi 0x%08x %s -> %s reqid 0x%08x %s key %u bits "
		 "icv %u bits, window %u, %s, %" PRIu64 " packets %" PRIu64
		 " bytes, replay drops %u, integrity failures %u", st->spi, s,
		 d, st->reqid, st->alg, st->key_bits, st->icv_bits,
		 st->replay_window, life, st->packets, st->bytes, st->replay,
		 st->integrity_failed);
}
