// SPDX-License-Identifier: MIT
/*
 * The agreement between two daemons (daemon/agree_msg.c), message by
 * message, without sockets: a client and a server side pass their
 * messages through a test that can stand in as a man in the middle and
 * change any of them on the way. Whatever it changes, one side or the
 * other must refuse, with a reason; no change may lead to an agreement
 * that either policy does not accept.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sipsecd.h"

#define TLS_BIT (1u << SEC_MECH_TLS)
#define IPSEC_BIT (1u << SEC_MECH_IPSEC)
#define NONE_BIT (1u << SEC_MECH_NONE)

/* Which message a tamper function sees. */
enum leg { LEG_OFFER, LEG_ANSWER, LEG_VERIFY, LEG_CONFIRM };

typedef void (*tamper_fn)(enum leg leg, char *buf, size_t cap);

struct run {
	struct agree client, server;
	int rc; /* the failing step's return, 0 when both agreed */
	bool server_refused;
	const char *why; /* the failing side's reason */
	char last[4096]; /* the last message sent */
};

static void setup_side(struct agree *a, bool server, uint32_t allow,
		       uint32_t require)
{
	agree_init(a, server, AGREE_FLOW_TCP);
	a->allow = allow;
	a->require = require;
	strcpy(a->self, server ? "pbx2.example.net" : "pbx1.example.net");
	if (!server)
		strcpy(a->peer, "pbx2.example.net");
}

static bool parse(const char *buf, struct sip_msg *m)
{
	char why[160];
	int r = sip_parse(buf, strlen(buf), SIP_STREAM, m, why, sizeof(why));

	cr_assert_eq(r, 0, "a message does not parse (%s):\n%s", why, buf);
	return true;
}

/* One full exchange; stops at the first step that fails. */
static void exchange(struct run *r, tamper_fn tamper)
{
	static char buf[4096], in[4096];
	struct sip_msg m;
	int n;

	r->rc = 0;
	r->why = NULL;
	n = agree_offer(&r->client, buf, sizeof(buf));
	cr_assert_gt(n, 0, "offer: %s", r->client.why);
	if (tamper)
		tamper(LEG_OFFER, buf, sizeof(buf));
	strcpy(in, buf);
	parse(in, &m);
	n = agree_answer(&r->server, &m, buf, sizeof(buf));
	strcpy(r->last, buf);
	if (n < 0 || r->server.refused) {
		r->rc = n < 0 ? n : -EACCES;
		r->server_refused = r->server.refused;
		r->why = r->server.why;
		if (n < 0)
			return;
	}
	if (tamper)
		tamper(LEG_ANSWER, buf, sizeof(buf));
	strcpy(in, buf);
	parse(in, &m);
	n = agree_verify(&r->client, &m, buf, sizeof(buf));
	if (n < 0) {
		if (!r->rc) {
			r->rc = n;
			r->why = r->client.why;
		}
		return;
	}
	if (tamper)
		tamper(LEG_VERIFY, buf, sizeof(buf));
	strcpy(in, buf);
	parse(in, &m);
	n = agree_confirm(&r->server, &m, buf, sizeof(buf));
	if (n < 0 || r->server.refused) {
		r->rc = n < 0 ? n : -EACCES;
		r->server_refused = r->server.refused;
		r->why = r->server.why;
		if (n < 0)
			return;
	}
	if (tamper)
		tamper(LEG_CONFIRM, buf, sizeof(buf));
	parse(buf, &m);
	n = agree_done(&r->client, &m);
	if (n < 0 && !r->rc) {
		r->rc = n;
		r->why = r->client.why;
	}
}

/* Replace the value of header name (first occurrence) in place. */
static void set_header(char *buf, size_t cap, const char *name,
		       const char *value)
{
	char *h = strstr(buf, name), *eol, tmp[4096];

	cr_assert_not_null(h, "no %s in:\n%s", name, buf);
	eol = strstr(h, "\r\n");
	snprintf(tmp, sizeof(tmp), "%.*s%s: %s%s", (int)(h - buf), buf, name,
		 value, eol);
	cr_assert_lt(strlen(tmp), cap);
	strcpy(buf, tmp);
}

static void drop_header(char *buf, const char *name)
{
	char *h = strstr(buf, name), *eol;

	cr_assert_not_null(h);
	eol = strstr(h, "\r\n") + 2;
	memmove(h, eol, strlen(eol) + 1);
}

