// SPDX-License-Identifier: MIT
/*
 * sipsecd: the host daemon.
 *
 * Process model: one process, one thread, one event loop (loop.c:
 * io_uring, or poll(2) where io_uring is disabled). Everything the daemon
 * waits for is a descriptor in that loop: the control socket and its
 * clients (control.c), signals (a signalfd: SIGTERM/SIGINT stop, SIGHUP
 * reloads), and, as the data paths arrive, handshakes and relayed
 * connections. Nothing blocks the loop: work that could (a TLS handshake)
 * is driven by readiness, and every queue is bounded by configuration.
 *
 * Start-up: parse the configuration (any error is fatal and names file,
 * line and reason), probe what the kernel offers (probe.c) and say so in
 * one line, open the control socket (abstract, per network namespace),
 * then serve until told to stop. SIGHUP loads the whole new file first and
 * swaps it in only if it is valid.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "sipsecd.h"
#include "enforce.h"

#define DEFAULT_CONFIG "/etc/sipsec/sipsec.conf"

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    sipsecd - protect the SIP signalling of unmodified programs\n"
"\n"
"SYNOPSIS\n"
"    sipsecd [-f] [-d] [-c FILE]\n"
"    sipsecd --check [-c FILE]\n"
"    sipsecd --probe\n"
"\n"
"DESCRIPTION\n"
"    sipsecd is the host daemon of sipsec. Programs started with\n"
"    LD_PRELOAD=libsipsec.so hand it the sockets that carry SIP; it\n"
"    agrees a mechanism with the peer, runs the TLS handshake or keys\n"
"    IPsec, and moves record crypto into the kernel where the kernel can\n"
"    (kTLS, ESP), relaying in user space where it cannot. It never lets a\n"
"    flow that policy says must be protected go out in cleartext.\n"
"\n"
"    sipsecd runs in the foreground (under systemd, Type=notify is not\n"
"    needed: Type=simple). One instance serves one network namespace:\n"
"    its control socket is an abstract Unix socket, '@sipsec/ctl' unless\n"
"    [control] socket says otherwise.\n"
"\n"
"OPTIONS\n"
"    -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
"    -f, --foreground   log to standard error even if the configuration\n"
"                       says log = syslog\n"
"    -d, --debug        log at debug level\n"
"    -n, --check        parse the configuration, print the effective\n"
"                       policy of every section, and exit: 0 if valid,\n"
"                       1 with every bad line named if not\n"
"    -p, --probe        print what the running kernel offers (kTLS, ESP,\n"
"                       BPF, io_uring) and exit\n"
"    -h, --help         this text\n"
"    -V, --version      print the version\n"
"\n"
"SIGNALS\n"
"    SIGHUP             reload the configuration; an invalid file is\n"
"                       reported and the running one kept\n"
"    SIGTERM, SIGINT    stop\n"
"\n"
"FILES\n"
"    " DEFAULT_CONFIG "  configuration; see the commented example\n"
"                       in share/doc/sipsec/examples/sipsec.conf\n"
"\n"
"EXIT STATUS\n"
"    0 on a clean stop, 1 on a start-up error (the message names it).\n"
"\n"
"SEE ALSO\n"
"    sipsecctl(8), the README\n");
}

/* Two descriptors per user-space connection, one per pending handshake:
 * the soft limit (often 1024) would cap the daemon long before
 * max_connections. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max < 65536) {
		struct rlimit more = { 65536, 65536 };

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return; /* privileged: raised the hard limit too */
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static void setup_signals(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("sigprocmask");
	d->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0)
		fatal("signalfd");
}

/* The eBPF enforcement's options, from the configuration; skip receives
 * the interface names (CONFIG_MAX_SKIP). */
static void enforce_opts_from(const struct config *cfg,
			      struct enforce_opts *o, const char **skip)
{
	for (size_t i = 0; i < cfg->n_enforce_skip; i++)
		skip[i] = cfg->enforce_skip[i];
	*o = (struct enforce_opts){
		.pin_dir = cfg->pin_dir ? cfg->pin_dir : SIPSEC_PIN_DIR_DEFAULT,
		.skip = skip,
		.n_skip = cfg->n_enforce_skip,
		.ingress = cfg->enforce_ingress,
		.mode = (enum sipsec_mode)cfg->enforce_mode,
		.flow_entries = cfg->enforce_flows,
	};
}

/* Loads (or adopts) the enforcement. Not loading it is loud, not fatal:
 * the shim's protection does not depend on it, and the log says what is
 * missing. */
static void enforce_start(struct daemon *d)
{
	const char *skip[CONFIG_MAX_SKIP];
	struct enforce_opts o;
	char desc[512];
	int err;

	enforce_opts_from(d->cfg, &o, skip);
	err = enforce_open(&d->enf, &o, d->cfg);
	if (err) {
		log_warnx("enforcement NOT loaded (%s): cleartext SIP sent "
			  "around the shim is not stopped on this host",
			  strerror(-err));
		return;
	}
	if ((err = loop_add(d->loop, enforce_link_fd(d->enf), POLLIN,
			    enforce_on_link, d->enf)) ||
	    (err = loop_add(d->loop, enforce_events_fd(d->enf), POLLIN,
			    enforce_on_events, d->enf)))
		fatalx("event loop: %s", strerror(-err));
	enforce_describe(d->enf, desc, sizeof(desc));
	log_info("enforcement (%s): %s", o.mode == SIPSEC_MODE_MONITOR ?
		 "monitor" : o.mode == SIPSEC_MODE_OFF ? "off" : "on", desc);
}

