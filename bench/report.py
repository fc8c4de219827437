#!/usr/bin/env python3
"""Turns bench/run.sh's raw lines into bench/results/latest.md (medians,
ratios, the issue's targets) and PNG charts drawn by gnuplot.

    report.py RAW OUT STAMP COMMIT KERNEL MACHINE ROUNDS [BPFCOST_MD]
    report.py --sipp-only RAW OUT
    report.py --vm-only SECTION_MD OUT

The second form renders only bench/sipp.sh's section and puts it into the
existing OUT/latest.md in place of the previous one, leaving the sections
of other runs as they are; the third does the same with the section
bench/vm-pingpong.sh wrote (the kernel path, measured in the VM). BPFCOST_MD is bench/bpfcost.c's section, put in
as it is."""
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

from report_sipp import sipp_section

def put_section(out, head, section, measured):
    """Puts section into OUT/latest.md in place of the one under head (up
    to the next heading), else before "Not yet measured here", and drops
    that list's line naming what is now measured (the list goes when it
    is empty)."""
    path = os.path.join(out, "latest.md")
    md = open(path).read()
    if head in md:
        md = re.sub(re.escape(head) + r".*?(?=^## |\Z)", lambda _: section + "\n",
                    md, count=1, flags=re.S | re.M)
    else:
        md = md.replace("## Not yet measured here", section + "\n## Not yet measured here")
    lines = [x for x in md.splitlines(True) if not (x.startswith("- ") and measured in x)]
    if "## Not yet measured here\n" in lines:
        i = lines.index("## Not yet measured here\n")
        j = i + 1
        while j < len(lines) and (lines[j] == "\n" or lines[j].startswith(("- ", "  "))):
            j += 1
        if not any(x.startswith("- ") for x in lines[i:j]):
            del lines[i:j]
    open(path, "w").write("".join(lines))


if sys.argv[1] == "--sipp-only":
    raw, out = sys.argv[2:4]
    put_section(out, "## SIPp calls",
                sipp_section(open(raw).read().splitlines(), alone=True),
                "SIPp calls per second")
    sys.exit(0)
if sys.argv[1] == "--vm-only":
    section_md, out = sys.argv[2:4]
    put_section(out, "## The kernel path (kTLS)", open(section_md).read().rstrip("\n") + "\n",
                "the kernel path (kTLS)")
    sys.exit(0)

raw, out, stamp, commit, kernel, machine, rounds = sys.argv[1:8]
bpfcost_md = sys.argv[8] if len(sys.argv) > 8 else None
vals = defaultdict(list)  # (kind, contender, key) -> [values]
rss = []
raw_lines = open(raw).read().splitlines()
for line in raw_lines:
    f = line.split()
    if len(f) < 3:
        continue
    kind, who = f[0], f[1]
    if kind.startswith("sipp"):
        continue  # bench/sipp.sh's lines: report_sipp.py
    if kind == "rss":
        kv = dict(x.split("=") for x in f[3:])
        rss.append((who, int(f[2]), int(kv["held"]), int(kv["before_kb"]),
                    int(kv["after_kb"])))
        continue
    if kind.startswith("stime"):
        # "real N T": N handshakes (full, or resumed) in T seconds
        if len(f) == 5 and f[2] == "real" and float(f[4]) > 0:
            vals[(kind, who, "conns_per_s")].append(int(f[3]) / float(f[4]))
        continue
    for kv in f[2:]:
        if "=" in kv:
            k, v = kv.split("=")
            vals[(kind, who, k)].append(float(v))


def med(kind, who, key):
    v = vals.get((kind, who, key))
    return statistics.median(v) if v else None


def fmt(x, unit=""):
    return "-" if x is None else (f"{x:,.0f}{unit}" if x >= 100 else f"{x:.1f}{unit}")


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


L = []
L.append(f"# sipsec benchmarks ({stamp})\n")
L.append(f"Commit `{commit}`, kernel {kernel}, {machine}; two lab hosts "
         f"(network namespaces on a veth bridge); medians of {rounds} "
         "rounds, contenders alternating within each round. Produced by "
         "`make bench` (bench/run.sh).\n")