Test(agree, both_policies_agree_on_tls)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT | IPSEC_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT | IPSEC_BIT, TLS_BIT);
	exchange(&r, NULL);
	cr_assert_eq(r.rc, 0, "%s", r.why ? r.why : "");
	cr_assert_eq(r.client.step, 4);
	cr_assert_eq(r.server.step, 4);
	cr_assert_eq(r.client.choice.mech, SEC_MECH_TLS);
	cr_assert_eq(r.server.choice.mech, SEC_MECH_TLS);
	/* The server learnt who the client says it is. */
	cr_assert_str_eq(r.server.peer, "pbx1.example.net");
}

Test(agree, offer_carries_both_grammars)
{
	struct agree a;
	char buf[4096];
	struct sip_msg m;
	const struct sip_header *h;

	setup_side(&a, false, TLS_BIT, TLS_BIT);
	cr_assert_gt(agree_offer(&a, buf, sizeof(buf)), 0);
	parse(buf, &m);
	cr_assert(m.request);
	cr_assert(sip_str_eq(m.method, "OPTIONS"));
	h = sip_find(&m, SIP_H_SECURITY_CLIENT, NULL);
	cr_assert_not_null(h);
	cr_assert(sip_str_eq(h->value, "tls;q=1"), "%.*s", (int)h->value.n,
		  h->value.p);
	h = sip_find(&m, SIP_H_X_SECURE_SUPPORTS, NULL);
	cr_assert_not_null(h);
	cr_assert_not_null(memmem(h->value.p, h->value.n, "tls.sec.sip.iana",
				  16));
	cr_assert_not_null(sip_find(&m, SIP_H_REQUIRE, NULL));
	cr_assert_not_null(sip_find(&m, SIP_H_X_SECURE_FROM, NULL));
	cr_assert_not_null(sip_find(&m, SIP_H_X_SECURE_TO, NULL));
}

Test(agree, server_policy_without_tls_refuses)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, IPSEC_BIT, IPSEC_BIT);
	exchange(&r, NULL);
	cr_assert_lt(r.rc, 0);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.last, "SIP/2.0 488"), "%s", r.last);
	cr_assert_not_null(strstr(r.server.why, "requires ipsec, which a tcp "
				  "flow cannot use"), "%s", r.server.why);
	/* The client read the refusal and says what the server said. */
	cr_assert_not_null(strstr(r.client.why, "488"), "%s", r.client.why);
}

Test(agree, client_allowing_nothing_for_tcp_offers_nothing)
{
	struct agree a;
	char buf[4096];

	setup_side(&a, false, IPSEC_BIT, IPSEC_BIT);
	cr_assert_eq(agree_offer(&a, buf, sizeof(buf)), -ENOENT);
	cr_assert_not_null(strstr(a.why, "tcp"), "%s", a.why);
}

static bool never(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return false;
}

Test(agree, forged_x_sip_secure_from_is_rejected)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT, TLS_BIT);
	r.server.id_ok = never;
	exchange(&r, NULL);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.last, "SIP/2.0 403"));
	cr_assert_not_null(strstr(r.server.why, "X-SIP-SECURE-FROM"),
			   "%s", r.server.why);
}

/* The man in the middle: each change below must end the agreement. */
static void strip_offer(enum leg leg, char *buf, size_t cap)
{
	(void)cap;
	if (leg != LEG_OFFER)
		return;
	drop_header(buf, "Security-Client");
	drop_header(buf, "X-SIP-SECURE-SUPPORTS");
}

Test(agree, mitm_strips_the_offer)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT, TLS_BIT);
	exchange(&r, strip_offer);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.last, "SIP/2.0 494"), "%s", r.last);
}

static void change_client_list(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_OFFER)
		set_header(buf, cap, "Security-Client", "ipsec-ike;q=1");
}

Test(agree, mitm_changes_one_of_the_two_offers)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT, TLS_BIT);
	exchange(&r, change_client_list);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.server.why, "different"), "%s",
			   r.server.why);
}

static void offer_none(enum leg leg, char *buf, size_t cap)
{
	if (leg != LEG_OFFER)
		return;
	/* Both offers rewritten consistently: "cleartext will do". */
	set_header(buf, cap, "Security-Client", "none;q=1");
	set_header(buf, cap, "X-SIP-SECURE-SUPPORTS", "none.sec.sip.iana");
}

