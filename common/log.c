// SPDX-License-Identifier: MIT
/*
 * Logging for every component: stderr in the foreground, syslog otherwise.
 * errno is preserved across every call so a caller can log and then return
 * -errno, and the shim can log without disturbing the host program.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "sipsec.h"

static const char *log_ident = "sipsec";
static enum log_target log_target = LOG_TO_STDERR;
static enum log_level log_level = LOG_LVL_INFO;

static const struct {
	const char *name;
	int syslog_prio;
} levels[] = {
	[LOG_LVL_ERR] = { "error", LOG_ERR },
	[LOG_LVL_WARN] = { "warn", LOG_WARNING },
	[LOG_LVL_INFO] = { "info", LOG_INFO },
	[LOG_LVL_DEBUG] = { "debug", LOG_DEBUG },
};

void log_init(const char *ident, enum log_target target, enum log_level level)
{
	log_ident = ident;
	log_target = target;
	log_level = level;
	if (target == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		if (strcasecmp(s, levels[i].name) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	char buf[1024];

	if (level > log_level)
		goto out;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_target == LOG_TO_SYSLOG) {
		syslog(levels[level].syslog_prio, "%s", buf);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%s]: %s\n", stamp,
			ts.tv_nsec / 1000000, log_ident, levels[level].name,
			buf);
	}
out:
	errno = saved;
}

static void log_fmt(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_fmt(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Formats the caller's message, then appends strerror of the errno that
 * was current on entry. */
static void log_errno(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_errno(enum log_level level, const char *fmt, va_list ap)
{
	int saved = errno;
	char buf[900];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_fmt(level, "%s: %s", buf, strerror(saved));
	errno = saved;
}

#define LOG_FN(name, level, body)                                          \
	void name(const char *fmt, ...)                                    \
	{                                                                  \
		va_list ap;                                                \
		va_start(ap, fmt);                                         \
		body(level, fmt, ap);                                      \
		va_end(ap);                                                \
	}

LOG_FN(log_warn, LOG_LVL_WARN, log_errno)
LOG_FN(log_warnx, LOG_LVL_WARN, log_vmsg)
LOG_FN(log_info, LOG_LVL_INFO, log_vmsg)
LOG_FN(log_debug, LOG_LVL_DEBUG, log_vmsg)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
