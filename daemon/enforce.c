// SPDX-License-Identifier: MIT
/*
 * The eBPF enforcement layer's loader: loads bpf/egress.bpf.c through its
 * skeleton, pins its maps and programs in the host's pin folder, attaches
 * it with clsact filters (libbpf 1.1 has no TCX; 6.1 neither) and keeps
 * every interface of this network namespace covered, new ones included.
 *
 * Why it is built this way:
 *  - Enforcement must outlive the daemon. The filters hold the program;
 *    the pins keep maps and programs reachable for the next daemon and
 *    for sipsecctl. Nothing here runs at exit: enforce_close() frees
 *    memory only, and a crash leaves the same state.
 *  - A restart must not stack a second copy. The filter has a fixed
 *    handle and priority (sipsec_abi.h); attach replaces what is there.
 *    Pinned maps whose layout matches (type, sizes, flags, and the
 *    version in the policy map) are adopted, so counters and TCP flow
 *    state survive; a different layout gets fresh maps, the filters swap
 *    to the new program atomically, then the pins move.
 *  - Interfaces come from netlink (enforce_tc.c), never /sys/class/net:
 *    under `nsenter --net` (the lab) sysfs shows the machine's.
 *  - Drops are logged from the ring buffer at a bounded rate: a flood of
 *    cleartext must not become a flood of log lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsecd.h"
#include "enforce.h"
#include "egress.skel.h"

#define BPF_ROOT "/sys/fs/bpf"
#define LINKS_MAX 4096 /* interfaces tracked; more are still attached */
#define MAPS_MAX 16 /* more than the object has */
#define LOG_BURST 10 /* drop lines logged at once ... */
#define LOG_PER_S 10 /* ... and per second after that */

struct link {
	int ifindex;
	char name[IF_NAMESIZE];
};

struct enforce {
	struct egress *skel;
	char pin_dir[PATH_MAX];
	char **skip;
	size_t n_skip;
	bool ingress;
	int mon_fd; /* RTNLGRP_LINK notifications */
	struct ring_buffer *rb;
	struct link *links; /* attached */
	size_t n_links;
	/* drop log rate limit: a token bucket */
	uint64_t rl_ms;
	unsigned rl_tokens;
	unsigned long rl_suppressed;
};

/* --- the pin folder ------------------------------------------------ */

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/* bpffs is not mounted on a fresh machine; mount it where every tool
 * looks for it, then make the folder. */
static int pin_dir_ready(const char *dir)
{
	int err = 0;

	if (!strncmp(dir, BPF_ROOT "/", sizeof(BPF_ROOT)) &&
	    !is_bpffs(BPF_ROOT)) {
		if (mount("bpf", BPF_ROOT, "bpf", 0, "mode=0700") < 0) {
			err = -errno;
			log_warn("enforce: mount bpffs on %s", BPF_ROOT);
			goto out;
		}
		log_info("enforce: mounted bpffs on %s", BPF_ROOT);
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		log_warn("enforce: mkdir %s", dir);
		goto out;
	}
	if (!is_bpffs(dir)) {
		log_warnx("enforce: %s is not on a bpffs (mount -t bpf bpf %s)",
			  dir, BPF_ROOT);
		err = -ENOTSUP;
	}
out:
	return err;
}

/* --- layouts ------------------------------------------------------- */

/* Whether a pinned map can be adopted by this build: fd (>= 0) if so,
 * -ENOENT if nothing is pinned, -ESTALE with why if it differs. */
static int pinned_compatible(const char *path, const struct bpf_map *map,
			     char *why, size_t wlen)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err) {
		snprintf(why, wlen, "%s: %s", bpf_map__name(map),
			 strerror(-err));
		goto stale;
	}
	if (info.type != bpf_map__type(map) ||
	    info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.max_entries != bpf_map__max_entries(map) ||
	    info.map_flags != bpf_map__map_flags(map)) {
		snprintf(why, wlen, "%s: type %u key %u value %u entries %u "
			 "flags %#x, this build wants %u/%u/%u/%u/%#x",
			 bpf_map__name(map),
			 info.type, info.key_size, info.value_size,
			 info.max_entries, info.map_flags, bpf_map__type(map),
			 bpf_map__key_size(map), bpf_map__value_size(map),
			 bpf_map__max_entries(map), bpf_map__map_flags(map));
		goto stale;
	}
	if (!strcmp(bpf_map__name(map), SIPSEC_PIN_POLICY)) {
		struct sipsec_policy pol;
		__u32 key = 0;

		if (bpf_map_lookup_elem(fd, &key, &pol) == 0 &&
		    pol.abi_version && pol.abi_version != SIPSEC_ABI_VERSION) {
			snprintf(why, wlen, "%s: layout version %u, this build "
				 "has %u", bpf_map__name(map), pol.abi_version,
				 SIPSEC_ABI_VERSION);
			goto stale;
		}
	}
	return fd;
