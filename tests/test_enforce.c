// SPDX-License-Identifier: MIT
/*
 * The enforcement loader (daemon/enforce.c): policy from a configuration
 * (no privileges), then, as root, in a throwaway network namespace with a
 * private bpffs: attach to every interface but loopback and the skipped
 * ones, new interfaces, adoption on restart without a second copy, drops
 * counted and reported, a stale layout replaced, a reload, and detach.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsecd.h"
#include "enforce.h"

static char conf_path[64];

static struct config *conf(const char *text)
{
	struct config *cfg = NULL;
	FILE *f;
	int fd;

	strcpy(conf_path, "/tmp/sipsec-test-enforce.XXXXXX");
	fd = mkstemp(conf_path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	cr_assert_eq(config_load(conf_path, &cfg, NULL, NULL), 0);
	unlink(conf_path);
	return cfg;
}

Test(enforce, the_policy_holds_the_union_of_every_sections_sip_ports)
{
	struct config *cfg = conf("[global]\nsip_ports = 5060\n"
				  "[peer gw]\naddress = 192.0.2.20\n"
				  "sip_ports = 5080, 5060\n");
	struct sipsec_policy pol;

	cr_assert_eq(enforce_policy_value(cfg, SIPSEC_MODE_MONITOR, &pol), 0);
	cr_assert_eq(pol.abi_version, SIPSEC_ABI_VERSION);
	cr_assert_eq(pol.mode, SIPSEC_MODE_MONITOR);
	cr_assert_eq(pol.n_sip_ports, 2);
	cr_assert_eq(pol.sip_ports[0], 5060);
	cr_assert_eq(pol.sip_ports[1], 5080);
	cr_assert_eq(pol.sip_ports[2], 0);
	config_free(cfg);
}

Test(enforce, exemptions_follow_the_section_that_governs_each_network)
{
	struct config *cfg = conf(
		"[realm lab]\naddress = 192.0.2.0/24, 2001:db8::/32\n"
		"require = none\nallow = none\n"
		"[peer gw]\nrealm = lab\naddress = 192.0.2.20\n"
		"require = tls\nallow = tls\n"
		"[peer twin]\naddress = 2001:db8::/32\n");
	struct sipsec_exempt_key *k;
	struct sipsec_exempt *v;
	size_t n;
	int seen = 0;

	cr_assert_eq(enforce_exemptions(cfg, &k, &v, &n), 0);
	cr_assert_eq(n, 3, "one entry per distinct network, got %zu", n);
	for (size_t i = 0; i < n; i++) {
		if (k[i].prefixlen == 96 + 24) {
			cr_assert_eq(k[i].addr[12], 192);
			cr_assert(v[i].flags & SIPSEC_EXEMPT_F_CLEARTEXT);
			seen |= 1;
		} else if (k[i].prefixlen == 128) {
			cr_assert_eq(k[i].addr[15], 20);
			cr_assert_not(v[i].flags & SIPSEC_EXEMPT_F_CLEARTEXT,
				      "a TLS peer inside an exempt realm");
			seen |= 2;
		} else {
			cr_assert_eq(k[i].prefixlen, 32);
			/* The [peer] wins the tie with the [realm]. */
			cr_assert_not(v[i].flags & SIPSEC_EXEMPT_F_CLEARTEXT);
			seen |= 4;
		}
	}
	cr_assert_eq(seen, 7);
	free(k);
	free(v);
	config_free(cfg);
}

/* --- as root, in a throwaway network namespace ----------------------- */

static char root[64], pins[96];

static void sh(const char *cmd)
{
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void lab_down(void)
{
	if (root[0]) {
		if (umount2(root, MNT_DETACH) < 0 || rmdir(root) < 0)
			fprintf(stderr, "lab_down %s: %s\n", root, strerror(errno));
	}
}

static void need_lab(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (network namespace, bpf, tc)");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
		cr_skip_test("cannot make a network namespace: %s",
			     strerror(errno));
	/* Mounts made here stay here. */
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	strcpy(root, "/tmp/sipsec-test-bpffs.XXXXXX");
	cr_assert(mkdtemp(root));
	if (mount("bpf", root, "bpf", 0, "mode=0700") < 0) {
		rmdir(root);
		cr_skip_test("cannot mount bpffs: %s", strerror(errno));
	}
	snprintf(pins, sizeof(pins), "%s/host", root);
	if (system("ip link set lo up && "
		   "ip link add ve0 type veth peer name ve1 && "
		   "ip link add sk0 type veth peer name sk1 && "
		   "ip link set ve0 up && ip link set ve1 up && "
		   "ip addr add 10.199.0.1/24 dev ve0 && "
		   "ip neigh add 10.199.0.2 lladdr 02:00:00:00:00:02 dev ve0")) {
		/* A skipped test's .fini does not run. */
		lab_down();
		cr_skip_test("cannot set up interfaces with ip(8)");
	}
	log_init("test", LOG_TO_STDERR, LOG_LVL_ERR);
}

static const char *const skip_sk0[] = { "sk0" };

static struct enforce_opts opts(void)
{
	return (struct enforce_opts){
		.pin_dir = pins,
		.skip = skip_sk0,
		.n_skip = 1,
		.mode = SIPSEC_MODE_ENFORCE,
	};
}

static bool attached(const char *ifname, enum bpf_tc_attach_point point)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = SIPSEC_TC_HANDLE,
			    .priority = SIPSEC_TC_PRIORITY);

	hook.ifindex = (int)if_nametoindex(ifname);
	cr_assert(hook.ifindex > 0, "no interface %s", ifname);
	return bpf_tc_query(&hook, &o) == 0;
}

