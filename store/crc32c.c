/*
 * st_crc32c.c - CRC32C (Castagnoli), the checksum of every record.
 *
 * The SSE4.2 crc32 instruction when the CPU has it, chosen once at first
 * use; a slicing-by-8 table otherwise. Both give the same values: the
 * tests compare them.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t st_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&table_once, table_init);
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][p[4]] ^
		      table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf,
							    size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

/* Four independent crcs of equally long buffers, interleaved so the crc
 * instruction's latency is hidden: one chain stalls, four keep it busy. */
__attribute__((target("sse4.2"))) static void crc32c_x4_hw(const uint8_t *const p[4], size_t len,
							   uint32_t out[4])
{
	uint64_t c0 = 0xffffffffu, c1 = c0, c2 = c0, c3 = c0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t v0, v1, v2, v3;
		memcpy(&v0, p[0] + i, 8);
		memcpy(&v1, p[1] + i, 8);
		memcpy(&v2, p[2] + i, 8);
		memcpy(&v3, p[3] + i, 8);
		c0 = __builtin_ia32_crc32di(c0, v0);
		c1 = __builtin_ia32_crc32di(c1, v1);
		c2 = __builtin_ia32_crc32di(c2, v2);
		c3 = __builtin_ia32_crc32di(c3, v3);
	}
	for (; i < len; i++) {
		c0 = __builtin_ia32_crc32qi((uint32_t)c0, p[0][i]);
		c1 = __builtin_ia32_crc32qi((uint32_t)c1, p[1][i]);
		c2 = __builtin_ia32_crc32qi((uint32_t)c2, p[2][i]);
		c3 = __builtin_ia32_crc32qi((uint32_t)c3, p[3][i]);
	}
	out[0] = ~(uint32_t)c0;
	out[1] = ~(uint32_t)c1;
	out[2] = ~(uint32_t)c2;
	out[3] = ~(uint32_t)c3;
}

static uint32_t (*crc_impl)(uint32_t, const void *, size_t);
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

static void impl_init(void)
{
	__builtin_cpu_init();
	crc_impl = __builtin_cpu_supports("sse4.2") ? crc32c_hw : st_crc32c_sw;
}

uint32_t st_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&impl_once, impl_init);
	return crc_impl(crc, buf, len);
}

void st_crc32c_x4(const uint8_t *const p[4], size_t len, uint32_t out[4])
{
	pthread_once(&impl_once, impl_init);
	if (crc_impl == crc32c_hw) {
		crc32c_x4_hw(p, len, out);
		return;
	}
	for (int i = 0; i < 4; i++)
		out[i] = st_crc32c_sw(0, p[i], len);
}
#else
uint32_t st_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return st_crc32c_sw(crc, buf, len);
}

void st_crc32c_x4(const uint8_t *const p[4], size_t len, uint32_t out[4])
{
	for (int i = 0; i < 4; i++)
		out[i] = st_crc32c_sw(0, p[i], len);
}
#endif