L.append("## Message path: 1 KB messages over one TCP connection\n")
L.append("| contender | req/resp msgs/s | p50 µs | p99 µs | streaming msgs/s |")
L.append("|---|---|---|---|---|")
for c, name in (("plain", "plaintext TCP"), ("sipsec", "sipsec, user-space path"),
                ("stunnel", "stunnel client + server")):
    L.append(f"| {name} | {fmt(med('rr', c, 'msgs_per_s'))} | "
             f"{fmt(med('rr', c, 'p50_us'))} | {fmt(med('rr', c, 'p99_us'))} | "
             f"{fmt(med('stream', c, 'msgs_per_s'))} |")
s_rr, t_rr = med("rr", "sipsec", "msgs_per_s"), med("rr", "stunnel", "msgs_per_s")
s_99, t_99 = med("rr", "sipsec", "p99_us"), med("rr", "stunnel", "p99_us")
s_st, t_st = med("stream", "sipsec", "msgs_per_s"), med("stream", "stunnel", "msgs_per_s")
L.append("")
L.append(f"- sipsec / stunnel: req/resp {ratio(s_rr, t_rr)} (target >= 1.3x), "
         f"p99 {ratio(s_99, t_99)} (target <= 0.8x), streaming {ratio(s_st, t_st)}")
L.append(f"- sipsec / plaintext: req/resp {ratio(s_rr, med('rr', 'plain', 'msgs_per_s'))}, "
         f"streaming {ratio(s_st, med('stream', 'plain', 'msgs_per_s'))}")
L.append("\n## Connection setup: a new protected connection and one 1 KB round trip\n")
L.append("| contender | connections/s | p50 µs | p99 µs |")
L.append("|---|---|---|---|")
for c, name in (("sipsec-full", "sipsec, full: TLS 1.3 handshake (mutual certificates) and the agreement"),
                ("sipsec", "sipsec, resumed from the credential cache (no agreement exchanged)"),
                ("stunnel", "stunnel pair (its client resumes sessions by default)")):
    L.append(f"| {name} | {fmt(med('conn', c, 'conns_per_s'))} | "
             f"{fmt(med('conn', c, 'p50_us'))} | {fmt(med('conn', c, 'p99_us'))} |")
st = med("stime", "openssl", "conns_per_s")
sr = med("stime-reuse", "openssl", "conns_per_s")
sm = med("stime-mutual", "openssl", "conns_per_s")
smr = med("stime-mutual-reuse", "openssl", "conns_per_s")
L.append(f"| `openssl s_time -new` against `openssl s_server -Verify 1`: mutual certificates, as sipsec (handshake only) | {fmt(sm)} | - | - |")
L.append(f"| `openssl s_time -reuse`, mutual (resumed handshakes only) | {fmt(smr)} | - | - |")
L.append(f"| `openssl s_time -new` against `openssl s_server`: server certificate only (handshake only) | {fmt(st)} | - | - |")
L.append(f"| `openssl s_time -reuse`, server certificate only | {fmt(sr)} | - | - |")
L.append("")
full, resumed = med('conn', 'sipsec-full', 'conns_per_s'), med('conn', 'sipsec', 'conns_per_s')
L.append(f"- sipsec full / s_time -new with mutual certificates {ratio(full, sm)} (target >= 0.8x); "
         f"against server-certificate-only s_time {ratio(full, st)}")
L.append(f"- sipsec resumed / s_time -reuse: mutual {ratio(resumed, smr)}, server certificate only {ratio(resumed, sr)}")
L.append("- sipsec sends its certificate without the root (the chain is built once at start); "
         "`s_server` and `s_time` with a CA file send the root too, OpenSSL's default, which "
         "costs the receiver one more certificate decode per handshake. s_time "
         "counts handshakes alone; sipsec's figures include the agreement, the "
         "hand-over to the program and a 1 KB round trip.")
L.append(f"- sipsec resumed / full {ratio(resumed, full)} (target: resumed faster); "
         f"sipsec resumed / stunnel {ratio(resumed, med('conn', 'stunnel', 'conns_per_s'))}")
