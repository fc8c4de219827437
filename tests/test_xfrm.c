// SPDX-License-Identifier: MIT
/*
 * daemon/xfrm_msg.c without a kernel: each message's header, fixed part
 * and attributes as the kernel will read them (linux/xfrm.h), the parsers
 * on messages shaped like the kernel's, and the status line, which must
 * never show a key. One test talks to the kernel: where ESP is missing
 * (this host), adding an SA must be refused with a reason that says so.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "sipsecd.h"

#define REQID (XFRM_REQID_BASE | 7)

static uint8_t buf[XFRM_MSG_MAX_LEN];
static char why[256];

static void v4(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in *in = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, a, &in->sin_addr), 1);
}

static void v6(struct sockaddr_storage *ss, const char *a, uint16_t port)
{
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET6, a, &in6->sin6_addr), 1);
}

static struct esp_sa test_sa(uint8_t key_len)
{
	struct esp_sa sa = { 0 };

	v4(&sa.src, "192.0.2.1", 0);
	v4(&sa.dst, "192.0.2.2", 0);
	sa.spi = 0x5a510001;
	sa.reqid = REQID;
	sa.key_len = key_len;
	for (int i = 0; i < key_len; i++)
		sa.key[i] = (uint8_t)(0xc0 + i);
	memcpy(sa.salt, "\xd1\xd2\xd3\xd4", ESP_SALT_LEN);
	sa.soft_s = 3000;
	sa.hard_s = 3600;
	sa.hard_packets = 1u << 30;
	return sa;
}

struct attrs {
	const struct nlattr *a[XFRMA_MAX + 1];
	int n;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *t = data;

	cr_assert_leq(mnl_attr_get_type(a), XFRMA_MAX);
	t->a[mnl_attr_get_type(a)] = a;
	t->n++;
	return MNL_CB_OK;
}

/* Checks the netlink header and the attributes' lengths add up. */
static void check_msg(int len, uint16_t type, size_t hdr, struct attrs *t)
{
	struct nlmsghdr *nlh = (void *)buf;

	cr_assert_gt(len, 0, "%s", why);
	cr_assert_eq((int)nlh->nlmsg_len, len);
	cr_assert_eq(nlh->nlmsg_type, type);
	cr_assert(nlh->nlmsg_flags & NLM_F_REQUEST);
	cr_assert_eq(nlh->nlmsg_seq, 42u);
	memset(t, 0, sizeof(*t));
	cr_assert_geq(nlh->nlmsg_len, mnl_nlmsg_size(hdr));
	cr_assert_geq(mnl_attr_parse(nlh, (unsigned)hdr, attr_cb, t), 0);
}

Test(xfrm, newsa_is_esp_transport_aead_with_key_salt_and_window)
{
	struct esp_sa sa = test_sa(16);
	struct nlmsghdr *nlh = (void *)buf;
	struct xfrm_usersa_info *p;
	struct xfrm_algo_aead *aead;
	struct xfrm_replay_state_esn *rs;
	struct attrs t;
	int len = xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 42, &sa, why, sizeof(why));

	check_msg(len, XFRM_MSG_NEWSA, sizeof(*p), &t);
	cr_assert_eq(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK),
		     NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
		     "a duplicate must fail (EEXIST), not replace");
	p = mnl_nlmsg_get_payload(nlh);
	cr_assert_eq(p->family, AF_INET);
	cr_assert_eq(p->mode, XFRM_MODE_TRANSPORT);
	cr_assert_eq(p->id.proto, IPPROTO_ESP);
	cr_assert_eq(p->id.spi, htonl(0x5a510001));
	cr_assert_eq(p->id.daddr.a4, inet_addr("192.0.2.2"));
	cr_assert_eq(p->saddr.a4, inet_addr("192.0.2.1"));
	cr_assert_eq(p->sel.prefixlen_s, 32);
	cr_assert_eq(p->sel.prefixlen_d, 32);
	cr_assert_eq(p->reqid, REQID);
	cr_assert_eq(p->lft.soft_add_expires_seconds, 3000u);
	cr_assert_eq(p->lft.hard_add_expires_seconds, 3600u);
	cr_assert_eq(p->lft.hard_packet_limit, 1u << 30);
	cr_assert_eq(p->lft.soft_packet_limit, XFRM_INF);
	cr_assert_eq(p->lft.hard_byte_limit, XFRM_INF);
	cr_assert_eq(p->replay_window, 0,
		     "with XFRMA_REPLAY_ESN_VAL the kernel wants 0 here");
	cr_assert_eq(p->flags & XFRM_STATE_ESN, 0);

	cr_assert_not_null(t.a[XFRMA_ALG_AEAD]);
	cr_assert_eq(mnl_attr_get_payload_len(t.a[XFRMA_ALG_AEAD]),
		     sizeof(*aead) + 20);
	aead = mnl_attr_get_payload(t.a[XFRMA_ALG_AEAD]);
	cr_assert_str_eq(aead->alg_name, "rfc4106(gcm(aes))");
	cr_assert_eq(aead->alg_key_len, 160, "bits, salt included");
	cr_assert_eq(aead->alg_icv_len, 128);
	cr_assert_arr_eq(aead->alg_key, sa.key, 16);
	cr_assert_arr_eq(aead->alg_key + 16, sa.salt, 4);

	cr_assert_not_null(t.a[XFRMA_REPLAY_ESN_VAL]);
	rs = mnl_attr_get_payload(t.a[XFRMA_REPLAY_ESN_VAL]);
	cr_assert_eq(rs->replay_window, 64);
	cr_assert_eq(rs->bmp_len, 2);
	cr_assert_eq(mnl_attr_get_payload_len(t.a[XFRMA_REPLAY_ESN_VAL]),
		     sizeof(*rs) + 2 * sizeof(uint32_t));
	cr_assert_eq(t.n, 2);
}