stale:
	close(fd);
	return -ESTALE;
}

/* Adopt every pinned map, or none: mixing layouts would be worse than
 * starting over. Returns 1 adopted, 0 fresh, -errno. */
static int adopt_maps(struct enforce *e)
{
	struct bpf_map *map;
	int fds[MAPS_MAX], n = 0, found = 0, ok = 1, err = 0;
	char path[PATH_MAX], why[256] = "";

	bpf_object__for_each_map(map, e->skel->obj) {
		int fd;

		if (bpf_map__is_internal(map))
			continue;
		if (n == MAPS_MAX) {
			err = -E2BIG;
			goto out;
		}
		if ((err = enforce_pin_path(path, sizeof(path), e->pin_dir,
				    bpf_map__name(map))))
			goto out;
		fd = pinned_compatible(path, map, why, sizeof(why));
		if (fd >= 0)
			found++;
		else if (fd == -ESTALE)
			found++, ok = 0;
		else
			ok = 0;
		fds[n++] = fd;
	}
	if (!found) {
		ok = 0;
	} else if (!ok) {
		log_warnx("enforce: not adopting the maps pinned in %s (%s); "
			  "loading fresh ones", e->pin_dir,
			  why[0] ? why : "some are missing");
	} else {
		int i = 0;

		bpf_object__for_each_map(map, e->skel->obj) {
			if (bpf_map__is_internal(map))
				continue;
			err = bpf_map__reuse_fd(map, fds[i++]);
			if (err) {
				log_warnx("enforce: reuse %s: %s",
					  bpf_map__name(map), strerror(-err));
				goto out;
			}
		}
		log_info("enforce: adopted the maps pinned in %s (layout %u)",
			 e->pin_dir, SIPSEC_ABI_VERSION);
	}
out:
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err ? err : ok;
}

/* Pins every map (those not adopted: an adopted map's pin is already
 * there) and every program, replacing what an earlier run pinned. */
static int pin_all(struct enforce *e, bool adopted)
{
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[PATH_MAX];
	int err = 0;

	bpf_object__for_each_map(map, e->skel->obj) {
		if (bpf_map__is_internal(map) || adopted)
			continue;
		if ((err = enforce_pin_path(path, sizeof(path), e->pin_dir,
				    bpf_map__name(map))))
			goto out;
		if (unlink(path) < 0 && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		if ((err = bpf_map__pin(map, path))) {
			log_warnx("enforce: pin %s: %s", path, strerror(-err));
			goto out;
		}
	}
	bpf_object__for_each_program(prog, e->skel->obj) {
		if ((err = enforce_pin_path(path, sizeof(path), e->pin_dir,
				    bpf_program__name(prog))))
			goto out;
		if (unlink(path) < 0 && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		if ((err = bpf_program__pin(prog, path))) {
			log_warnx("enforce: pin %s: %s", path, strerror(-err));
			goto out;
		}
	}
out:
	return err;
}

/* --- policy --------------------------------------------------------- */

int enforce_policy_value(const struct config *cfg, enum sipsec_mode mode,
			 struct sipsec_policy *out)
{
	memset(out, 0, sizeof(*out));
	out->abi_version = SIPSEC_ABI_VERSION;
	out->mode = mode;
	out->flags = SIPSEC_POLICY_F_EVENTS;
	for (size_t i = 0; i < cfg->n_pol; i++) {
		struct policy eff;

		policy_effective(cfg, &cfg->pol[i], &eff);
		explicit_bzero(eff.psk, sizeof(eff.psk));
		/* Discovery (discovery.c) sends cleartext SIP, from the
		 * daemon's marked socket only. */
		if (eff.discovery == DISCOVERY_PSK)
			out->exempt_mark = SIPSEC_DISCOVERY_MARK;
		for (size_t j = 0; j < eff.n_sip_ports; j++) {
			uint16_t port = eff.sip_ports[j];
			size_t k;

			for (k = 0; k < out->n_sip_ports; k++)
				if (out->sip_ports[k] == port)
					break;
			if (k < out->n_sip_ports)
				continue;
			if (out->n_sip_ports == SIPSEC_MAX_SIP_PORTS)
				return -E2BIG;
			out->sip_ports[out->n_sip_ports++] = port;
		}
	}
	return 0;
}

struct exempt_entry {
	struct sipsec_exempt_key key;
	struct sipsec_exempt val;
	bool is_realm;
};

/* Equal networks: the [peer] first, as policy_find() prefers it. */
static int exempt_cmp(const void *a, const void *b)
{
	const struct exempt_entry *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	return c ? c : (int)x->is_realm - (int)y->is_realm;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sipsec_exempt_key));
}

