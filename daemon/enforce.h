/* SPDX-License-Identifier: MIT */
/*
 * The eBPF enforcement layer's user space (bpf/egress.bpf.c, ABI in
 * sipsec_abi.h), grouped by file: enforce.c (the loader sipsecd uses),
 * enforce_tc.c (interfaces and TC filters), enforce_report.c (reasons,
 * events and pinned readers). sipsecctl uses the last two for drops,
 * events and detach.
 *
 * Lifecycle: enforce_open() loads the program (adopting the maps pinned
 * by an earlier run when their layout matches), writes the policy, pins
 * maps and programs in the pin folder and attaches a clsact filter to
 * every non-loopback interface of this network namespace. The daemon
 * then watches two descriptors in its event loop: link notifications
 * (new interfaces get the filter) and the drop ring buffer (logged, rate
 * limited). enforce_close() frees the loader's state and leaves the
 * pins and filters in place: enforcement outlives the daemon. Only
 * enforce_detach() removes them.
 */
#ifndef SIPSEC_ENFORCE_H
#define SIPSEC_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipsec_abi.h"

struct config;
struct loop;
struct enforce;

/* Where objects are pinned when the configuration names no pin_dir. */
#define SIPSEC_PIN_DIR_DEFAULT "/sys/fs/bpf/sipsec"

/* enforce.c */
struct enforce_opts {
	const char *pin_dir; /* bpffs folder (config pin_dir); created */
	const char *const *skip; /* interface names left alone */
	size_t n_skip;
	bool ingress; /* inspect arriving traffic too */
	enum sipsec_mode mode; /* enforce, monitor, off */
	uint32_t flow_entries; /* flow table size; 0: SIPSEC_FLOWS_DEFAULT */
	bool redact; /* drop reports carry no payload bytes (load time) */
};

/**
 * @brief Load or adopt, pin, write cfg's policy, attach everywhere.
 * @return 0, or -errno (a missing bpffs is -ENOTSUP, no privilege
 * -EPERM); the reason is logged.
 */
int enforce_open(struct enforce **out, const struct enforce_opts *o,
		 const struct config *cfg);
/** @brief SIGHUP: new policy, skip list and ingress choice, re-synced. */
int enforce_reload(struct enforce *e, const struct enforce_opts *o,
		   const struct config *cfg);
/** @brief Free the loader; pins and filters stay (enforcement goes on). */
void enforce_close(struct enforce *e);

/* The event loop's two descriptors and their callbacks (loop_cb). */
int enforce_link_fd(const struct enforce *e);
void enforce_on_link(struct loop *l, int fd, uint32_t revents, void *arg);
int enforce_events_fd(const struct enforce *e);
void enforce_on_events(struct loop *l, int fd, uint32_t revents, void *arg);

/** @brief "egress on eth0, eth1 (skipped: wg0)", for logs and status. */
void enforce_describe(const struct enforce *e, char *buf, size_t len);

/* Associations mirrored into the sipsec_assocs map (conn.c calls these
 * when a protected connection starts and ends). */
int enforce_assoc_add(struct enforce *e, const struct sockaddr *peer,
		      uint16_t local_port, int proto, uint64_t conn_id,
		      uint8_t mech, uint8_t path);
int enforce_assoc_del(struct enforce *e, const struct sockaddr *peer,
		      uint16_t local_port, int proto);

/**
 * @brief The policy map's value for cfg: the union of every section's SIP
 * ports (at most SIPSEC_MAX_SIP_PORTS; more is -E2BIG).
 */
int enforce_policy_value(const struct config *cfg, enum sipsec_mode mode,
			 struct sipsec_policy *out);
/**
 * @brief The exemption trie's entries for cfg: every network of every
 * section, one entry per network (a [peer] wins a tie with a [realm]),
 * flagged SIPSEC_EXEMPT_F_CLEARTEXT where the section's effective policy
 * says require = none. *keys and *vals are malloc'd (free them).
 */
int enforce_exemptions(const struct config *cfg,
		       struct sipsec_exempt_key **keys,
		       struct sipsec_exempt **vals, size_t *n);

/* enforce_tc.c: interfaces (netlink) and our TC filters, for enforce.c;
 * listing and detaching work without a loader too. */
/**
 * @brief Remove the filters (this network namespace) and the pins of
 * pin_dir, whether or not a daemon runs. *n_filters receives how many
 * filters went. The clsact qdiscs stay: other filters may use them.
 */
int enforce_detach(const char *pin_dir, unsigned *n_filters);
void enforce_log_libbpf(void); /* libbpf's output through log.c */
int enforce_pin_path(char *buf, size_t len, const char *dir,
		     const char *name);
/** @brief 0 and *l3 (no link-layer header), or -EPROTONOSUPPORT. */
int enforce_link_kind(unsigned short type, bool *l3);
/** @brief Our filter on a hook (clsact made if missing), replacing. */
int enforce_tc_attach(int ifindex, bool ingress, int prog_fd);
/** @brief 1 removed, 0 none of ours there, -errno. */
int enforce_tc_detach(int ifindex, bool ingress);
bool enforce_tc_present(int ifindex, bool ingress);

struct enforce_link_msg {
	int ifindex;
	unsigned short type; /* ARPHRD_* */
	unsigned flags; /* IFF_* */
	const char *name;
};
typedef void (*enforce_link_fn)(void *arg, const struct enforce_link_msg *m);
/** @brief Every interface of this network namespace, over netlink. */
int enforce_link_dump(enforce_link_fn fn, void *arg);
/** @brief A non-blocking socket for RTNLGRP_LINK notifications: fd. */
int enforce_link_monitor(void);
/** @brief Reads notifications until none are left: 0, -ENOBUFS when some
 * were lost (list again), -errno. */
int enforce_link_read(int fd, enforce_link_fn on_new, enforce_link_fn on_del,
		      void *arg);

/** Receives each of our filters found in this network namespace. */
typedef void (*enforce_filter_fn)(void *arg, int ifindex, const char *ifname,
				  bool ingress, uint32_t prog_id);
/** @brief List our filters (any pin folder's) in this network namespace. */
int enforce_list_filters(enforce_filter_fn fn, void *arg);

/* enforce_report.c: what the program recorded, for people; the readers
 * need no loader (sipsecctl). */
/** @brief Open a pinned map of pin_dir and check its layout version. */
int enforce_open_pinned_map(const char *pin_dir, const char *name);
/** @brief Counters summed over CPUs; out has SIPSEC_REASON_MAX entries. */
int enforce_read_counters(const char *pin_dir, struct sipsec_count *out);
/** @brief "sip-request", ...; "reason-N" for an unknown one. */
const char *enforce_reason_name(unsigned reason);
bool enforce_reason_is_drop(unsigned reason);
/** @brief One line for an event: direction, interface, addresses,
 * reason, size and the printable start of the payload. */
void enforce_event_format(const struct sipsec_event *ev, char *buf,
			  size_t len);
/** @brief "198.18.0.1:5060" or "[2001:db8::1]:5060": source or dst. */
void enforce_event_addr(const struct sipsec_event *ev, bool dst, char *buf,
			size_t len);

#endif