Test(xfrm, aes256_key_is_288_bits_with_the_salt)
{
	struct esp_sa sa = test_sa(32);
	struct xfrm_algo_aead *aead;
	struct attrs t;
	int len = xfrm_msg_sa(buf, XFRM_MSG_UPDSA, 42, &sa, why, sizeof(why));

	check_msg(len, XFRM_MSG_UPDSA, sizeof(struct xfrm_usersa_info), &t);
	cr_assert_eq(((struct nlmsghdr *)buf)->nlmsg_flags & NLM_F_EXCL, 0);
	aead = mnl_attr_get_payload(t.a[XFRMA_ALG_AEAD]);
	cr_assert_eq(aead->alg_key_len, 288);
	cr_assert_eq(mnl_attr_get_payload_len(t.a[XFRMA_ALG_AEAD]),
		     sizeof(*aead) + 36);
	cr_assert_arr_eq(aead->alg_key + 32, sa.salt, 4);
}

Test(xfrm, ipv6_sa_carries_both_addresses)
{
	struct esp_sa sa = test_sa(16);
	struct xfrm_usersa_info *p;
	struct attrs t;
	int len;

	v6(&sa.src, "2001:db8::1", 0);
	v6(&sa.dst, "2001:db8::2", 0);
	len = xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 42, &sa, why, sizeof(why));
	check_msg(len, XFRM_MSG_NEWSA, sizeof(*p), &t);
	p = mnl_nlmsg_get_payload((void *)buf);
	cr_assert_eq(p->family, AF_INET6);
	cr_assert_arr_eq(p->id.daddr.a6,
			 &((struct sockaddr_in6 *)&sa.dst)->sin6_addr, 16);
	cr_assert_eq(p->sel.prefixlen_d, 128);
}

Test(xfrm, bad_sas_are_refused_with_a_reason)
{
	struct esp_sa sa = test_sa(24);

	cr_assert_eq(xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 1, &sa, why,
				 sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "neither 16 nor 32"), "%s", why);
	sa = test_sa(16);
	sa.reqid = 1;
	cr_assert_eq(xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 1, &sa, why,
				 sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "reqid"), "%s", why);
	sa = test_sa(16);
	sa.spi = 255;
	cr_assert_eq(xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 1, &sa, why,
				 sizeof(why)), -EINVAL);
	sa = test_sa(16);
	v6(&sa.dst, "2001:db8::2", 0);
	cr_assert_eq(xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 1, &sa, why,
				 sizeof(why)), -EINVAL);
	cr_assert(strstr(why, "families"), "%s", why);
}

/* The four policies between two hosts of one family, SIP port 5060. */
static void sip_policies(bool ipv6, struct xfrm_sp sp[4])
{
	struct sockaddr_storage self, peer;

	if (ipv6) {
		v6(&self, "2001:db8::1", 40000);
		v6(&peer, "2001:db8::2", 40001);
	} else {
		/* ports of the inputs are ignored */
		v4(&self, "192.0.2.1", 40000);
		v4(&peer, "192.0.2.2", 40001);
	}
	xfrm_sip_policies((void *)&self, (void *)&peer, 5060, REQID, sp);
}

