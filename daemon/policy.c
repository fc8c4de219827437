// SPDX-License-Identifier: MIT
/*
 * Which policy governs a peer. A peer address matches the [peer] or
 * [realm] section with the longest matching network (a [peer] wins a tie);
 * anything unset there is inherited from the peer's realm, then [global].
 */
#include <string.h>
#include <strings.h>

#include "sipsecd.h"

const struct policy *policy_global(const struct config *cfg)
{
	return &cfg->pol[0];
}

/* Keeps p in *best if one of its networks holds peer more closely than
 * *best's did (a [peer] wins a tie with a [realm]). */
static void closest(const struct policy *p, const struct sockaddr *peer,
		    const struct policy **best, int *best_len)
{
	for (size_t j = 0; j < p->n_nets; j++) {
		int len = p->nets[j].prefix;

		if (!sipsec_net_contains(&p->nets[j], peer))
			continue;
		if (len > *best_len ||
		    (len == *best_len && (*best)->is_realm && !p->is_realm)) {
			*best = p;
			*best_len = len;
		}
	}
}

const struct policy *policy_find(const struct config *cfg,
				 const struct sockaddr *peer)
{
	const struct policy *best = NULL;
	int best_len = -1;

	for (size_t i = 1; i < cfg->n_pol; i++)
		closest(&cfg->pol[i], peer, &best, &best_len);
	return best;
}

/* TLS 1.3 external PSK (tls_psk.c): the section whose key the client
 * named. Identities are not secret and may be shared by several sections
 * (one per network); the client's address picks among them, as in
 * policy_find(). *known says whether the identity exists at all. */
const struct policy *policy_find_psk(const struct config *cfg,
				     const struct sockaddr *peer,
				     const char *identity, bool *known)
{
	const struct policy *best = NULL;
	int best_len = -1;
	struct policy eff;

	*known = false;
	for (size_t i = 1; i < cfg->n_pol; i++) {
		const struct policy *p = &cfg->pol[i];

		policy_effective(cfg, p, &eff);
		explicit_bzero(eff.psk, sizeof(eff.psk));
		if (!eff.psk_len || strcmp(eff.psk_identity, identity))
			continue;
		*known = true;
		closest(p, peer, &best, &best_len);
	}
	return best;
}

const struct policy *policy_find_realm(const struct config *cfg,
				       const char *domain)
{
	for (size_t i = 1; i < cfg->n_pol; i++)
		if (cfg->pol[i].is_realm &&
		    !strcasecmp(cfg->pol[i].realm, domain))
			return &cfg->pol[i];
	return NULL;
}

/* Copies into dst the keys that src set and dst has not. Paths are shared,
 * not duplicated: an effective policy lives no longer than its config. */
static void inherit(struct policy *dst, const struct policy *src)
{
	uint32_t take = src->set & ~dst->set;

	if (take & PK_NAME)
		strcpy(dst->name, src->name);
	if (take & PK_REQUIRE)
		dst->require = src->require;
	if (take & PK_ALLOW)
		dst->allow = src->allow;
	if (take & PK_SIP_PORTS) {
		memcpy(dst->sip_ports, src->sip_ports, sizeof(dst->sip_ports));
		dst->n_sip_ports = src->n_sip_ports;
	}
	if (take & PK_TLS_PORT)
		dst->tls_port = src->tls_port;
	if (take & PK_TLS_MIN)
		dst->tls_min = src->tls_min;
	if (take & PK_CA)
		dst->ca = src->ca;
	if (take & PK_CERT)
		dst->cert = src->cert;
	if (take & PK_KEY)
		dst->key = src->key;
	if (take & PK_PSK) {
		memcpy(dst->psk, src->psk, sizeof(dst->psk));
		dst->psk_len = src->psk_len;
	}
	if (take & PK_PSK_ID)
		strcpy(dst->psk_identity, src->psk_identity);
	if (take & PK_KTLS)
		dst->ktls = src->ktls;
	if (take & PK_IDCHECK)
		dst->idcheck = src->idcheck;
	if (take & PK_DISCOVERY)
		dst->discovery = src->discovery;
	if (take & PK_CLOCK_SKEW)
		dst->clock_skew_s = src->clock_skew_s;
	dst->set |= take;
}

