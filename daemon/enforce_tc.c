// SPDX-License-Identifier: MIT
/*
 * The enforcement layer's hold on interfaces: which interfaces exist
 * (netlink, never /sys/class/net: under `nsenter --net` sysfs still shows
 * the machine's), which appear later (RTNLGRP_LINK notifications), and
 * our clsact filter on each: attach, look, detach. Also libbpf's output,
 * routed through log.c. Used by enforce.c (the daemon's loader) and, for
 * detach and listing, by sipsecctl without any loader.
 *
 * Our filter is recognised by its handle and priority (sipsec_abi.h) and
 * by its program's name ("sipsec_tc_..."): whatever else sits on an
 * interface is never touched.
 */
#include <errno.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsecd.h"
#include "enforce.h"

#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif

#define DUMP_BUF 32768 /* a link dump's messages are 1-2 KB each */

static const char *const prog_names[] = {
	"sipsec_tc_egress", "sipsec_tc_egress_l3", "sipsec_tc_ingress",
	"sipsec_tc_ingress_l3",
};

static const char *const map_names[] = {
	SIPSEC_PIN_COUNTERS, SIPSEC_PIN_POLICY, SIPSEC_PIN_FLOWS,
	SIPSEC_PIN_FRAGS, SIPSEC_PIN_EXEMPT, SIPSEC_PIN_ASSOCS,
	SIPSEC_PIN_EVENTS, SIPSEC_PIN_RECENT, SIPSEC_PIN_CURSOR,
};

/* --- libbpf's output, through our log ------------------------------ */

/* Set around queries whose failure is an answer (no clsact on this
 * interface): libbpf reports the kernel's extended ack as a warning. */
static bool libbpf_quiet;

static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	char buf[512];
	const char *msg = buf;
	size_t n;

	/* libbpf's debug level narrates every relocation: too much even
	 * for our debug level. */
	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (!strncmp(msg, "libbpf: ", 8))
		msg += 8;
	if (level == LIBBPF_WARN && !libbpf_quiet)
		log_warnx("libbpf: %s", msg);
	else
		log_debug("libbpf: %s", msg);
	return 0;
}

void enforce_log_libbpf(void)
{
	libbpf_set_print(libbpf_log);
}

/* --- TC filters ------------------------------------------------------ */

/* What TC sees first on this kind of device. */
int enforce_link_kind(unsigned short type, bool *l3)
{
	switch (type) {
	case ARPHRD_ETHER:
		*l3 = false;
		return 0;
	case ARPHRD_NONE: /* tun, WireGuard */
	case ARPHRD_RAWIP:
	case ARPHRD_PPP:
	case ARPHRD_TUNNEL: /* ipip */
	case ARPHRD_TUNNEL6:
	case ARPHRD_SIT:
	case ARPHRD_IPGRE:
	case ARPHRD_IP6GRE:
		*l3 = true;
		return 0;
	}
	return -EPROTONOSUPPORT;
}

static enum bpf_tc_attach_point hook_of(bool ingress)
{
	return ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

int enforce_tc_attach(int ifindex, bool ingress, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = hook_of(ingress));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd,
			    .handle = SIPSEC_TC_HANDLE,
			    .priority = SIPSEC_TC_PRIORITY,
			    .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook); /* the clsact qdisc */
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/* The program id of our filter on one hook: > 0, or 0 if there is none
 * or what sits at our handle and priority is not ours. */
static __u32 tc_ours(int ifindex, bool ingress)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = hook_of(ingress));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SIPSEC_TC_HANDLE,
			    .priority = SIPSEC_TC_PRIORITY);
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int fd, err;

	libbpf_quiet = true;
	err = bpf_tc_query(&hook, &opts);
	libbpf_quiet = false;
	if (err)
		return 0; /* no clsact, or nothing at our handle */
	fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (fd < 0)
		return 0;
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	/* The kernel keeps 15 characters of a program's name. */
	if (err || strncmp(info.name, "sipsec_tc_", 10))
		return 0;
	return opts.prog_id;
}

int enforce_tc_detach(int ifindex, bool ingress)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = hook_of(ingress));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SIPSEC_TC_HANDLE,
			    .priority = SIPSEC_TC_PRIORITY);
	int err;

	if (!tc_ours(ifindex, ingress))
		return 0;
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	err = bpf_tc_detach(&hook, &opts);
	return err ? err : 1;
}

bool enforce_tc_present(int ifindex, bool ingress)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = hook_of(ingress));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SIPSEC_TC_HANDLE,
			    .priority = SIPSEC_TC_PRIORITY);
	int err;

	libbpf_quiet = true;
	err = bpf_tc_query(&hook, &opts);
	libbpf_quiet = false;
	return err == 0;
}

