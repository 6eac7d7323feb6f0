/* Test helper: a base for a range of loopback UDP ports, for the relay tests' port pools. */
#ifndef GORGEE_TESTS_TESTNET_H
#define GORGEE_TESTS_TESTNET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* An even port the kernel just handed out (so its neighbours are likely free), in
 * 20000..65000. Racy only against other processes taking the same ports at once; the
 * allocator skips busy ports anyway. */
static inline uint16_t test_port_range_base(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (s >= 0) {
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(s, (struct sockaddr *)&a, &l) != 0)
			a.sin_port = 0;
		close(s);
	}
	uint16_t p = ntohs(a.sin_port);
	if (p > 65000 || p < 20000)
		p = 40000;
	return (uint16_t)(p & ~1u);
}

#endif