void policy_effective(const struct config *cfg, const struct policy *p,
		      struct policy *eff)
{
	const struct policy *realm = NULL;

	*eff = *p;
	if (!p->is_realm && p->realm[0])
		realm = policy_find_realm(cfg, p->realm);
	if (realm)
		inherit(eff, realm);
	inherit(eff, policy_global(cfg));
}

static const char *const ktls_str[] = { "prefer", "require", "off" };
static const char *const idcheck_str[] = { "enforce", "log", "off" };

/* The effective policy of every section, as `sipsecd --check` prints it.
 * Keys are never printed, only whether one is set. */
void policy_dump(const struct config *cfg, FILE *f)
{
	fprintf(f, "host name        %s\ncontrol socket   %s (%zu users, "
		"%zu groups allowed besides root)\n",
		cfg->host_name[0] ? cfg->host_name : "-", cfg->ctl_name,
		cfg->n_allow_uids, cfg->n_allow_gids);
	if (cfg->cache_size)
		fprintf(f, "credential cache %u next hops, %u s each\n",
			cfg->cache_size, cfg->cache_lifetime_s);
	else
		fprintf(f, "credential cache off\n");
	fprintf(f, "SIP over UDP     ESP %s, SAs live %u s (rekeyed at 5/6)\n\n",
		cfg->esp == KTLS_OFF ? "off (user-space path)" :
		cfg->esp == KTLS_REQUIRE ? "required" :
		"preferred (user-space path where the kernel has none)",
		cfg->esp_lifetime_s);
	for (size_t i = 0; i < cfg->n_pol; i++) {
		struct policy eff;
		char req[64], allow[64], net[64];

		policy_effective(cfg, &cfg->pol[i], &eff);
		mech_mask_format(eff.require, req, sizeof(req));
		mech_mask_format(eff.allow, allow, sizeof(allow));
		fprintf(f, "[%s]  (line %d)\n", eff.label, eff.line);
		if (eff.n_nets) {
			fprintf(f, "  address        ");
			for (size_t j = 0; j < eff.n_nets; j++) {
				sipsec_net_format(&eff.nets[j], net, sizeof(net));
				fprintf(f, "%s%s", j ? ", " : "", net);
			}
			fprintf(f, "\n");
		}
		if (eff.realm[0])
			fprintf(f, "  realm          %s\n", eff.realm);
		fprintf(f, "  name           %s\n", eff.name[0] ? eff.name : "-");
		fprintf(f, "  require        %s\n  allow          %s\n", req,
			allow);
		fprintf(f, "  sip_ports      ");
		for (size_t j = 0; j < eff.n_sip_ports; j++)
			fprintf(f, "%s%u", j ? ", " : "", eff.sip_ports[j]);
		if (eff.tls_port)
			fprintf(f, "\n  tls_port       %u\n", eff.tls_port);
		else
			fprintf(f, "\n  tls_port       SIP port + 1\n");
		fprintf(f, "  tls_min        1.%d\n", eff.tls_min & 0xff ? (eff.tls_min & 0xff) - 1 : 0);
		fprintf(f, "  ktls           %s\n", ktls_str[eff.ktls]);
		fprintf(f, "  identity_check %s\n", idcheck_str[eff.idcheck]);
		fprintf(f, "  ca             %s\n", eff.ca ? eff.ca : "-");
		fprintf(f, "  cert           %s\n", eff.cert ? eff.cert : "-");
		fprintf(f, "  key            %s\n", eff.key ? eff.key : "-");
		if (eff.psk_len)
			fprintf(f, "  psk            set (%zu bytes)%s%s\n",
				eff.psk_len, eff.psk_identity[0] ?
				", identity " : "", eff.psk_identity);
	}
}

bool policy_is_sip_port(const struct config *cfg, uint16_t port)
{
	for (size_t i = 0; i < cfg->n_pol; i++)
		for (size_t j = 0; j < cfg->pol[i].n_sip_ports; j++)
			if (cfg->pol[i].sip_ports[j] == port)
				return true;
	return false;
}