Test(xfrm, sip_policies_cover_both_ports_both_ways)
{
	struct xfrm_sp sp[4];

	sip_policies(false, sp);
	cr_assert_eq(sp[0].dir, XFRM_POLICY_OUT);
	cr_assert_eq(sipsec_sa_port((void *)&sp[0].dst), 5060);
	cr_assert_eq(sipsec_sa_port((void *)&sp[0].src), 0);
	cr_assert_eq(sp[1].dir, XFRM_POLICY_OUT);
	cr_assert_eq(sipsec_sa_port((void *)&sp[1].src), 5060);
	cr_assert_eq(sipsec_sa_port((void *)&sp[1].dst), 0);
	cr_assert_eq(sp[2].dir, XFRM_POLICY_IN);
	cr_assert_eq(sipsec_sa_port((void *)&sp[2].src), 5060);
	cr_assert_eq(sp[3].dir, XFRM_POLICY_IN);
	cr_assert_eq(sipsec_sa_port((void *)&sp[3].dst), 5060);
	cr_assert_eq(((struct sockaddr_in *)&sp[2].src)->sin_addr.s_addr,
		     inet_addr("192.0.2.2"));
	for (int i = 0; i < 4; i++)
		cr_assert_eq(sp[i].reqid, REQID);
}

Test(xfrm, policy_is_udp_port_selector_with_a_required_esp_template)
{
	struct xfrm_userpolicy_info *p;
	struct xfrm_user_tmpl *tmpl;
	struct xfrm_sp sp[4];
	struct attrs t;
	int len;

	sip_policies(false, sp);
	len = xfrm_msg_policy(buf, XFRM_MSG_NEWPOLICY, 42, &sp[0], why,
			      sizeof(why));
	check_msg(len, XFRM_MSG_NEWPOLICY, sizeof(*p), &t);
	p = mnl_nlmsg_get_payload((void *)buf);
	cr_assert_eq(p->dir, XFRM_POLICY_OUT);
	cr_assert_eq(p->action, XFRM_POLICY_ALLOW);
	cr_assert_eq(p->sel.family, AF_INET);
	cr_assert_eq(p->sel.proto, IPPROTO_UDP);
	cr_assert_eq(p->sel.dport, htons(5060));
	cr_assert_eq(p->sel.dport_mask, 0xffff);
	cr_assert_eq(p->sel.sport, 0);
	cr_assert_eq(p->sel.sport_mask, 0);
	cr_assert_eq(p->sel.prefixlen_s, 32);
	cr_assert_eq(p->sel.saddr.a4, inet_addr("192.0.2.1"));
	cr_assert_eq(p->sel.daddr.a4, inet_addr("192.0.2.2"));
	cr_assert_eq(p->lft.hard_packet_limit, XFRM_INF);
	cr_assert_eq(t.n, 1, "one template, no mark");
	cr_assert_not_null(t.a[XFRMA_TMPL]);
	cr_assert_eq(mnl_attr_get_payload_len(t.a[XFRMA_TMPL]), sizeof(*tmpl));
	tmpl = mnl_attr_get_payload(t.a[XFRMA_TMPL]);
	cr_assert_eq(tmpl->id.proto, IPPROTO_ESP);
	cr_assert_eq(tmpl->mode, XFRM_MODE_TRANSPORT);
	cr_assert_eq(tmpl->optional, 0, "level required, not use");
	cr_assert_eq(tmpl->reqid, REQID);
	cr_assert_eq(tmpl->family, AF_INET);
	cr_assert_eq(tmpl->aalgos & tmpl->ealgos & tmpl->calgos, ~0u);
}

Test(xfrm, policy_delete_names_selector_and_direction)
{
	struct xfrm_userpolicy_id *id;
	struct xfrm_sp sp[4];
	struct attrs t;
	int len;

	sip_policies(true, sp);
	len = xfrm_msg_policy(buf, XFRM_MSG_DELPOLICY, 42, &sp[3], why,
			      sizeof(why));
	check_msg(len, XFRM_MSG_DELPOLICY, sizeof(*id), &t);
	id = mnl_nlmsg_get_payload((void *)buf);
	cr_assert_eq(id->dir, XFRM_POLICY_IN);
	cr_assert_eq(id->sel.family, AF_INET6);
	cr_assert_eq(id->sel.prefixlen_d, 128);
	cr_assert_eq(id->sel.dport, htons(5060));
	cr_assert_eq(id->sel.proto, IPPROTO_UDP);
	cr_assert_eq(t.n, 0);
}