static bool pinned(const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", pins, name);
	return access(path, F_OK) == 0;
}

static int filters_on(const char *ifname)
{
	char cmd[128], line[256];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "tc filter show dev %s egress", ifname);
	p = popen(cmd, "r");
	cr_assert(p);
	while (fgets(line, sizeof(line), p))
		n += strstr(line, "direct-action") != NULL;
	pclose(p);
	return n;
}

Test(enforce, attaches_to_every_interface_but_loopback_and_the_skipped,
     .fini = lab_down)
{
	struct config *cfg;
	struct enforce *e;
	struct enforce_opts o;

	need_lab();
	cfg = conf("");
	o = opts();
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	cr_assert(attached("ve0", BPF_TC_EGRESS));
	cr_assert(attached("ve1", BPF_TC_EGRESS));
	cr_assert_not(attached("ve0", BPF_TC_INGRESS));
	cr_assert_not(attached("sk0", BPF_TC_EGRESS));
	cr_assert_not(attached("lo", BPF_TC_EGRESS));
	cr_assert(pinned(SIPSEC_PIN_COUNTERS) && pinned(SIPSEC_PIN_POLICY) &&
		  pinned(SIPSEC_PIN_EVENTS) && pinned("sipsec_tc_egress"));
	cr_assert(enforce_link_fd(e) >= 0 && enforce_events_fd(e) >= 0);
	enforce_close(e);
	/* Closing the loader is not detaching. */
	cr_assert(attached("ve0", BPF_TC_EGRESS));
	cr_assert(pinned(SIPSEC_PIN_COUNTERS));
	config_free(cfg);
}

Test(enforce, an_interface_that_appears_later_gets_the_filter,
     .fini = lab_down)
{
	struct config *cfg;
	struct enforce *e;
	struct enforce_opts o;
	struct pollfd pfd;

	need_lab();
	cfg = conf("");
	o = opts();
	o.ingress = true;
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	sh("ip link add late0 type veth peer name late1");
	pfd.fd = enforce_link_fd(e);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 2000), 1, "no link notification");
	enforce_on_link(NULL, pfd.fd, POLLIN, e);
	cr_assert(attached("late0", BPF_TC_EGRESS));
	cr_assert(attached("late0", BPF_TC_INGRESS));
	enforce_close(e);
	config_free(cfg);
}

Test(enforce, a_restart_adopts_the_pinned_maps_and_stacks_no_second_copy,
     .fini = lab_down)
{
	struct sipsec_flow_key k = { .family = SIPSEC_FAMILY_IPV4, .sport = 7 };
	struct sipsec_flow v = { .state = SIPSEC_FLOW_SIP }, got;
	struct config *cfg;
	struct enforce *e;
	struct enforce_opts o;
	int fd;

	need_lab();
	cfg = conf("");
	o = opts();
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	fd = enforce_open_pinned_map(pins, SIPSEC_PIN_FLOWS);
	cr_assert(fd >= 0);
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
	close(fd);
	enforce_close(e);
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	cr_assert_eq(filters_on("ve0"), 1, "a second filter was stacked");
	fd = enforce_open_pinned_map(pins, SIPSEC_PIN_FLOWS);
	cr_assert(fd >= 0);
	cr_assert_eq(bpf_map_lookup_elem(fd, &k, &got), 0,
		     "the flow table was not adopted");
	cr_assert_eq(got.state, SIPSEC_FLOW_SIP);
	close(fd);
	enforce_close(e);
	config_free(cfg);
}

Test(enforce, maps_of_another_layout_are_replaced_not_misread,
     .fini = lab_down)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	struct config *cfg;
	struct enforce *e;
	struct enforce_opts o;
	char path[160];
	int fd;

	need_lab();
	cfg = conf("");
	o = opts();
	/* An "older" policy map: another value size. */
	mkdir(pins, 0700);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sipsec_policy", 4, 8, 1,
			    NULL);
	cr_assert(fd >= 0);
	snprintf(path, sizeof(path), "%s/%s", pins, SIPSEC_PIN_POLICY);
	cr_assert_eq(bpf_obj_pin(fd, path), 0);
	close(fd);
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	fd = bpf_obj_get(path);
	cr_assert(fd >= 0);
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	cr_assert_eq(info.value_size, sizeof(struct sipsec_policy));
	close(fd);
	enforce_close(e);
	config_free(cfg);
}

