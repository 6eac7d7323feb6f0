/* Test helper: a base for a range of loopback UDP ports, for the relay tests' port pools. */
#ifndef GORGEE_TESTS_TESTNET_H
#define GORGEE_TESTS_TESTNET_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

/*
 * An even base for a block of 256 ports in 20000..29983: below the kernel's ephemeral range
 * (32768..60999), where every test that binds port 0 gets its ports, so those cannot collide
 * with the block, and below the e2e tests' 30000..31999. Each of the 39 blocks has a lock
 * file in /tmp; a test process takes the first free one from a pid-dependent start and holds
 * it until it exits (the descriptor stays open), so relay tests running side by side — in
 * this build, another build or another checkout — never share a block. (By pid alone, two of them did now and then, and
 * one found its pool taken.) When all are taken it falls back to the pid's block.
 */
static inline uint16_t test_port_range_base(void)
{
	static uint16_t base;
	if (base)
		return base;
	unsigned start = (unsigned)getpid() % 39;
	for (unsigned k = 0; k < 39; k++) {
		unsigned b = (start + k) % 39;
		char path[64];
		snprintf(path, sizeof(path), "/tmp/gorgee-test-ports-%u.lock", b);
		int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0666);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return base = (uint16_t)(20000 + b * 256); /* fd kept: the lock lives on */
		close(fd);
	}
	return base = (uint16_t)(20000 + start * 256);
}

#endif