Test(xfrm, allocspi_asks_for_a_range_and_no_ack)
{
	struct sockaddr_storage s, d;
	struct xfrm_userspi_info *p;
	struct attrs t;
	int len;

	v4(&s, "192.0.2.2", 0);
	v4(&d, "192.0.2.1", 0);
	len = xfrm_msg_spi(buf, 42, (void *)&s, (void *)&d, REQID, 9, why,
			   sizeof(why));
	check_msg(len, XFRM_MSG_ALLOCSPI, sizeof(*p), &t);
	cr_assert_eq(((struct nlmsghdr *)buf)->nlmsg_flags & NLM_F_ACK, 0);
	p = mnl_nlmsg_get_payload((void *)buf);
	cr_assert_eq(p->min, XFRM_SPI_MIN);
	cr_assert_eq(p->max, XFRM_SPI_MAX);
	cr_assert_eq(p->info.id.proto, IPPROTO_ESP);
	cr_assert_eq(p->info.id.daddr.a4, inet_addr("192.0.2.1"));
	cr_assert_eq(p->info.reqid, REQID);
	cr_assert_eq(p->info.seq, 9u);
	cr_assert_eq(p->info.mode, XFRM_MODE_TRANSPORT);
}

/* A dump entry as the kernel writes it: the NEWSA with counters set. */
static struct nlmsghdr *dumped_sa(const struct esp_sa *sa)
{
	struct nlmsghdr *nlh = (void *)buf;
	struct xfrm_usersa_info *p;

	cr_assert_gt(xfrm_msg_sa(buf, XFRM_MSG_NEWSA, 42, sa, why,
				 sizeof(why)), 0);
	p = mnl_nlmsg_get_payload(nlh);
	p->curlft.add_time = 1000000;
	p->curlft.packets = 12;
	p->curlft.bytes = 3456;
	p->stats.replay = 3;
	p->stats.integrity_failed = 2;
	return nlh;
}

Test(xfrm, dump_entry_gives_counters_and_life_left)
{
	struct esp_sa sa = test_sa(16);
	struct xfrm_sa_status st;

	cr_assert_eq(xfrm_parse_sa(dumped_sa(&sa), &st, 1000000 + 600), 0);
	cr_assert_eq(st.spi, 0x5a510001);
	cr_assert_eq(st.reqid, REQID);
	cr_assert_str_eq(st.alg, "rfc4106(gcm(aes))");
	cr_assert_eq(st.key_bits, 128);
	cr_assert_eq(st.icv_bits, 128);
	cr_assert_eq(st.replay_window, 64);
	cr_assert_eq(st.life_left_s, 3000);
	cr_assert_eq(st.packets, 12);
	cr_assert_eq(st.bytes, 3456);
	cr_assert_eq(st.replay, 3);
	cr_assert_eq(st.integrity_failed, 2);
	cr_assert_eq(st.hard_packets, 1u << 30);
	cr_assert_eq(((struct sockaddr_in *)&st.dst)->sin_addr.s_addr,
		     inet_addr("192.0.2.2"));
}

/* Whether any 3 consecutive key bytes appear, raw or as hex. */
static bool shows_key(const char *s, const uint8_t *key, size_t n)
{
	char hex[8];

	for (size_t i = 0; i + 3 <= n; i++) {
		snprintf(hex, sizeof(hex), "%02x%02x%02x", key[i], key[i + 1],
			 key[i + 2]);
		if (strcasestr(s, hex) || memmem(s, strlen(s), key + i, 3))
			return true;
	}
	return false;
}

Test(xfrm, status_line_has_the_counters_and_no_key)
{
	struct esp_sa sa = test_sa(32);
	struct xfrm_sa_status st;
	char line[512];

	cr_assert_eq(xfrm_parse_sa(dumped_sa(&sa), &st, 1000000), 0);
	xfrm_sa_format(&st, line, sizeof(line));
	cr_assert(strstr(line, "spi 0x5a510001"), "%s", line);
	cr_assert(strstr(line, "192.0.2.1 -> 192.0.2.2"), "%s", line);
	cr_assert(strstr(line, "key 256 bits"), "%s", line);
	cr_assert(strstr(line, "12 packets 3456 bytes"), "%s", line);
	cr_assert(strstr(line, "replay drops 3"), "%s", line);
	cr_assert(strstr(line, "integrity failures 2"), "%s", line);
	cr_assert(strstr(line, "3600 s left"), "%s", line);
	cr_assert_not(shows_key(line, sa.key, sa.key_len), "%s", line);
	cr_assert_not(shows_key(line, sa.salt, ESP_SALT_LEN), "%s", line);
}

