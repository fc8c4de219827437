"""The SIPp section of bench/results/latest.md, from bench/sipp.sh's raw
lines: medians over rounds at equal offered load, CPU per call and the
ratios sipsec / plaintext, the ramp, and where the daemons' CPU goes."""
import statistics
from collections import defaultdict

CONTENDERS = (
    ("plain-tcp", "plaintext TCP"),
    ("sipsec-tcp", "sipsec TCP"),
    ("plain-udp", "plaintext UDP"),
    ("sipsec-udp", "sipsec UDP"),
)
NAME = dict(CONTENDERS)
# SIP messages in a call of SIPp's built-in uac scenario: INVITE, 100,
# 180, 200, ACK, BYE, 200.
MSGS = 7


def _runs(lines):
    meta, runs, perf = {}, [], defaultdict(list)
    for line in lines:
        f = line.split()
        if not f:
            continue
        if f[0] == "sippmeta":
            meta = dict(x.split("=", 1) for x in f[1:])
        elif f[0] == "sipp" and len(f) > 2:
            r = dict(x.split("=", 1) for x in f[2:])
            r["who"] = f[1]
            runs.append(r)
        elif f[0] in ("sippwire", "sippdrops") and len(f) > 2:
            perf[(f[0], f[1])] = dict(x.split("=", 1) for x in f[2:])
        elif f[0] == "sippperf" and len(f) >= 5:
            perf[(f[1], f[2])].append((float(f[3]), " ".join(f[4:])))
    return meta, runs, perf


def _num(r, k):
    v = r.get(k, "-")
    return None if v in ("-", "-1") else float(v)


def _med(runs, k):
    v = [x for x in (_num(r, k) for r in runs) if x is not None]
    return statistics.median(v) if v else None


def _f(x, digits=2):
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.{digits}f}"


def _ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}x"


def _per_call(r, *keys):
    """CPU ms per completed call of one run, summed over keys."""
    v = [_num(r, k) for k in keys]
    ok = _num(r, "completed")
    if None in v or not ok:
        return None
    return sum(v) / ok


