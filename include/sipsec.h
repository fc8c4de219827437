/* SPDX-License-Identifier: MIT */
/*
 * sipsec common library: what the shim, sipsecd and sipsecctl share.
 * Exports grouped by file; the wire format of the control protocol is in
 * sipsec_ctl.h, the BPF / user-space ABI in sipsec_abi.h.
 */
#ifndef SIPSEC_H
#define SIPSEC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define SIPSEC_VERSION "0.1.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* log.c */
enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };

void log_init(const char *ident, enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);
/** @brief Warning with ": strerror(errno)" appended; errno is preserved. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* addr.c */
/** An address or network: family AF_INET or AF_INET6, prefix in bits. */
struct sipsec_net {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
};

int sipsec_net_parse(const char *s, struct sipsec_net *out);
bool sipsec_net_contains(const struct sipsec_net *net,
			 const struct sockaddr *sa);
int sipsec_net_format(const struct sipsec_net *net, char *buf, size_t len);
/** @brief "198.18.0.2:5060" / "[2001:db8::2]:5060"; never fails. */
const char *sipsec_sa_format(const struct sockaddr *sa, char *buf, size_t len);
/** @brief Same family, address and port (IPv4 or IPv6). */
bool sipsec_sa_equal(const struct sockaddr_storage *a,
		     const struct sockaddr_storage *b);
/** @brief The address alone, without brackets or port: 0 or -errno. */
int sipsec_sa_ip(const struct sockaddr *sa, char *buf, size_t len);
uint16_t sipsec_sa_port(const struct sockaddr *sa);
void sipsec_sa_set_port(struct sockaddr_storage *ss, uint16_t port);
/** @brief Same family and address, whatever the ports. */
bool sipsec_sa_same_ip(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b);
/** @brief An IPv4-mapped IPv6 address becomes the IPv4 address. */
void sipsec_sa_unmap(struct sockaddr_storage *ss);
struct sipsec_ctl_addr;
void sipsec_sa_to_ctl(const struct sockaddr_storage *ss,
		      struct sipsec_ctl_addr *a);
void sipsec_ctl_to_sa(const struct sipsec_ctl_addr *a,
		      struct sockaddr_storage *ss, socklen_t *len);
int sipsec_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int sipsec_parse_port_list(const char *s, uint16_t *ports, size_t cap,
			   size_t *n);

/* str.c */
/** @brief Copy with truncation; returns strlen(src) (truncated if >= size). */
size_t sipsec_strlcpy(char *dst, const char *src, size_t size);

/* ctl.c: the control protocol's framing (wire format in sipsec_ctl.h) */
struct sipsec_ctl_hdr;

/** @brief Connect to sipsecd's control socket; returns an fd or -errno. */
int sipsec_ctl_connect(const char *name);
int sipsec_ctl_sockaddr(const char *name, struct sockaddr *sa,
			socklen_t *len);
/** @brief Send one message; pass_fd < 0 sends no descriptor. */
int sipsec_ctl_send(int fd, uint16_t type, uint32_t seq, int32_t status,
		    uint16_t flags, const void *body, size_t len, int pass_fd);
/**
 * @brief Receive one message into buf (at least SIPSEC_CTL_MAX_MSG bytes).
 * @return its length, 0 at end of file, or -errno: -EBADMSG (malformed,
 * or a descriptor that is not one SCM_RIGHTS fd), -EMSGSIZE (truncated or
 * too long), -EPROTONOSUPPORT (unknown version). A descriptor, if any, is
 * stored in *fd_out (else -1) and is close-on-exec.
 */
ssize_t sipsec_ctl_recv(int fd, void *buf, size_t cap, int *fd_out);
int sipsec_ctl_check(const void *buf, size_t n);
/** @brief Exchange HELLO; returns 0 or -errno (-EPROTONOSUPPORT). */
int sipsec_ctl_hello(int fd, uint16_t role);

/* ktls_rec.c: non-data records on a kernel TLS socket */
enum {
	SIPSEC_TLS_CHANGE_CIPHER_SPEC = 20,
	SIPSEC_TLS_ALERT = 21,
	SIPSEC_TLS_HANDSHAKE = 22,
	SIPSEC_TLS_APPLICATION_DATA = 23,
};
enum sipsec_krec_action {
	SIPSEC_KREC_DATA, /* application data: the program's */
	SIPSEC_KREC_EOF, /* close_notify: end of file */
	SIPSEC_KREC_SKIP, /* consumed (session ticket): read again */
	SIPSEC_KREC_RESET, /* fatal alert or unexpected record */
	SIPSEC_KREC_KEYUPDATE, /* cannot rekey before 6.14: close */
};
/** @brief What the record of this type and content means to a reader. */
int sipsec_ktls_record_action(uint8_t type, const uint8_t *buf, size_t len);

#endif
