// SPDX-License-Identifier: MIT
/*
 * Drives daemon/xfrm.c from tests/vm/test_xfrm.sh, one step per command,
 * in whatever network namespace it is started in:
 *
 *   xfrm_tool policies add|del SELF PEER PORT
 *   xfrm_tool sa SRC DST SPI [HARD_S [SOFT_S]]   (test key from the SPI)
 *   xfrm_tool spi SRC DST                         (allocate, print)
 *   xfrm_tool complete SRC DST SPI                (key an allocated SPI)
 *   xfrm_tool wait acquire|expire SECONDS         (print the first event)
 *   xfrm_tool dump                                (sipsec's SAs, policies)
 *   xfrm_tool adopt SELF PEER PORT                (a restarted daemon)
 *   xfrm_tool flush
 *   xfrm_tool replay IFACE SECONDS COUNT          (resend a sent ESP frame)
 *   xfrm_tool keyhex SPI        (the test key, for a test that looks for it)
 *
 * The keys are a pattern of the SPI, so that two namespaces agree without
 * talking: test keys, never for anything else. Exit status 0 on success,
 * 1 with the module's reason on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/xfrm.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sipsecd.h"

#define REQID (XFRM_REQID_BASE | 1)

static char why[256];

static int die(const char *what, int err)
{
	fprintf(stderr, "xfrm_tool: %s: %s\n", what,
		why[0] ? why : strerror(-err));
	return 1;
}

static int addr(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return 0;
	}
	fprintf(stderr, "xfrm_tool: '%s' is not an address\n", s);
	return -EINVAL;
}

static int policies(struct xfrm *x, bool add, const char *self,
		    const char *peer, const char *port)
{
	struct sockaddr_storage s, p;
	struct xfrm_sp sp[4];
	int added = 0, kept = 0, err;

	if (addr(self, 0, &s) || addr(peer, 0, &p))
		return 2;
	xfrm_sip_policies((void *)&s, (void *)&p, (uint16_t)atoi(port),
			  REQID, sp);
	for (int i = 0; i < 4; i++) {
		err = add ? xfrm_policy_add(x, &sp[i], why, sizeof(why)) :
			    xfrm_policy_del(x, &sp[i], why, sizeof(why));
		if (err < 0)
			return die(add ? "policy add" : "policy del", err);
		err ? kept++ : added++;
	}
	printf("policies: %d %s, %d kept\n", added,
	       add ? "added" : "deleted", kept);
	return 0;
}

static void test_key(struct esp_sa *sa)
{
	for (int i = 0; i < 16; i++)
		sa->key[i] = (uint8_t)((sa->spi >> (8 * (i % 4))) ^ (0x5a + i));
	for (int i = 0; i < ESP_SALT_LEN; i++)
		sa->salt[i] = (uint8_t)(0xa0 + i);
	sa->key_len = 16;
}

/* add: a new SA (kept if there); update: complete an allocated SPI. */
static int sa_add(struct xfrm *x, bool update, int argc, char **argv)
{
	struct esp_sa sa = { 0 };
	int err;

	if (addr(argv[0], 0, &sa.src) || addr(argv[1], 0, &sa.dst))
		return 2;
	sa.spi = (uint32_t)strtoul(argv[2], NULL, 0);
	sa.reqid = REQID;
	sa.hard_s = argc > 3 ? (uint32_t)atoi(argv[3]) : 0;
	sa.soft_s = argc > 4 ? (uint32_t)atoi(argv[4]) : 0;
	test_key(&sa);
	err = update ? xfrm_sa_update(x, &sa, why, sizeof(why)) :
		       xfrm_sa_add(x, &sa, why, sizeof(why));
	esp_sa_wipe(&sa);
	if (err < 0)
		return die(update ? "sa update" : "sa add", err);
	printf("sa 0x%08x: %s\n", sa.spi,
	       update ? "completed" : err ? "kept" : "added");
	return 0;
}

static int spi(struct xfrm *x, const char *src, const char *dst)
{
	struct sockaddr_storage s, d;
	uint32_t v;
	int err;

	if (addr(src, 0, &s) || addr(dst, 0, &d))
		return 2;
	err = xfrm_spi_alloc(x, (void *)&s, (void *)&d, REQID, 0, &v, why,
			     sizeof(why));
	if (err)
		return die("spi", err);
	printf("spi 0x%08x\n", v);
	return 0;
}

static void print_event(const struct xfrm_event *ev)
{
	char s[64], d[64];

	sipsec_sa_format((const void *)&ev->src, s, sizeof(s));
	sipsec_sa_format((const void *)&ev->dst, d, sizeof(d));
	if (ev->type == XFRM_EV_ACQUIRE)
		printf("acquire: %s -> %s proto %u policy %u dir %s reqid "
		       "0x%08x seq %u\n", s, d, ev->proto, ev->policy_index,
		       ev->policy_dir == XFRM_POLICY_OUT ? "out" : "in",
		       ev->reqid, ev->seq);
	else
		printf("expire: %s spi 0x%08x %s -> %s reqid 0x%08x\n",
		       ev->hard ? "hard" : "soft", ev->spi, s, d, ev->reqid);
	fflush(stdout);
}

static int wait_event(struct xfrm *x, const char *kind, int seconds)
{
	uint8_t want = strcmp(kind, "acquire") ? XFRM_EV_EXPIRE :
						 XFRM_EV_ACQUIRE;
	time_t end = time(NULL) + seconds;
	struct pollfd pfd = { .fd = xfrm_events_fd(x), .events = POLLIN };
	struct xfrm_event ev[8];

	printf("ready\n");
	fflush(stdout);
	while (time(NULL) < end) {
		int n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = xfrm_events_read(x, ev, 8, why, sizeof(why));
		if (n < 0)
			return die("events", n);
		for (int i = 0; i < n; i++) {
			print_event(&ev[i]);
			if (ev[i].type == want &&
			    (want == XFRM_EV_ACQUIRE || ev[i].hard))
				return 0;
		}
	}
	fprintf(stderr, "xfrm_tool: no %s event in %d s\n", kind, seconds);
	return 1;
}

