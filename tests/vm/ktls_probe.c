// SPDX-License-Identifier: GPL-2.0
/*
 * ktls_probe: proves that the running kernel's TLS ULP does what sipsecd
 * will ask of it after an OpenSSL handshake: records keyed by hand with
 * setsockopt(SOL_TLS, TLS_TX/TLS_RX) are encrypted on the wire and
 * decrypted on the other side of a TCP connection.
 *
 * Checks, all on 127.0.0.1 TCP pairs:
 *   core   TLS 1.3 AES-128-GCM: TX on one end, RX on the other, the
 *          plaintext written is the plaintext read;
 *   wire   TX only: the peer reads one raw TLS 1.3 record (17 03 03 ...),
 *          without the plaintext in it, that OpenSSL decrypts with the test
 *          key to the plaintext (so the kernel speaks RFC 8446 records);
 *   others TLS 1.3 and 1.2 with AES-128-GCM, AES-256-GCM and
 *          ChaCha20-Poly1305: TX+RX round trip, reported on/off.
 *
 * Usage: ktls_probe [--report]
 *   Exit 0 when core and wire pass, 1 when they fail, 2 on a setup error.
 *   --report: only report; "ktls: absent (ENOENT)" when the kernel has no
 *   TLS ULP, else every check; exit 0 whenever the answer was determined.
 */
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IO_TIMEOUT_S	5
#define TLS_HDR_LEN	5
#define TLS_TAG_LEN	16
#define TLS13_NONCE_LEN	12
#define RECORD_MAX	512

static const char probe_msg[] =
	"OPTIONS sip:ktls-probe@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-ktls-probe\r\n"
	"Content-Length: 0\r\n\r\n";

/* Fixed test material: a key nobody uses, so a capture can be decrypted. */
static const uint8_t test_key[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const uint8_t test_iv[12] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab,
};
/* Non-zero, so that a kernel ignoring rec_seq would fail the wire check. */
static const uint8_t test_seq[8] = { 0, 0, 0, 0, 0, 0, 0x01, 0x2c };

struct ktls_suite {
	const char *name;
	uint16_t version;
	uint16_t cipher;
};

static const struct ktls_suite suites[] = {
	{ "tls1.3 aes-128-gcm", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128 },
	{ "tls1.3 aes-256-gcm", TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256 },
	{ "tls1.3 chacha20-poly1305", TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
	{ "tls1.2 aes-128-gcm", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128 },
	{ "tls1.2 aes-256-gcm", TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256 },
	{ "tls1.2 chacha20-poly1305", TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305 },
};

union ktls_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

static const char *errname(int err)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);

	return name ? name : "unknown error";
}

/*
 * The kernel's TLS 1.3 nonce is salt||iv XOR seq, so splitting the same
 * 12 bytes over salt and iv works for all three ciphers (ChaCha has no salt).
 */
static int fill_crypto_info(const struct ktls_suite *s,
			    union ktls_crypto_info *ci, socklen_t *len)
{
	memset(ci, 0, sizeof(*ci));
	ci->info.version = s->version;
	ci->info.cipher_type = s->cipher;

	switch (s->cipher) {
	case TLS_CIPHER_AES_GCM_128:
		memcpy(ci->gcm128.salt, test_iv, 4);
		memcpy(ci->gcm128.iv, test_iv + 4, 8);
		memcpy(ci->gcm128.key, test_key, sizeof(ci->gcm128.key));
		memcpy(ci->gcm128.rec_seq, test_seq, 8);
		*len = sizeof(ci->gcm128);
		return 0;
	case TLS_CIPHER_AES_GCM_256:
		memcpy(ci->gcm256.salt, test_iv, 4);
		memcpy(ci->gcm256.iv, test_iv + 4, 8);
		memcpy(ci->gcm256.key, test_key, sizeof(ci->gcm256.key));
		memcpy(ci->gcm256.rec_seq, test_seq, 8);
		*len = sizeof(ci->gcm256);
		return 0;
	case TLS_CIPHER_CHACHA20_POLY1305:
		memcpy(ci->chacha.iv, test_iv, 12);
		memcpy(ci->chacha.key, test_key, sizeof(ci->chacha.key));
		memcpy(ci->chacha.rec_seq, test_seq, 8);
		*len = sizeof(ci->chacha);
		return 0;
	}
	return -EINVAL;
}

static int set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