static void net_key(const struct sipsec_net *net, struct sipsec_exempt_key *k)
{
	memset(k, 0, sizeof(*k));
	if (net->family == AF_INET) {
		k->addr[10] = k->addr[11] = 0xff;
		memcpy(k->addr + 12, net->addr, 4);
		k->prefixlen = 96 + net->prefix;
	} else {
		memcpy(k->addr, net->addr, 16);
		k->prefixlen = net->prefix;
	}
}

int enforce_exemptions(const struct config *cfg,
		       struct sipsec_exempt_key **keys,
		       struct sipsec_exempt **vals, size_t *n)
{
	struct exempt_entry *ent = NULL;
	size_t cnt = 0, cap = 0, u = 0;
	int err = 0;

	*keys = NULL;
	*vals = NULL;
	*n = 0;
	for (size_t i = 1; i < cfg->n_pol; i++)
		cap += cfg->pol[i].n_nets;
	if (!cap)
		goto out;
	ent = calloc(cap, sizeof(*ent));
	if (!ent) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 1; i < cfg->n_pol; i++) {
		const struct policy *p = &cfg->pol[i];
		struct policy eff;

		policy_effective(cfg, p, &eff);
		for (size_t j = 0; j < p->n_nets; j++) {
			struct exempt_entry *x = &ent[cnt++];

			net_key(&p->nets[j], &x->key);
			x->val.policy_id = (uint32_t)i;
			x->val.flags = eff.require & MECH_NONE ?
				       SIPSEC_EXEMPT_F_CLEARTEXT : 0;
			x->is_realm = p->is_realm;
		}
	}
	qsort(ent, cnt, sizeof(*ent), exempt_cmp);
	*keys = calloc(cnt, sizeof(**keys));
	*vals = calloc(cnt, sizeof(**vals));
	if (!*keys || !*vals) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cnt; i++) {
		if (u && !key_cmp(&ent[i].key, &(*keys)[u - 1]))
			continue;
		(*keys)[u] = ent[i].key;
		(*vals)[u] = ent[i].val;
		u++;
	}
	*n = u;
out:
	free(ent);
	if (err) {
		free(*keys);
		free(*vals);
		*keys = NULL;
		*vals = NULL;
	}
	return err;
}

/* New entries first, stale ones after: a reload never opens a window in
 * which an exempt peer is dropped. */
static int write_exemptions(int fd, const struct config *cfg)
{
	struct sipsec_exempt_key *keys = NULL, cur, next, *stale = NULL;
	struct sipsec_exempt *vals = NULL;
	size_t n = 0, n_stale = 0, cap = 0;
	int err;

	err = enforce_exemptions(cfg, &keys, &vals, &n);
	if (err)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY) < 0) {
			err = -errno;
			log_warn("enforce: exemption map update");
			goto out;
		}
	}
	/* keys is sorted by exempt_cmp's first key: memcmp order. */
	for (int r = bpf_map_get_next_key(fd, NULL, &next); r == 0;
	     r = bpf_map_get_next_key(fd, &cur, &next)) {
		cur = next;
		if (n && bsearch(&cur, keys, n, sizeof(*keys), key_cmp))
			continue;
		if (n_stale == cap) {
			void *p = realloc(stale, (cap = cap ? cap * 2 : 64) *
					  sizeof(*stale));

			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			stale = p;
		}
		stale[n_stale++] = cur;
	}
	for (size_t i = 0; i < n_stale; i++)
		bpf_map_delete_elem(fd, &stale[i]);
out:
	free(keys);
	free(vals);
	free(stale);
	return err;
}

