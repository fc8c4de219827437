// SPDX-License-Identifier: MIT
/*
 * The configuration file: INI, read by libinih through a line-counting
 * reader so that every problem is reported as FILE:LINE: reason, and the
 * whole file is checked (not only up to the first error).
 *
 * Sections: [global], [control], [peer NAME], [realm DOMAIN]. Values are
 * checked by one parser per key type; nothing is applied unless the whole
 * file is valid (a SIGHUP swaps in a new config only then).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sipsecd.h"

struct parse_ctx {
	struct config *cfg;
	FILE *f;
	const char *path;
	int line; /* line the reader handed out last */
	int errors;
	struct policy *cur; /* section being filled; NULL: [control] */
	bool in_control;
	bool bad_section; /* errors already reported for this section */
	config_err_fn err;
	void *err_ctx;
};

static void perr(struct parse_ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perr(struct parse_ctx *c, int line, const char *fmt, ...)
{
	char msg[512], full[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s:%d: %s", c->path, line, msg);
	c->errors++;
	if (c->err)
		c->err(c->err_ctx, full);
	else
		log_warnx("%s", full);
}

static const char *const mech_names[] = {
	[SIPSEC_MECH_NONE] = "none",
	[SIPSEC_MECH_TLS] = "tls",
	[SIPSEC_MECH_IPSEC] = "ipsec",
	[SIPSEC_MECH_PRESHARED] = "preshared",
};

const char *mech_name(unsigned mech)
{
	return mech < ARRAY_SIZE(mech_names) ? mech_names[mech] : "?";
}

int mech_mask_format(uint32_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned m = 0; m < ARRAY_SIZE(mech_names); m++) {
		int n;

		if (!(mask & (1u << m)))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "",
			     mech_names[m]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

/* ---- value parsers: each returns NULL or the reason it refused ---- */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const char *parse_mech(const char *v, uint32_t *mask, bool list)
{
	char buf[128], *save = NULL, *tok;
	uint32_t m = 0;

	if (strlen(v) >= sizeof(buf))
		return "too long";
	strcpy(buf, v);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned i;

		tok = trim(tok);
		for (i = 0; i < ARRAY_SIZE(mech_names); i++)
			if (strcasecmp(tok, mech_names[i]) == 0)
				break;
		if (i == ARRAY_SIZE(mech_names))
			return "unknown mechanism (tls, ipsec, preshared, none)";
		if (m && !list)
			return "one mechanism only";
		m |= 1u << i;
	}
	if (!m)
		return "empty";
	*mask = m;
	return NULL;
}

static const char *parse_choice(const char *v, const char *const *names,
				size_t n, int *out)
{
	for (size_t i = 0; i < n; i++) {
		if (names[i] && strcasecmp(v, names[i]) == 0) {
			*out = (int)i;
			return NULL;
		}
	}
	return "not one of the allowed values";
}

static const char *parse_tls_version(const char *v, uint16_t *out)
{
	if (strcmp(v, "1.2") == 0)
		*out = 0x0303;
	else if (strcmp(v, "1.3") == 0)
		*out = 0x0304;
	else
		return "must be 1.2 or 1.3";
	return NULL;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static const char *parse_hex(const char *s, uint8_t *out, size_t cap,
			     size_t *len)
{
	size_t n = 0;

	while (*s) {
		int hi, lo;

		if (isspace((unsigned char)*s) || *s == ':') {
			s++;
			continue;
		}
		hi = hexval((unsigned char)s[0]);
		lo = s[1] ? hexval((unsigned char)s[1]) : -1;
		if (hi < 0 || lo < 0)
			return "not hexadecimal";
		if (n == cap) {
			explicit_bzero(out, cap);
			return "longer than 64 bytes";
		}
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	if (n < POLICY_MIN_PSK) {
		explicit_bzero(out, cap);
		return "shorter than 16 bytes";
	}
	*len = n;
	return NULL;
}

/* psk = hex:0011... | file:/path (hex text). The file must not be readable
 * by others: a key that anyone on the host can read protects nothing. */
static const char *parse_psk(const char *v, struct policy *p)
{
	static char reason[128];
	char text[256];
	struct stat st;
	ssize_t n;
	int fd;
	const char *r;

	if (strncmp(v, "hex:", 4) == 0)
		return parse_hex(v + 4, p->psk, sizeof(p->psk), &p->psk_len);
	if (strncmp(v, "file:", 5) != 0)
		return "must be hex:... or file:PATH";
	fd = open(v + 5, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "cannot open: %s",
			 strerror(errno));
		return reason;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH)) {
		close(fd);
		return "key file is readable by others (chmod o-r)";
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return "cannot read key file";
	text[n] = '\0';
	r = parse_hex(text, p->psk, sizeof(p->psk), &p->psk_len);
	explicit_bzero(text, sizeof(text));
	return r;
}

static const char *parse_nets(const char *v, struct policy *p)
{
	char buf[1024], *save = NULL, *tok;

	if (strlen(v) >= sizeof(buf))
		return "too long";
	strcpy(buf, v);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (p->n_nets == POLICY_MAX_NETS)
			return "more than 16 addresses";
		if (sipsec_net_parse(trim(tok), &p->nets[p->n_nets]))
			return "not an IPv4/IPv6 address or network "
			       "(host bits must be zero)";
		p->n_nets++;
	}
	return p->n_nets ? NULL : "empty";
}

static const char *parse_ids(const char *v, bool groups, uint32_t *ids,
			     size_t *n)
{
	char buf[512], *save = NULL, *tok;

	if (strlen(v) >= sizeof(buf))
		return "too long";
	strcpy(buf, v);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint32_t id;

		tok = trim(tok);
		if (*n == CONFIG_MAX_IDS)
			return "more than 16 entries";
		if (sipsec_parse_u32(tok, 0, 0x7fffffff, &id) == 0) {
			/* numeric id */
		} else if (groups) {
			struct group *g = getgrnam(tok);

			if (!g)
				return "unknown group";
			id = g->gr_gid;
		} else {
			struct passwd *pw = getpwnam(tok);

			if (!pw)
				return "unknown user";
			id = pw->pw_uid;
		}
		ids[(*n)++] = id;
	}
	return NULL;
}

static const char *set_str(char *dst, size_t cap, const char *v)
{
	if (!*v)
		return "empty";
	if (strlen(v) >= cap)
		return "too long";
	strcpy(dst, v);
	return NULL;
}

static const char *set_path(char **dst, const char *v)
{
	if (!*v)
		return "empty";
	if (v[0] != '/')
		return "must be an absolute path";
	free(*dst);
	*dst = strdup(v);
	return *dst ? NULL : "out of memory";
}

/* ---- keys ---- */

static const char *const ktls_names[] = { "prefer", "require", "off" };
static const char *const idcheck_names[] = { "enforce", "log", "off" };
static const char *const discovery_names[] = { "off", "psk" };
static const char *const log_names[] = { "stderr", "syslog" };
static const char *const uring_names[] = { "auto", "off" };

/* Keys that every policy section ([global], [peer], [realm]) takes. */
static const char *policy_key(struct policy *p, const char *k, const char *v,
			      bool *known)
{
	const char *r = NULL;
	uint32_t u;
	int i;

	*known = true;
	if (!strcmp(k, "name")) {
		r = set_str(p->name, sizeof(p->name), v);
		p->set |= PK_NAME;
	} else if (!strcmp(k, "require")) {
		r = parse_mech(v, &p->require, false);
		p->set |= PK_REQUIRE;
	} else if (!strcmp(k, "allow")) {
		r = parse_mech(v, &p->allow, true);
		p->set |= PK_ALLOW;
	} else if (!strcmp(k, "sip_ports")) {
		if (sipsec_parse_port_list(v, p->sip_ports, POLICY_MAX_PORTS,
					   &p->n_sip_ports))
			r = "must be a list of 1 to 8 distinct ports (1-65535)";
		p->set |= PK_SIP_PORTS;
	} else if (!strcmp(k, "tls_port")) {
		if (sipsec_parse_u32(v, 1, 65535, &u))
			r = "must be a port (1-65535)";
		else
			p->tls_port = (uint16_t)u;
		p->set |= PK_TLS_PORT;
	} else if (!strcmp(k, "tls_min_version")) {
		r = parse_tls_version(v, &p->tls_min);
		p->set |= PK_TLS_MIN;
	} else if (!strcmp(k, "ca")) {
		r = set_path(&p->ca, v);
		p->set |= PK_CA;
	} else if (!strcmp(k, "cert")) {
		r = set_path(&p->cert, v);
		p->set |= PK_CERT;
	} else if (!strcmp(k, "key")) {
		r = set_path(&p->key, v);
		p->set |= PK_KEY;
	} else if (!strcmp(k, "psk")) {
		r = parse_psk(v, p);
		p->set |= PK_PSK;
	} else if (!strcmp(k, "psk_identity")) {
		r = set_str(p->psk_identity, sizeof(p->psk_identity), v);
		/* Sent in the clear in the ClientHello and logged: printable
		 * ASCII, no spaces. */
		for (const char *q = v; !r && *q; q++)
			if (*q < 0x21 || *q > 0x7e)
				r = "must be printable ASCII without spaces";
		p->set |= PK_PSK_ID;
	} else if (!strcmp(k, "ktls")) {
		r = parse_choice(v, ktls_names, ARRAY_SIZE(ktls_names), &i);
		if (!r)
			p->ktls = (enum ktls_mode)i;
		p->set |= PK_KTLS;
	} else if (!strcmp(k, "identity_check")) {
		r = parse_choice(v, idcheck_names, ARRAY_SIZE(idcheck_names),
				 &i);
		if (!r)
			p->idcheck = (enum id_check)i;
		p->set |= PK_IDCHECK;
	} else if (!strcmp(k, "discovery")) {
		r = parse_choice(v, discovery_names,
				 ARRAY_SIZE(discovery_names), &i);
		if (!r)
			p->discovery = (uint8_t)i;
		p->set |= PK_DISCOVERY;
	} else if (!strcmp(k, "clock_skew")) {
		if (sipsec_parse_u32(v, 1, 3600, &p->clock_skew_s))
			r = "must be 1 to 3600 seconds";
		p->set |= PK_CLOCK_SKEW;
	} else {
		*known = false;
	}
	return r;
}

/* In enum sipsec_mode's order. */
static const char *const enforce_names[] = { "on", "monitor", "off" };
static const char *const yesno_names[] = { "no", "yes" };

static const char *parse_ifnames(const char *v, char (*names)[16], size_t *n)
{
	char buf[512], *save = NULL, *tok;

	if (strlen(v) >= sizeof(buf))
		return "too long";
	strcpy(buf, v);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (*n == CONFIG_MAX_SKIP)
			return "more than 16 interfaces";
		if (!*tok || strlen(tok) >= 16 || strpbrk(tok, "/: \t"))
			return "not an interface name";
		strcpy(names[(*n)++], tok);
	}
	return NULL;
}

