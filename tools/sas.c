// SPDX-License-Identifier: MIT
/*
 * sipsecctl sas: sipsec's ESP SAs, read from the kernel (XFRM netlink)
 * rather than through sipsecd: the SAs carry SIP whether or not the daemon
 * runs, and a restarted daemon adopts them from the same dump. Keys never
 * leave the kernel's dump parser (daemon/xfrm_msg.c drops them).
 */
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipsec.h"
#include "sipsecctl.h"
#include "../daemon/sipsecd.h"

#define SAS_MAX 4096

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl sas - sipsec's IPsec SAs, per peer, from the kernel\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl [--json] sas [--json]\n"
"\n"
"DESCRIPTION\n"
"    Lists the ESP security associations that sipsecd installed for SIP\n"
"    over UDP in this network namespace (those whose reqid is in\n"
"    sipsec's range, 0x%08x-0x%08x), grouped by peer:\n"
"    direction (out: this host encrypts; in: it decrypts), SPI, source\n"
"    and destination, algorithm and key size, time left before the hard\n"
"    lifetime ends, packets and bytes carried, packets dropped as\n"
"    replays, packets that failed the integrity check. Keys are never\n"
"    shown.\n"
"\n"
"    Read from the kernel, not from sipsecd: works whether or not the\n"
"    daemon runs. Needs CAP_NET_ADMIN (the kernel's SA database is not\n"
"    readable otherwise). Run it in the network namespace of the host you\n"
"    mean.\n"
"\n"
"OPTIONS\n"
"    -j, --json   one JSON object: {\"sas\": [...], \"policies\": N}\n"
"    -h, --help   this text\n"
"\n"
"EXIT STATUS\n"
"    0 success (also with no SA); 1 the kernel could not be read (the\n"
"    message says why); 2 bad usage.\n",
		XFRM_REQID_BASE, XFRM_REQID_BASE | ~XFRM_REQID_MASK);
}

struct row {
	struct xfrm_sa_status st;
	bool out; /* the source is one of this host's addresses */
	char peer[64], src[64], dst[64];
};

struct sas_table {
	struct row *r;
	size_t n;
	struct ifaddrs *ifa;
	unsigned policies;
};

static bool is_local(const struct ifaddrs *ifa,
		     const struct sockaddr_storage *ss)
{
	for (; ifa; ifa = ifa->ifa_next) {
		struct sockaddr_storage a = { 0 };

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != ss->ss_family)
			continue;
		memcpy(&a, ifa->ifa_addr, ss->ss_family == AF_INET6 ?
						  sizeof(struct sockaddr_in6) :
						  sizeof(struct sockaddr_in));
		sipsec_sa_set_port(&a, 0);
		if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)&a)->sin6_scope_id = 0;
		if (sipsec_sa_equal(&a, ss))
			return true;
	}
	return false;
}

static int add_row(void *arg, const struct xfrm_sa_status *st)
{
	struct sas_table *rs = arg;
	struct row *r;

	if (rs->n == SAS_MAX)
		return -E2BIG;
	r = &rs->r[rs->n++];
	r->st = *st;
	r->out = is_local(rs->ifa, &st->src);
	sipsec_sa_ip((const void *)&st->src, r->src, sizeof(r->src));
	sipsec_sa_ip((const void *)&st->dst, r->dst, sizeof(r->dst));
	snprintf(r->peer, sizeof(r->peer), "%s", r->out ? r->dst : r->src);
	return 0;
}

static int count_policy(void *arg, const struct xfrm_sp *sp)
{
	(void)sp;
	((struct sas_table *)arg)->policies++;
	return 0;
}

static int by_peer(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->peer, y->peer);

	if (c)
		return c;
	if (x->out != y->out)
		return x->out ? -1 : 1;
	return x->st.spi < y->st.spi ? -1 : x->st.spi > y->st.spi;
}

static void life(const struct row *r, char *buf, size_t len)
{
	if (r->st.life_left_s < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRId64 " s", r->st.life_left_s);
}

