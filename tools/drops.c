// SPDX-License-Identifier: MIT
/*
 * sipsecctl drops, events, detach: the eBPF enforcement layer, read from
 * its pinned objects rather than through sipsecd, so that they work when
 * the daemon is gone (enforcement outlives it) or was never there.
 *
 * `events` reads the per-CPU "recent" array the BPF program fills, not the
 * ring buffer: a ring buffer has one reader and that is the daemon. The
 * array keeps the last SIPSEC_RECENT_SLOTS drops of each CPU, any number
 * of readers can look, and it needs neither the daemon nor a change to
 * the control protocol; following it is a poll every 200 ms, and a reader
 * that falls more than a slot-ring behind is told how many it missed.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsec.h"
#include "sipsec_abi.h"
#include "sipsecctl.h"
#include "../daemon/sipsecd.h"
#include "../daemon/enforce.h"

#define DEFAULT_CONFIG "/etc/sipsec/sipsec.conf"
#define FOLLOW_MS 200

static const char where_help[] =
"    -p, --pin-dir DIR  the bpffs folder of the pinned objects\n"
"    -c, --config FILE  take the folder from FILE's pin_dir (default\n"
"                       " DEFAULT_CONFIG " if readable, else\n"
"                       " SIPSEC_PIN_DIR_DEFAULT ")\n";

static void usage_drops(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl drops - what the eBPF enforcement dropped, and why\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl [--json] drops [-p DIR | -c FILE] [-a]\n"
"\n"
"DESCRIPTION\n"
"    Prints the per-reason counters of the enforcement program (packets\n"
"    and bytes, summed over CPUs), its mode and SIP ports, and the\n"
"    interfaces of this network namespace that carry its filter. Read\n"
"    from the pinned maps: works whether or not sipsecd runs. Run it in\n"
"    the network namespace of the host you mean.\n"
"\n"
"    Drop reasons: sip-request, sip-response (a start line, any port);\n"
"    sip-flow (a later segment of a TCP flow that began with SIP);\n"
"    sip-partial (a flow's first bytes, too few to tell, held back);\n"
"    sip-port (on a SIP port, neither TLS nor ESP); sip-fragment (a later\n"
"    fragment of a dropped datagram); sip-padded (CR/LF padding before a\n"
"    message); malformed, unparsed (headers that do not parse).\n"
"\n"
"OPTIONS\n"
"%s"
"    -a, --all          the pass reasons too (tls, esp, not-sip, ...)\n"
"    -h, --help         this text\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 nothing pinned there, or another layout version; 2 bad\n"
"    usage.\n", where_help);
}

static void usage_events(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl events - the latest drops, one line each\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl [--json] events [-p DIR | -c FILE] [-f] [-n N]\n"
"\n"
"DESCRIPTION\n"
"    Prints the drops the enforcement program recorded most recently (it\n"
"    keeps the last %d of each CPU), oldest first: time, direction,\n"
"    interface, protocol, addresses and ports, reason, size, and the\n"
"    printable start of the payload. In monitor mode the lines say\n"
"    \"would drop\". With --json, one JSON object per line.\n"
"\n"
"OPTIONS\n"
"%s"
"    -f, --follow       keep printing new drops until interrupted\n"
"    -n, --lines N      at most the last N recorded drops (default: all)\n"
"    -h, --help         this text\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 nothing pinned there, or another layout version; 2 bad\n"
"    usage.\n", SIPSEC_RECENT_SLOTS, where_help);
}

static void usage_detach(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl detach - remove the eBPF enforcement\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl detach [-p DIR | -c FILE] [--force]\n"
"\n"
"DESCRIPTION\n"
"    Removes the enforcement filters from every interface of this network\n"
"    namespace (the clsact qdiscs stay: other filters may use them) and\n"
"    the pinned maps and programs of the folder. Enforcement otherwise\n"
"    outlives sipsecd on purpose; this is the deliberate way to end it.\n"
"    Cleartext SIP can leave the host afterwards.\n"
"\n"
"    While sipsecd runs it would attach again (to a new interface, or at\n"
"    its next start), so detach refuses unless --force: stop sipsecd\n"
"    first, or set its enforcement to off and reload it.\n"
"\n"
"OPTIONS\n"
"%s"
"        --force        detach even though sipsecd answers\n"
"    -h, --help         this text\n"
"\n"
"EXIT STATUS\n"
"    0 detached (or nothing was there); 1 failure or refused; 2 bad usage.\n",
		where_help);
}

/* --- the pin folder -------------------------------------------------- */

