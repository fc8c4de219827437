// SPDX-License-Identifier: MIT
/* sipsecctl status: the daemon, its kernel's data paths, connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sipsec.h"
#include "sipsec_ctl.h"
#include "sipsecctl.h"

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl status - what sipsecd is doing\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl [-s @NAME] [--json] status\n"
"\n"
"DESCRIPTION\n"
"    Prints the daemon (version, pid, uptime, configuration), what the\n"
"    kernel offers and which data path each protocol takes and why, then\n"
"    one line per protected connection: peer, the name verified in its\n"
"    certificate, mechanism, how it was settled (AGREE: 'agreed' with a\n"
"    sipsec peer inside TLS, 'cached' from an earlier agreement, 'sips'\n"
"    for a standard SIP-over-TLS peer), what it carries (FLOW: 'tcp', one\n"
"    program's connection; 'udp', a channel between two daemons carrying\n"
"    the UDP SIP datagrams of this host's programs, WHY counting them),\n"
"    data path and why, TLS version and cipher, plaintext bytes each way\n"
"    and age.\n"
"\n"
"    The credential cache follows: per next hop (TLS address and the\n"
"    identity its certificate proved), the mechanism agreed, whether a TLS\n"
"    session is held to resume it, whether resuming skips the agreement,\n"
"    how often it did, age and time left. Keys are never shown.\n"
"\n"
"    Then sipsec's ESP SAs, read from the kernel as `sipsecctl sas` reads\n"
"    them: per peer, direction, SPI, algorithm, lifetime left, packets,\n"
"    bytes, replay drops and integrity failures (\"not read\" and the\n"
"    reason where there is no XFRM or no privilege). Never a key.\n"
"\n"
"    With --json, one JSON object.\n");
}

static const char *mech_str(unsigned m)
{
	static const char *const s[] = { "none", "tls", "ipsec", "preshared" };

	return m < 4 ? s[m] : "?";
}

/* How the mechanism was settled: agreed with a sipsec peer inside TLS,
 * resumed from the credential cache, or a standard SIPS peer. */
static const char *agreed_str(unsigned a)
{
	static const char *const s[] = { "sips", "agreed", "cached" };

	return a < 3 ? s[a] : "?";
}

static const char *flow_str(unsigned f)
{
	return f == 2 ? "udp" : "tcp";
}

static const char *path_str(unsigned p)
{
	static const char *const s[] = { "none", "kernel", "user-space" };

	return p < 3 ? s[p] : "?";
}

/* The whole STATUS reply. */
struct reply {
	struct sipsec_ctl_status st;
	struct sipsec_ctl_conn conns[65536];
	size_t n;
	struct sipsec_ctl_cache cache[4096];
	size_t n_cache;
	/* ESP SAs, from the kernel (sas.c): NULL with the reason */
	struct sas_table *sas;
	char sas_why[160];
};

static const char *keying_str(unsigned k)
{
	static const char *const s[] = { "", "ike", "manual", "exporter",
					 "psk", "other" };

	return k < 6 ? s[k] : "?";
}

static void addr_str(const struct sipsec_ctl_addr *a, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	sipsec_ctl_to_sa(a, &ss, &sl);
	sipsec_sa_format((struct sockaddr *)&ss, buf, len);
}

static void print_cache(const struct reply *r)
{
	if (!r->n_cache)
		return;
	printf("\n%-28s %-24s %-6s %-9s %-7s %-7s %6s %8s %8s\n", "NEXT HOP",
	       "NAME", "MECH", "KEYING", "SESSION", "AGREED", "HITS", "AGE",
	       "EXPIRES");
	for (size_t i = 0; i < r->n_cache; i++) {
		const struct sipsec_ctl_cache *e = &r->cache[i];
		char peer[64];

		addr_str(&e->peer, peer, sizeof(peer));
		printf("%-28s %-24s %-6s %-9s %-7s %-7s %6u %7us %7us\n", peer,
		       e->name, e->mech ? mech_str(e->mech) : "-",
		       e->keying ? keying_str(e->keying) : "-",
		       e->resumable ? "yes" : "no",
		       e->agreed_session ? "yes" : "no", e->hits, e->age_s,
		       e->expires_in_s);
	}
}

static void print_conns(const struct reply *r)
{
	const struct sipsec_ctl_conn *conns = r->conns;
	size_t n = r->n;

	printf("\n%-4s %-28s %-24s %-3s %-5s %-6s %-4s %-10s %-8s %-22s %-3s "
	       "%-3s %10s %10s %6s  %s\n", "DIR", "PEER", "NAME", "OK", "MECH",
	       "AGREE", "FLOW", "PATH",
	       "TLS", "CIPHER", "KTX", "KRX", "IN", "OUT", "AGE", "WHY");
	for (size_t i = 0; i < n; i++) {
		const struct sipsec_ctl_conn *c = &conns[i];
		char peer[64];

		addr_str(&c->peer, peer, sizeof(peer));
		printf("%-4s %-28s %-24s %-3s %-5s %-6s %-4s %-10s %-8s %-22s "
		       "%-3s %-3s %10llu %10llu %5us  %s\n",
		       c->outgoing ? "out" : "in", peer, c->peer_name,
		       c->name_verified ? "yes" : "no", mech_str(c->mech),
		       agreed_str(c->agreed), flow_str(c->flow),
		       path_str(c->path), c->tls_version,
		       c->cipher, c->ktls_tx ? "on" : "off",
		       c->ktls_rx ? "on" : "off",
		       (unsigned long long)c->bytes_in,
		       (unsigned long long)c->bytes_out, c->age_s,
		       c->path_reason);
	}
}