static int apply_policy(struct enforce *e, const struct config *cfg,
			enum sipsec_mode mode)
{
	struct sipsec_policy pol;
	__u32 key = 0;
	int err;

	err = enforce_policy_value(cfg, mode, &pol);
	if (err) {
		log_warnx("enforce: more than %d distinct SIP ports in the "
			  "configuration", SIPSEC_MAX_SIP_PORTS);
		goto out;
	}
	/* Exemptions before the policy: never a moment with the new ports
	 * and the old exemptions. */
	err = write_exemptions(bpf_map__fd(e->skel->maps.sipsec_exempt), cfg);
	if (err)
		goto out;
	if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.sipsec_policy), &key,
				&pol, BPF_ANY) < 0) {
		err = -errno;
		log_warn("enforce: policy map update");
	}
out:
	return err;
}

/* --- interfaces ----------------------------------------------------- */

static bool is_skipped(const struct enforce *e, const char *name)
{
	for (size_t i = 0; i < e->n_skip; i++)
		if (!strcmp(e->skip[i], name))
			return true;
	return false;
}

static struct link *link_find(struct enforce *e, int ifindex)
{
	for (size_t i = 0; i < e->n_links; i++)
		if (e->links[i].ifindex == ifindex)
			return &e->links[i];
	return NULL;
}

static void link_forget(struct enforce *e, int ifindex)
{
	struct link *l = link_find(e, ifindex);

	if (l)
		*l = e->links[--e->n_links];
}

/* Brings one interface to what the options say: our filter on egress
 * (and ingress if asked), or none if skipped. */
static void link_sync(struct enforce *e, int ifindex, const char *name,
		      unsigned short type, unsigned flags)
{
	struct egress *s = e->skel;
	struct link *known;
	bool l3, eg = false, in = false;
	int err, gone;

	if (flags & IFF_LOOPBACK)
		return;
	known = link_find(e, ifindex);
	if (is_skipped(e, name)) {
		gone = enforce_tc_detach(ifindex, false) > 0;
		gone += enforce_tc_detach(ifindex, true) > 0;
		if (gone)
			log_info("enforce: %s is skipped: filter removed", name);
		if (known)
			link_forget(e, ifindex);
		return;
	}
	if (enforce_link_kind(type, &l3)) {
		if (!known)
			log_warnx("enforce: %s: link type %u has no program; "
				  "not enforced", name, type);
		return;
	}
	if (known) {
		eg = enforce_tc_present(ifindex, false);
		in = enforce_tc_present(ifindex, true);
		if (eg && in == e->ingress) {
			sipsec_strlcpy(known->name, name, sizeof(known->name));
			return;
		}
	}
	err = enforce_tc_attach(ifindex, false, bpf_program__fd(
		l3 ? s->progs.sipsec_tc_egress_l3 : s->progs.sipsec_tc_egress));
	if (!err && e->ingress)
		err = enforce_tc_attach(ifindex, true, bpf_program__fd(
			l3 ? s->progs.sipsec_tc_ingress_l3 :
			     s->progs.sipsec_tc_ingress));
	else if (!err)
		enforce_tc_detach(ifindex, true);
	if (err) {
		log_warnx("enforce: %s: attach: %s; NOT ENFORCED", name,
			  strerror(-err));
		return;
	}
	if (known) {
		if (!eg)
			log_warnx("enforce: %s: our filter was gone; restored",
				  name);
		else
			log_info("enforce: %s: ingress %s", name,
				 e->ingress ? "on" : "off");
		return;
	}
	log_info("enforce: %s (ifindex %d): attached on egress%s%s", name,
		 ifindex, e->ingress ? " and ingress" : "",
		 l3 ? " (no link-layer header)" : "");
	if (e->n_links == LINKS_MAX)
		return; /* attached, merely not tracked */
	e->links[e->n_links].ifindex = ifindex;
	sipsec_strlcpy(e->links[e->n_links].name, name, IF_NAMESIZE);
	e->n_links++;
}

static void sync_one(void *arg, const struct enforce_link_msg *m)
{
	link_sync(arg, m->ifindex, m->name, m->type, m->flags);
}

static void forget_one(void *arg, const struct enforce_link_msg *m)
{
	link_forget(arg, m->ifindex);
}

static int sync_all(struct enforce *e)
{
	int err = enforce_link_dump(sync_one, e);

	if (err)
		log_warnx("enforce: listing interfaces: %s", strerror(-err));
	return err;
}

