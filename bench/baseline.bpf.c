// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Baselines for bench/bpfcost.c: what BPF_PROG_TEST_RUN costs around any
 * TC program (tc_empty), and around one that only bumps a per-CPU counter
 * as sipsec's program does for every packet (tc_count).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n;

	(void)skb;
	n = bpf_map_lookup_elem(&packets, &zero);
	if (n)
		(*n)++; /* per-CPU, bottom halves off: no atomics */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