static int resolve_pin_dir(const char *pin, const char *conf, char *out,
			   size_t len)
{
	struct config *cfg = NULL;
	const char *path = conf ? conf : DEFAULT_CONFIG;
	int err;

	if (pin) {
		sipsec_strlcpy(out, pin, len);
		return 0;
	}
	if (!conf && access(path, R_OK) < 0) {
		sipsec_strlcpy(out, SIPSEC_PIN_DIR_DEFAULT, len);
		return 0;
	}
	err = config_load(path, &cfg, NULL, NULL);
	if (err) {
		fprintf(stderr, "sipsecctl: %s: %s\n", path,
			err == -EINVAL ? "invalid configuration" :
			strerror(-err));
		return err;
	}
	sipsec_strlcpy(out, cfg->pin_dir ? cfg->pin_dir :
		       SIPSEC_PIN_DIR_DEFAULT, len);
	config_free(cfg);
	return 0;
}

static void pinned_error(const char *cmd, const char *dir, int err)
{
	if (err == -ENOENT)
		fprintf(stderr, "sipsecctl %s: nothing pinned in %s (is "
			"enforcement loaded? is this the right folder?)\n",
			cmd, dir);
	else if (err == -EPROTO)
		fprintf(stderr, "sipsecctl %s: %s holds maps of another layout "
			"version than this sipsecctl's (%u)\n", cmd, dir,
			SIPSEC_ABI_VERSION);
	else
		fprintf(stderr, "sipsecctl %s: %s: %s\n", cmd, dir,
			strerror(-err));
}

struct where {
	const char *pin, *conf;
	char dir[512];
};

/* Parses the options common to the three commands plus extra ones;
 * returns the option character for an extra one, -1 at the end, '?' on
 * error, 'h' for help. */
static int next_opt(int argc, char **argv, const char *extra_short,
		    const struct option *extra, struct where *w)
{
	struct option all[12];
	char shorts[32];
	size_t n = 0;
	int c;

	all[n++] = (struct option){ "pin-dir", required_argument, NULL, 'p' };
	all[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (; extra && extra->name && n < ARRAY_SIZE(all) - 1; extra++)
		all[n++] = *extra;
	all[n] = (struct option){ 0 };
	snprintf(shorts, sizeof(shorts), "p:c:h%s", extra_short);
	c = getopt_long(argc, argv, shorts, all, NULL);
	if (c == 'p')
		w->pin = optarg;
	else if (c == 'c')
		w->conf = optarg;
	return c;
}

static int finish_where(const char *cmd, int argc, char **argv,
			struct where *w)
{
	if (optind < argc) {
		fprintf(stderr, "sipsecctl %s: unexpected '%s'\n", cmd,
			argv[optind]);
		return 2;
	}
	return resolve_pin_dir(w->pin, w->conf, w->dir, sizeof(w->dir)) ? 1 :
									  0;
}

/* --- drops ------------------------------------------------------------ */

struct filters {
	char text[1024];
	size_t off;
	unsigned n;
	bool json;
};

static void on_filter(void *arg, int ifindex, const char *ifname,
		      bool ingress, uint32_t prog_id)
{
	struct filters *f = arg;
	int k;

	(void)ifindex;
	if (f->off >= sizeof(f->text))
		return;
	if (f->json)
		k = snprintf(f->text + f->off, sizeof(f->text) - f->off,
			     "%s{\"interface\":\"%s\",\"hook\":\"%s\","
			     "\"prog_id\":%u}", f->n ? "," : "", ifname,
			     ingress ? "ingress" : "egress", prog_id);
	else
		k = snprintf(f->text + f->off, sizeof(f->text) - f->off,
			     "%s%s %s", f->n ? ", " : "", ifname,
			     ingress ? "ingress" : "egress");
	if (k > 0)
		f->off += (size_t)k;
	f->n++;
}

static const char *mode_name(uint32_t mode)
{
	return mode == SIPSEC_MODE_MONITOR ? "monitor" :
	       mode == SIPSEC_MODE_OFF ? "off" : "enforce";
}

static int read_policy(const char *dir, struct sipsec_policy *pol)
{
	__u32 key = 0;
	int fd, err = 0;

	fd = enforce_open_pinned_map(dir, SIPSEC_PIN_POLICY);
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &key, pol))
		err = -errno;
	close(fd);
	return err;
}

