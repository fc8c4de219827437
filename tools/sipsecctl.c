// SPDX-License-Identifier: MIT
/*
 * sipsecctl: look at and steer sipsecd. Each command is a function in its
 * own file (the map is sipsecctl.h); this file parses the global options,
 * dispatches, and holds the connection to the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipsec.h"
#include "sipsec_ctl.h"
#include "sipsecctl.h"

static const struct command {
	const char *name;
	int (*fn)(const struct ctl_opts *, int, char **);
	const char *summary;
} commands[] = {
	{ "status", cmd_status, "the daemon, the kernel's data paths, "
				"connections" },
	{ "certs", cmd_certs, "make a demo CA and host certificates" },
	{ "drops", cmd_drops, "what the eBPF enforcement dropped, by reason" },
	{ "events", cmd_events, "the latest drops, one line each (-f follows)" },
	{ "sas", cmd_sas, "sipsec's IPsec SAs per peer, from the kernel" },
	{ "detach", cmd_detach, "remove the eBPF enforcement (filters, pins)" },
	{ "sip-parse", cmd_sip_parse, "parse one SIP message from stdin, as "
				      "the shim would" },
};

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecctl - show and control sipsecd\n"
"\n"
"SYNOPSIS\n"
"    sipsecctl [-s @NAME] [--json] COMMAND [ARGS]\n"
"    sipsecctl COMMAND --help\n"
"\n"
"COMMANDS\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "    %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f,
"    help       this text\n"
"\n"
"OPTIONS\n"
"    -s, --socket @NAME  the daemon's control socket (default @%s);\n"
"                        it is per network namespace: run sipsecctl in\n"
"                        the namespace of the daemon you mean\n"
"    -j, --json          machine-readable output where a command has it\n"
"    -h, --help          this text\n"
"    -V, --version       print the version\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 the command failed (the message says why, e.g. the\n"
"    daemon is not running); 2 bad usage.\n", SIPSEC_CTL_DEFAULT_NAME);
}

int ctl_open(const struct ctl_opts *o)
{
	int fd, err;

	fd = sipsec_ctl_connect(o->socket);
	if (fd < 0) {
		fprintf(stderr, "sipsecctl: cannot reach sipsecd at @%s: %s%s\n",
			o->socket ? o->socket + (o->socket[0] == '@') :
				    SIPSEC_CTL_DEFAULT_NAME,
			strerror(-fd), fd == -ECONNREFUSED ?
			" (is sipsecd running in this network namespace?)" :
			"");
		return fd;
	}
	err = sipsec_ctl_hello(fd, SIPSEC_CTL_ROLE_CTL);
	if (err) {
		fprintf(stderr, "sipsecctl: sipsecd refused us: %s%s\n",
			strerror(-err), err == -ECONNRESET ?
			" (not root and not in [control] allow_users?)" : "");
		close(fd);
		return err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ctl_opts o = { 0 };
	int opt;

	/* '+': stop at the command, its options are its own. */
	while ((opt = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o.socket = optarg; break;
		case 'j': o.json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sipsecctl %s\n", SIPSEC_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	log_init("sipsecctl", LOG_TO_STDERR, LOG_LVL_WARN);
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[optind], commands[i].name))
			continue;
		optind++;
		return commands[i].fn(&o, argc - optind + 1, argv + optind - 1);
	}
	fprintf(stderr, "sipsecctl: unknown command '%s' (see sipsecctl "
		"--help)\n", argv[optind]);
	return 2;
}