Test(agree, mitm_downgrades_the_offer_to_cleartext)
{
	struct run r;

	/* A server that would accept cleartext from this peer... */
	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT | NONE_BIT, 0);
	exchange(&r, offer_none);
	/* ...still cannot pick it: a TCP flow here is carried in TLS only,
	 * and whatever it answered, the client's policy would refuse it. */
	cr_assert_lt(r.rc, 0);
}

static void require_other(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_ANSWER)
		set_header(buf, cap, "X-SIP-SECURE-REQUIRES",
			   "ipsec.sec.sip.iana=(k:ike)");
}

Test(agree, mitm_changes_the_choice)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT | IPSEC_BIT, 0);
	setup_side(&r.server, true, TLS_BIT | IPSEC_BIT, 0);
	exchange(&r, require_other);
	cr_assert_lt(r.rc, 0);
	cr_assert_not_null(strstr(r.client.why, "requires ipsec"), "%s",
			   r.client.why);
}

static void strip_server_list(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_ANSWER)
		set_header(buf, cap, "Security-Server", "tls;q=1, digest;q=0.1");
}

Test(agree, mitm_changes_the_server_list)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT, TLS_BIT);
	exchange(&r, strip_server_list);
	/* The client echoes what it received; the server compares it with
	 * what it sent (RFC 3329's Security-Verify). */
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.server.why, "Security-Verify"), "%s",
			   r.server.why);
}

static void change_method(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_VERIFY)
		set_header(buf, cap, "X-SIP-SECURE-METHOD",
			   "ipsec.sec.sip.iana=(k:ike)");
}

Test(agree, mitm_changes_the_confirmed_method)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT, TLS_BIT);
	exchange(&r, change_method);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.server.why, "X-SIP-SECURE-METHOD"), "%s",
			   r.server.why);
}

static void replace_verify_call_id(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_VERIFY)
		set_header(buf, cap, "Call-ID", "replayed@elsewhere");
}

Test(agree, verify_from_another_exchange_is_refused)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_side(&r.server, true, TLS_BIT, TLS_BIT);
	exchange(&r, replace_verify_call_id);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.server.why, "Call-ID"), "%s",
			   r.server.why);
}

Test(agree, a_response_where_a_request_belongs_is_a_protocol_error)
{
	struct agree srv;
	struct sip_msg m;
	char buf[4096];
	const char *resp = "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n"
			   "Content-Length: 0\r\n\r\n";

	setup_side(&srv, true, TLS_BIT, TLS_BIT);
	parse(resp, &m);
	cr_assert_eq(agree_answer(&srv, &m, buf, sizeof(buf)), -EPROTO);
	cr_assert_not_null(strstr(srv.why, "OPTIONS"), "%s", srv.why);
}

/* A server that learns the flow from the offer, as sipsecd's does. */
static void setup_learning_server(struct agree *a, uint8_t flows)
{
	setup_side(a, true, TLS_BIT, TLS_BIT);
	a->flow = 0;
	a->flows = flows;
}

Test(agree, server_takes_the_udp_flow_it_serves)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	r.client.flow = AGREE_FLOW_UDP;
	setup_learning_server(&r.server, AGREE_FLOW_TCP | AGREE_FLOW_UDP);
	exchange(&r, NULL);
	cr_assert_eq(r.rc, 0, "%s", r.why ? r.why : "");
	cr_assert_eq(r.server.flow, AGREE_FLOW_UDP);
	cr_assert_eq(r.client.choice.mech, SEC_MECH_TLS);
}

Test(agree, server_refuses_a_flow_no_program_takes)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	r.client.flow = AGREE_FLOW_UDP;
	setup_learning_server(&r.server, AGREE_FLOW_TCP);
	exchange(&r, NULL);
	cr_assert_lt(r.rc, 0);
	cr_assert(r.server_refused);
	cr_assert_not_null(strstr(r.last, "SIP/2.0 488"), "%s", r.last);
	cr_assert_not_null(strstr(r.server.why, "over udp"), "%s",
			   r.server.why);
}

static void flow_to_tcp(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_VERIFY)
		set_header(buf, cap, "Sipsec-Flow", "tcp");
}

Test(agree, mitm_changes_the_flow_after_the_offer)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	r.client.flow = AGREE_FLOW_UDP;
	setup_learning_server(&r.server, AGREE_FLOW_TCP | AGREE_FLOW_UDP);
	exchange(&r, flow_to_tcp);
	cr_assert_lt(r.rc, 0);
	cr_assert_not_null(strstr(r.why, "Sipsec-Flow"), "%s", r.why);
}

