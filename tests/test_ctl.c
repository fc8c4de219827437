// SPDX-License-Identifier: MIT
/*
 * The control protocol: framing on a socketpair, then a real control
 * server (control.c on the event loop, in a thread) fed with good,
 * malformed, truncated and oversized messages, stray descriptors, and
 * clients with the wrong credentials.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipsecd.h"

/* ---- framing ---- */

static int pair[2];

static void pair_up(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair), 0);
}

static void pair_down(void)
{
	close(pair[0]);
	close(pair[1]);
}

#include <dirent.h>

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	while (readdir(dir))
		n++;
	closedir(dir);
	return n;
}

Test(ctl_framing, a_message_and_its_descriptor_arrive_whole,
     .init = pair_up, .fini = pair_down)
{
	char buf[SIPSEC_CTL_MAX_MSG], body[100];
	struct sipsec_ctl_hdr h;
	int sock = socket(AF_INET, SOCK_STREAM, 0), got;
	ssize_t n;

	memset(body, 'x', sizeof(body));
	cr_assert_eq(sipsec_ctl_send(pair[0], SIPSEC_CTL_STATUS, 7, -5, 1, body,
				     sizeof(body), sock), 0);
	n = sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got);
	cr_assert_eq(n, (ssize_t)(sizeof(h) + sizeof(body)));
	memcpy(&h, buf, sizeof(h));
	cr_assert_eq(h.type, SIPSEC_CTL_STATUS);
	cr_assert_eq(h.seq, 7);
	cr_assert_eq(h.status, -5);
	cr_assert_eq(h.flags, 1);
	cr_assert_geq(got, 0);
	cr_assert(fcntl(got, F_GETFD) & FD_CLOEXEC, "received fd not CLOEXEC");
	close(got);
	close(sock);
}

Test(ctl_framing, oversized_messages_are_refused_by_the_sender,
     .init = pair_up, .fini = pair_down)
{
	static char big[SIPSEC_CTL_MAX_MSG];

	cr_assert_eq(sipsec_ctl_send(pair[0], SIPSEC_CTL_STATUS, 1, 0, 0, big,
				     sizeof(big), -1), -EMSGSIZE);
}

Test(ctl_framing, truncated_and_oversized_messages_are_refused,
     .init = pair_up, .fini = pair_down)
{
	char buf[SIPSEC_CTL_MAX_MSG], big[SIPSEC_CTL_MAX_MSG + 100];
	struct sipsec_ctl_hdr h = { .magic = SIPSEC_CTL_MAGIC,
				    .version = SIPSEC_CTL_VERSION,
				    .type = SIPSEC_CTL_STATUS };
	int got;

	/* shorter than a header */
	cr_assert_eq(write(pair[0], &h, 10), 10);
	cr_assert_eq(sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got), -EBADMSG);
	/* length field says more than arrived */
	h.len = sizeof(h) + 50;
	cr_assert_eq(write(pair[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	cr_assert_eq(sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got), -EBADMSG);
	/* larger than any message may be: truncated by the kernel */
	memset(big, 0, sizeof(big));
	h.len = sizeof(big);
	memcpy(big, &h, sizeof(h));
	cr_assert_eq(write(pair[0], big, sizeof(big)), (ssize_t)sizeof(big));
	cr_assert_eq(sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got), -EMSGSIZE);
	cr_assert_eq(got, -1);
}

