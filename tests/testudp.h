/* Test helper: loopback UDP sockets and RTP packets for the relay tests that drive it from
 * outside (test_relay_ice.c, test_relay_dtls.c). */
#ifndef GORGEE_TESTS_TESTUDP_H
#define GORGEE_TESTS_TESTUDP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* A UDP socket on ip, any port. */
static inline int udp_on(const char *ip)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &a.sin_addr);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	return s;
}

static inline struct sockaddr_storage addr_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	getsockname(fd, (struct sockaddr *)&ss, &l);
	return ss;
}

/* One datagram to 127.0.0.1:port. */
static inline void send_to(int fd, uint16_t port, const void *p, size_t n)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	sendto(fd, p, n, 0, (struct sockaddr *)&a, sizeof(a));
}

/* One datagram within ms: its length, or -1. */
static inline ssize_t recv_in(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) <= 0)
		return -1;
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

/* An RTP packet (RFC 3550) of payload bytes that depend on seq; the timestamp advances
 * ts_step a packet. Returns its length. */
static inline size_t test_rtp(uint8_t *b, uint8_t pt, uint32_t ts_step, uint16_t seq,
			      uint32_t ssrc, size_t payload)
{
	b[0] = 0x80;
	b[1] = pt;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	uint32_t ts = seq * ts_step;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	for (size_t i = 0; i < payload; i++)
		b[12 + i] = (uint8_t)(seq * 7 + i);
	return 12 + payload;
}

#endif