static void print_drops_json(const char *dir, const struct sipsec_policy *pol,
			     const struct sipsec_count *c,
			     const struct filters *f, bool all)
{
	unsigned long long dropped = 0;
	bool first = true;

	fputc('{', stdout);
	json_kv_str(stdout, "pin_dir", dir, true);
	json_kv_u64(stdout, "layout", SIPSEC_ABI_VERSION, true);
	json_kv_str(stdout, "mode", pol->abi_version ? mode_name(pol->mode) :
		    "enforce (unconfigured)", true);
	printf("\"sip_ports\":[");
	if (!pol->abi_version)
		printf("%u", SIPSEC_DEFAULT_SIP_PORT);
	for (unsigned i = 0; pol->abi_version && i < pol->n_sip_ports &&
			     i < SIPSEC_MAX_SIP_PORTS; i++)
		printf("%s%u", i ? "," : "", pol->sip_ports[i]);
	printf("],\"filters\":[%s],\"counters\":[", f->text);
	for (unsigned r = 1; r < SIPSEC_REASON_MAX; r++) {
		bool drop = enforce_reason_is_drop(r);

		if (!strncmp(enforce_reason_name(r), "reason-", 7) ||
		    (!all && !drop))
			continue;
		if (drop)
			dropped += c[r].packets;
		printf("%s{", first ? "" : ",");
		first = false;
		json_kv_str(stdout, "reason", enforce_reason_name(r), true);
		json_kv_str(stdout, "verdict", r == SIPSEC_CNT_EVENTS_LOST ?
			    "none" : drop ? "drop" : "pass", true);
		json_kv_u64(stdout, "packets", c[r].packets, true);
		json_kv_u64(stdout, "bytes", c[r].bytes, false);
		fputc('}', stdout);
	}
	printf("],");
	json_kv_u64(stdout, "dropped_packets", dropped, false);
	printf("}\n");
}

static void print_drops_text(const char *dir, const struct sipsec_policy *pol,
			     const struct sipsec_count *c,
			     const struct filters *f, bool all)
{
	unsigned long long dropped = 0, dbytes = 0;

	printf("pin folder  %s (layout %u)\n", dir, SIPSEC_ABI_VERSION);
	printf("mode        %s\n", pol->abi_version ? mode_name(pol->mode) :
	       "enforce (never configured: built-in defaults)");
	printf("SIP ports   ");
	if (!pol->abi_version)
		printf("%u", SIPSEC_DEFAULT_SIP_PORT);
	for (unsigned i = 0; pol->abi_version && i < pol->n_sip_ports &&
			     i < SIPSEC_MAX_SIP_PORTS; i++)
		printf("%s%u", i ? ", " : "", pol->sip_ports[i]);
	printf("\nfilters     %s\n\n", f->n ? f->text :
	       "none in this network namespace");
	printf("%-16s %-7s %12s %14s\n", "REASON", "VERDICT", "PACKETS",
	       "BYTES");
	for (unsigned r = 1; r < SIPSEC_REASON_MAX; r++) {
		bool drop = enforce_reason_is_drop(r);

		if (!strncmp(enforce_reason_name(r), "reason-", 7) ||
		    (!all && !drop && r != SIPSEC_CNT_EVENTS_LOST))
			continue;
		if (r == SIPSEC_CNT_EVENTS_LOST && !c[r].packets && !all)
			continue;
		if (drop) {
			dropped += c[r].packets;
			dbytes += c[r].bytes;
		}
		printf("%-16s %-7s %12llu %14llu\n", enforce_reason_name(r),
		       r == SIPSEC_CNT_EVENTS_LOST ? "-" : drop ? "drop" :
		       "pass", (unsigned long long)c[r].packets,
		       (unsigned long long)c[r].bytes);
	}
	printf("%-16s %-7s %12llu %14llu\n", "total", "drop", dropped, dbytes);
}

int cmd_drops(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "all", no_argument, NULL, 'a' },
		{ 0 },
	};
	struct sipsec_count c[SIPSEC_REASON_MAX];
	struct sipsec_policy pol;
	struct filters f = { .json = o->json };
	struct where w = { 0 };
	bool all = false;
	int opt, err;

	optind = 0; /* a fresh getopt scan: glibc resets on 0 */
	while ((opt = next_opt(argc, argv, "a", extra, &w)) != -1) {
		switch (opt) {
		case 'p': case 'c': break;
		case 'a': all = true; break;
		case 'h': usage_drops(stdout); return 0;
		default: usage_drops(stderr); return 2;
		}
	}
	if ((err = finish_where("drops", argc, argv, &w)))
		return err;
	err = read_policy(w.dir, &pol);
	if (!err)
		err = enforce_read_counters(w.dir, c);
	if (err) {
		pinned_error("drops", w.dir, err);
		return 1;
	}
	log_set_level(LOG_LVL_ERR); /* a missing clsact is not news */
	enforce_list_filters(on_filter, &f);
	if (o->json)
		print_drops_json(w.dir, &pol, c, &f, all);
	else
		print_drops_text(w.dir, &pol, c, &f, all);
	return 0;
}