Test(ctl_framing, bad_magic_and_unknown_version_are_refused,
     .init = pair_up, .fini = pair_down)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_hdr h = { .magic = 0x12345678,
				    .version = SIPSEC_CTL_VERSION,
				    .len = sizeof(h) };
	int got;

	cr_assert_eq(write(pair[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	cr_assert_eq(sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got), -EBADMSG);
	h.magic = SIPSEC_CTL_MAGIC;
	h.version = SIPSEC_CTL_VERSION + 1;
	cr_assert_eq(write(pair[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	cr_assert_eq(sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got),
		     -EPROTONOSUPPORT);
}

/* Sends a valid header with n descriptors attached. */
static void send_fds(int sock, const int *fds, size_t n)
{
	struct sipsec_ctl_hdr h = { .magic = SIPSEC_CTL_MAGIC,
				    .version = SIPSEC_CTL_VERSION,
				    .type = SIPSEC_CTL_STATUS,
				    .len = sizeof(h) };
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	cr_assert_eq(sendmsg(sock, &msg, 0), (ssize_t)sizeof(h));
}

Test(ctl_framing, more_than_one_descriptor_is_refused_and_all_closed,
     .init = pair_up, .fini = pair_down)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	int fds[3], got, before;

	for (int i = 0; i < 3; i++)
		fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
	send_fds(pair[0], fds, 3);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	before = count_fds();
	cr_assert_eq(sipsec_ctl_recv(pair[1], buf, sizeof(buf), &got), -EBADMSG);
	cr_assert_eq(got, -1);
	cr_assert_eq(count_fds(), before, "a received descriptor was leaked");
}

/* ---- the daemon's control server ---- */

static struct daemon d;
static pthread_t thread;
static int stop_fd = -1;
static char ctl_name[64];
static char conf_path[64];

static void on_stop(struct loop *l, int fd, uint32_t ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	loop_stop(l);
}

static void *run(void *arg)
{
	(void)arg;
	loop_run(d.loop);
	return NULL;
}

static void server_start(const char *extra)
{
	FILE *f;
	int fd;

	snprintf(ctl_name, sizeof(ctl_name), "@sipsec-test-%d", getpid());
	strcpy(conf_path, "/tmp/sipsec-test-ctl.XXXXXX");
	fd = mkstemp(conf_path);
	f = fdopen(fd, "w");
	fprintf(f, "[control]\nsocket = %s\n%s", ctl_name, extra);
	fclose(f);
	log_init("test", LOG_TO_STDERR, LOG_LVL_ERR);
	memset(&d, 0, sizeof(d));
	d.ctl_fd = -1;
	cr_assert_eq(config_load(conf_path, &d.cfg, NULL, NULL), 0);
	unlink(conf_path);
	cr_assert_eq(loop_new(&d.loop, URING_AUTO), 0);
	cr_assert_eq(control_open(&d), 0);
	stop_fd = eventfd(0, EFD_CLOEXEC);
	cr_assert_eq(loop_add(d.loop, stop_fd, POLLIN, on_stop, NULL), 0);
	cr_assert_eq(pthread_create(&thread, NULL, run, NULL), 0);
}

static void server_init(void)
{
	server_start("");
}

static void server_stop(void)
{
	uint64_t one = 1;

	cr_assert_eq(write(stop_fd, &one, sizeof(one)), 8);
	pthread_join(thread, NULL);
	control_close(&d);
	close(stop_fd);
	loop_free(d.loop);
	config_free(d.cfg);
}

static int client(void)
{
	int fd = sipsec_ctl_connect(ctl_name);

	cr_assert_geq(fd, 0, "connect: %s", strerror(-fd));
	return fd;
}

/* Reads one reply; returns its header (type 0 at end of file). */
static struct sipsec_ctl_hdr reply(int fd, void *body, size_t cap)
{
	char buf[SIPSEC_CTL_MAX_MSG];
	struct sipsec_ctl_hdr h = { 0 };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int got;

	cr_assert_eq(poll(&p, 1, 5000), 1, "no reply within 5 s");
	n = sipsec_ctl_recv(fd, buf, sizeof(buf), &got);
	if (n <= 0)
		return h;
	memcpy(&h, buf, sizeof(h));
	if (body)
		memcpy(body, buf + sizeof(h),
		       (size_t)n - sizeof(h) < cap ? (size_t)n - sizeof(h) : cap);
	return h;
}

static bool closed_by_daemon(int fd)
{
	return reply(fd, NULL, 0).type == 0;
}

Test(ctl_server, hello_then_status_describes_the_daemon,
     .init = server_init, .fini = server_stop)
{
	struct sipsec_ctl_status st;
	struct sipsec_ctl_hdr h;
	int fd = client();

	cr_assert_eq(sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_CTL), 0);
	cr_assert_eq(sipsec_ctl_send(fd, SIPSEC_CTL_STATUS, 9, 0, 0, NULL, 0,
				     -1), 0);
	h = reply(fd, &st, sizeof(st));
	cr_assert_eq(h.type, SIPSEC_CTL_STATUS);
	cr_assert_eq(h.seq, 9);
	cr_assert_eq(h.status, 0);
	cr_assert_eq(h.len, sizeof(h) + sizeof(st));
	cr_assert_eq(st.pid, (uint32_t)getpid());
	cr_assert(!strcmp(st.loop_backend, "io_uring") ||
		  !strcmp(st.loop_backend, "poll"));
	close(fd);
}

Test(ctl_server, a_request_before_hello_is_refused,
     .init = server_init, .fini = server_stop)
{
	int fd = client();

	cr_assert_eq(sipsec_ctl_send(fd, SIPSEC_CTL_STATUS, 1, 0, 0, NULL, 0,
				     -1), 0);
	cr_assert_eq(reply(fd, NULL, 0).status, -EPROTO);
	cr_assert(closed_by_daemon(fd));
	close(fd);
}

Test(ctl_server, a_client_of_another_version_is_refused,
     .init = server_init, .fini = server_stop)
{
	struct sipsec_ctl_hello hello = { .min_version = 2, .max_version = 3 };
	int fd = client();

	cr_assert_eq(sipsec_ctl_send(fd, SIPSEC_CTL_HELLO, 1, 0, 0, &hello,
				     sizeof(hello), -1), 0);
	cr_assert_eq(reply(fd, NULL, 0).status, -EPROTONOSUPPORT);
	close(fd);
}

Test(ctl_server, malformed_truncated_and_oversized_messages_end_the_client,
     .init = server_init, .fini = server_stop)
{
	static char big[SIPSEC_CTL_MAX_MSG * 2];
	struct sipsec_ctl_hdr h = { .magic = SIPSEC_CTL_MAGIC,
				    .version = SIPSEC_CTL_VERSION,
				    .type = SIPSEC_CTL_HELLO, .len = 999 };
	int fd;

	fd = client();
	cr_assert_eq(write(fd, "garbage", 7), 7);
	cr_assert(closed_by_daemon(fd));
	close(fd);

	fd = client();
	cr_assert_eq(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
	cr_assert(closed_by_daemon(fd), "wrong length accepted");
	close(fd);

	fd = client();
	h.len = sizeof(big);
	memcpy(big, &h, sizeof(h));
	cr_assert_eq(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	cr_assert(closed_by_daemon(fd), "oversized message accepted");
	close(fd);

	/* a HELLO body of the wrong size is an error reply */
	fd = client();
	cr_assert_eq(sipsec_ctl_send(fd, SIPSEC_CTL_HELLO, 1, 0, 0, "x", 1, -1),
		     0);
	cr_assert_eq(reply(fd, NULL, 0).status, -EBADMSG);
	close(fd);

	/* and the server still serves */
	fd = client();
	cr_assert_eq(sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_CTL), 0);
	close(fd);
}

Test(ctl_server, unknown_requests_get_an_error_and_the_client_stays,
     .init = server_init, .fini = server_stop)
{
	int fd = client();

	cr_assert_eq(sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_SHIM), 0);
	cr_assert_eq(sipsec_ctl_send(fd, 999, 5, 0, 0, NULL, 0, -1), 0);
	cr_assert_eq(reply(fd, NULL, 0).status, -EOPNOTSUPP);
	cr_assert_eq(sipsec_ctl_send(fd, SIPSEC_CTL_STATUS, 6, 0, 0, NULL, 0,
				     -1), 0);
	cr_assert_eq(reply(fd, NULL, 0).type, SIPSEC_CTL_STATUS);
	close(fd);
}

Test(ctl_server, a_descriptor_on_a_request_that_takes_none_is_refused,
     .init = server_init, .fini = server_stop)
{
	int fd = client(), sock = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_SHIM), 0);
	cr_assert_eq(sipsec_ctl_send(fd, SIPSEC_CTL_STATUS, 2, 0, 0, NULL, 0,
				     sock), 0);
	cr_assert_eq(reply(fd, NULL, 0).status, -EBADMSG);
	cr_assert(closed_by_daemon(fd));
	close(sock);
	close(fd);
}