void sas_print_text(const struct sas_table *rs, FILE *f)
{
	const char *peer = "";
	char lf[32], alg[96];

	if (!rs->n) {
		fprintf(f, "no sipsec SAs (%u sipsec policies)\n", rs->policies);
		return;
	}
	for (size_t i = 0; i < rs->n; i++) {
		const struct row *r = &rs->r[i];

		if (strcmp(peer, r->peer)) {
			fprintf(f, "%speer %s\n", i ? "\n" : "", r->peer);
			fprintf(f, "  %-3s %-10s %-33s %-28s %9s %10s %12s %6s %9s\n",
			       "DIR", "SPI", "SRC -> DST", "ALGORITHM",
			       "LIFE LEFT", "PACKETS", "BYTES", "REPLAY",
			       "INTEGRITY");
			peer = r->peer;
		}
		life(r, lf, sizeof(lf));
		snprintf(alg, sizeof(alg), "%s/%u", r->st.alg, r->st.key_bits);
		fprintf(f, "  %-3s 0x%08x %15s -> %-15s %-28s %9s %10" PRIu64
		       " %12" PRIu64 " %6u %9u\n", r->out ? "out" : "in",
		       r->st.spi, r->src, r->dst, alg, lf, r->st.packets,
		       r->st.bytes, r->st.replay, r->st.integrity_failed);
	}
	fprintf(f, "\n%zu SAs, %u sipsec policies\n", rs->n, rs->policies);
}

void sas_print_json(const struct sas_table *rs, FILE *f)
{
	char spi[16];

	fprintf(f, "\"sas\":[");
	for (size_t i = 0; i < rs->n; i++) {
		const struct row *r = &rs->r[i];

		fprintf(f, "%s{", i ? "," : "");
		json_kv_str(f, "peer", r->peer, true);
		json_kv_str(f, "direction", r->out ? "out" : "in", true);
		snprintf(spi, sizeof(spi), "0x%08x", r->st.spi);
		json_kv_str(f, "spi", spi, true);
		json_kv_str(f, "src", r->src, true);
		json_kv_str(f, "dst", r->dst, true);
		json_kv_str(f, "algorithm", r->st.alg, true);
		json_kv_u64(f, "key_bits", r->st.key_bits, true);
		json_kv_u64(f, "icv_bits", r->st.icv_bits, true);
		json_kv_u64(f, "replay_window", r->st.replay_window, true);
		if (r->st.life_left_s < 0)
			fprintf(f, "\"lifetime_left_s\":null,");
		else
			json_kv_u64(f, "lifetime_left_s",
				    (unsigned long long)r->st.life_left_s, true);
		json_kv_u64(f, "packets", r->st.packets, true);
		json_kv_u64(f, "bytes", r->st.bytes, true);
		json_kv_u64(f, "replay_drops", r->st.replay, true);
		json_kv_u64(f, "integrity_failures", r->st.integrity_failed,
			    false);
		fputc('}', f);
	}
	fprintf(f, "],");
	json_kv_u64(f, "policies", rs->policies, false);
}

void sas_free(struct sas_table *rs)
{
	if (!rs)
		return;
	if (rs->ifa)
		freeifaddrs(rs->ifa);
	free(rs->r);
	free(rs);
}

int sas_load(struct sas_table **out, char *why, size_t wlen)
{
	struct sas_table *rs = calloc(1, sizeof(*rs));
	struct xfrm *x = NULL;
	int err;

	*out = NULL;
	if (!rs || !(rs->r = calloc(SAS_MAX, sizeof(*rs->r))) ||
	    getifaddrs(&rs->ifa) < 0) {
		err = -errno;
		snprintf(why, wlen, "%s", strerror(errno));
		sas_free(rs);
		return err;
	}
	err = xfrm_open(&x, false, why, wlen);
	if (!err)
		err = xfrm_dump_sas(x, add_row, rs, why, wlen);
	if (!err)
		err = xfrm_dump_policies(x, count_policy, rs, why, wlen);
	xfrm_close(x);
	if (err) {
		if (err == -E2BIG)
			snprintf(why, wlen, "more SAs than sipsecctl lists");
		sas_free(rs);
		return err;
	}
	qsort(rs->r, rs->n, sizeof(*rs->r), by_peer);
	*out = rs;
	return 0;
}

int cmd_sas(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sas_table *rs;
	bool json = o->json;
	char why[256];
	int opt;

	optind = 0; /* a fresh getopt scan: glibc resets on 0 */
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (sas_load(&rs, why, sizeof(why))) {
		fprintf(stderr, "sipsecctl sas: %s\n", why);
		return 1;
	}
	if (json) {
		putchar('{');
		sas_print_json(rs, stdout);
		printf("}\n");
	} else {
		sas_print_text(rs, stdout);
	}
	sas_free(rs);
	return 0;
}
