// SPDX-License-Identifier: GPL-2.0
/*
 * Smallest useful TC classifier: counts the packets and bytes it sees and
 * lets every one pass. test_tc_bpf.sh attaches it to a veth's clsact egress
 * inside a network namespace and reads the counter back with bpftool, which
 * proves load, verifier, BTF maps and TC attach on the running kernel.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct tc_count_value {
	__u64 packets;
	__u64 bytes;	/* skb->len: L2 frame length as TC sees it */
};

/* A plain array, not per-CPU: bpftool then prints one readable value. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tc_count_value);
} tc_count_map SEC(".maps");

SEC("tc")
int tc_count_egress(struct __sk_buff *skb)
{
	struct tc_count_value *val;
	__u32 key = 0;

	val = bpf_map_lookup_elem(&tc_count_map, &key);
	if (val) {
		__sync_fetch_and_add(&val->packets, 1);
		__sync_fetch_and_add(&val->bytes, skb->len);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
