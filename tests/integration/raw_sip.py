#!/usr/bin/env python3
"""Send cleartext SIP INVITEs the way a program that bypasses the socket
layer would, for the enforcement lab test (enforce.sh).

usage: raw_sip.py MODE DST PORT [--iface IF --dst-mac MAC] [--count N]

MODE
  ipv4-hdrincl   AF_INET SOCK_RAW/IPPROTO_RAW: this script writes the IPv4
                 and UDP headers itself (IP_HDRINCL)
  ipv6-raw       AF_INET6 SOCK_RAW/IPPROTO_UDP: this script writes the UDP
                 header and its checksum; the kernel adds the IPv6 header
  packet         AF_PACKET SOCK_RAW on IF: the whole Ethernet frame
  packet-bypass  the same with PACKET_QDISC_BYPASS, which skips the qdisc
                 layer and with it TC: the known bypass docs/enforcement.md
                 names (the test shows it, it does not pass it off)

A send refused with ENOBUFS is reported and the next one tried: that is
how a raw or packet socket learns that TC dropped its frame.

Exit 0 when every frame was handed to the kernel (refused or not), 1 on
any other error, 2 on bad usage.
"""

import argparse
import errno
import fcntl
import os
import socket
import struct
import sys

SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
SIOCGIFHWADDR = 0x8927
ETH_P_IP = 0x0800


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def invite(dst, port, n):
    host = "[%s]" % dst if ":" in dst else dst
    return ("INVITE sip:bob@%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP raw;branch=z9hG4bK-raw-%d-%d\r\n"
            "From: <sip:alice@raw>;tag=%d\r\nTo: <sip:bob@%s>\r\n"
            "Call-ID: raw-%d-%d\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
            % (host, port, os.getpid(), n, n, host, os.getpid(), n)).encode()


def sendto(s, what, *args):
    """s.sendto/s.send; ENOBUFS (TC_ACT_SHOT on the way out) reported."""
    try:
        (s.sendto if len(args) > 1 else s.send)(*args)
        print("sent %s" % what)
    except OSError as e:
        if e.errno != errno.ENOBUFS:
            raise
        print("refused (ENOBUFS: dropped on the way out): %s" % what)


def source_for(dst, family):
    """The address the kernel would use toward dst."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((dst, 9))
    src = s.getsockname()[0]
    s.close()
    return src


def udp(src_port, dst_port, payload, csum=0):
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(payload),
                       csum) + payload


def ipv4_packet(src, dst, port, payload, ident):
    u = udp(40000 + ident % 1000, port, payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(u), ident, 0, 64,
                      socket.IPPROTO_UDP, 0, socket.inet_aton(src),
                      socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + u


def send_hdrincl(dst, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    src = source_for(dst, socket.AF_INET)
    for n in range(count):
        sendto(s, "INVITE %d via IP_HDRINCL" % n,
               ipv4_packet(src, dst, port, invite(dst, port, n), n + 1),
               (dst, 0))


def send_ipv6_raw(dst, port, count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_UDP)
    src = source_for(dst, socket.AF_INET6)
    for n in range(count):
        payload = invite(dst, port, n)
        sport = 40000 + n
        u = udp(sport, port, payload)
        pseudo = (socket.inet_pton(socket.AF_INET6, src) +
                  socket.inet_pton(socket.AF_INET6, dst) +
                  struct.pack("!IxxxB", len(u), socket.IPPROTO_UDP))
        u = udp(sport, port, payload, checksum(pseudo + u) or 0xFFFF)
        sendto(s, "INVITE %d via an IPv6 raw socket" % n, u, (dst, 0))


def send_packet(dst, port, count, iface, dst_mac, bypass):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    if bypass:
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    s.bind((iface, 0))
    info = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR,
                       struct.pack("256s", iface.encode()[:15]))
    src_mac = info[18:24]
    dmac = bytes(int(x, 16) for x in dst_mac.split(":"))
    src = source_for(dst, socket.AF_INET)
    for n in range(count):
        frame = (dmac + src_mac + struct.pack("!H", ETH_P_IP) +
                 ipv4_packet(src, dst, port, invite(dst, port, n), 100 + n))
        sendto(s, "INVITE %d as a whole frame on %s%s"
               % (n, iface, " (PACKET_QDISC_BYPASS)" if bypass else ""),
               frame)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("ipv4-hdrincl", "ipv6-raw", "packet",
                                     "packet-bypass"))
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--dst-mac")
    ap.add_argument("--count", type=int, default=3)
    a = ap.parse_args()
    try:
        if a.mode == "ipv4-hdrincl":
            send_hdrincl(a.dst, a.port, a.count)
        elif a.mode == "ipv6-raw":
            send_ipv6_raw(a.dst, a.port, a.count)
        else:
            if not a.dst_mac:
                ap.error("%s needs --dst-mac" % a.mode)
            send_packet(a.dst, a.port, a.count, a.iface, a.dst_mac,
                        a.mode == "packet-bypass")
    except OSError as e:
        print("raw_sip.py: %s: %s" % (a.mode, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