static const char *global_key(struct config *cfg, const char *k,
			      const char *v, bool *known)
{
	const char *r = NULL;
	int i;

	*known = true;
	if (!strcmp(k, "name")) {
		r = set_str(cfg->host_name, sizeof(cfg->host_name), v);
	} else if (!strcmp(k, "log")) {
		r = parse_choice(v, log_names, ARRAY_SIZE(log_names), &i);
		if (!r)
			cfg->log_target = (enum log_target)i;
	} else if (!strcmp(k, "log_level")) {
		if (log_level_parse(v, &cfg->log_level))
			r = "must be error, warn, info or debug";
	} else if (!strcmp(k, "pin_dir")) {
		r = set_path(&cfg->pin_dir, v);
	} else if (!strcmp(k, "enforce")) {
		r = parse_choice(v, enforce_names, ARRAY_SIZE(enforce_names), &i);
		if (!r)
			cfg->enforce_mode = (uint32_t)i;
	} else if (!strcmp(k, "enforce_skip")) {
		r = parse_ifnames(v, cfg->enforce_skip, &cfg->n_enforce_skip);
	} else if (!strcmp(k, "enforce_ingress")) {
		r = parse_choice(v, yesno_names, ARRAY_SIZE(yesno_names), &i);
		if (!r)
			cfg->enforce_ingress = i;
	} else if (!strcmp(k, "enforce_flows")) {
		if (sipsec_parse_u32(v, 1024, 16777216, &cfg->enforce_flows))
			r = "must be 1024 to 16777216";
	} else if (!strcmp(k, "handshake_timeout_ms")) {
		if (sipsec_parse_u32(v, 100, 60000, &cfg->handshake_timeout_ms))
			r = "must be 100 to 60000";
	} else if (!strcmp(k, "max_pending")) {
		if (sipsec_parse_u32(v, 1, 65536, &cfg->max_pending))
			r = "must be 1 to 65536";
	} else if (!strcmp(k, "max_connections")) {
		if (sipsec_parse_u32(v, 1, 1000000, &cfg->max_conns))
			r = "must be 1 to 1000000";
	} else if (!strcmp(k, "cache_size")) {
		if (sipsec_parse_u32(v, 0, 1000000, &cfg->cache_size))
			r = "must be 0 to 1000000";
	} else if (!strcmp(k, "cache_lifetime")) {
		if (sipsec_parse_u32(v, 1, 86400, &cfg->cache_lifetime_s))
			r = "must be 1 to 86400 seconds";
	} else if (!strcmp(k, "io_uring")) {
		r = parse_choice(v, uring_names, ARRAY_SIZE(uring_names), &i);
		if (!r)
			cfg->io_uring = (enum uring_mode)i;
	} else if (!strcmp(k, "discovery_port")) {
		uint32_t port;

		if (sipsec_parse_u32(v, 1, 65535, &port))
			r = "must be a port, 1 to 65535";
		else
			cfg->discovery_port = (uint16_t)port;
	} else if (!strcmp(k, "esp_lifetime")) {
		if (sipsec_parse_u32(v, 10, 86400, &cfg->esp_lifetime_s))
			r = "must be 10 to 86400 seconds";
	} else if (!strcmp(k, "esp")) {
		/* Host-wide: the shim chooses the path of a UDP socket when
		 * it is bound, before any peer is known. */
		r = parse_choice(v, ktls_names, ARRAY_SIZE(ktls_names), &i);
		if (!r)
			cfg->esp = (enum ktls_mode)i;
	} else {
		*known = false;
	}
	return r;
}