int enforce_link_fd(const struct enforce *e)
{
	return e ? e->mon_fd : -1;
}

void enforce_on_link(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct enforce *e = arg;
	int err;

	(void)l;
	(void)fd;
	(void)revents;
	while ((err = enforce_link_read(e->mon_fd, sync_one, forget_one, e))) {
		if (err != -ENOBUFS) {
			if (err != -EINTR)
				log_warnx("enforce: link notifications: %s",
					  strerror(-err));
			return;
		}
		/* Notifications were lost: look at every interface again. */
		log_warnx("enforce: link notifications overran; re-listing "
			  "interfaces");
		sync_all(e);
	}
}

/* --- drop reports ---------------------------------------------------- */

static bool rate_ok(struct enforce *e)
{
	uint64_t now = now_ms();
	uint64_t add = (now - e->rl_ms) * LOG_PER_S / 1000;

	if (add) {
		e->rl_tokens = (unsigned)(e->rl_tokens + add > LOG_BURST ?
					  LOG_BURST : e->rl_tokens + add);
		e->rl_ms = now;
	}
	if (!e->rl_tokens)
		return false;
	e->rl_tokens--;
	return true;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct enforce *e = ctx;
	struct sipsec_event ev;
	char line[384];

	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	if (!rate_ok(e)) {
		e->rl_suppressed++;
		return 0;
	}
	enforce_event_format(&ev, line, sizeof(line));
	if (e->rl_suppressed) {
		log_warnx("enforce: %s (and %lu more not logged; sipsecctl "
			  "drops counts them all)", line, e->rl_suppressed);
		e->rl_suppressed = 0;
	} else {
		log_warnx("enforce: %s", line);
	}
	return 0;
}

int enforce_events_fd(const struct enforce *e)
{
	return e && e->rb ? ring_buffer__epoll_fd(e->rb) : -1;
}

void enforce_on_events(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct enforce *e = arg;
	int n;

	(void)l;
	(void)fd;
	(void)revents;
	n = ring_buffer__consume(e->rb);
	if (n < 0)
		log_warnx("enforce: reading drop reports: %s", strerror(-n));
}

/* --- lifecycle ------------------------------------------------------- */

static int set_skip(struct enforce *e, const struct enforce_opts *o)
{
	char **skip = NULL;

	if (o->n_skip) {
		skip = calloc(o->n_skip, sizeof(*skip));
		if (!skip)
			return -ENOMEM;
		for (size_t i = 0; i < o->n_skip; i++) {
			skip[i] = strdup(o->skip[i]);
			if (!skip[i]) {
				while (i--)
					free(skip[i]);
				free(skip);
				return -ENOMEM;
			}
		}
	}
	for (size_t i = 0; i < e->n_skip; i++)
		free(e->skip[i]);
	free(e->skip);
	e->skip = skip;
	e->n_skip = o->n_skip;
	e->ingress = o->ingress;
	return 0;
}

void enforce_close(struct enforce *e)
{
	if (!e)
		return;
	ring_buffer__free(e->rb);
	if (e->mon_fd >= 0)
		close(e->mon_fd);
	egress__destroy(e->skel); /* closes fds; pins and filters stay */
	for (size_t i = 0; i < e->n_skip; i++)
		free(e->skip[i]);
	free(e->skip);
	free(e->links);
	free(e);
}

