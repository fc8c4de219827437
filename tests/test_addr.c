// SPDX-License-Identifier: MIT
/* Addresses, networks, numbers and port lists from configuration. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sipsec.h"

Test(addr, networks_parse_and_match)
{
	struct sipsec_net n;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in6 b = { .sin6_family = AF_INET6 };
	char buf[64];

	cr_assert_eq(sipsec_net_parse("198.18.0.0/15", &n), 0);
	inet_pton(AF_INET, "198.19.255.1", &a.sin_addr);
	cr_assert(sipsec_net_contains(&n, (void *)&a));
	inet_pton(AF_INET, "198.20.0.1", &a.sin_addr);
	cr_assert_not(sipsec_net_contains(&n, (void *)&a));
	inet_pton(AF_INET6, "::ffff:198.18.0.1", &b.sin6_addr);
	cr_assert_not(sipsec_net_contains(&n, (void *)&b));
	cr_assert_eq(sipsec_net_parse("2001:db8::/32", &n), 0);
	inet_pton(AF_INET6, "2001:db8:5153::1", &b.sin6_addr);
	cr_assert(sipsec_net_contains(&n, (void *)&b));
	cr_assert_eq(sipsec_net_format(&n, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "2001:db8::/32");
	cr_assert_eq(sipsec_net_parse("10.0.0.1", &n), 0);
	cr_assert_eq(n.prefix, 32);
}

Test(addr, bad_networks_are_refused)
{
	struct sipsec_net n;
	const char *bad[] = { "", "/8", "10.0.0.0/33", "10.0.0.1/8",
			      "2001:db8::/129", "host.example", "10.0.0.0/",
			      "10.0.0.0/-1", "10.0.0.0/8x", "1.2.3.4.5" };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(sipsec_net_parse(bad[i], &n), -EINVAL, "%s", bad[i]);
}

Test(addr, numbers_are_checked_for_range_and_garbage)
{
	uint32_t v;

	cr_assert_eq(sipsec_parse_u32("5060", 1, 65535, &v), 0);
	cr_assert_eq(v, 5060);
	cr_assert_eq(sipsec_parse_u32("70000", 1, 65535, &v), -ERANGE);
	cr_assert_eq(sipsec_parse_u32("-1", 0, 10, &v), -EINVAL);
	cr_assert_eq(sipsec_parse_u32(" 1", 0, 10, &v), -EINVAL);
	cr_assert_eq(sipsec_parse_u32("1 ", 0, 10, &v), -EINVAL);
	cr_assert_eq(sipsec_parse_u32("99999999999999999999", 0, 10, &v),
		     -EINVAL);
}

Test(addr, port_lists)
{
	uint16_t p[8];
	size_t n;

	cr_assert_eq(sipsec_parse_port_list(" 5060 ,5080", p, 8, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(p[1], 5080);
	cr_assert_eq(sipsec_parse_port_list("5060,5060", p, 8, &n), -EEXIST);
	cr_assert_eq(sipsec_parse_port_list("1,2,3", p, 2, &n), -E2BIG);
	cr_assert_eq(sipsec_parse_port_list(",", p, 8, &n), -EINVAL);
}

Test(addr, socket_addresses_format_with_brackets_for_v6)
{
	struct sockaddr_in6 b = { .sin6_family = AF_INET6,
				  .sin6_port = htons(5061) };
	char buf[64];

	inet_pton(AF_INET6, "2001:db8::1", &b.sin6_addr);
	cr_assert_str_eq(sipsec_sa_format((void *)&b, buf, sizeof(buf)),
			 "[2001:db8::1]:5061");
}