static const char *control_key(struct config *cfg, const char *k,
			       const char *v, bool *known)
{
	*known = true;
	if (!strcmp(k, "socket")) {
		if (*v != '@')
			return "must be an abstract name: @NAME";
		free(cfg->ctl_name);
		cfg->ctl_name = strlen(v) < 100 ? strdup(v) : NULL;
		return cfg->ctl_name ? NULL : "too long";
	}
	if (!strcmp(k, "allow_users"))
		return parse_ids(v, false, cfg->allow_uids, &cfg->n_allow_uids);
	if (!strcmp(k, "allow_groups"))
		return parse_ids(v, true, cfg->allow_gids, &cfg->n_allow_gids);
	*known = false;
	return NULL;
}

static struct policy *policy_new(struct parse_ctx *c)
{
	struct config *cfg = c->cfg;
	struct policy *p;

	if (cfg->n_pol == CONFIG_MAX_POLICIES)
		return NULL;
	p = realloc(cfg->pol, (cfg->n_pol + 1) * sizeof(*p));
	if (!p)
		return NULL;
	cfg->pol = p;
	p = &cfg->pol[cfg->n_pol++];
	memset(p, 0, sizeof(*p));
	p->line = c->line;
	return p;
}

static struct policy *section_find(struct config *cfg, const char *label)
{
	for (size_t i = 0; i < cfg->n_pol; i++)
		if (!strcmp(cfg->pol[i].label, label))
			return &cfg->pol[i];
	return NULL;
}