Test(xfrm, acquire_event_names_the_flow_and_policy)
{
	struct nlmsghdr *nlh;
	struct xfrm_user_acquire *a;
	struct xfrm_user_tmpl tmpl = { .reqid = REQID };
	struct xfrm_event ev;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_ACQUIRE;
	a = mnl_nlmsg_put_extra_header(nlh, sizeof(*a));
	a->sel.family = AF_INET;
	a->sel.saddr.a4 = inet_addr("192.0.2.1");
	a->sel.daddr.a4 = inet_addr("192.0.2.2");
	a->sel.sport = htons(40000);
	a->sel.dport = htons(5060);
	a->sel.proto = IPPROTO_UDP;
	a->policy.index = 17;
	a->policy.dir = XFRM_POLICY_OUT;
	a->seq = 5;
	mnl_attr_put(nlh, XFRMA_TMPL, sizeof(tmpl), &tmpl);
	cr_assert_eq(xfrm_parse_event(nlh, &ev), 1);
	cr_assert_eq(ev.type, XFRM_EV_ACQUIRE);
	cr_assert_eq(ev.proto, IPPROTO_UDP);
	cr_assert_eq(sipsec_sa_port((void *)&ev.src), 40000);
	cr_assert_eq(sipsec_sa_port((void *)&ev.dst), 5060);
	cr_assert_eq(((struct sockaddr_in *)&ev.dst)->sin_addr.s_addr,
		     inet_addr("192.0.2.2"));
	cr_assert_eq(ev.policy_index, 17);
	cr_assert_eq(ev.policy_dir, XFRM_POLICY_OUT);
	cr_assert_eq(ev.seq, 5);
	cr_assert_eq(ev.reqid, REQID);
}

Test(xfrm, expire_event_tells_soft_from_hard)
{
	struct nlmsghdr *nlh;
	struct xfrm_user_expire *e;
	struct xfrm_event ev;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_EXPIRE;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->state.family = AF_INET;
	e->state.id.spi = htonl(0x5a510002);
	e->state.id.daddr.a4 = inet_addr("192.0.2.1");
	e->state.reqid = REQID;
	e->hard = 1;
	cr_assert_eq(xfrm_parse_event(nlh, &ev), 1);
	cr_assert_eq(ev.type, XFRM_EV_EXPIRE);
	cr_assert(ev.hard);
	cr_assert_eq(ev.spi, 0x5a510002);
	e->hard = 0;
	cr_assert_eq(xfrm_parse_event(nlh, &ev), 1);
	cr_assert_not(ev.hard);
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	cr_assert_eq(xfrm_parse_event(nlh, &ev), 0, "not an event");
}

Test(xfrm, kernel_without_esp_refuses_with_the_reason)
{
	struct esp_sa sa = test_sa(16);
	struct xfrm *x = NULL;
	int err;

	if (geteuid() != 0)
		cr_skip_test("needs root for a private network namespace");
	/* Criterion runs each test in its own process: the namespace and
	 * whatever lands in its databases go with it. */
	if (unshare(CLONE_NEWNET) < 0)
		cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
	err = xfrm_open(&x, true, why, sizeof(why));
	if (err == -EPROTONOSUPPORT) {
		cr_assert(strstr(why, "no XFRM netlink"), "%s", why);
		cr_skip_test("no XFRM netlink here: %s", why);
	}
	cr_assert_eq(err, 0, "%s", why);
	cr_assert_geq(xfrm_events_fd(x), 0);
	err = xfrm_sa_add(x, &sa, why, sizeof(why));
	if (err == 0) {
		xfrm_close(x);
		cr_skip_test("this kernel has ESP: nothing to refuse");
	}
	cr_assert(err == -ENOSYS || err == -EPROTONOSUPPORT, "%d %s", err,
		  why);
	cr_assert(strstr(why, "XFRM: adding an SA: no esp4"), "%s", why);
	cr_assert_not(shows_key(why, sa.key, sa.key_len), "%s", why);
	xfrm_close(x);
}
