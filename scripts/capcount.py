#!/usr/bin/env python3
"""Count what a lab capture carried: cleartext SIP, TLS records, ESP, other.

usage: capcount.py FILE [--json] [--sip-ports 5060,...]

tshark decodes the frames (addresses, ports, TCP stream and sequence,
transport payload); the classification below is this script's own and
shares nothing with the BPF classifier, so that each can check the other.

  SIP    a UDP datagram, or a TCP segment, whose payload starts (after any
         CRLF keep-alives) with a SIP request line "METHOD sip:|sips:|tel:
         ... SIP/2.0" or a status line "SIP/2.0 NNN ...", on any port.  A
         TCP direction whose first payload is SIP is cleartext SIP in every
         later segment (bodies, split messages).  A segment that starts a
         SIP message in a TCP direction classified otherwise is SIP too,
         and turns that direction to SIP.
  TLS    the payload of a TCP direction whose first payload is a TLS
         handshake record (16 03 0x).  Record framing is followed across
         segments; where it breaks (a header that is not a TLS record), the
         rest is "other" until a segment starts with a record again.
  ESP    the IP payload of IP protocol 50, and UDP port 4500 datagrams
         whose first four bytes are not zero (RFC 3948 NAT traversal).
  other  TCP/UDP payload of none of the above, the IP payload of other IP
         protocols (ICMP, ...), whole frames that are not IP (ARP).

Byte counts are payload bytes (TCP/UDP payload, IP payload for ESP), as
seen on the wire: TCP retransmissions count again (and are reported), IP
fragments count once, on the frame that completes the datagram.

Cross-check: the frames that tshark's own dissectors call "sip" and "tls"
(with the SIP ports decoded as SIP), and the SIP requests and responses
they found; ICMP errors that quote a SIP datagram are counted apart.

Exit status: 0, or 1 if the file cannot be read or tshark fails, 2 on a
usage error.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FIELDS = [
    "frame.number", "frame.len", "frame.protocols",
    "ip.proto", "ip.len", "ip.hdr_len", "ipv6.nxt", "ipv6.plen",
    "ip.src", "ipv6.src",
    "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.seq", "tcp.len",
    "tcp.payload",
    "udp.srcport", "udp.dstport", "udp.payload",
    "sip.Method", "sip.Status-Code",
]
F = {name: i for i, name in enumerate(FIELDS)}

IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ESP = 6, 17, 50
NATT_PORT = 4500

# RFC 3261 25.1: Method is a token (case-sensitive); the URI scheme and
# the SIP-Version are case-insensitive.
_TOKEN = rb"[A-Za-z0-9.!%*_+`'~-]+"
REQUEST_LINE = re.compile(
    rb"^" + _TOKEN + rb" (?i:sips?|tel):[^ \r\n]* (?i:SIP/2\.0)\r?$")
STATUS_LINE = re.compile(rb"^(?i:SIP/2\.0) [1-6][0-9][0-9]( [^\r\n]*)?\r?$")
# A start line cut by the end of a segment: enough of it to be sure.
REQUEST_PREFIX = re.compile(rb"^" + _TOKEN + rb" (?i:sips?|tel):[^ \r\n]*$")
STATUS_PREFIX = re.compile(rb"^(?i:SIP/2\.0) [1-6][0-9][0-9]")

TLS_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake",
             23: "application_data", 24: "heartbeat"}
TLS_MAX_RECORD = 16384 + 2048  # RFC 5246 6.2.3: TLSCiphertext.length
CARRY_MAX = 8192


def sip_start(data):
    """'request', 'response' or None for the start of a payload."""
    data = data.lstrip(b"\r\n")
    if not data:
        return None
    nl = data.find(b"\n")
    if nl >= 0:
        line = data[:nl]
        if REQUEST_LINE.match(line):
            return "request"
        if STATUS_LINE.match(line):
            return "response"
        return None
    if REQUEST_PREFIX.match(data):
        return "request"
    if STATUS_PREFIX.match(data):
        return "response"
    return None


def tls_header_ok(h):
    return (h[0] in TLS_TYPES and h[1] == 3 and h[2] <= 4
            and (h[3] << 8 | h[4]) <= TLS_MAX_RECORD)


class Direction:
    """One direction of one TCP stream."""

    def __init__(self):
        self.kind = None          # 'sip', 'tls' or 'other'
        self.next_seq = None
        self.rec_left = 0         # TLS: bytes left in the current record
        self.rec_hdr = b""        # TLS: a header split across segments
        self.tls_synced = True
        self.carry = b""          # SIP: an unfinished line
        self.carry_dropped = False


class Counter:
    def __init__(self, sip_ports):
        self.sip_ports = sip_ports
        self.frames = 0
        self.wire_bytes = 0
        self.c = {k: {"frames": 0, "bytes": 0}
                  for k in ("sip", "tls", "esp", "other")}
        self.sip = {"tcp_bytes": 0, "udp_bytes": 0, "ipv4_bytes": 0,
                    "ipv6_bytes": 0, "off_sip_ports_bytes": 0,
                    "requests": 0, "responses": 0, "tcp_streams": set(),
                    "in_tls_streams": 0}
        self.tls = {"records": {v: 0 for v in TLS_TYPES.values()},
                    "tcp_streams": set(), "framing_errors": 0,
                    "ipv4_bytes": 0, "ipv6_bytes": 0}
        self.esp = {"natt_frames": 0, "ipv4_bytes": 0, "ipv6_bytes": 0}
        self.tcp = {"streams": set(), "retransmitted_bytes": 0,
                    "gaps": 0}
        self.dirs = {}
        self.tshark = {"sip_frames": 0, "tls_frames": 0,
                       "sip_requests": 0, "sip_responses": 0,
                       "sip_in_icmp_frames": 0}

    # -- per frame ---------------------------------------------------------

    def frame(self, f):
        self.frames += 1
        flen = int(f[F["frame.len"]] or 0)
        self.wire_bytes += flen
        layers = f[F["frame.protocols"]].split(":")
        if "icmp" in layers or "icmpv6" in layers:
            # An ICMP error quoting a datagram: tshark dissects the quote,
            # but the datagram itself was counted when it went by.
            if "sip" in layers:
                self.tshark["sip_in_icmp_frames"] += 1
        else:
            if "sip" in layers:
                self.tshark["sip_frames"] += 1
            if "tls" in layers:
                self.tshark["tls_frames"] += 1
            self.tshark["sip_requests"] += count_items(f[F["sip.Method"]])
            self.tshark["sip_responses"] += count_items(
                f[F["sip.Status-Code"]])

        got = {}  # class -> bytes in this frame
        ipv = 4 if first(f[F["ip.proto"]]) else 6 if first(f[F["ipv6.nxt"]]) else 0
        proto = int(first(f[F["ip.proto"]]) or first(f[F["ipv6.nxt"]]) or -1)
        if ipv == 0:
            add(got, "other", flen)
        elif proto == IPPROTO_ESP:
            if ipv == 4:
                n = int(first(f[F["ip.len"]])) - int(first(f[F["ip.hdr_len"]]))
            else:
                n = int(first(f[F["ipv6.plen"]]))
            add(got, "esp", n)
            self.esp["ipv%d_bytes" % ipv] += n
        elif proto == IPPROTO_TCP and first(f[F["tcp.stream"]]):
            self.tcp_segment(f, ipv, got)
        elif proto == IPPROTO_UDP and first(f[F["udp.srcport"]]):
            self.udp_datagram(f, ipv, got)
        elif ipv == 4:
            add(got, "other", int(first(f[F["ip.len"]]) or 0)
                - int(first(f[F["ip.hdr_len"]]) or 0))
        else:
            add(got, "other", int(first(f[F["ipv6.plen"]]) or 0))

        if not got:
            got["other"] = 0   # pure ACKs and the like: an "other" frame
        for k, n in got.items():
            self.c[k]["bytes"] += n
        for k in ("sip", "tls", "esp"):
            if got.get(k):
                self.c[k]["frames"] += 1
                break
        else:
            self.c["other"]["frames"] += 1

    def udp_datagram(self, f, ipv, got):
        data = unhex(first(f[F["udp.payload"]]))
        if not data:
            return
        sport = int(first(f[F["udp.srcport"]]))
        dport = int(first(f[F["udp.dstport"]]))
        if NATT_PORT in (sport, dport) and len(data) > 4 \
                and data[:4] != b"\0\0\0\0":
            add(got, "esp", len(data))
            self.esp["natt_frames"] += 1
            self.esp["ipv%d_bytes" % ipv] += len(data)
            return
        kind = sip_start(data)
        if kind:
            self.sip[kind + "s"] += 1
            self.count_sip(got, len(data), "udp", ipv, sport, dport)
        else:
            add(got, "other", len(data))

    def tcp_segment(self, f, ipv, got):
        data = unhex(first(f[F["tcp.payload"]]))
        if not data:
            return
        stream = first(f[F["tcp.stream"]])
        sport = int(first(f[F["tcp.srcport"]]))
        dport = int(first(f[F["tcp.dstport"]]))
        src = first(f[F["ip.src"]]) or first(f[F["ipv6.src"]])
        self.tcp["streams"].add(stream)
        d = self.dirs.setdefault((stream, src, sport), Direction())
        seq = int(first(f[F["tcp.seq"]]) or 0)

        if d.next_seq is not None and seq + len(data) <= d.next_seq:
            # A retransmission: same class as the direction, not re-parsed.
            self.tcp["retransmitted_bytes"] += len(data)
            kind = d.kind or "other"
            if kind == "sip":
                self.count_sip(got, len(data), "tcp", ipv, sport, dport,
                               stream)
            else:
                self.count_tls(got, len(data), ipv, stream, kind)
            return
        fresh = data
        if d.next_seq is not None:
            if seq < d.next_seq:          # partly retransmitted
                self.tcp["retransmitted_bytes"] += d.next_seq - seq
                fresh = data[d.next_seq - seq:]
            elif seq > d.next_seq:        # bytes missing from the capture
                self.tcp["gaps"] += 1
                d.rec_left, d.rec_hdr, d.tls_synced = 0, b"", False
                d.carry, d.carry_dropped = b"", True
        d.next_seq = max(d.next_seq or 0, seq + len(data))

        start = sip_start(data)
        if d.kind is None:
            if start:
                d.kind = "sip"
            elif len(data) >= 3 and data[0] == 0x16 and data[1] == 3 \
                    and data[2] <= 4:
                d.kind = "tls"
            else:
                d.kind = "other"
        elif start and d.kind != "sip":
            if d.kind == "tls":
                self.sip["in_tls_streams"] += 1
            d.kind = "sip"
            d.carry, d.carry_dropped = b"", False

        if d.kind == "sip":
            self.sip_lines(d, fresh)
            self.count_sip(got, len(data), "tcp", ipv, sport, dport, stream)
        elif d.kind == "tls":
            ok = self.tls_walk(d, fresh)
            self.count_tls(got, len(data), ipv, stream,
                           "tls" if ok else "other")
        else:
            add(got, "other", len(data))

    # -- helpers -----------------------------------------------------------

    def count_sip(self, got, n, transport, ipv, sport, dport, stream=None):
        add(got, "sip", n)
        self.sip[transport + "_bytes"] += n
        self.sip["ipv%d_bytes" % ipv] += n
        if sport not in self.sip_ports and dport not in self.sip_ports:
            self.sip["off_sip_ports_bytes"] += n
        if stream is not None:
            self.sip["tcp_streams"].add(stream)

    def count_tls(self, got, n, ipv, stream, kind):
        add(got, kind, n)
        if kind == "tls":
            self.tls["ipv%d_bytes" % ipv] += n
            self.tls["tcp_streams"].add(stream)

    def sip_lines(self, d, data):
        """Counts SIP start lines in the in-order bytes of a SIP direction."""
        buf = d.carry + data
        lines = buf.split(b"\n")
        tail = lines.pop()
        for i, line in enumerate(lines):
            if i == 0 and d.carry_dropped:
                d.carry_dropped = False
                continue
            if REQUEST_LINE.match(line):
                self.sip["requests"] += 1
            elif STATUS_LINE.match(line):
                self.sip["responses"] += 1
        if lines:
            d.carry_dropped = False
        if len(tail) > CARRY_MAX:
            d.carry, d.carry_dropped = b"", True
        else:
            d.carry = tail

    def tls_walk(self, d, data):
        """Follows record framing; False if these bytes are not TLS."""
        i, n = 0, len(data)
        if not d.tls_synced:
            if n >= 5 and tls_header_ok(data[:5]):
                d.tls_synced = True
            else:
                return False
        while i < n:
            if d.rec_left:
                take = min(d.rec_left, n - i)
                d.rec_left -= take
                i += take
                continue
            need = 5 - len(d.rec_hdr)
            d.rec_hdr += data[i:i + need]
            i += need
            if len(d.rec_hdr) < 5:
                break
            h, d.rec_hdr = d.rec_hdr, b""
            if not tls_header_ok(h):
                self.tls["framing_errors"] += 1
                d.tls_synced = False
                return False
            self.tls["records"][TLS_TYPES[h[0]]] += 1
            d.rec_left = h[3] << 8 | h[4]
        return True

    def report(self, path):
        s = dict(self.sip)
        s["tcp_streams"] = len(s["tcp_streams"])
        t = dict(self.tls)
        t["tcp_streams"] = len(t["tcp_streams"])
        return {
            "file": path,
            "sip_ports": sorted(self.sip_ports),
            "frames": self.frames,
            "wire_bytes": self.wire_bytes,
            "sip": {**self.c["sip"], **s},
            "tls": {**self.c["tls"], **t},
            "esp": {**self.c["esp"], **self.esp},
            "other": dict(self.c["other"]),
            "tcp": {"streams": len(self.tcp["streams"]),
                    "retransmitted_bytes": self.tcp["retransmitted_bytes"],
                    "gaps": self.tcp["gaps"]},
            "tshark": dict(self.tshark),
        }


def first(v):
    """First occurrence of a field (ICMP errors quote inner headers)."""
    return v.split(",", 1)[0] if v else ""


def count_items(v):
    return len(v.split(",")) if v else 0


def unhex(v):
    return bytes.fromhex(v.replace(":", "")) if v else b""


def add(got, kind, n):
    got[kind] = got.get(kind, 0) + n


def parse_ports(text):
    ports = set()
    for p in text.split(","):
        p = p.strip()
        if not p.isdigit() or not 0 < int(p) < 65536:
            raise argparse.ArgumentTypeError("bad port '%s'" % p)
        ports.add(int(p))
    if not ports:
        raise argparse.ArgumentTypeError("no port")
    return ports


def run_tshark(path, sip_ports, counter):
    cmd = ["tshark", "-r", path, "-n", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=,", "-E", "quote=n", "-E", "header=n"]
    for p in sorted(sip_ports):
        cmd += ["-d", "tcp.port==%d,sip" % p, "-d", "udp.port==%d,sip" % p]
    for name in FIELDS:
        cmd += ["-e", name]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL)
        for raw in proc.stdout:
            f = raw.decode("utf-8", "replace").rstrip("\n").split("\t")
            if len(f) < len(FIELDS):
                f += [""] * (len(FIELDS) - len(f))
            counter.frame(f)
        rc = proc.wait()
        err.seek(0)
        msg = [ln for ln in err.read().decode("utf-8", "replace").splitlines()
               if ln and not ln.startswith("Running as user")]
    return rc, msg


def print_table(r):
    s, t, e, o, ts = r["sip"], r["tls"], r["esp"], r["other"], r["tshark"]
    print("capture %s: %d frames, %d bytes on the wire (SIP ports %s)"
          % (r["file"], r["frames"], r["wire_bytes"],
             ",".join(map(str, r["sip_ports"]))))
    print("%-6s %8s %12s  %s" % ("class", "frames", "bytes", "detail"))
    print("%-6s %8d %12d  tcp %d udp %d, ipv4 %d ipv6 %d, off SIP ports %d;"
          " %d requests, %d responses; %d TCP stream(s)"
          % ("sip", s["frames"], s["bytes"], s["tcp_bytes"], s["udp_bytes"],
             s["ipv4_bytes"], s["ipv6_bytes"], s["off_sip_ports_bytes"],
             s["requests"], s["responses"], s["tcp_streams"]))
    recs = ", ".join("%s %d" % (k, v) for k, v in t["records"].items() if v)
    print("%-6s %8d %12d  ipv4 %d ipv6 %d; records: %s; %d TCP stream(s),"
          " %d framing error(s)"
          % ("tls", t["frames"], t["bytes"], t["ipv4_bytes"], t["ipv6_bytes"],
             recs or "none", t["tcp_streams"], t["framing_errors"]))
    print("%-6s %8d %12d  ipv4 %d ipv6 %d; UDP-encapsulated frames %d"
          % ("esp", e["frames"], e["bytes"], e["ipv4_bytes"], e["ipv6_bytes"],
             e["natt_frames"]))
    print("%-6s %8d %12d" % ("other", o["frames"], o["bytes"]))
    tcp = r["tcp"]
    print("tcp: %d stream(s), %d retransmitted payload bytes, %d gap(s)"
          % (tcp["streams"], tcp["retransmitted_bytes"], tcp["gaps"]))
    print("tshark cross-check: %d frame(s) dissected as sip, %d as tls;"
          " %d SIP request(s), %d response(s); %d ICMP error(s) quoting SIP"
          % (ts["sip_frames"], ts["tls_frames"], ts["sip_requests"],
             ts["sip_responses"], ts["sip_in_icmp_frames"]))
    if s["in_tls_streams"]:
        print("warning: %d SIP message start(s) inside TCP streams that"
              " began as TLS" % s["in_tls_streams"])


def main():
    ap = argparse.ArgumentParser(
        prog="capcount.py",
        description="Count cleartext SIP, TLS record, ESP and other bytes "
                    "in a capture (pcap or pcapng), using tshark to decode "
                    "and this script's own rules to classify.",
        epilog="Classification rules are in the script's header. Exit "
               "status: 0, 1 if the file is unreadable or tshark fails, "
               "2 on a usage error.")
    ap.add_argument("file", help="capture file")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON object instead of a table")
    ap.add_argument("--sip-ports", type=parse_ports, default={5060},
                    metavar="PORT[,PORT...]",
                    help="ports tshark decodes as SIP for the cross-check, "
                         "and against which 'off SIP ports' bytes are "
                         "counted (default 5060)")
    args = ap.parse_args()

    if not shutil.which("tshark"):
        print("capcount.py: tshark not found (scripts/deps.sh test)",
              file=sys.stderr)
        return 1
    if not os.access(args.file, os.R_OK) or not os.path.isfile(args.file):
        print("capcount.py: cannot read '%s'" % args.file, file=sys.stderr)
        return 1
    counter = Counter(args.sip_ports)
    rc, msg = run_tshark(args.file, args.sip_ports, counter)
    if rc != 0 and counter.frames == 0:
        print("capcount.py: tshark cannot read '%s' (status %d): %s"
              % (args.file, rc, " ".join(msg) or "no message"),
              file=sys.stderr)
        return 1
    report = counter.report(args.file)
    if args.json:
        json.dump(report, sys.stdout, indent=1, sort_keys=True)
        print()
    else:
        print_table(report)
    if rc != 0:
        print("capcount.py: warning: tshark stopped early (status %d): %s"
              % (rc, " ".join(msg)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