/* Called by the reader at each "[section]" line, so that empty and
 * duplicate sections are reported too. */
static void section_start(struct parse_ctx *c, char *name)
{
	char label[64];
	char *arg = NULL;
	struct policy *p;

	c->cur = NULL;
	c->in_control = false;
	c->bad_section = false;
	name = trim(name);
	if (!strcmp(name, "control")) {
		c->in_control = true;
		return;
	}
	if (!strcmp(name, "global")) {
		c->cur = &c->cfg->pol[0];
		c->cur->line = c->line;
		return;
	}
	if (!strcmp(name, "peer") || !strcmp(name, "realm") ||
	    !strncmp(name, "peer ", 5) || !strncmp(name, "realm ", 6)) {
		arg = strchr(name, ' ') ? trim(strchr(name, ' ')) : "";
		if (!*arg || strlen(arg) >= 48 || strpbrk(arg, " \t[]")) {
			perr(c, c->line, "section [%s]: the name must be one "
				   "word of at most 47 characters", name);
			c->bad_section = true;
			return;
		}
	} else {
		perr(c, c->line, "unknown section [%s] (global, control, "
			   "peer NAME, realm DOMAIN)", name);
		c->bad_section = true;
		return;
	}
	snprintf(label, sizeof(label), "%s %s", name[0] == 'p' ? "peer" :
		 "realm", arg);
	if ((p = section_find(c->cfg, label))) {
		perr(c, c->line, "section [%s] already defined on line %d",
		     label, p->line);
		c->bad_section = true;
		return;
	}
	p = policy_new(c);
	if (!p) {
		perr(c, c->line, "too many sections (at most %d)",
		     CONFIG_MAX_POLICIES);
		c->bad_section = true;
		return;
	}
	strcpy(p->label, label);
	p->is_realm = name[0] == 'r';
	if (p->is_realm)
		strcpy(p->realm, arg);
	c->cur = p;
}

