// SPDX-License-Identifier: MIT
/*
 * What the enforcement program recorded, for people: reason names, one
 * line per drop event, and the pinned counters and maps read without a
 * loader (sipsecctl drops and events, the daemon's drop log). Pinned maps
 * are opened only when the policy map says they have this build's layout
 * version: an older or newer layout is refused, never misread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sipsecd.h"
#include "enforce.h"

static const char *const reason_names[SIPSEC_REASON_MAX] = {
	[SIPSEC_PASS_NOT_IP] = "not-ip",
	[SIPSEC_PASS_OTHER_PROTO] = "other-protocol",
	[SIPSEC_PASS_NO_PAYLOAD] = "no-payload",
	[SIPSEC_PASS_NOT_SIP] = "not-sip",
	[SIPSEC_PASS_TLS] = "tls",
	[SIPSEC_PASS_ESP] = "esp",
	[SIPSEC_PASS_FRAGMENT] = "fragment",
	[SIPSEC_PASS_EXEMPT] = "exempt-peer",
	[SIPSEC_PASS_MARK] = "exempt-mark",
	[SIPSEC_PASS_MONITOR] = "monitor",
	[SIPSEC_PASS_DISABLED] = "disabled",
	[SIPSEC_DROP_SIP_REQUEST] = "sip-request",
	[SIPSEC_DROP_SIP_RESPONSE] = "sip-response",
	[SIPSEC_DROP_SIP_FLOW] = "sip-flow",
	[SIPSEC_DROP_SIP_PARTIAL] = "sip-partial",
	[SIPSEC_DROP_SIP_PORT] = "sip-port",
	[SIPSEC_DROP_SIP_FRAGMENT] = "sip-fragment",
	[SIPSEC_DROP_SIP_PADDED] = "sip-padded",
	[SIPSEC_DROP_MALFORMED] = "malformed",
	[SIPSEC_DROP_UNPARSED] = "unparsed",
	[SIPSEC_DROP_SIP_ICMP] = "sip-icmp",
	[SIPSEC_CNT_EVENTS_LOST] = "events-lost",
};

const char *enforce_reason_name(unsigned reason)
{
	static __thread char other[16];

	if (reason < SIPSEC_REASON_MAX && reason_names[reason])
		return reason_names[reason];
	snprintf(other, sizeof(other), "reason-%u", reason);
	return other;
}

bool enforce_reason_is_drop(unsigned reason)
{
	return reason >= SIPSEC_DROP_FIRST && reason != SIPSEC_CNT_EVENTS_LOST;
}

/* --- drop events ------------------------------------------------------ */

void enforce_event_addr(const struct sipsec_event *ev, bool dst, char *buf,
			size_t len)
{
	const __u8 *addr = dst ? ev->daddr : ev->saddr;
	char a[INET6_ADDRSTRLEN] = "?";

	if (ev->family == SIPSEC_FAMILY_IPV4)
		inet_ntop(AF_INET, addr + 12, a, sizeof(a));
	else if (ev->family == SIPSEC_FAMILY_IPV6)
		inet_ntop(AF_INET6, addr, a, sizeof(a));
	snprintf(buf, len, ev->family == SIPSEC_FAMILY_IPV6 ? "[%s]:%u" :
		 "%s:%u", a, dst ? ev->dport : ev->sport);
}

void enforce_event_format(const struct sipsec_event *ev, char *buf,
			  size_t len)
{
	char src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8];
	char ifname[IF_NAMESIZE], snap[SIPSEC_SNAP_LEN + 1];
	const char *proto = ev->proto == IPPROTO_TCP ? "TCP" :
			    ev->proto == IPPROTO_UDP ? "UDP" : "IP";
	size_t k = 0;

	enforce_event_addr(ev, false, src, sizeof(src));
	enforce_event_addr(ev, true, dst, sizeof(dst));
	if (!if_indextoname(ev->ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "if%u", ev->ifindex);
	/* The start line, made printable: it is foreign input. */
	for (size_t i = 0; i < ev->snap_len && i < SIPSEC_SNAP_LEN; i++) {
		unsigned char c = ev->data[i];

		if (c == '\r' || c == '\n')
			break;
		snap[k++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
	}
	snap[k] = '\0';
	snprintf(buf, len, "%s %s %s %s %s -> %s: %s, %u bytes%s%s%s%s",
		 ev->verdict == SIPSEC_VERDICT_MONITOR ? "would drop" : "drop",
		 ev->dir == SIPSEC_DIR_INGRESS ? "ingress" : "egress", ifname,
		 proto, src, dst, enforce_reason_name(ev->reason), ev->len,
		 ev->flags & SIPSEC_EVENT_F_ASSOC ?
		 " (on a protected association)" : "",
		 k ? ": \"" : "", snap, k ? "\"" : "");
}

/* --- pinned maps ------------------------------------------------------ */

int enforce_open_pinned_map(const char *pin_dir, const char *name)
{
	struct sipsec_policy pol;
	char path[PATH_MAX];
	__u32 key = 0;
	int fd, pfd, err;

	if ((err = enforce_pin_path(path, sizeof(path), pin_dir,
				    SIPSEC_PIN_POLICY)))
		return err;
	pfd = bpf_obj_get(path);
	if (pfd < 0)
		return -errno;
	err = bpf_map_lookup_elem(pfd, &key, &pol) ? -errno : 0;
	close(pfd);
	if (err)
		return err;
	/* 0: loaded by hand and never configured; same layout. */
	if (pol.abi_version && pol.abi_version != SIPSEC_ABI_VERSION)
		return -EPROTO;
	if ((err = enforce_pin_path(path, sizeof(path), pin_dir, name)))
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int enforce_read_counters(const char *pin_dir, struct sipsec_count *out)
{
	int ncpu = libbpf_num_possible_cpus(), fd, err = 0;
	struct sipsec_count *v = NULL;

	memset(out, 0, SIPSEC_REASON_MAX * sizeof(*out));
	if (ncpu < 0)
		return ncpu;
	fd = enforce_open_pinned_map(pin_dir, SIPSEC_PIN_COUNTERS);
	if (fd < 0)
		return fd;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 r = 0; r < SIPSEC_REASON_MAX; r++) {
		if (bpf_map_lookup_elem(fd, &r, v)) {
			err = -errno;
			goto out;
		}
		for (int c = 0; c < ncpu; c++) {
			out[r].packets += v[c].packets;
			out[r].bytes += v[c].bytes;
		}
	}
out:
	free(v);
	close(fd);
	return err;
}