def sipp_section(lines, alone):
    meta, runs, perf = _runs(lines)
    main = defaultdict(list)
    ramp = defaultdict(lambda: defaultdict(list))  # rate -> who -> runs
    for r in runs:
        if r["phase"] == "main":
            main[r["who"]].append(r)
        elif r["phase"] == "ramp":
            ramp[int(r["rate"])][r["who"]].append(r)
    L = ["## SIPp calls: plaintext and sipsec, TCP and UDP, with CPU time\n"]
    mode = "quick" if meta.get("quick") == "1" else "full"
    how = ("`bench/sipp.sh` run alone, its section merged into this file "
           "by `bench/report.py --sipp-only`; the other sections come from "
           "the run named at the top" if alone else "`bench/sipp.sh`, within "
           "the run named at the top")
    L.append(f"Run {meta.get('stamp', '?')}, commit `{meta.get('commit', '?')}`, "
             f"{how} ({mode}: {meta.get('rounds', '?')} rounds). Unmodified SIPp "
             "(built-in `uac`/`uas`, `-t t1` / `-t u1`), UAC on one lab host, "
             "UAS on another. Plaintext: two hosts without sipsecd (its eBPF "
             "enforcement would drop cleartext SIP). sipsec: both SIPp under "
             "`LD_PRELOAD=libsipsec.so`, sipsecd on both hosts with "
             "`identity_check = enforce`, user-space path (no kTLS here). "
             f"Equal offered load: {meta.get('calls', '?')} calls at "
             f"{meta.get('rate', '?')} calls/s (`-m`, `-r`) for every contender; "
             "contenders alternate, the first one rotating each round. "
             "Medians over rounds; calls summed. CPU is user+system time: SIPp "
             "from GNU time, sipsecd from /proc/PID/stat before and after, "
             "per completed call.\n")
    L.append("| contender | calls attempted / completed / failed | retrans | calls/s "
             "| response p50 / p99 ms | UAC CPU ms/call | UAS CPU ms/call "
             "| sipsecd CPU ms/call (both) | total CPU ms/call |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    med = {}
    for c, name in CONTENDERS:
        rs = main.get(c, [])
        if not rs:
            continue
        tot = lambda k: int(sum(_num(r, k) or 0 for r in rs))
        m = {
            "cps": _med(rs, "cps"),
            "p50": _med(rs, "rtt_p50_ms"), "p99": _med(rs, "rtt_p99_ms"),
            "uac": statistics.median([x for x in (_per_call(r, "uac_cpu_ms") for r in rs) if x is not None] or [0]),
            "uas": statistics.median([x for x in (_per_call(r, "uas_cpu_ms") for r in rs) if x is not None] or [0]),
            "prog": statistics.median([x for x in (_per_call(r, "uac_cpu_ms", "uas_cpu_ms") for r in rs) if x is not None] or [0]),
            "dmn": None, "total": None,
        }
        if c.startswith("sipsec"):
            d = [x for x in (_per_call(r, "d1_cpu_ms", "d2_cpu_ms") for r in rs) if x is not None]
            m["dsys"] = statistics.median([x for x in (_per_call(r, "dsys_cpu_ms") for r in rs) if x is not None] or [0])
            t = [x for x in (_per_call(r, "uac_cpu_ms", "uas_cpu_ms", "d1_cpu_ms", "d2_cpu_ms") for r in rs) if x is not None]
            m["dmn"] = statistics.median(d) if d else None
            m["total"] = statistics.median(t) if t else None
        else:
            m["total"] = m["prog"]
        med[c] = m
        L.append(f"| {name} | {tot('attempted'):,} / {tot('completed'):,} / {tot('failed'):,} "
                 f"| {tot('retrans'):,} | {_f(m['cps'], 1)} | {_f(m['p50'], 0)} / {_f(m['p99'], 0)} "
                 f"| {_f(m['uac'], 3)} | {_f(m['uas'], 3)} | {_f(m['dmn'], 3)} | {_f(m['total'], 3)} |")
    L.append("")
    for tp in ("tcp", "udp"):
        p, s = med.get(f"plain-{tp}"), med.get(f"sipsec-{tp}")
        if not p or not s:
            continue
        L.append(f"- {tp.upper()}, sipsec / plaintext: calls/s {_ratio(s['cps'], p['cps'])}; "
                 f"CPU per call of the two SIPp processes {_ratio(s['prog'], p['prog'])} "
                 f"(the shim runs inside them); all CPU per call, daemons included, "
                 f"{_ratio(s['total'], p['total'])} ({_f(s['total'], 3)} against "
                 f"{_f(p['total'], 3)} ms); the daemons' CPU is "
                 f"{100 * s.get('dsys', 0) / s['dmn'] if s.get('dmn') else 0:.0f}% system time")
    srs = [r for c in ("sipsec-tcp", "sipsec-udp") for r in main.get(c, [])]
    allr = [r for rs in main.values() for r in rs]
    if srs:
        prot = sum(r.get("protected") == "1" for r in srs)
        warns = sum(int(r.get("warns", "0")) for r in srs if r.get("warns", "-") != "-")
        L.append(f"- Protection: {prot} of {len(srs)} sipsec runs showed the flow "
                 "(TLS, agreed, flow tcp or udp) on both daemons while SIPp ran; "
                 f"{warns} warnings in the daemons' logs during these runs.")
    wire = [(c, perf[("sippwire", c)]) for c in ("sipsec-tcp", "sipsec-udp")
            if ("sippwire", c) in perf]
    if wire:
        L.append("- On the wire, in one extra short run per sipsec contender with "
                 "a capture on the link (`scripts/capcount.py`): " + "; ".join(
                     f"{NAME[c]} cleartext SIP bytes {int(w['sip_bytes']):,}, "
                     f"TLS bytes {int(w['tls_bytes']):,}, other bytes "
                     f"{int(w.get('other_bytes', 0)):,}" for c, w in wire) + ".")
    drops = [(h, perf[("sippdrops", h)]["dropped"]) for h in ("h1", "h2")
             if ("sippdrops", h) in perf]
    if drops:
        L.append("- Packets the eBPF enforcement dropped on the sipsec hosts "
                 "over the whole SIPp benchmark: " + ", ".join(
                     f"{h} {d}" for h, d in drops) + ".")
    bad = [r for r in allr if int(r.get("failed", "0")) or r.get("rc") != "0"
           or r.get("completed") != r.get("calls")]
    if bad:
        L.append("- **Failed runs at the offered load:** " + "; ".join(
            f"{NAME.get(r['who'], r['who'])}: {r['completed']}/{r['calls']} completed, "
            f"{r['failed']} failed"
            + (f" ({r['why'].replace(':', ' ').replace(',', ', ')})" if r.get("why", "-") != "-" else "")
            + f", SIPp exit {r['rc']}" for r in bad))
    elif allr:
        L.append("- Every call of every run completed; none failed.")
    L.append("- CPU per call falls as the rate rises (see the ramp): part of "
             "each process's CPU goes by the second, not by the call (SIPp's "
             "timer loop, one wake-up per message at low rates), so compare "
             "contenders at the same rate, as here.")
    L.append("- SIPp's response time is INVITE to 200 OK on its own clock, "
             "which counts whole milliseconds and on this machine advances in "
             "steps of a few: below a few ms the figures tell little.")

    if ramp:
        steps = sorted(ramp)
        L.append("\n### Ramp: the highest rate each contender sustains\n")
        first = next(iter(ramp[steps[0]].values()))[0]
        secs = int(first["calls"]) // int(first["rate"])
        passes = max(int(r.get("pass", "1")) for rs in ramp.values()
                     for x in rs.values() for r in x)
        L.append(f"Fixed steps of {secs} s each (`-r` step, `-m` step x {secs}, "
                 "`-recv_timeout 5000`: a call that waits more than 5 s for a "
                 "message fails, as one whose INVITE or response UDP loses three "
                 f"times does), {passes} pass{'es' if passes > 1 else ''} up the "
                 "steps; in each pass a contender leaves after the first step it "
                 "does not sustain (a failed call, a call not completed, or under "
                 "90% of the rate). Cells: how many passes sustained the step, "
                 "the median calls/s achieved and CPU ms per call (all "
                 "processes), SIPp's response p99 where it reaches 20 ms (the "
                 "queues are filling), then what went wrong in the others: failed calls "
                 "and SIPp's reason, retransmissions, UDP datagrams the hosts' "
                 "kernels dropped on full buffers.\n")
        L.append("| calls/s offered | " + " | ".join(n for _, n in CONTENDERS) + " |")
        L.append("|---|" + "---|" * len(CONTENDERS))
        best_all, best_any = {}, {}
        for rate in steps:
            cells = []
            for c, _ in CONTENDERS:
                rs = ramp[rate].get(c, [])
                if not rs:
                    cells.append("")
                    continue
                keys = ["uac_cpu_ms", "uas_cpu_ms"] + (
                    ["d1_cpu_ms", "d2_cpu_ms"] if c.startswith("sipsec") else [])
                good = [r for r in rs if int(r["failed"]) == 0
                        and r["completed"] == r["calls"]
                        and float(r["cps"]) >= 0.9 * rate]
                if good:
                    best_any[c] = rate
                if len(good) == passes:
                    best_all[c] = rate
                cell = f"{len(good)} of {len(rs)}"
                if good:
                    p99 = statistics.median(_num(r, "rtt_p99_ms") or 0 for r in good)
                    cell += (f": {_f(statistics.median(float(r['cps']) for r in good), 0)}/s, "
                             f"{_f(statistics.median(_per_call(r, *keys) for r in good), 3)} ms"
                             + (f", response p99 {p99:.0f} ms" if p99 >= 20 else ""))
                for r in rs:
                    if r in good:
                        continue
                    what = [f"{_f(_num(r, 'cps'), 0)}/s"]
                    if int(r["failed"]):
                        why = r.get("why", "-")
                        what.append(f"**{r['failed']} failed**" + (
                            f" ({why.replace(':', ' ').replace(',', ', ')})" if why != "-" else ""))
                    elif r["completed"] != r["calls"]:
                        what.append(f"**{r['completed']}/{r['calls']} completed**")
                    if int(r["retrans"]):
                        what.append(f"{r['retrans']} retrans")
                    if r.get("udp_drops", "-") not in ("-", "0"):
                        where = ""
                        if r.get("drops_daemon", "-") != "-":
                            where = (f" ({r['drops_prog']} on SIPp's sockets, "
                                     f"{r['drops_daemon']} on sipsecd's)")
                        what.append(f"{r['udp_drops']} UDP drops{where}")
                    if len(what) == 1:
                        what.append("under 90% of the rate")
                    cell += "; not sustained: " + ", ".join(what)
                cells.append(cell)
            L.append(f"| {rate:,} | " + " | ".join(cells) + " |")

        def top(best, c):
            if c not in best:
                return "below the first step"
            if best[c] == steps[-1]:
                return f"**{best[c]:,}** or more (the last step)"
            return f"**{best[c]:,}**"
        L.append("| **highest sustained in every pass** | " + " | ".join(
            top(best_all, c) for c, _ in CONTENDERS) + " |")
        if passes > 1:
            L.append("| highest sustained in some pass | " + " | ".join(
                top(best_any, c) for c, _ in CONTENDERS) + " |")
        L.append("\nOn 2 cores the UAC, the UAS and (for sipsec) two daemons "
                 "share the CPUs, and other work on the machine competes too.")
        lost = [r for x in ramp.values() for rs in x.values() for r in rs
                if r["who"].endswith("udp") and int(r["failed"])
                and r.get("udp_drops", "-") not in ("-", "0")]
        if lost:
            L.append("UDP steps failed on datagrams the hosts' kernels dropped "
                     "on full socket buffers (each one a retransmission 500 ms "
                     "later; a message lost three times fails its call); TCP "
                     "contenders slow down instead (calls/s under the rate, "
                     "response times up).")

    if any(k[1] == "dso" for k in perf):
        L.append("\n### Where the daemons' CPU goes\n")
        L.append("`perf record -g -e cpu-clock` and `perf stat` on both sipsecd "
                 "during one extra run per sipsec contender at the offered load "
                 "(not counted above: sampling doubles the daemons' CPU). Kernel "
                 "entries are inclusive shares of the samples and overlap: a send "
                 "on a veth delivers the packet to the peer's stack in the "
                 "sender's context (`net_rx_action` under `write`).\n")
        label = {"__do_sys_io_uring_enter": "io_uring_enter (event loop, waits)",
                 "ksys_write": "write (TLS records to the peer)",
                 "ksys_read": "read", "__sys_sendmsg": "sendmsg",
                 "__sys_recvmsg": "recvmsg", "__sys_sendto": "sendto",
                 "__sys_recvfrom": "recvfrom",
                 "schedule": "schedule (context switches; samples due while "
                             "interrupts were off land there too)",
                 "net_rx_action": "net_rx_action (packet receive)"}
        for c in ("sipsec-udp", "sipsec-tcp"):
            dso = sorted(perf.get((c, "dso"), []), reverse=True)
            kern = sorted(perf.get((c, "kernel"), []), reverse=True)
            st = {n: v for v, n in perf.get((c, "stat"), [])}
            pr = [r for r in runs if r["who"] == c and r["phase"] == "perf"]
            if not dso:
                continue
            L.append(f"- {NAME[c]}, by object: " + ", ".join(
                f"{n} {p:.0f}%" for p, n in dso) + ".")
            if kern:
                L.append("  In the kernel: " + ", ".join(
                    f"{label.get(n, n)} {p:.0f}%" for p, n in kern) + ".")
            ok = _num(pr[0], "completed") if pr else None
            if ok and st:
                sc = st.get('raw_syscalls:sys_enter', 0) / ok
                L.append(f"  Per call, both daemons: {sc:.1f} system calls "
                         f"({sc / MSGS:.1f} per SIP message), "
                         f"{st.get('context-switches', 0) / ok:.1f} context switches.")
            crypto = sum(p for p, n in dso if n.startswith(("libcrypto", "libssl")))
            kernel = sum(p for p, n in dso if n.startswith("[kernel"))
            L.append(f"  TLS (libssl and libcrypto) takes {crypto:.0f}% of the "
                     f"daemons' samples, the kernel {kernel:.0f}%" + (
                         ": the daemons' cost is mostly carrying each message "
                         "through sockets (the program's relay socket, the TLS "
                         "connection) and waking up for it, not encrypting it."
                         if kernel > 2 * crypto else "."))
    return "\n".join(L) + "\n"