/* libinih's line source: counts lines, and checks the syntax of each line
 * itself so that every bad line is reported, not only the first one (the
 * library reports the first only). A line it rejects is handed on empty. */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	char *s, *end;
	size_t len;

	if (!fgets(str, num, c->f))
		return NULL;
	c->line++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(c->f)) {
		int ch;

		perr(c, c->line, "line longer than %d characters", num - 2);
		while ((ch = fgetc(c->f)) != EOF && ch != '\n')
			;
		str[0] = '\0';
		return str;
	}
	s = str;
	if (c->line == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
		s += 3;
	if (*s == ' ' || *s == '\t') {
		char *t = trim(s);

		if (*t && *t != ';' && *t != '#') {
			perr(c, c->line, "indented line: continuation lines "
				   "are not supported, put the value on one line");
		}
		str[0] = '\0';
		return str;
	}
	s = trim(s);
	if (!*s || *s == ';' || *s == '#')
		return str;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end) {
			perr(c, c->line, "section header without ']'");
			str[0] = '\0';
			return str;
		}
		*end = '\0';
		section_start(c, s + 1);
		*end = ']';
		return str;
	}
	if (!strchr(s, '=')) {
		perr(c, c->line, "expected 'key = value' or '[section]'");
		str[0] = '\0';
	}
	return str;
}

static int handler(void *user, const char *section, const char *key,
		   const char *value)
{
	struct parse_ctx *c = user;
	const char *r = NULL;
	bool known = false;
	char v[512];

	(void)section; /* the reader tracked it, with its line */
	if (c->bad_section)
		return 1;
	if (strlen(value) >= sizeof(v)) {
		perr(c, c->line, "%s: value too long", key);
		return 1;
	}
	strcpy(v, value);
	if (c->in_control) {
		r = control_key(c->cfg, key, v, &known);
	} else if (c->cur) {
		/* In [global], 'name' is this host's own name; in a peer or
		 * realm it is the name expected from the other side. */
		if (c->cur == &c->cfg->pol[0])
			r = global_key(c->cfg, key, v, &known);
		if (!known)
			r = policy_key(c->cur, key, v, &known);
		if (!known && !c->cur->is_realm && !strcmp(key, "realm")) {
			known = true;
			r = set_str(c->cur->realm, sizeof(c->cur->realm), v);
		}
		if (!known && !strcmp(key, "address") &&
		    c->cur != &c->cfg->pol[0]) {
			known = true;
			r = parse_nets(v, c->cur);
		}
	} else {
		perr(c, c->line, "'%s' outside of any section", key);
		return 1;
	}
	if (known && c->cur == &c->cfg->pol[0] && !c->in_control &&
	    !strncmp(key, "psk", 3))
		r = "a pre-shared key belongs to one peer: put it in a [peer] "
		    "or [realm] section";
	if (!known)
		perr(c, c->line, "unknown key '%s' in this section", key);
	else if (r)
		perr(c, c->line, "%s = '%s': %s", key,
		     strcmp(key, "psk") ? v : "(hidden)", r);
	explicit_bzero(v, sizeof(v)); /* it may have held a key */
	return 1;
}