Test(enforce, a_cleartext_invite_is_dropped_counted_and_reported,
     .fini = lab_down)
{
	static const char invite[] = "INVITE sip:bob@10.199.0.2 SIP/2.0\r\n"
				     "Via: SIP/2.0/UDP 10.199.0.1\r\n\r\n";
	struct sipsec_count cnt[SIPSEC_REASON_MAX];
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(5060) };
	struct sipsec_event ev;
	struct config *cfg;
	struct enforce *e;
	struct enforce_opts o;
	struct pollfd pfd;
	char line[384];
	__u32 slot = 0;
	int s, fd, ncpu;

	need_lab();
	cfg = conf("");
	o = opts();
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	inet_pton(AF_INET, "10.199.0.2", &to.sin_addr);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	sendto(s, invite, strlen(invite), 0, (void *)&to, sizeof(to));
	close(s);
	cr_assert_eq(enforce_read_counters(pins, cnt), 0);
	cr_assert_eq(cnt[SIPSEC_DROP_SIP_REQUEST].packets, 1);
	pfd.fd = enforce_events_fd(e);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 2000), 1, "no drop report");
	enforce_on_events(NULL, pfd.fd, POLLIN, e);
	/* What sipsecctl events reads: the recent array. */
	fd = enforce_open_pinned_map(pins, SIPSEC_PIN_RECENT);
	cr_assert(fd >= 0);
	ncpu = libbpf_num_possible_cpus();
	struct sipsec_event all[ncpu];
	cr_assert_eq(bpf_map_lookup_elem(fd, &slot, all), 0);
	memset(&ev, 0, sizeof(ev));
	for (int i = 0; i < ncpu; i++)
		if (all[i].seq)
			ev = all[i];
	close(fd);
	cr_assert_eq(ev.reason, SIPSEC_DROP_SIP_REQUEST);
	enforce_event_format(&ev, line, sizeof(line));
	cr_assert(strstr(line, "drop egress ve0 UDP 10.199.0.1:"), "%s", line);
	cr_assert(strstr(line, "-> 10.199.0.2:5060: sip-request"), "%s", line);
	cr_assert(strstr(line, "\"INVITE sip:bob@10.199.0.2 SIP/2.0\""),
		  "%s", line);
	enforce_close(e);
	config_free(cfg);
}

Test(enforce, detach_removes_filters_and_pins, .fini = lab_down)
{
	struct config *cfg;
	struct enforce *e;
	struct enforce_opts o;
	unsigned n = 0;

	need_lab();
	cfg = conf("");
	o = opts();
	o.ingress = true;
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	enforce_close(e);
	cr_assert_eq(enforce_detach(pins, &n), 0);
	cr_assert_eq(n, 6, "ve0, ve1, sk1, egress and ingress: %u", n);
	cr_assert_not(attached("ve0", BPF_TC_EGRESS));
	cr_assert_not(attached("ve1", BPF_TC_INGRESS));
	cr_assert_not(pinned(SIPSEC_PIN_COUNTERS));
	cr_assert_not(pinned("sipsec_tc_egress"));
	cr_assert_eq(access(pins, F_OK), -1, "the emptied folder stays");
	cr_assert_eq(enforce_detach(pins, &n), 0);
	cr_assert_eq(n, 0);
	config_free(cfg);
}

Test(enforce, a_reload_applies_the_new_skip_list_ingress_and_policy,
     .fini = lab_down)
{
	static const char *const skip_more[] = { "sk0", "ve1" };
	struct sipsec_policy pol;
	struct config *cfg, *cfg2;
	struct enforce *e;
	struct enforce_opts o;
	__u32 key = 0;
	int fd;

	need_lab();
	cfg = conf("");
	cfg2 = conf("[global]\nsip_ports = 5080\n");
	o = opts();
	cr_assert_eq(enforce_open(&e, &o, cfg), 0);
	cr_assert(attached("ve1", BPF_TC_EGRESS));
	o.skip = skip_more;
	o.n_skip = 2;
	o.ingress = true;
	o.mode = SIPSEC_MODE_MONITOR;
	cr_assert_eq(enforce_reload(e, &o, cfg2), 0);
	cr_assert_not(attached("ve1", BPF_TC_EGRESS), "ve1 is skipped now");
	cr_assert(attached("ve0", BPF_TC_EGRESS));
	cr_assert(attached("ve0", BPF_TC_INGRESS), "ingress is on now");
	fd = enforce_open_pinned_map(pins, SIPSEC_PIN_POLICY);
	cr_assert(fd >= 0);
	cr_assert_eq(bpf_map_lookup_elem(fd, &key, &pol), 0);
	close(fd);
	cr_assert_eq(pol.mode, SIPSEC_MODE_MONITOR);
	cr_assert_eq(pol.sip_ports[0], 5080);
	enforce_close(e);
	config_free(cfg);
	config_free(cfg2);
}
