/* SPDX-License-Identifier: MIT */
/*
 * libsipsec.so's map. The shim is loaded with LD_PRELOAD into a program
 * that cannot be changed; it intercepts the socket calls that carry SIP
 * and hands those sockets to sipsecd. Every other socket goes straight to
 * the real call: no allocation, no lock.
 *
 * Environment: SIPSEC_CONTROL (daemon socket, default @sipsec/ctl),
 * SIPSEC_SIP_PORTS (override the ports asked from the daemon),
 * SIPSEC_LOG (syslog, the default, or stderr).
 */
#ifndef SIPSEC_SHIM_H
#define SIPSEC_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* init.c: the real functions, resolved once */
struct real_calls {
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*writev)(int, const struct iovec *, int);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
};

extern struct real_calls real;
extern __thread int shim_busy; /* > 0 while the shim makes its own calls */

/** @brief Resolve the real calls; safe to call from every hook. */
void shim_init(void);
/** @brief Log a refusal once per (reason, address), with errno kept;
 * err 0: a notice, detail alone. */
void shim_log_once(const char *what, const struct sockaddr *sa, int err,
		   const char *detail);

/* fdtab.c: what the shim knows about a descriptor */
enum sfd_kind {
	SFD_CONN = 1,
	SFD_LISTEN = 2,
	SFD_UDP = 3, /* UDP SIP through sipsecd's relay address */
	SFD_UDP_KERNEL = 4, /* UDP SIP in the kernel's ESP: left alone */
};

struct sfd {
	enum sfd_kind kind;
	struct sockaddr_storage peer; /* CONN: the real peer; UDP: the
					 connect()ed one, if any */
	struct sockaddr_storage local; /* CONN: local address to report;
					  LISTEN: the program's bound one */
	uint8_t secret[16]; /* LISTEN: opens connections from sipsecd */
	uint64_t id;
	bool ktls; /* CONN: the kernel path */
	struct ktls_ref *kref; /* CONN kTLS: shared by this socket's fds */
	struct shim_idc *idc; /* CONN: the identity check, shared by this
			       * socket's fds; NULL when policy says off */
	struct sockaddr_storage relay; /* UDP: sipsecd's relay address */
};

/* One per kTLS socket the process got from sipsecd: how many of its
 * descriptors name it, and which process got it (not a forked child). */
struct ktls_ref {
	_Atomic int refs;
	pid_t pid;
};

int fdtab_init(void);
/** @brief The state of fd, or NULL: the fast path of every hook. */
struct sfd *fdtab_get(int fd);
int fdtab_set(int fd, const struct sfd *s);
void fdtab_clear(int fd);
void fdtab_copy(int from, int to);
/** @brief One past the highest fd that held a kTLS socket; 0: none yet. */
int fdtab_ktls_end(void);

/* daemon.c: asking sipsecd */
bool shim_is_sip_port(uint16_t port);
uint32_t shim_handshake_timeout_ms(void);
struct sipsec_ctl_connected;
struct sipsec_ctl_listen;
/** @return 0 (and *out), or -errno: the reason the flow is refused. */
int shim_handoff(int fd, const struct sockaddr *peer,
		 struct sipsec_ctl_connected *out);
int shim_listen_register(const struct sipsec_ctl_listen *req);
/** @brief Register a bound UDP SIP socket: 0, its path (enum
 * sipsec_datapath) and sipsecd's relay address, or -errno. */
int shim_udp_register(int fd, const struct sockaddr_storage *bound,
		      struct sockaddr_storage *relay, uint8_t *path);
/** @brief Fetch a kernel-path socket the doorbell rang for: fd or -errno. */
int shim_fetch(uint64_t id, const uint8_t *secret);

/* hooks_ktls.c: the read path and close of kernel TLS sockets */
bool shim_is_ktls(int fd);
int shim_ktls_close_notify(int fd);
struct ktls_ref *shim_ktls_ref_new(void);
/** @brief Take skippable records (session tickets) off the head of a kTLS
 * socket's queue. @return true if anything is left for a reader. */
bool shim_ktls_settle(int fd);

/* hooks_ktls.c: the kTLS-aware read calls, for the hooks of hooks_sip.c */
ssize_t shim_ktls_read(int fd, void *buf, size_t len);
ssize_t shim_ktls_recv(int fd, void *buf, size_t len, int flags);
ssize_t shim_ktls_recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *from, socklen_t *flen);
ssize_t shim_ktls_readv(int fd, const struct iovec *iov, int cnt);
ssize_t shim_ktls_recvmsg(int fd, struct msghdr *m, int flags);

/* hooks_sip.c: the identity check of the SIP messages on a connection */
struct sipsec_ctl_identity;
/** @brief State for a new connection; NULL when its policy says off. */
struct shim_idc *shim_idc_new(const struct sipsec_ctl_identity *id,
			      const struct sockaddr_storage *peer);
void shim_idc_ref(struct shim_idc *x);
/** @brief Drop a reference (fdtab); the last one frees. */
void shim_idc_put(struct shim_idc *x);

/* hooks_udp.c: UDP SIP sockets, through sipsecd's relay address */
/**
 * @brief A send to @to from an unregistered socket: registers it when to
 * is a SIP port. @return 0 with *out NULL (not SIP), 0 with *out (ours
 * now), or -errno (refused and logged: the send must fail with EACCES).
 */
int shim_udp_claim(int fd, const struct sockaddr *to, socklen_t tolen,
		   struct sfd **out);
int shim_udp_connect(struct sfd *s, const struct sockaddr *addr,
		     socklen_t len);
ssize_t shim_udp_sendmsg(struct sfd *s, int fd, const struct msghdr *m,
			 int flags);
ssize_t shim_udp_recvmsg(struct sfd *s, int fd, struct msghdr *m, int flags);

/* filter.c: a listening SIP socket admits local connections only */
int shim_filter_local_only(int fd);

#endif
