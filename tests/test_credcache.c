// SPDX-License-Identifier: MIT
/*
 * The credential cache (daemon/credcache.c) on a test clock: entries
 * expire after cache_lifetime, the least recently used one goes when the
 * cache is full, a next hop is its address together with the identity
 * its certificate proved, and forgetting one leaves the others.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sipsecd.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static struct config cfg;
static struct daemon d;

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(&d, 0, sizeof(d));
	cfg.cache_size = 2;
	cfg.cache_lifetime_s = 60;
	d.cfg = &cfg;
	fake_now = 1000000;
	credcache_set_clock(fake_clock);
}

static void teardown(void)
{
	credcache_flush();
	credcache_set_clock(NULL);
}

TestSuite(credcache, .init = setup, .fini = teardown);

static void make_conn(struct conn *c, const char *ip, const char *name,
		      uint8_t mech)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&c->peer;

	memset(c, 0, sizeof(*c));
	c->d = &d;
	in->sin_family = AF_INET;
	in->sin_port = htons(5061);
	inet_pton(AF_INET, ip, &in->sin_addr);
	strcpy(c->expect, name);
	c->mech = mech;
}

static int cached(const struct conn *c)
{
	uint8_t mech = 0, keying = 0;

	return credcache_lookup(&c->peer, c->expect, &mech, &keying) ? -1 :
								       mech;
}

Test(credcache, stores_and_expires_after_the_lifetime)
{
	struct conn c;

	make_conn(&c, "192.0.2.1", "pbx1.example.net", SEC_MECH_TLS);
	credcache_store(&c);
	cr_assert_eq(cached(&c), SEC_MECH_TLS);
	fake_now += 59999;
	cr_assert_eq(cached(&c), SEC_MECH_TLS, "gone before its lifetime");
	fake_now += 1;
	cr_assert_eq(cached(&c), -1, "still there after its lifetime");
	cr_assert_eq(credcache_count(), 0, "an expired entry is freed");
}

Test(credcache, a_next_hop_is_address_and_identity)
{
	struct conn a, b, other_ip;

	make_conn(&a, "192.0.2.1", "pbx1.example.net", SEC_MECH_TLS);
	make_conn(&b, "192.0.2.1", "pbx2.example.net", SEC_MECH_TLS);
	make_conn(&other_ip, "192.0.2.2", "pbx1.example.net", SEC_MECH_TLS);
	credcache_store(&a);
	cr_assert_eq(cached(&b), -1, "another identity at the same address");
	cr_assert_eq(cached(&other_ip), -1, "the same name elsewhere");
}

Test(credcache, bounded_least_recently_used_goes_first)
{
	struct conn a, b, c;

	make_conn(&a, "192.0.2.1", "a", SEC_MECH_TLS);
	make_conn(&b, "192.0.2.2", "b", SEC_MECH_TLS);
	make_conn(&c, "192.0.2.3", "c", SEC_MECH_TLS);
	credcache_store(&a);
	credcache_store(&b);
	cr_assert_eq(cached(&a), SEC_MECH_TLS); /* a is now the most recent */
	credcache_store(&c); /* full (2): b goes */
	cr_assert_eq(credcache_count(), 2);
	cr_assert_eq(cached(&b), -1);
	cr_assert_eq(cached(&a), SEC_MECH_TLS);
	cr_assert_eq(cached(&c), SEC_MECH_TLS);
}

Test(credcache, forget_drops_one_entry)
{
	struct conn a, b;

	make_conn(&a, "192.0.2.1", "a", SEC_MECH_TLS);
	make_conn(&b, "192.0.2.2", "b", SEC_MECH_TLS);
	credcache_store(&a);
	credcache_store(&b);
	credcache_forget(&a);
	cr_assert_eq(cached(&a), -1);
	cr_assert_eq(cached(&b), SEC_MECH_TLS);
}

Test(credcache, size_zero_caches_nothing)
{
	struct conn a;

	cfg.cache_size = 0;
	make_conn(&a, "192.0.2.1", "a", SEC_MECH_TLS);
	credcache_store(&a);
	cr_assert_eq(credcache_count(), 0);
	cr_assert_eq(cached(&a), -1);
}

static int count_walk(void *arg, const struct sipsec_ctl_cache *e, bool last)
{
	size_t *n = arg;

	cr_assert_eq(e->expires_in_s, 30);
	cr_assert_eq(e->age_s, 30);
	cr_assert_eq(e->resumable, 0, "no session was stored");
	(*n)++;
	cr_assert_eq(last, *n == 2);
	return 0;
}

Test(credcache, status_shows_age_and_time_left)
{
	struct conn a, b;
	size_t n = 0;

	make_conn(&a, "192.0.2.1", "a", SEC_MECH_TLS);
	make_conn(&b, "192.0.2.2", "b", SEC_MECH_TLS);
	credcache_store(&a);
	credcache_store(&b);
	fake_now += 30000;
	cr_assert_eq(credcache_walk(count_walk, &n), 0);
	cr_assert_eq(n, 2);
}