static void unknown_flow(enum leg leg, char *buf, size_t cap)
{
	if (leg == LEG_OFFER)
		set_header(buf, cap, "Sipsec-Flow", "sctp");
}

Test(agree, an_unknown_flow_is_a_bad_request)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT, TLS_BIT);
	setup_learning_server(&r.server, AGREE_FLOW_TCP | AGREE_FLOW_UDP);
	exchange(&r, unknown_flow);
	cr_assert_lt(r.rc, 0);
	cr_assert_not_null(strstr(r.last, "SIP/2.0 400"), "%s", r.last);
}

static int spi_a(void *arg, uint32_t *spi)
{
	(void)arg;
	*spi = 0x00011111;
	return 0;
}

static int spi_b(void *arg, uint32_t *spi)
{
	(void)arg;
	*spi = 0x00022222;
	return 0;
}

static void esp_side(struct agree *a, int (*alloc)(void *, uint32_t *))
{
	a->keyings = 1u << SEC_K_EXPORTER;
	a->spi_alloc = alloc;
}

Test(agree, udp_with_esp_on_both_sides_agrees_ipsec_and_swaps_spis)
{
	struct run r;

	/* The default policy: require tls, allow tls and ipsec. */
	setup_side(&r.client, false, TLS_BIT | IPSEC_BIT, TLS_BIT);
	r.client.flow = AGREE_FLOW_UDP;
	esp_side(&r.client, spi_a);
	setup_learning_server(&r.server, AGREE_FLOW_UDP);
	r.server.allow |= IPSEC_BIT;
	esp_side(&r.server, spi_b);
	exchange(&r, NULL);
	cr_assert_eq(r.rc, 0, "%s", r.why ? r.why : "");
	cr_assert_eq(r.client.choice.mech, SEC_MECH_IPSEC);
	cr_assert_eq(r.client.choice.keying, SEC_K_EXPORTER);
	cr_assert_eq(r.server.choice.keying, SEC_K_EXPORTER);
	cr_assert_eq(r.client.spi_peer, 0x00022222);
	cr_assert_eq(r.server.spi_peer, 0x00011111);
}

Test(agree, udp_to_a_server_without_esp_falls_to_tls)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT | IPSEC_BIT, TLS_BIT);
	r.client.flow = AGREE_FLOW_UDP;
	esp_side(&r.client, spi_a);
	setup_learning_server(&r.server, AGREE_FLOW_UDP);
	r.server.allow |= IPSEC_BIT;
	exchange(&r, NULL);
	cr_assert_eq(r.rc, 0, "%s", r.why ? r.why : "");
	cr_assert_eq(r.client.choice.mech, SEC_MECH_TLS);
	cr_assert_eq(r.server.spi_self, 0, "no SPI spent on a tls choice");
}

Test(agree, tcp_never_offers_ipsec)
{
	struct agree a;
	char buf[4096];

	setup_side(&a, false, TLS_BIT | IPSEC_BIT, TLS_BIT);
	esp_side(&a, spi_a);
	cr_assert_gt(agree_offer(&a, buf, sizeof(buf)), 0);
	cr_assert_not_null(strstr(buf, "Security-Client: tls;q=1\r\n"), "%s",
			   buf);
	cr_assert_null(strstr(buf, "ipsec."), "%s", buf);
	cr_assert_null(strstr(buf, "Sipsec-Spi"), "%s", buf);
}

static void strip_answer_spi(enum leg leg, char *buf, size_t cap)
{
	(void)cap;
	if (leg == LEG_ANSWER)
		drop_header(buf, "Sipsec-Spi");
}

Test(agree, ipsec_answer_without_an_spi_is_refused)
{
	struct run r;

	setup_side(&r.client, false, TLS_BIT | IPSEC_BIT, TLS_BIT);
	r.client.flow = AGREE_FLOW_UDP;
	esp_side(&r.client, spi_a);
	setup_learning_server(&r.server, AGREE_FLOW_UDP);
	r.server.allow |= IPSEC_BIT;
	esp_side(&r.server, spi_b);
	exchange(&r, strip_answer_spi);
	cr_assert_lt(r.rc, 0);
	cr_assert_not_null(strstr(r.why, "Sipsec-Spi"), "%s", r.why);
}
