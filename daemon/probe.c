// SPDX-License-Identifier: MIT
/*
 * What the running kernel offers, found by trying, not by version numbers:
 * kernels are patched, modules missing, containers filtered.
 *
 *  kTLS: TCP_ULP "tls" on an unconnected TCP socket (and, in ktls.c,
 *        which ciphers TLS_TX takes on a connected loopback pair). ENOENT means there is
 *        no tls ULP (module absent, or not loadable: autoload needs
 *        CAP_NET_ADMIN); ENOTCONN means it exists (the ULP checks the
 *        socket state only after it was found).
 *  ESP:  an XFRM_MSG_NEWSA for an AEAD ESP SA, in a throwaway network
 *        namespace so that the host's SAD is never touched; the kernel
 *        loads esp4 on demand (request_module "xfrm-type-2-50").
 *  BPF:  libbpf's probe of a SCHED_CLS program, and vmlinux BTF.
 *  io_uring: a ring is set up and torn down.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/xfrm.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "sipsecd.h"

static void probe_ktls(struct probe_result *r)
{
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(r->ktls, sizeof(r->ktls), "no (socket: %s)",
			 strerror(errno));
		return;
	}
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0)
		err = errno;
	close(fd);
	if (err == ENOTCONN || err == 0) {
		r->features |= SIPSEC_FEAT_KTLS;
		snprintf(r->ktls, sizeof(r->ktls), "yes");
	} else if (err == ENOENT) {
		snprintf(r->ktls, sizeof(r->ktls),
			 "no (no tls ULP in this kernel: ENOENT)");
	} else {
		snprintf(r->ktls, sizeof(r->ktls), "no (TCP_ULP: %s)",
			 strerror(err));
	}
}

/* Runs in a child inside a new network namespace; returns an errno. */
static int esp_try_add_sa(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct xfrm_usersa_info *sa;
	struct xfrm_algo_aead *aead;
	struct mnl_socket *nl = NULL;
	struct nlmsghdr *nlh;
	uint8_t key_blob[sizeof(*aead) + 20];
	unsigned seq = (unsigned)time(NULL);
	int err = 0;
	ssize_t n;

	nl = mnl_socket_open(NETLINK_XFRM);
	if (!nl)
		return errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = XFRM_MSG_NEWSA;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE |
			   NLM_F_EXCL;
	nlh->nlmsg_seq = seq;
	sa = mnl_nlmsg_put_extra_header(nlh, sizeof(*sa));
	sa->family = AF_INET;
	sa->id.daddr.a4 = htonl(INADDR_LOOPBACK);
	sa->saddr.a4 = htonl(INADDR_LOOPBACK);
	sa->id.spi = htonl(0x5153);
	sa->id.proto = IPPROTO_ESP;
	sa->mode = XFRM_MODE_TRANSPORT;
	sa->replay_window = 32;
	sa->lft.soft_byte_limit = XFRM_INF;
	sa->lft.hard_byte_limit = XFRM_INF;
	sa->lft.soft_packet_limit = XFRM_INF;
	sa->lft.hard_packet_limit = XFRM_INF;
	memset(key_blob, 0x42, sizeof(key_blob));
	aead = (struct xfrm_algo_aead *)key_blob;
	memset(aead->alg_name, 0, sizeof(aead->alg_name));
	strcpy(aead->alg_name, "rfc4106(gcm(aes))");
	aead->alg_key_len = 20 * 8; /* 16-byte key + 4-byte salt */
	aead->alg_icv_len = 128;
	mnl_attr_put(nlh, XFRMA_ALG_AEAD, sizeof(key_blob), key_blob);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = errno;
		goto out;
	}
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		err = errno;
		goto out;
	}
	if (mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL,
		       NULL) < 0)
		err = errno;
out:
	mnl_socket_close(nl);
	return err;
}

static void probe_esp(struct probe_result *r)
{
	int status, err;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		snprintf(r->esp, sizeof(r->esp), "unknown (fork: %s)",
			 strerror(errno));
		return;
	}
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(255);
		_exit(esp_try_add_sa() & 0xff);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	err = WIFEXITED(status) ? WEXITSTATUS(status) : 254;
	if (err == 0) {
		r->features |= SIPSEC_FEAT_ESP;
		snprintf(r->esp, sizeof(r->esp), "yes");
	} else if (err == 255) {
		snprintf(r->esp, sizeof(r->esp),
			 "unknown (no probe namespace: needs CAP_SYS_ADMIN)");
	} else if (err == EPROTONOSUPPORT || err == ENOENT || err == ENOSYS) {
		/* The errno depends on what is missing: esp4 (ENOSYS from
		 * the type lookup on 6.x), the AEAD, or xfrm_user. */
		snprintf(r->esp, sizeof(r->esp), "no (no ESP in this kernel: "
			 "%s)", strerrorname_np(err));
	} else if (err == 254) {
		snprintf(r->esp, sizeof(r->esp), "unknown (probe died)");
	} else {
		snprintf(r->esp, sizeof(r->esp), "no (XFRM_MSG_NEWSA: %s)",
			 strerror(err));
	}
}

static int silent_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static void probe_bpf(struct probe_result *r)
{
	libbpf_print_fn_t old = libbpf_set_print(silent_print);
	int ok = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL);

	libbpf_set_print(old);
	if (ok == 1) {
		r->features |= SIPSEC_FEAT_BPF_TC;
		snprintf(r->bpf_tc, sizeof(r->bpf_tc), "yes");
	} else {
		snprintf(r->bpf_tc, sizeof(r->bpf_tc), "no (%s)",
			 ok == 0 ? "SCHED_CLS not supported" : strerror(-ok));
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		r->features |= SIPSEC_FEAT_BTF;
}

static void probe_uring(struct probe_result *r)
{
	struct io_uring ring;
	int err = io_uring_queue_init(2, &ring, 0);

	if (err == 0) {
		io_uring_queue_exit(&ring);
		r->features |= SIPSEC_FEAT_IO_URING;
		snprintf(r->io_uring, sizeof(r->io_uring), "yes");
	} else {
		snprintf(r->io_uring, sizeof(r->io_uring), "no (%s)",
			 strerror(-err));
	}
}

void probe_kernel(struct probe_result *r)
{
	memset(r, 0, sizeof(*r));
	probe_ktls(r);
	ktls_probe_suites(r);
	probe_esp(r);
	probe_bpf(r);
	probe_uring(r);
}

void probe_format(const struct probe_result *r, char *buf, size_t len)
{
	snprintf(buf, len, "kTLS %s%s%s%s; ESP %s; BPF TC %s, BTF %s; "
		 "io_uring %s", r->ktls, r->ktls_suites ? " (" : "",
		 r->ktls_suites_str, r->ktls_suites ? ")" : "", r->esp, r->bpf_tc,
		 r->features & SIPSEC_FEAT_BTF ? "yes" : "no", r->io_uring);
}