static void print_text(const struct reply *r)
{
	const struct sipsec_ctl_status *st = &r->st;
	size_t n = r->n;

	printf("%s, pid %u, up %us, events: %s\n", st->software, st->pid,
	       st->uptime_s, st->loop_backend);
	printf("config      %s (%u peer/realm sections)\n", st->config_path,
	       st->n_peers);
	printf("host name   %s\n", st->host_name[0] ? st->host_name : "-");
	printf("kTLS        %s\n", st->ktls_reason);
	printf("ESP         %s\n", st->esp_reason);
	printf("BPF TC      %s, BTF %s\n",
	       st->features & SIPSEC_FEAT_BPF_TC ? "yes" : "no",
	       st->features & SIPSEC_FEAT_BTF ? "yes" : "no");
	if (st->disc.port)
		printf("discovery   UDP %u: %u offers sent, %u received, %u "
		       "accepted, %u repeated, %u unanswered; rejected: %u "
		       "checksum, %u time, %u replay, %u other\n",
		       st->disc.port, st->disc.sent, st->disc.received,
		       st->disc.accepted, st->disc.repeated, st->disc.failed,
		       st->disc.rejected_checksum, st->disc.rejected_time,
		       st->disc.rejected_replay, st->disc.rejected_other);
	printf("connections %u\n", st->n_conns);
	printf("cache       %zu next hop%s\n", r->n_cache,
	       r->n_cache == 1 ? "" : "s");
	print_cache(r);
	if (n)
		print_conns(r);
	if (r->sas) {
		printf("\nESP SAs (from the kernel)\n");
		sas_print_text(r->sas, stdout);
	} else {
		printf("\nESP SAs     not read: %s\n", r->sas_why);
	}
}


static void print_json(const struct reply *r)
{
	const struct sipsec_ctl_status *st = &r->st;
	const struct sipsec_ctl_conn *conns = r->conns;
	size_t n = r->n;
	FILE *f = stdout;

	fputc('{', f);
	json_kv_str(f, "software", st->software, true);
	json_kv_u64(f, "pid", st->pid, true);
	json_kv_u64(f, "uptime_s", st->uptime_s, true);
	json_kv_str(f, "events", st->loop_backend, true);
	json_kv_str(f, "config", st->config_path, true);
	json_kv_u64(f, "policy_sections", st->n_peers, true);
	json_kv_str(f, "host_name", st->host_name, true);
	fprintf(f, "\"kernel\":{");
	json_kv_bool(f, "ktls", st->features & SIPSEC_FEAT_KTLS, true);
	json_kv_str(f, "ktls_reason", st->ktls_reason, true);
	json_kv_bool(f, "esp", st->features & SIPSEC_FEAT_ESP, true);
	json_kv_str(f, "esp_reason", st->esp_reason, true);
	json_kv_bool(f, "bpf_tc", st->features & SIPSEC_FEAT_BPF_TC, true);
	json_kv_bool(f, "btf", st->features & SIPSEC_FEAT_BTF, true);
	json_kv_bool(f, "io_uring", st->features & SIPSEC_FEAT_IO_URING,
		     false);
	fprintf(f, "},\"discovery\":{");
	json_kv_u64(f, "port", st->disc.port, true);
	json_kv_u64(f, "sent", st->disc.sent, true);
	json_kv_u64(f, "received", st->disc.received, true);
	json_kv_u64(f, "accepted", st->disc.accepted, true);
	json_kv_u64(f, "repeated", st->disc.repeated, true);
	json_kv_u64(f, "unanswered", st->disc.failed, true);
	json_kv_u64(f, "rejected_checksum", st->disc.rejected_checksum, true);
	json_kv_u64(f, "rejected_time", st->disc.rejected_time, true);
	json_kv_u64(f, "rejected_replay", st->disc.rejected_replay, true);
	json_kv_u64(f, "rejected_other", st->disc.rejected_other, false);
	fprintf(f, "},\"connections\":[");
	for (size_t i = 0; i < n; i++) {
		const struct sipsec_ctl_conn *c = &conns[i];
		char peer[64], local[64];

		addr_str(&c->peer, peer, sizeof(peer));
		addr_str(&c->local, local, sizeof(local));
		fprintf(f, "%s{", i ? "," : "");
		json_kv_u64(f, "id", c->id, true);
		json_kv_str(f, "direction", c->outgoing ? "out" : "in", true);
		json_kv_str(f, "local", local, true);
		json_kv_str(f, "peer", peer, true);
		json_kv_str(f, "peer_name", c->peer_name, true);
		json_kv_bool(f, "name_verified", c->name_verified, true);
		json_kv_str(f, "mechanism", mech_str(c->mech), true);
		json_kv_str(f, "agreement", agreed_str(c->agreed), true);
		json_kv_str(f, "flow", flow_str(c->flow), true);
		json_kv_str(f, "data_path", path_str(c->path), true);
		json_kv_str(f, "data_path_reason", c->path_reason, true);
		json_kv_str(f, "tls_version", c->tls_version, true);
		json_kv_str(f, "cipher", c->cipher, true);
		json_kv_bool(f, "ktls_tx", c->ktls_tx, true);
		json_kv_bool(f, "ktls_rx", c->ktls_rx, true);
		json_kv_str(f, "ktls_reason", c->ktls_reason, true);
		json_kv_u64(f, "bytes_in", c->bytes_in, true);
		json_kv_u64(f, "bytes_out", c->bytes_out, true);
		json_kv_u64(f, "age_s", c->age_s, false);
		fputc('}', f);
	}
	fprintf(f, "],\"cache\":[");
	for (size_t i = 0; i < r->n_cache; i++) {
		const struct sipsec_ctl_cache *e = &r->cache[i];
		char peer[64];

		addr_str(&e->peer, peer, sizeof(peer));
		fprintf(f, "%s{", i ? "," : "");
		json_kv_str(f, "next_hop", peer, true);
		json_kv_str(f, "name", e->name, true);
		json_kv_str(f, "mechanism", e->mech ? mech_str(e->mech) : "",
			    true);
		json_kv_str(f, "keying", keying_str(e->keying), true);
		json_kv_bool(f, "session", e->resumable, true);
		json_kv_bool(f, "agreed_session", e->agreed_session, true);
		json_kv_u64(f, "hits", e->hits, true);
		json_kv_u64(f, "age_s", e->age_s, true);
		json_kv_u64(f, "expires_in_s", e->expires_in_s, false);
		fputc('}', f);
	}
	fprintf(f, "],\"esp\":{");
	if (r->sas) {
		sas_print_json(r->sas, f);
	} else {
		json_kv_str(f, "error", r->sas_why, false);
	}
	fprintf(f, "}}\n");
}