/* Cross-section checks, once the whole file is read. */
static void validate(struct parse_ctx *c)
{
	struct config *cfg = c->cfg;

	for (size_t i = 1; i < cfg->n_pol; i++) {
		struct policy *p = &cfg->pol[i], eff;

		if (!p->is_realm && !p->n_nets)
			perr(c, p->line, "[%s]: needs 'address'", p->label);
		if (!p->is_realm && p->realm[0] &&
		    !policy_find_realm(cfg, p->realm))
			perr(c, p->line, "[%s]: realm '%s' is not defined",
			     p->label, p->realm);
		policy_effective(cfg, p, &eff);
		if ((eff.require & MECH_PRESHARED) && !eff.psk_len)
			perr(c, p->line, "[%s]: require = preshared needs psk",
			     p->label);
		/* The server finds a key by the identity the client sends
		 * (TLS 1.3 external PSK): one without the other is useless. */
		if (eff.psk_len && !eff.psk_identity[0])
			perr(c, p->line, "[%s]: psk needs psk_identity",
			     p->label);
		if (!eff.psk_len && eff.psk_identity[0])
			perr(c, p->line, "[%s]: psk_identity without psk",
			     p->label);
		/* Discovery authenticates with the section's key and checks
		 * the peer's X-SIP-SECURE-FROM against its name (draft 4.5). */
		if (eff.discovery == DISCOVERY_PSK &&
		    (!eff.psk_len || !eff.name[0] || !p->n_nets))
			perr(c, p->line, "[%s]: discovery = psk needs psk, "
			     "name and address", p->label);
		explicit_bzero(eff.psk, sizeof(eff.psk));
		if ((eff.set & PK_ALLOW) && (eff.set & PK_REQUIRE) &&
		    !(eff.allow & eff.require))
			perr(c, p->line, "[%s]: the required mechanism is not "
				   "in 'allow'", p->label);
	}
}

static void config_defaults(struct config *cfg)
{
	struct policy *g = &cfg->pol[0];

	cfg->log_target = LOG_TO_STDERR;
	cfg->log_level = LOG_LVL_INFO;
	cfg->handshake_timeout_ms = 5000;
	cfg->max_pending = 256;
	cfg->max_conns = 16384;
	cfg->cache_size = 1024;
	cfg->cache_lifetime_s = 3600;
	cfg->io_uring = URING_AUTO;
	cfg->esp_lifetime_s = 3600;
	cfg->discovery_port = 5062;
	strcpy(g->label, "global");
	g->require = MECH_TLS;
	g->allow = MECH_TLS | MECH_IPSEC;
	g->sip_ports[0] = 5060;
	g->n_sip_ports = 1;
	g->tls_port = 0; /* SIP port + 1: 5060 -> 5061 */
	g->tls_min = 0x0304;
	g->ktls = KTLS_PREFER;
	g->idcheck = IDCHECK_ENFORCE;
	g->discovery = DISCOVERY_OFF;
	g->clock_skew_s = 30;
	g->set = PK_REQUIRE | PK_ALLOW | PK_SIP_PORTS | PK_TLS_PORT |
		 PK_TLS_MIN | PK_KTLS | PK_IDCHECK | PK_DISCOVERY |
		 PK_CLOCK_SKEW;
}

int config_load(const char *path, struct config **out, config_err_fn err,
		void *ctx)
{
	struct parse_ctx c = { .path = path, .err = err, .err_ctx = ctx };
	struct config *cfg;
	int rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	c.cfg = cfg;
	cfg->path = strdup(path);
	cfg->ctl_name = strdup("@" SIPSEC_CTL_DEFAULT_NAME);
	cfg->pol = calloc(1, sizeof(*cfg->pol));
	if (!cfg->path || !cfg->ctl_name || !cfg->pol) {
		rc = -ENOMEM;
		goto out;
	}
	cfg->n_pol = 1;
	config_defaults(cfg);
	c.f = fopen(path, "re");
	if (!c.f) {
		rc = -errno;
		goto out;
	}
	/* Keys before any section header belong to [global]. */
	c.cur = &cfg->pol[0];
	rc = ini_parse_stream(reader, &c, handler, &c);
	fclose(c.f);
	if (rc < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (rc > 0 && !c.errors) /* a line inih refused that we passed */
		perr(&c, rc, "syntax error");
	validate(&c);
	if (c.errors) {
		rc = -EINVAL;
		goto out;
	}
	cfg->loaded_at = time(NULL);
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	config_free(cfg);
	return rc;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_pol; i++) {
		struct policy *p = &cfg->pol[i];

		free(p->ca);
		free(p->cert);
		free(p->key);
		explicit_bzero(p->psk, sizeof(p->psk));
	}
	free(cfg->pol);
	free(cfg->path);
	free(cfg->pin_dir);
	free(cfg->ctl_name);
	free(cfg);
}