struct counts {
	int sas, sps;
};

static int print_sa(void *arg, const struct xfrm_sa_status *st)
{
	char line[512];

	xfrm_sa_format(st, line, sizeof(line));
	printf("sa %s\n", line);
	((struct counts *)arg)->sas++;
	return 0;
}

static int print_sp(void *arg, const struct xfrm_sp *sp)
{
	char s[64], d[64];

	sipsec_sa_format((const void *)&sp->src, s, sizeof(s));
	sipsec_sa_format((const void *)&sp->dst, d, sizeof(d));
	printf("policy %s %s -> %s udp reqid 0x%08x index %u\n",
	       sp->dir == XFRM_POLICY_OUT ? "out" : "in", s, d, sp->reqid,
	       sp->index);
	((struct counts *)arg)->sps++;
	return 0;
}

static int dump(struct xfrm *x, struct counts *c)
{
	int err;

	memset(c, 0, sizeof(*c));
	err = xfrm_dump_sas(x, print_sa, c, why, sizeof(why));
	if (!err)
		err = xfrm_dump_policies(x, print_sp, c, why, sizeof(why));
	if (err)
		return die("dump", err);
	printf("found: %d SAs, %d policies\n", c->sas, c->sps);
	return 0;
}

/* What a restarted daemon does: look, then install what policy wants;
 * what is there is kept. */
static int adopt(struct xfrm *x, char **argv)
{
	struct counts c;

	if (dump(x, &c))
		return 1;
	return policies(x, true, argv[0], argv[1], argv[2]);
}

static int replay(const char *ifname, int seconds, int count)
{
	struct sockaddr_ll ll = { 0 };
	uint8_t frame[2048];
	time_t end = time(NULL) + seconds;
	ssize_t n = -1;
	int fd, rc = 1;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("xfrm_tool: AF_PACKET");
		return 1;
	}
	ll.sll_family = AF_PACKET;
	ll.sll_protocol = htons(ETH_P_ALL);
	ll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!ll.sll_ifindex || bind(fd, (void *)&ll, sizeof(ll)) < 0) {
		perror("xfrm_tool: bind to the interface");
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	while (time(NULL) < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = recvfrom(fd, frame, sizeof(frame), 0, (void *)&from, &fl);
		/* An IPv4 frame we sent, carrying ESP (protocol 50). */
		if (n > 34 && from.sll_pkttype == PACKET_OUTGOING &&
		    frame[12] == 0x08 && frame[13] == 0x00 &&
		    frame[23] == IPPROTO_ESP)
			break;
		n = -1;
	}
	if (n < 0) {
		fprintf(stderr, "xfrm_tool: no outgoing ESP frame on %s\n",
			ifname);
		goto out;
	}
	usleep(300 * 1000); /* the original is received first */
	for (int i = 0; i < count; i++) {
		if (sendto(fd, frame, (size_t)n, 0, (void *)&ll,
			   sizeof(ll)) != n) {
			perror("xfrm_tool: resend");
			goto out;
		}
	}
	printf("replayed: ESP spi 0x%02x%02x%02x%02x seq %u, %d times\n",
	       frame[34], frame[35], frame[36], frame[37],
	       (unsigned)frame[38] << 24 | frame[39] << 16 | frame[40] << 8 |
		       frame[41], count);
	rc = 0;
out:
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct xfrm *x = NULL;
	struct counts c;
	const char *cmd = argc > 1 ? argv[1] : "";
	int rc = 2, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "keyhex") && argc == 3) {
		struct esp_sa sa = { .spi = (uint32_t)strtoul(argv[2], NULL, 0) };

		test_key(&sa);
		for (int i = 0; i < sa.key_len; i++)
			printf("%02x", sa.key[i]);
		printf("\n");
		return 0;
	}
	if (!strcmp(cmd, "replay") && argc == 5)
		return replay(argv[2], atoi(argv[3]), atoi(argv[4]));
	err = xfrm_open(&x, !strcmp(cmd, "wait"), why, sizeof(why));
	if (err)
		return die("open", err);
	if (!strcmp(cmd, "policies") && argc == 6)
		rc = policies(x, !strcmp(argv[2], "add"), argv[3], argv[4],
			      argv[5]);
	else if (!strcmp(cmd, "sa") && argc >= 5 && argc <= 7)
		rc = sa_add(x, false, argc - 2, argv + 2);
	else if (!strcmp(cmd, "complete") && argc == 5)
		rc = sa_add(x, true, argc - 2, argv + 2);
	else if (!strcmp(cmd, "spi") && argc == 4)
		rc = spi(x, argv[2], argv[3]);
	else if (!strcmp(cmd, "wait") && argc == 4)
		rc = wait_event(x, argv[2], atoi(argv[3]));
	else if (!strcmp(cmd, "dump") && argc == 2)
		rc = dump(x, &c);
	else if (!strcmp(cmd, "adopt") && argc == 5)
		rc = adopt(x, argv + 2);
	else if (!strcmp(cmd, "flush") && argc == 2) {
		err = xfrm_flush(x, why, sizeof(why));
		rc = err ? die("flush", err) : 0;
	} else
		fprintf(stderr, "xfrm_tool: bad usage (see the comment at the "
			"top of tests/vm/xfrm_tool.c)\n");
	xfrm_close(x);
	return rc;
}