/* Frees the loader only: filters and pins stay, enforcement outlives us
 * (sipsecctl detach removes it). */
static void enforce_stop(struct daemon *d)
{
	if (!d->enf)
		return;
	loop_del(d->loop, enforce_link_fd(d->enf));
	loop_del(d->loop, enforce_events_fd(d->enf));
	enforce_close(d->enf);
	d->enf = NULL;
}

static void reload(struct daemon *d)
{
	struct config *cfg;
	int err;

	err = config_load(d->cfg->path, &cfg, NULL, NULL);
	if (err) {
		log_warnx("reload: %s: %s; keeping the running configuration",
			  d->cfg->path, err == -EINVAL ? "invalid" :
			  strerror(-err));
		return;
	}
	if (strcmp(cfg->ctl_name, d->cfg->ctl_name))
		log_warnx("reload: [control] socket changes at restart only");
	free(cfg->ctl_name);
	cfg->ctl_name = strdup(d->cfg->ctl_name);
	if (!cfg->ctl_name) {
		log_warnx("reload: out of memory; keeping the running one");
		config_free(cfg);
		return;
	}
	if (!d->debug)
		log_set_level(cfg->log_level);
	config_free(d->cfg);
	d->cfg = cfg;
	/* New certificates and CAs apply to new connections; established
	 * ones keep theirs (their SSL objects hold their contexts). */
	tls_ctx_flush();
	if (d->enf) {
		const char *skip[CONFIG_MAX_SKIP];
		struct enforce_opts o;

		enforce_opts_from(cfg, &o, skip);
		if (enforce_reload(d->enf, &o, cfg))
			log_warnx("reload: enforcement policy not updated");
	}
	log_info("reload: %s loaded, %zu policy sections", cfg->path,
		 cfg->n_pol - 1);
}

static void on_signal(struct loop *l, int fd, uint32_t revents, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
		} else {
			log_info("signal %d: stopping", si.ssi_signo);
			loop_stop(l);
		}
	}
}

static void say_paths(const struct daemon *d)
{
	char feats[320];
	const struct probe_result *p = &d->probe;

	probe_format(p, feats, sizeof(feats));
	log_info("sipsecd %s: kernel offers %s", SIPSEC_VERSION, feats);
	log_info("data paths: TCP %s, UDP %s; events: %s",
		 p->features & SIPSEC_FEAT_KTLS ? "kernel TLS" :
		 "user-space TLS relay (no kTLS)",
		 p->features & SIPSEC_FEAT_ESP ? "kernel ESP" :
		 "user-space relay (no ESP)", loop_backend(d->loop));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'n' },
		{ "probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool foreground = false, debug = false, check = false, probe = false;
	struct daemon d = { .ctl_fd = -1, .sig_fd = -1, .timer_fd = -1 };
	int opt, err;

	while ((opt = getopt_long(argc, argv, "c:fdnphV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'f': foreground = true; break;
		case 'd': debug = true; break;
		case 'n': check = true; break;
		case 'p': probe = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sipsecd %s\n", SIPSEC_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sipsecd: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	log_init("sipsecd", LOG_TO_STDERR, debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (probe) {
		char line[320];

		probe_kernel(&d.probe);
		probe_format(&d.probe, line, sizeof(line));
		printf("%s\n", line);
		return 0;
	}
	err = config_load(path, &d.cfg, NULL, NULL);
	if (err == -EINVAL)
		fatalx("%s: invalid configuration (every problem is listed "
		       "above)", path);
	if (err)
		fatalx("%s: %s", path, strerror(-err));
	if (check) {
		policy_dump(d.cfg, stdout);
		config_free(d.cfg);
		return 0;
	}
	if (!foreground && d.cfg->log_target == LOG_TO_SYSLOG)
		log_init("sipsecd", LOG_TO_SYSLOG, LOG_LVL_INFO);
	log_set_level(debug ? LOG_LVL_DEBUG : d.cfg->log_level);
	d.debug = debug;

	d.started = time(NULL);
	raise_nofile();
	probe_kernel(&d.probe);
	if ((err = loop_new(&d.loop, d.cfg->io_uring)))
		fatalx("event loop: %s", strerror(-err));
	say_paths(&d);
	setup_signals(&d);
	if ((err = loop_add(d.loop, d.sig_fd, POLLIN, on_signal, &d)))
		fatalx("event loop: %s", strerror(-err));
	if ((err = conn_init(&d)) || (err = relay_init(&d)) ||
	    (err = udp_init(&d)) || (err = esp_init(&d)) ||
	    (err = discovery_init(&d)))
		fatalx("connections: %s", strerror(-err));
	if ((err = control_open(&d)))
		fatalx("control socket %s: %s%s", d.cfg->ctl_name,
		       strerror(-err), err == -EADDRINUSE ?
		       " (another sipsecd runs in this network namespace)" :
		       "");
	enforce_start(&d);
	log_info("ready: control socket %s, %zu policy sections from %s",
		 d.cfg->ctl_name, d.cfg->n_pol - 1, d.cfg->path);
	err = loop_run(d.loop);
	if (err)
		log_warnx("event loop: %s", strerror(-err));
	enforce_stop(&d);
	control_close(&d);
	conn_exit(&d);
	incoming_exit(&d);
	discovery_exit(&d);
	esp_exit(&d);
	udp_exit(&d);
	relay_exit(&d);
	credcache_flush();
	tls_ctx_flush();
	close(d.sig_fd);
	loop_free(d.loop);
	config_free(d.cfg);
	return err ? 1 : 0;
}
