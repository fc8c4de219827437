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
"    certificate, mechanism, data path and why, TLS version and cipher,\n"
"    bytes each way and age. With --json, one JSON object.\n");
}

static const char *mech_str(unsigned m)
{
	static const char *const s[] = { "none", "tls", "ipsec", "preshared" };

	return m < 4 ? s[m] : "?";
}

static const char *path_str(unsigned p)
{
	static const char *const s[] = { "none", "kernel", "user-space" };

	return p < 3 ? s[p] : "?";
}

static void addr_str(const struct sipsec_ctl_addr *a, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	sipsec_ctl_to_sa(a, &ss, &sl);
	sipsec_sa_format((struct sockaddr *)&ss, buf, len);
}

static void print_text(const struct sipsec_ctl_status *st,
		       const struct sipsec_ctl_conn *conns, size_t n)
{
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
	printf("connections %u\n", st->n_conns);
	if (!n)
		return;
	printf("\n%-4s %-28s %-24s %-3s %-5s %-10s %-8s %-22s %-3s %-3s %10s "
	       "%10s %6s  %s\n", "DIR", "PEER", "NAME", "OK", "MECH", "PATH",
	       "TLS", "CIPHER", "KTX", "KRX", "IN", "OUT", "AGE", "WHY");
	for (size_t i = 0; i < n; i++) {
		const struct sipsec_ctl_conn *c = &conns[i];
		char peer[64];

		addr_str(&c->peer, peer, sizeof(peer));
		printf("%-4s %-28s %-24s %-3s %-5s %-10s %-8s %-22s %-3s %-3s "
		       "%10llu %10llu %5us  %s\n", c->outgoing ? "out" : "in",
		       peer, c->peer_name, c->name_verified ? "yes" : "no",
		       mech_str(c->mech), path_str(c->path), c->tls_version,
		       c->cipher, c->ktls_tx ? "on" : "off",
		       c->ktls_rx ? "on" : "off",
		       (unsigned long long)c->bytes_in,
		       (unsigned long long)c->bytes_out, c->age_s,
		       c->path_reason);
	}
}

static void print_json(const struct sipsec_ctl_status *st,
		       const struct sipsec_ctl_conn *conns, size_t n)
{
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
	fprintf(f, "]}\n");
}

/* Collects the STATUS reply: one status message, then connections. */
static int fetch(int fd, struct sipsec_ctl_status *st,
		 struct sipsec_ctl_conn *conns, size_t cap, size_t *n)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_hdr h;
	bool first = true;
	int err, rfd;

	*n = 0;
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
			if (h.type != SIPSEC_CTL_STATUS || body != sizeof(*st))
				return -EBADMSG;
			memcpy(st, buf + sizeof(h), sizeof(*st));
			first = false;
		} else {
			if (h.type != SIPSEC_CTL_STATUS_CONN ||
			    body != sizeof(*conns))
				return -EBADMSG;
			if (*n < cap)
				memcpy(&conns[(*n)++], buf + sizeof(h),
				       sizeof(*conns));
		}
	} while (h.flags & SIPSEC_CTL_F_MORE);
	return 0;
}

int cmd_status(const struct ctl_opts *o, int argc, char **argv)
{
	static struct sipsec_ctl_conn conns[65536];
	struct sipsec_ctl_status st;
	size_t n = 0;
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
	err = fetch(fd, &st, conns, ARRAY_SIZE(conns), &n);
	close(fd);
	if (err) {
		fprintf(stderr, "sipsecctl status: %s\n", strerror(-err));
		return 1;
	}
	if (o->json)
		print_json(&st, conns, n);
	else
		print_text(&st, conns, n);
	return 0;
}
