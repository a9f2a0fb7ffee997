/*
 * revfs-compact.c - revfs-compact: compacts stores now, inside a mount
 * (through the daemon's control ioctls) or in an unmounted backing
 * directory (through the store library). Work in progress.
 */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "revfs-compact: not written yet\n");
	return 1;
}
