/* Test helper: a base for a range of loopback UDP ports, for the relay tests' port pools. */
#ifndef GORGEE_TESTS_TESTNET_H
#define GORGEE_TESTS_TESTNET_H

#include <stdint.h>
#include <unistd.h>

/*
 * An even base for a block of 256 ports in 20000..32767: below the kernel's ephemeral range
 * (32768..60999), where every test that binds port 0 gets its ports, so those cannot collide
 * with the block. The block depends on the pid, so relay tests running side by side differ.
 */
static inline uint16_t test_port_range_base(void)
{
	return (uint16_t)(20000 + ((unsigned)getpid() % 49) * 256);
}

#endif
