/* SPDX-License-Identifier: MIT */
/*
 * Payloads of the packets tests/test_bpf.c and bench/bpfcost.c send
 * through the enforcement program: the benchmark times the unit test's
 * packets.
 */
#ifndef SIPSEC_TESTS_BPF_PACKETS_H
#define SIPSEC_TESTS_BPF_PACKETS_H

static const char invite[] =
	"INVITE sip:bob@198.18.0.2:5060 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK-1\r\n"
	"From: <sip:alice@198.18.0.1>;tag=1\r\nTo: <sip:bob@198.18.0.2>\r\n"
	"Call-ID: 1@198.18.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
static const char middle[] = /* a later segment of the INVITE above */
	"Call-ID: 1@198.18.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
static const unsigned char client_hello[] = {
	0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
};

#endif