/* A child that drops to uid/gid 65534 (nobody) and tries HELLO;
 * exits 0 if the daemon served it, 1 if it was refused. */
static int hello_as_nobody(void)
{
	pid_t pid;
	int status;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(3);
		fd = sipsec_ctl_connect(ctl_name);
		if (fd < 0)
			_exit(2);
		_exit(sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_SHIM) ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(ctl_server, a_client_with_the_wrong_credentials_is_refused,
     .init = server_init, .fini = server_stop)
{
	if (getuid() != 0)
		cr_skip_test("needs root to run a client as another user");
	cr_assert_eq(hello_as_nobody(), 1, "uid 65534 was served");
}

static void server_init_nobody(void)
{
	server_start("allow_users = 65534\n");
}

Test(ctl_server, an_allowed_user_is_served, .init = server_init_nobody,
     .fini = server_stop)
{
	if (getuid() != 0)
		cr_skip_test("needs root to run a client as another user");
	cr_assert_eq(hello_as_nobody(), 0, "uid 65534 was refused");
}

Test(ctl_policy, credentials_are_checked_against_allow_lists)
{
	struct config cfg = { .allow_uids = { 1000 }, .n_allow_uids = 1,
			      .allow_gids = { 50 }, .n_allow_gids = 1 };

	cr_assert(control_cred_allowed(&cfg, 0, 0));
	cr_assert(control_cred_allowed(&cfg, 1000, 1000));
	cr_assert(control_cred_allowed(&cfg, 1001, 50));
	cr_assert_not(control_cred_allowed(&cfg, 1001, 1001));
}