/* Collects the STATUS reply: one status message, then connections and
 * cache entries. */
static int fetch(int fd, struct reply *r)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_hdr h;
	bool first = true;
	int err, rfd;

	r->n = r->n_cache = 0;
	err = sipsec_ctl_send(fd, SIPSEC_CTL_STATUS, 2, 0, 0, NULL, 0, -1);
	if (err)
		return err;
	do {
		ssize_t len = sipsec_ctl_recv(fd, buf, sizeof(buf), &rfd);
		size_t body;

		if (rfd >= 0)
			close(rfd);
		if (len <= 0)
			return len ? (int)len : -ECONNRESET;
		memcpy(&h, buf, sizeof(h));
		body = (size_t)len - sizeof(h);
		if (h.status)
			return h.status;
		if (first) {
			if (h.type != SIPSEC_CTL_STATUS ||
			    body != sizeof(r->st))
				return -EBADMSG;
			memcpy(&r->st, buf + sizeof(h), sizeof(r->st));
			first = false;
		} else if (h.type == SIPSEC_CTL_STATUS_CONN &&
			   body == sizeof(r->conns[0])) {
			if (r->n < ARRAY_SIZE(r->conns))
				memcpy(&r->conns[r->n++], buf + sizeof(h),
				       sizeof(r->conns[0]));
		} else if (h.type == SIPSEC_CTL_STATUS_CACHE &&
			   body == sizeof(r->cache[0])) {
			if (r->n_cache < ARRAY_SIZE(r->cache))
				memcpy(&r->cache[r->n_cache++],
				       buf + sizeof(h), sizeof(r->cache[0]));
		} else {
			return -EBADMSG;
		}
	} while (h.flags & SIPSEC_CTL_F_MORE);
	return 0;
}

int cmd_status(const struct ctl_opts *o, int argc, char **argv)
{
	static struct reply r;
	int fd, err;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "sipsecctl status: unexpected '%s'\n", argv[1]);
		return 2;
	}
	fd = ctl_open(o);
	if (fd < 0)
		return 1;
	err = fetch(fd, &r);
	close(fd);
	if (err) {
		fprintf(stderr, "sipsecctl status: %s\n", strerror(-err));
		return 1;
	}
	/* The SAs are the kernel's: read there, as `sipsecctl sas` does. */
	if (sas_load(&r.sas, r.sas_why, sizeof(r.sas_why)))
		r.sas = NULL;
	if (o->json)
		print_json(&r);
	else
		print_text(&r);
	sas_free(r.sas);
	r.sas = NULL;
	return 0;
}