/* --- interfaces over netlink ------------------------------------------ */

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const char **name = data;

	if (mnl_attr_get_type(a) == IFLA_IFNAME &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		*name = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

static int parse_link(const struct nlmsghdr *nlh, struct enforce_link_msg *m)
{
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return -EBADMSG;
	ifi = mnl_nlmsg_get_payload(nlh);
	m->ifindex = ifi->ifi_index;
	m->type = ifi->ifi_type;
	m->flags = ifi->ifi_flags;
	m->name = NULL;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, &m->name);
	return m->name ? 0 : -EBADMSG;
}

struct dump_ctx {
	enforce_link_fn fn;
	void *arg;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	struct enforce_link_msg m;

	if (nlh->nlmsg_type == RTM_NEWLINK && !parse_link(nlh, &m))
		c->fn(c->arg, &m);
	return MNL_CB_OK;
}

int enforce_link_dump(enforce_link_fn fn, void *arg)
{
	struct dump_ctx ctx = { fn, arg };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct rtgenmsg *rt;
	unsigned seq = (unsigned)time(NULL), portid;
	char *buf = NULL;
	ssize_t n;
	int err = 0, r;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	buf = malloc(DUMP_BUF);
	if (!nl || !buf) {
		err = nl ? -ENOMEM : -errno;
		goto out;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtgen_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	do {
		n = mnl_socket_recvfrom(nl, buf, DUMP_BUF);
		if (n < 0) {
			err = -errno;
			goto out;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, &ctx);
	} while (r > MNL_CB_STOP);
	if (r < 0)
		err = -errno;
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return err;
}

int enforce_link_monitor(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
				  .nl_groups = RTMGRP_LINK };
	int fd, err = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
	}
	return err ? err : fd;
}

struct notify_ctx {
	enforce_link_fn on_new, on_del;
	void *arg;
};

static int notify_cb(const struct nlmsghdr *nlh, void *data)
{
	struct notify_ctx *c = data;
	struct enforce_link_msg m;

	if (parse_link(nlh, &m))
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_NEWLINK)
		c->on_new(c->arg, &m);
	else if (nlh->nlmsg_type == RTM_DELLINK)
		c->on_del(c->arg, &m);
	return MNL_CB_OK;
}

int enforce_link_read(int fd, enforce_link_fn on_new, enforce_link_fn on_del,
		      void *arg)
{
	struct notify_ctx c = { on_new, on_del, arg };
	char buf[DUMP_BUF];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		mnl_cb_run(buf, (size_t)n, 0, 0, notify_cb, &c);
	}
}

/* --- without a loader: list and detach -------------------------------- */

int enforce_pin_path(char *buf, size_t len, const char *dir,
		     const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void detach_one(void *arg, const struct enforce_link_msg *m)
{
	unsigned *n = arg;

	if (m->flags & IFF_LOOPBACK)
		return;
	if (enforce_tc_detach(m->ifindex, false) > 0)
		++*n;
	if (enforce_tc_detach(m->ifindex, true) > 0)
		++*n;
}

struct list_ctx {
	enforce_filter_fn fn;
	void *arg;
};

static void list_one(void *arg, const struct enforce_link_msg *m)
{
	struct list_ctx *c = arg;
	__u32 id;

	if (m->flags & IFF_LOOPBACK)
		return;
	if ((id = tc_ours(m->ifindex, false)))
		c->fn(c->arg, m->ifindex, m->name, false, id);
	if ((id = tc_ours(m->ifindex, true)))
		c->fn(c->arg, m->ifindex, m->name, true, id);
}

int enforce_list_filters(enforce_filter_fn fn, void *arg)
{
	struct list_ctx c = { fn, arg };

	enforce_log_libbpf();
	return enforce_link_dump(list_one, &c);
}

int enforce_detach(const char *pin_dir, unsigned *n_filters)
{
	char path[PATH_MAX];
	unsigned n = 0;
	int err;

	enforce_log_libbpf();
	/* Filters first: while a filter runs, its maps must stay
	 * reachable for whoever reads them. */
	err = enforce_link_dump(detach_one, &n);
	if (err)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(prog_names); i++) {
		if ((err = enforce_pin_path(path, sizeof(path), pin_dir,
					    prog_names[i])))
			goto out;
		if (unlink(path) < 0 && errno != ENOENT) {
			err = -errno;
			goto out;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(map_names); i++) {
		if ((err = enforce_pin_path(path, sizeof(path), pin_dir,
					    map_names[i])))
			goto out;
		if (unlink(path) < 0 && errno != ENOENT) {
			err = -errno;
			goto out;
		}
	}
	rmdir(pin_dir); /* only if now empty; the folder may be shared */
out:
	if (n_filters)
		*n_filters = n;
	return err;
}
