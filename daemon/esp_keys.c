// SPDX-License-Identifier: MIT
/*
 * ESP keys from the TLS 1.3 session between two daemons: the RFC 5705 /
 * RFC 8446 7.5 exporter with label ESP_EXPORTER_LABEL and a context that
 * binds both ends' addresses and both SPIs, so that a key belongs to one
 * pair of SAs and to nothing else. docs/esp.md describes the construction
 * byte by byte; the two must change together.
 *
 * Output: 2 * (key_len + 4) bytes. The first half keys the SA from the
 * TLS client to the TLS server (client outbound, server inbound), the
 * second half the other direction. Each half is the AES key followed by
 * the 4-byte salt (RFC 4106 3.1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "sipsecd.h"

/* Appends an address in network byte order: 4 or 16 bytes. */
static int put_addr(uint8_t *p, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		memcpy(p, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(p, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 16;
	}
	return -EAFNOSUPPORT;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

int esp_keys_context(uint8_t *buf, size_t len, const struct sockaddr *client,
		     const struct sockaddr *server, uint32_t spi_client_in,
		     uint32_t spi_server_in)
{
	size_t n = 0;
	int a;

	if (len < ESP_KEYS_CONTEXT_MAX)
		return -ENOBUFS;
	if (client->sa_family != server->sa_family)
		return -EINVAL;
	buf[n++] = ESP_KEYS_VERSION;
	buf[n++] = client->sa_family == AF_INET6 ? 6 : 4;
	a = put_addr(buf + n, client);
	if (a < 0)
		return a;
	n += (size_t)a;
	n += (size_t)put_addr(buf + n, server);
	put_be32(buf + n, spi_client_in);
	n += 4;
	put_be32(buf + n, spi_server_in);
	n += 4;
	return (int)n;
}

static void fill_sa(struct esp_sa *sa, const struct sockaddr *src,
		    const struct sockaddr *dst, uint32_t spi,
		    const uint8_t *material, uint8_t key_len)
{
	socklen_t len = src->sa_family == AF_INET6 ?
				sizeof(struct sockaddr_in6) :
				sizeof(struct sockaddr_in);

	memset(&sa->src, 0, sizeof(sa->src));
	memset(&sa->dst, 0, sizeof(sa->dst));
	memcpy(&sa->src, src, len);
	memcpy(&sa->dst, dst, len);
	sipsec_sa_set_port(&sa->src, 0);
	sipsec_sa_set_port(&sa->dst, 0);
	sa->spi = spi;
	sa->key_len = key_len;
	memcpy(sa->key, material, key_len);
	memcpy(sa->salt, material + key_len, ESP_SALT_LEN);
}

int esp_keys_derive(SSL *ssl, bool server, const struct sockaddr *client,
		    const struct sockaddr *server_addr,
		    uint32_t spi_client_in, uint32_t spi_server_in,
		    uint8_t key_len, struct esp_sa *out, struct esp_sa *in,
		    char *why, size_t wlen)
{
	uint8_t ctx[ESP_KEYS_CONTEXT_MAX];
	uint8_t km[2 * (ESP_KEY_MAX + ESP_SALT_LEN)];
	size_t half = (size_t)key_len + ESP_SALT_LEN;
	const uint8_t *c2s = km, *s2c = km + half;
	int clen, err = 0;

	if (key_len != 16 && key_len != 32) {
		snprintf(why, wlen, "ESP keys: AES key of %u bytes (16 or 32: "
			 "EINVAL)", key_len);
		return -EINVAL;
	}
	if (SSL_version(ssl) != TLS1_3_VERSION) {
		snprintf(why, wlen, "ESP keys: the session is %s, the "
			 "exporter needs TLS 1.3 (EPROTO)",
			 SSL_get_version(ssl));
		return -EPROTO;
	}
	if (spi_client_in < 256 || spi_server_in < 256 ||
	    spi_client_in == spi_server_in) {
		snprintf(why, wlen, "ESP keys: SPIs 0x%x and 0x%x (each 256 "
			 "or more, and distinct: EINVAL)", spi_client_in,
			 spi_server_in);
		return -EINVAL;
	}
	clen = esp_keys_context(ctx, sizeof(ctx), client, server_addr,
				spi_client_in, spi_server_in);
	if (clen < 0) {
		snprintf(why, wlen, "ESP keys: the addresses are not both "
			 "IPv4 or both IPv6 (%s)", strerrorname_np(-clen));
		return clen;
	}
	if (SSL_export_keying_material(ssl, km, 2 * half, ESP_EXPORTER_LABEL,
				       strlen(ESP_EXPORTER_LABEL), ctx,
				       (size_t)clen, 1) != 1) {
		snprintf(why, wlen, "ESP keys: the TLS exporter failed: %s "
			 "(EPROTO)", tls_error_string());
		err = -EPROTO;
		goto out;
	}
	if (server) {
		fill_sa(out, server_addr, client, spi_client_in, s2c, key_len);
		fill_sa(in, client, server_addr, spi_server_in, c2s, key_len);
	} else {
		fill_sa(out, client, server_addr, spi_server_in, c2s, key_len);
		fill_sa(in, server_addr, client, spi_client_in, s2c, key_len);
	}
out:
	OPENSSL_cleanse(km, sizeof(km));
	return err;
}

void esp_sa_wipe(struct esp_sa *sa)
{
	OPENSSL_cleanse(sa->key, sizeof(sa->key));
	OPENSSL_cleanse(sa->salt, sizeof(sa->salt));
	sa->key_len = 0;
}