int enforce_open(struct enforce **out, const struct enforce_opts *o,
		 const struct config *cfg)
{
	struct enforce *e;
	int adopted, err;

	*out = NULL;
	enforce_log_libbpf();
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->mon_fd = -1;
	e->rl_tokens = LOG_BURST;
	e->rl_ms = now_ms();
	e->links = calloc(LINKS_MAX, sizeof(*e->links));
	if (!e->links || (err = set_skip(e, o))) {
		err = -ENOMEM;
		goto out;
	}
	if ((size_t)snprintf(e->pin_dir, sizeof(e->pin_dir), "%s",
			     o->pin_dir) >= sizeof(e->pin_dir)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	if ((err = pin_dir_ready(e->pin_dir)))
		goto out;
	e->skel = egress__open();
	if (!e->skel) {
		err = -errno;
		log_warnx("enforce: open the BPF object: %s", strerror(-err));
		goto out;
	}
	e->skel->rodata->cfg_snap_len = o->redact ? 0 : SIPSEC_SNAP_LEN;
	bpf_map__set_max_entries(e->skel->maps.sipsec_flows,
				 o->flow_entries ? o->flow_entries :
						   SIPSEC_FLOWS_DEFAULT);
	adopted = adopt_maps(e);
	if (adopted < 0) {
		err = adopted;
		goto out;
	}
	err = egress__load(e->skel);
	if (err) {
		log_warnx("enforce: load the BPF program: %s%s", strerror(-err),
			  err == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" :
			  "");
		goto out;
	}
	/* Policy before attach: the program never runs with none. */
	if ((err = apply_policy(e, cfg, o->mode)))
		goto out;
	if ((err = pin_all(e, adopted == 1)))
		goto out;
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.sipsec_events),
				 on_event, e, NULL);
	if (!e->rb) {
		err = -errno;
		log_warnx("enforce: ring buffer: %s", strerror(-err));
		goto out;
	}
	/* Subscribe first, then list: an interface that appears between
	 * the two is seen by one of them. */
	e->mon_fd = enforce_link_monitor();
	if (e->mon_fd < 0) {
		err = e->mon_fd;
		log_warnx("enforce: link notifications: %s", strerror(-err));
		goto out;
	}
	if ((err = sync_all(e)))
		goto out;
	*out = e;
	e = NULL;
out:
	enforce_close(e);
	return err;
}

int enforce_reload(struct enforce *e, const struct enforce_opts *o,
		   const struct config *cfg)
{
	int err;

	if ((err = set_skip(e, o)))
		return err;
	if ((err = apply_policy(e, cfg, o->mode)))
		return err;
	return sync_all(e);
}

void enforce_describe(const struct enforce *e, char *buf, size_t len)
{
	size_t off;

	if (!e) {
		snprintf(buf, len, "off");
		return;
	}
	off = (size_t)snprintf(buf, len, "%s on %zu interface%s",
			       e->ingress ? "egress+ingress" : "egress",
			       e->n_links, e->n_links == 1 ? "" : "s");
	for (size_t i = 0; i < e->n_links && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? ", " : " (", e->links[i].name);
	if (e->n_links && off < len)
		off += (size_t)snprintf(buf + off, len - off, ")");
	for (size_t i = 0; i < e->n_skip && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? ", " : "; skipped: ", e->skip[i]);
	if (off < len)
		snprintf(buf + off, len - off, "; pinned in %s", e->pin_dir);
}

/* --- associations ---------------------------------------------------- */

static int assoc_key(const struct sockaddr *peer, uint16_t local_port,
		     int proto, struct sipsec_assoc_key *k)
{
	memset(k, 0, sizeof(*k));
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)peer;

		k->peer[10] = k->peer[11] = 0xff;
		memcpy(k->peer + 12, &sin->sin_addr, 4);
		k->peer_port = ntohs(sin->sin_port);
		k->family = SIPSEC_FAMILY_IPV4;
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)peer;

		memcpy(k->peer, &sin6->sin6_addr, 16);
		k->peer_port = ntohs(sin6->sin6_port);
		k->family = SIPSEC_FAMILY_IPV6;
	} else {
		return -EAFNOSUPPORT;
	}
	k->local_port = local_port;
	k->proto = (uint8_t)proto;
	return 0;
}

int enforce_assoc_add(struct enforce *e, const struct sockaddr *peer,
		      uint16_t local_port, int proto, uint64_t conn_id,
		      uint8_t mech, uint8_t path)
{
	struct sipsec_assoc_key k;
	struct sipsec_assoc v = {
		.conn_id = conn_id,
		.created_s = (uint32_t)time(NULL),
		.mech = mech,
		.path = path,
	};
	int err;

	if (!e)
		return 0;
	if ((err = assoc_key(peer, local_port, proto, &k)))
		return err;
	/* A full map costs a mirror entry, never a connection. */
	if (bpf_map_update_elem(bpf_map__fd(e->skel->maps.sipsec_assocs), &k,
				&v, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int enforce_assoc_del(struct enforce *e, const struct sockaddr *peer,
		      uint16_t local_port, int proto)
{
	struct sipsec_assoc_key k;
	int err;

	if (!e)
		return 0;
	if ((err = assoc_key(peer, local_port, proto, &k)))
		return err;
	if (bpf_map_delete_elem(bpf_map__fd(e->skel->maps.sipsec_assocs),
				&k) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