L.append("\n## Memory held per connection\n")
L.append("| contender | connections | held | RSS before kB | RSS after kB | per connection |")
L.append("|---|---|---|---|---|---|")
for who, k, held, b, a in rss:
    per = (a - b) * 1024 / held if held else None
    L.append(f"| {'sipsec daemons (both hosts), user-space path' if who == 'sipsec' else 'stunnel (both)'} "
             f"| {k} | {held} | {b} | {a} | {fmt(per / 1024 if per else None, ' KB')} |")
L.append("\nTarget: <= 40 KB per user-space connection (the figure covers both "
         "daemons, i.e. both ends of each connection).")
limit = med("holdlimit", "sipsec", "limit")
if any(who == "sipsec" and held < k for who, k, held, _, _ in rss):
    if limit:
        L.append(f"\nsipsec held fewer than asked because a daemon reached its open-file "
                 f"limit ({limit:,.0f}): a user-space connection takes two descriptors "
                 "(the TLS socket and the relay's end of the program's socket); the daemon "
                 "raises its soft limit to the hard one at start, refuses what does not fit "
                 "and logs it (`open-file limit` in its log). stunnel's shortfall has the "
                 "same cause.")
    else:
        L.append("\nsipsec held fewer than asked, and its daemons logged no open-file "
                 "limit: see the holder's output (`pingpong hold`).")
pt, ps = med("passthru", "plain", "ns_per_iter"), med("passthru", "shim", "ns_per_iter")
L.append("\n## The shim on calls it passes through\n")
L.append(f"socket() + connect() to a closed non-SIP port + close(): {fmt(pt)} ns "
         f"without the shim, {fmt(ps)} ns with it: {ratio(ps, pt)} (target <= 1.05x).")
sp, sc = med("sipcheck", "shim", "parse_ns"), med("sipcheck", "shim", "idcheck_ns")
L.append("\n## Reading SIP in the shim (bench/sipcheck.c)\n")
L.append(f"Per 1 KB INVITE (best of 5 runs of 200,000): parsing the whole message "
         f"{fmt(sp)} ns; the identity cross-check of a sent request "
         f"(framing, Request-URI host, name match) {fmt(sc)} ns.")
if bpfcost_md and os.path.getsize(bpfcost_md):
    L.append("")
    L.append(open(bpfcost_md).read().rstrip("\n"))
if any(x.startswith("sipp ") for x in raw_lines):
    L.append("")
    L.append(sipp_section(raw_lines, alone=False))
L.append("\n## Not yet measured here\n")
L.append("- the kernel path (kTLS), which needs the VM's kernel: bench/vm-pingpong.sh, "
         "which `make bench` runs next and which puts its section here;")
if not any(x.startswith("sipp ") for x in raw_lines):
    L.append("- SIPp calls per second (bench/sipp.sh was left out of this run).")
L.append("\n![messages per second](msgs.png)\n![latency](latency.png)\n")

os.makedirs(out, exist_ok=True)
md = "\n".join(L) + "\n"
open(os.path.join(out, "latest.md"), "w").write(md)
open(os.path.join(out, f"{stamp}-{commit}.md"), "w").write(md)

data = os.path.join(out, "msgs.dat")
with open(data, "w") as d:
    for c in ("plain", "sipsec", "stunnel"):
        d.write(f"{c} {med('rr', c, 'msgs_per_s') or 0} {med('stream', c, 'msgs_per_s') or 0} "
                f"{med('rr', c, 'p50_us') or 0} {med('rr', c, 'p99_us') or 0}\n")
gp = f"""
set terminal pngcairo size 800,450 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set key top left
set output '{out}/msgs.png'
set title '1 KB messages per second (median of {rounds} rounds)'
plot '{data}' using 2:xtic(1) title 'request/response', '' using 3 title 'streaming'
set output '{out}/latency.png'
set title 'request/response round trip, microseconds'
plot '{data}' using 4:xtic(1) title 'p50', '' using 5 title 'p99'
"""
if shutil.which("gnuplot"):
    subprocess.run(["gnuplot"], input=gp.encode(), check=False)
os.remove(data)