/* --- events ----------------------------------------------------------- */

struct rec {
	struct sipsec_event ev;
	unsigned cpu;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->ev.ts_ns < y->ev.ts_ns ? -1 : x->ev.ts_ns > y->ev.ts_ns;
}

static void wall_time(uint64_t mono_ns, char *buf, size_t len)
{
	struct timespec mono, real;
	int64_t ago_ns;
	time_t sec;
	struct tm tm;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	ago_ns = (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec -
		 (int64_t)mono_ns;
	ago_ns = (int64_t)real.tv_sec * 1000000000 + real.tv_nsec - ago_ns;
	sec = (time_t)(ago_ns / 1000000000);
	ms = (long)(ago_ns % 1000000000 / 1000000);
	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ms);
}

static void print_event_json(const struct rec *r, const char *when)
{
	const struct sipsec_event *ev = &r->ev;
	char addr[64], ifname[IF_NAMESIZE], snap[SIPSEC_SNAP_LEN + 1];
	size_t k = 0;

	fputc('{', stdout);
	json_kv_str(stdout, "time", when, true);
	json_kv_u64(stdout, "ts_ns", ev->ts_ns, true);
	json_kv_u64(stdout, "cpu", r->cpu, true);
	json_kv_u64(stdout, "seq", ev->seq, true);
	json_kv_str(stdout, "verdict", ev->verdict == SIPSEC_VERDICT_MONITOR ?
		    "monitor" : "drop", true);
	json_kv_str(stdout, "direction", ev->dir == SIPSEC_DIR_INGRESS ?
		    "ingress" : "egress", true);
	if (!if_indextoname(ev->ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "if%u", ev->ifindex);
	json_kv_str(stdout, "interface", ifname, true);
	json_kv_str(stdout, "protocol", ev->proto == IPPROTO_TCP ? "tcp" :
		    ev->proto == IPPROTO_UDP ? "udp" : "ip", true);
	enforce_event_addr(ev, false, addr, sizeof(addr));
	json_kv_str(stdout, "source", addr, true);
	enforce_event_addr(ev, true, addr, sizeof(addr));
	json_kv_str(stdout, "destination", addr, true);
	json_kv_str(stdout, "reason", enforce_reason_name(ev->reason), true);
	json_kv_u64(stdout, "bytes", ev->len, true);
	json_kv_u64(stdout, "payload_bytes", ev->payload_len, true);
	json_kv_bool(stdout, "on_association",
		     ev->flags & SIPSEC_EVENT_F_ASSOC, true);
	for (size_t i = 0; i < ev->snap_len && i < SIPSEC_SNAP_LEN; i++) {
		unsigned char c = ev->data[i];

		snap[k++] = c >= 0x20 && c < 0x7f ? (char)c :
			    c == '\r' || c == '\n' ? (char)c : '.';
	}
	snap[k] = '\0';
	json_kv_str(stdout, "payload_start", snap, false);
	printf("}\n");
}

static void print_rec(const struct rec *r, bool json)
{
	char when[80], line[512];

	wall_time(r->ev.ts_ns, when, sizeof(when));
	if (json) {
		print_event_json(r, when);
		return;
	}
	enforce_event_format(&r->ev, line, sizeof(line));
	printf("%s %s\n", when, line);
}

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Reads every CPU's recent slots newer than last[cpu]; returns how many
 * it put in out (sorted by time), and adds to *lost those overwritten
 * before they could be read. */
static int collect(int fd, int ncpu, uint64_t *last, struct rec *out,
		   struct sipsec_event *buf, unsigned long long *lost)
{
	uint64_t top[ncpu];
	int n = 0;

	memset(top, 0, sizeof(top));
	for (__u32 slot = 0; slot < SIPSEC_RECENT_SLOTS; slot++) {
		if (bpf_map_lookup_elem(fd, &slot, buf))
			return -errno;
		for (int c = 0; c < ncpu; c++) {
			if (buf[c].seq <= last[c])
				continue;
			out[n].ev = buf[c];
			out[n].cpu = (unsigned)c;
			n++;
			if (buf[c].seq > top[c])
				top[c] = buf[c].seq;
		}
	}
	for (int c = 0; c < ncpu; c++) {
		if (!top[c])
			continue;
		if (top[c] - last[c] > SIPSEC_RECENT_SLOTS)
			*lost += top[c] - last[c] - SIPSEC_RECENT_SLOTS;
		last[c] = top[c];
	}
	qsort(out, (size_t)n, sizeof(*out), rec_cmp);
	return n;
}

int cmd_events(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct sipsec_event *buf = NULL;
	struct rec *recs = NULL;
	uint64_t *last = NULL;
	unsigned long long lost = 0;
	struct where w = { 0 };
	bool follow = false;
	uint32_t lines = UINT32_MAX;
	int opt, err, fd = -1, ncpu, n, rc = 1;

	optind = 0; /* a fresh getopt scan: glibc resets on 0 */
	while ((opt = next_opt(argc, argv, "fn:", extra, &w)) != -1) {
		switch (opt) {
		case 'p': case 'c': break;
		case 'f': follow = true; break;
		case 'n':
			if (sipsec_parse_u32(optarg, 0, UINT32_MAX, &lines)) {
				fprintf(stderr, "sipsecctl events: -n wants a "
					"number, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage_events(stdout); return 0;
		default: usage_events(stderr); return 2;
		}
	}
	if ((err = finish_where("events", argc, argv, &w)))
		return err;
	fd = enforce_open_pinned_map(w.dir, SIPSEC_PIN_RECENT);
	if (fd < 0) {
		pinned_error("events", w.dir, fd);
		return 1;
	}
	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		goto out;
	buf = calloc((size_t)ncpu, sizeof(*buf));
	recs = calloc((size_t)ncpu * SIPSEC_RECENT_SLOTS, sizeof(*recs));
	last = calloc((size_t)ncpu, sizeof(*last));
	if (!buf || !recs || !last)
		goto out;
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	setvbuf(stdout, NULL, _IOLBF, 0);
	n = collect(fd, ncpu, last, recs, buf, &lost);
	if (n < 0)
		goto out;
	for (int i = lines < (uint32_t)n ? n - (int)lines : 0; i < n; i++)
		print_rec(&recs[i], o->json);
	lost = 0; /* history before we looked is not "lost" */
	while (follow && !stop) {
		poll(NULL, 0, FOLLOW_MS);
		n = collect(fd, ncpu, last, recs, buf, &lost);
		if (n < 0)
			goto out;
		if (lost && !o->json)
			printf("(%llu drops overwritten before they were read)\n",
			       lost);
		lost = 0;
		for (int i = 0; i < n; i++)
			print_rec(&recs[i], o->json);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "sipsecctl events: %s\n", strerror(errno));
	free(buf);
	free(recs);
	free(last);
	close(fd);
	return rc;
}

/* --- detach ----------------------------------------------------------- */

int cmd_detach(const struct ctl_opts *o, int argc, char **argv)
{
	static const struct option extra[] = {
		{ "force", no_argument, NULL, 'F' },
		{ 0 },
	};
	struct where w = { 0 };
	bool force = false;
	unsigned n = 0;
	int opt, err, fd;

	optind = 0; /* a fresh getopt scan: glibc resets on 0 */
	while ((opt = next_opt(argc, argv, "", extra, &w)) != -1) {
		switch (opt) {
		case 'p': case 'c': break;
		case 'F': force = true; break;
		case 'h': usage_detach(stdout); return 0;
		default: usage_detach(stderr); return 2;
		}
	}
	if ((err = finish_where("detach", argc, argv, &w)))
		return err;
	fd = sipsec_ctl_connect(o->socket);
	if (fd >= 0) {
		close(fd);
		if (!force) {
			fprintf(stderr, "sipsecctl detach: sipsecd runs in this "
				"network namespace and would attach again; stop "
				"it first (or --force)\n");
			return 1;
		}
	}
	err = enforce_detach(w.dir, &n);
	if (err) {
		fprintf(stderr, "sipsecctl detach: %s: %s (%u filter%s "
			"removed)\n", w.dir, strerror(-err), n,
			n == 1 ? "" : "s");
		return 1;
	}
	printf("detached: %u filter%s removed, pins in %s removed; cleartext "
	       "SIP is no longer stopped here\n", n, n == 1 ? "" : "s",
	       w.dir);
	return 0;
}
