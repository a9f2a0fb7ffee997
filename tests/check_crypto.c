/*
 * check_crypto.c - store/crypto.c against published test vectors (NIST's
 * GCM test case 16, RFC 7914's scrypt and PBKDF2-HMAC-SHA256 vectors,
 * FIPS 180-2's SHA-256 of "abc") and against a vector of revfs's own
 * store-key derivation computed with the openssl command line (the
 * worked example of docs/FORMAT.md); then sealing round trips and every
 * way a sealed record can fail to open.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	ck_assert_uint_eq(strlen(hex), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void ck_hex(const uint8_t *got, const char *want, size_t n)
{
	uint8_t *w = malloc(n);

	ck_assert_ptr_nonnull(w);
	unhex(want, w, n);
	ck_assert_mem_eq(got, w, n);
	free(w);
}

START_TEST(gcm_test_vector)
{
	/* NIST GCM specification, test case 16: AES-256, 96-bit IV, AAD. */
	struct st_key k;
	uint8_t aad[20], sealed[12 + 60 + 16], out[60];

	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", k.k, 32);
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
	unhex("cafebabefacedbaddecaf888", sealed, 12);
	unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3d"
	      "a7b08b1056828838c5f61e6393ba7a0abcc9f662",
	      sealed + 12, 60);
	unhex("76fc6ece0f4e1768cddf8853bb2d551b", sealed + 72, 16);
	ck_assert_int_eq(st_unseal(&k, aad, sizeof(aad), sealed, sizeof(sealed), out), ST_OK);
	ck_hex(out,
	       "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fc"
	       "f0e2449a6b525b16aedf5aa0de657ba637b39",
	       sizeof(out));
}
END_TEST

START_TEST(kdf_test_vectors)
{
	uint8_t out[32], salt[16], id[ST_ID_SIZE], master[32];
	struct st_key k;

	/* RFC 7914, section 12 (the first 32 of its 64 bytes). */
	ck_assert_int_eq(st_kdf_scrypt("password", 8, (const uint8_t *)"NaCl", 4, 1024, 8, 16, out),
			 ST_OK);
	ck_hex(out, "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162", 32);
	/* RFC 7914, section 11. */
	ck_assert_int_eq(st_kdf_pbkdf2("passwd", 6, (const uint8_t *)"salt", 4, 1, out), ST_OK);
	ck_hex(out, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc", 32);
	/* FIPS 180-2, appendix B.1. */
	ck_assert_int_eq(st_sha256("abc", 3, out), ST_OK);
	ck_hex(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 32);
	/* A store key: master 00..1f, salt (the vault's uuid) 10..1f, store
	 * identity a0..af. The same as
	 *   openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:0001..1f
	 *     -kdfopt hexsalt:1011..1f -kdfopt hexinfo:<"revfs store key v1">a0..af HKDF */
	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++) {
		salt[i] = (uint8_t)(0x10 + i);
		id[i] = (uint8_t)(0xa0 + i);
	}
	ck_assert_int_eq(st_key_derive(master, salt, sizeof(salt), id, &k), ST_OK);
	ck_hex(k.k, "742bd50e05b661c362fad5ed99d049185da7ceaa3c64f3f1844c25225a4fbc2f", 32);
	/* Another store's key differs. */
	memcpy(out, k.k, 32);
	id[15] ^= 1;
	ck_assert_int_eq(st_key_derive(master, salt, sizeof(salt), id, &k), ST_OK);
	ck_assert(memcmp(k.k, out, 32) != 0);
	/* scrypt refuses an N that is not a power of two. */
	ck_assert_int_eq(st_kdf_scrypt("p", 1, salt, 16, 1000, 8, 1, out), ST_EIO);
}
END_TEST

START_TEST(seal_round_trip)
{
	struct st_key k, other;
	uint8_t in[5000], sealed[5000 + ST_SEAL_OVERHEAD], again[sizeof(sealed)], out[sizeof(in)];
	uint64_t seed = 7;
	const char aad[] = "store 1, leaf at 4097";

	tu_fill(&seed, k.k, sizeof(k.k));
	tu_fill(&seed, other.k, sizeof(other.k));
	tu_fill(&seed, in, sizeof(in));
	for (size_t len = 0; len <= sizeof(in); len += len < 40 ? 1 : 997) {
		ck_assert_int_eq(st_seal(&k, aad, sizeof(aad), in, len, sealed), ST_OK);
		ck_assert_int_eq(
		    st_unseal(&k, aad, sizeof(aad), sealed, len + ST_SEAL_OVERHEAD, out), ST_OK);
		ck_assert_mem_eq(out, in, len);
		if (len >= 16) /* the plaintext does not show */
			ck_assert(memmem(sealed, len + ST_SEAL_OVERHEAD, in, 16) == NULL);
	}
	/* A fresh nonce each time: the same bytes seal differently. */
	ck_assert_int_eq(st_seal(&k, aad, sizeof(aad), in, 100, sealed), ST_OK);
	ck_assert_int_eq(st_seal(&k, aad, sizeof(aad), in, 100, again), ST_OK);
	ck_assert(memcmp(sealed, again, ST_NONCE_SIZE) != 0);
	ck_assert(memcmp(sealed + ST_NONCE_SIZE, again + ST_NONCE_SIZE, 100) != 0);
}
END_TEST

START_TEST(unseal_refuses)
{
	struct st_key k, other;
	uint8_t in[300], sealed[300 + ST_SEAL_OVERHEAD], out[300];
	const size_t n = sizeof(sealed);
	uint64_t seed = 11;
	const char aad[] = "bound to this";

	tu_fill(&seed, k.k, sizeof(k.k));
	memcpy(other.k, k.k, sizeof(k.k));
	other.k[31] ^= 0x80;
	tu_fill(&seed, in, sizeof(in));
	ck_assert_int_eq(st_seal(&k, aad, sizeof(aad), in, sizeof(in), sealed), ST_OK);
	/* Every bit of nonce, ciphertext and tag is covered. */
	for (size_t bit = 0; bit < n * 8; bit += 13) {
		sealed[bit / 8] ^= (uint8_t)(1u << bit % 8);
		ck_assert_int_eq(st_unseal(&k, aad, sizeof(aad), sealed, n, out), ST_ECORRUPT);
		sealed[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	/* Another key, other associated data, a record cut short. */
	ck_assert_int_eq(st_unseal(&other, aad, sizeof(aad), sealed, n, out), ST_ECORRUPT);
	ck_assert_int_eq(st_unseal(&k, "bound to that", sizeof(aad), sealed, n, out), ST_ECORRUPT);
	ck_assert_int_eq(st_unseal(&k, aad, sizeof(aad) - 1, sealed, n, out), ST_ECORRUPT);
	ck_assert_int_eq(st_unseal(&k, aad, sizeof(aad), sealed, n - 1, out), ST_ECORRUPT);
	ck_assert_int_eq(st_unseal(&k, aad, sizeof(aad), sealed, ST_SEAL_OVERHEAD - 1, out),
			 ST_ECORRUPT);
	/* And still opens as it was. */
	ck_assert_int_eq(st_unseal(&k, aad, sizeof(aad), sealed, n, out), ST_OK);
	ck_assert_mem_eq(out, in, sizeof(in));
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, gcm_test_vector);
	tcase_add_test(tc, kdf_test_vectors);
	tcase_add_test(tc, seal_round_trip);
	tcase_add_test(tc, unseal_refuses);
}

int main(void)
{
	return tu_main("crypto", 60, add_tests, NULL);
}