/* A connected TCP pair on 127.0.0.1: the ULP needs an established socket. */
static int tcp_pair(int *client, int *server)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t alen = sizeof(addr);
	int lfd = -1, cfd = -1, sfd = -1, one = 1, err;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen)) {
		err = -errno;
		goto out;
	}
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || set_timeouts(cfd) ||
	    connect(cfd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		goto out;
	}
	sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (sfd < 0) {
		err = -errno;
		goto out;
	}
	err = set_timeouts(sfd);
	if (err)
		goto out;
	/* One write, one segment, one record: keeps the wire check simple. */
	if (setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		err = -errno;
		goto out;
	}
	*client = cfd;
	*server = sfd;
	cfd = sfd = -1;
	err = 0;
out:
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

static int ulp_tls(int fd)
{
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")))
		return -errno;
	return 0;
}

static int install_key(int fd, int dir, const struct ktls_suite *s)
{
	union ktls_crypto_info ci;
	socklen_t len;
	int err;

	err = fill_crypto_info(s, &ci, &len);
	if (err)
		return err;
	if (setsockopt(fd, SOL_TLS, dir, &ci, len))
		return -errno;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes; a timeout shows up as -EAGAIN. */
static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct roundtrip_result {
	int tx_err;
	int rx_err;
	int data_err;	/* -EBADMSG: read back something else */
};

static int roundtrip(const struct ktls_suite *s, struct roundtrip_result *res)
{
	char buf[sizeof(probe_msg)];
	int cfd = -1, sfd = -1, err;

	memset(res, 0, sizeof(*res));
	err = tcp_pair(&cfd, &sfd);
	if (err)
		goto out;
	res->tx_err = ulp_tls(cfd);
	if (!res->tx_err)
		res->tx_err = install_key(cfd, TLS_TX, s);
	res->rx_err = ulp_tls(sfd);
	if (!res->rx_err)
		res->rx_err = install_key(sfd, TLS_RX, s);
	if (res->tx_err || res->rx_err)
		goto out;

	res->data_err = write_all(cfd, probe_msg, sizeof(probe_msg) - 1);
	if (!res->data_err)
		res->data_err = read_full(sfd, buf, sizeof(probe_msg) - 1);
	if (!res->data_err && memcmp(buf, probe_msg, sizeof(probe_msg) - 1))
		res->data_err = -EBADMSG;
out:
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

static bool roundtrip_ok(const struct roundtrip_result *res)
{
	return !res->tx_err && !res->rx_err && !res->data_err;
}

/* RFC 8446 5.3: per-record nonce = static iv XOR left-padded sequence. */
static void tls13_nonce(uint8_t nonce[TLS13_NONCE_LEN])
{
	int i;

	memcpy(nonce, test_iv, TLS13_NONCE_LEN);
	for (i = 0; i < 8; i++)
		nonce[TLS13_NONCE_LEN - 8 + i] ^= test_seq[i];
}

/* Decrypts one TLS 1.3 AES-128-GCM record in user space; -EBADMSG if bad. */
static int tls13_open_record(const uint8_t *rec, size_t rec_len,
			     uint8_t *out, size_t *out_len)
{
	uint8_t nonce[TLS13_NONCE_LEN];
	size_t ct_len = rec_len - TLS_HDR_LEN - TLS_TAG_LEN;
	EVP_CIPHER_CTX *ctx = NULL;
	int n, fin, err = -EBADMSG;

	tls13_nonce(nonce);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		err = -ENOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
				TLS13_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, test_key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, rec, TLS_HDR_LEN) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &n, rec + TLS_HDR_LEN,
			      (int)ct_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TLS_TAG_LEN,
				(void *)(rec + rec_len - TLS_TAG_LEN)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1)
		goto out;
	*out_len = (size_t)(n + fin);
	err = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

static void print_hex(const char *label, const uint8_t *p, size_t len)
{
	size_t i;

	printf("%s", label);
	for (i = 0; i < len; i++)
		printf(" %02x", p[i]);
	printf("\n");
}

/*
 * TX only: the peer reads the raw record. TLS 1.3 hides the real content
 * type inside the encryption, so the outer header must say 23
 * (application_data) version 0x0303, and the inner plaintext ends in 0x17.
 */
static int check_wire(void)
{
	const struct ktls_suite *s = &suites[0];
	const size_t msg_len = sizeof(probe_msg) - 1;
	const size_t rec_len = TLS_HDR_LEN + msg_len + 1 + TLS_TAG_LEN;
	uint8_t rec[RECORD_MAX], inner[RECORD_MAX];
	size_t inner_len = 0;
	int cfd = -1, sfd = -1, err;

	err = tcp_pair(&cfd, &sfd);
	if (err)
		goto out;
	err = ulp_tls(cfd);
	if (!err)
		err = install_key(cfd, TLS_TX, s);
	if (!err)
		err = write_all(cfd, probe_msg, msg_len);
	if (!err)
		err = read_full(sfd, rec, rec_len);
	if (err) {
		printf("wire: FAIL (%s)\n", errname(err));
		goto out;
	}
	print_hex("wire: record header", rec, TLS_HDR_LEN);
	if (rec[0] != 0x17 || rec[1] != 0x03 || rec[2] != 0x03 ||
	    (size_t)((rec[3] << 8) | rec[4]) != rec_len - TLS_HDR_LEN) {
		printf("wire: FAIL (not a TLS 1.3 application_data record of %zu bytes)\n",
		       rec_len);
		err = -EBADMSG;
		goto out;
	}
	if (memmem(rec, rec_len, "sip:", 4) || memmem(rec, rec_len, "SIP/2.0", 7)) {
		printf("wire: FAIL (plaintext visible on the wire)\n");
		err = -EBADMSG;
		goto out;
	}
	err = tls13_open_record(rec, rec_len, inner, &inner_len);
	if (err || inner_len != msg_len + 1 || inner[msg_len] != 0x17 ||
	    memcmp(inner, probe_msg, msg_len)) {
		printf("wire: FAIL (record does not decrypt to the plaintext with the test key)\n");
		err = -EBADMSG;
		goto out;
	}
	printf("wire: ok (%zu-byte ciphertext record, no plaintext, decrypts with the test key)\n",
	       rec_len);
	err = 0;
out:
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

static void print_roundtrip(const struct ktls_suite *s,
			    const struct roundtrip_result *res)
{
	if (roundtrip_ok(res)) {
		printf("%-26s on  (tx+rx round trip)\n", s->name);
		return;
	}
	printf("%-26s off (tx: %s, rx: %s, data: %s)\n", s->name,
	       res->tx_err ? errname(res->tx_err) : "ok",
	       res->rx_err ? errname(res->rx_err) : "ok",
	       res->data_err ? errname(res->data_err) :
	       (res->tx_err || res->rx_err) ? "not tried" : "ok");
}

/* 0: present, -ENOENT: no TLS ULP, other: could not tell. */
static int probe_ulp(void)
{
	int cfd = -1, sfd = -1, err;

	err = tcp_pair(&cfd, &sfd);
	if (err)
		goto out;
	err = ulp_tls(cfd);
out:
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

int main(int argc, char **argv)
{
	struct roundtrip_result res;
	bool report = false, core_ok;
	size_t i;
	int err;

	if (argc == 2 && !strcmp(argv[1], "--report")) {
		report = true;
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [--report]\n", argv[0]);
		return 2;
	}

	err = probe_ulp();
	if (err == -ENOENT) {
		/* The kernel looked for "tcp-ulp-tls" and found no module. */
		printf("ktls: absent (ENOENT)\n");
		return report ? 0 : 1;
	}
	if (err) {
		printf("ktls: unknown (%s: %s)\n", errname(err), strerror(-err));
		return 2;
	}
	printf("ktls: present (TCP_ULP \"tls\" accepted)\n");

	err = roundtrip(&suites[0], &res);
	if (err) {
		printf("ktls: setup failed (%s)\n", errname(err));
		return 2;
	}
	core_ok = roundtrip_ok(&res);
	print_roundtrip(&suites[0], &res);
	if (check_wire())
		core_ok = false;

	for (i = 1; i < sizeof(suites) / sizeof(suites[0]); i++) {
		if (roundtrip(&suites[i], &res)) {
			printf("%-26s unknown (setup failed)\n", suites[i].name);
			continue;
		}
		print_roundtrip(&suites[i], &res);
	}
	printf("core (tls1.3 aes-128-gcm tx+rx, ciphertext on the wire): %s\n",
	       core_ok ? "PASS" : "FAIL");
	if (report)
		return 0;
	return core_ok ? 0 : 1;
}
