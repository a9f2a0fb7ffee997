/*
 * crypto.c - the engine's cryptography, all of it through OpenSSL's EVP
 * interfaces: AES-256-GCM to seal records, HKDF-SHA256 to derive each
 * store's key from the master key, scrypt and PBKDF2-HMAC-SHA256 to
 * derive a key from a passphrase, SHA-256, and the random bytes of keys
 * and nonces. Nothing here is hand-written cryptography: each function
 * sets up one EVP call and checks what it returns.
 *
 * Each thread keeps one AES-256-GCM context, keyed for the last key it
 * used, and a buffer of random bytes for nonces: setting up a key and
 * drawing from the generator for every 4 KiB page cost a third of a
 * sequential write's speed. A context is never shared between threads.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The HKDF label of a store key; the store's identity follows it. */
static const char store_info[] = "revfs store key v1";

static int crypto_fail(const char *what)
{
	return st_fail(ST_EIO, 0, 0, "OpenSSL: %s failed", what);
}

/* A thread's cipher context and nonce bytes (pthread-specific: freed when
 * the thread ends, or at exit for the main thread). */
struct gcm_cache {
	EVP_CIPHER_CTX *ctx;
	bool keyed; /* ctx holds key's schedule */
	uint8_t key[ST_KEY_SIZE];
	uint8_t rnd[768]; /* random bytes not handed out yet: the last rnd_left */
	size_t rnd_left;
	pid_t pid; /* the process rnd was drawn in: a fork draws anew */
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *arg)
{
	struct gcm_cache *c = arg;

	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->ctx);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void cache_free_main(void)
{
	cache_free(pthread_getspecific(cache_key));
	pthread_setspecific(cache_key, NULL);
}

static void cache_init(void)
{
	if (pthread_key_create(&cache_key, cache_free) == 0)
		atexit(cache_free_main);
}

static struct gcm_cache *cache_get(void)
{
	struct gcm_cache *c;

	pthread_once(&cache_once, cache_init);
	if ((c = pthread_getspecific(cache_key)))
		return c;
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	if (!(c->ctx = EVP_CIPHER_CTX_new()) || pthread_setspecific(cache_key, c) != 0) {
		EVP_CIPHER_CTX_free(c->ctx);
		free(c);
		return NULL;
	}
	return c;
}

int st_random(void *buf, size_t n)
{
	if (n > INT32_MAX || RAND_bytes(buf, (int)n) != 1)
		return crypto_fail("RAND_bytes");
	return ST_OK;
}

/* One EVP_KDF derivation of outlen bytes with the given parameters. */
static int kdf_derive(const char *name, OSSL_PARAM *params, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int rc = ST_OK;

	if (!ctx || EVP_KDF_derive(ctx, out, outlen, params) != 1)
		rc = crypto_fail(name);
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int st_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
	    const void *info, size_t infolen, uint8_t *out, size_t outlen)
{
	char digest[] = "SHA256";
	OSSL_PARAM p[5];

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	p[4] = OSSL_PARAM_construct_end();
	return kdf_derive("HKDF", p, out, outlen);
}

int st_key_derive(const uint8_t master[ST_KEY_SIZE], const uint8_t *salt, size_t saltlen,
		  const uint8_t id[ST_ID_SIZE], struct st_key *out)
{
	uint8_t info[sizeof(store_info) - 1 + ST_ID_SIZE];

	memcpy(info, store_info, sizeof(store_info) - 1);
	memcpy(info + sizeof(store_info) - 1, id, ST_ID_SIZE);
	return st_hkdf(master, ST_KEY_SIZE, salt, saltlen, info, sizeof(info), out->k, ST_KEY_SIZE);
}

int st_kdf_scrypt(const void *pass, size_t passlen, const uint8_t *salt, size_t saltlen, uint64_t n,
		  uint32_t r, uint32_t p, uint8_t out[ST_KEY_SIZE])
{
	OSSL_PARAM prm[6];

	prm[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, passlen);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	prm[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	prm[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	prm[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	prm[5] = OSSL_PARAM_construct_end();
	return kdf_derive("SCRYPT", prm, out, ST_KEY_SIZE);
}

int st_kdf_pbkdf2(const void *pass, size_t passlen, const uint8_t *salt, size_t saltlen,
		  uint64_t iter, uint8_t out[ST_KEY_SIZE])
{
	char digest[] = "SHA256";
	OSSL_PARAM prm[5];

	prm[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pass, passlen);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	prm[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter);
	prm[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	prm[4] = OSSL_PARAM_construct_end();
	return kdf_derive("PBKDF2", prm, out, ST_KEY_SIZE);
}

int st_sha256(const void *buf, size_t len, uint8_t out[32])
{
	unsigned n = 0;

	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return crypto_fail("SHA-256");
	return ST_OK;
}

/*
 * AES-256-GCM over in (len bytes, at most INT32_MAX) with a 12-byte nonce
 * and the associated data aad: enc, the ciphertext and tag into out and
 * tag; else the plaintext into out, ST_ECORRUPT if the tag does not match.
 */
static int gcm(bool enc, const struct st_key *k, const uint8_t nonce[ST_NONCE_SIZE],
	       const void *aad, size_t aadlen, const uint8_t *in, size_t len, uint8_t *out,
	       uint8_t tag[ST_TAG_SIZE])
{
	struct gcm_cache *c = cache_get();
	EVP_CIPHER_CTX *ctx;
	int n = 0, rc = ST_OK;

	if (!c)
		return st_fail_oom();
	ctx = c->ctx;
	/* The key's schedule once per thread and key; then the nonce only. */
	if (!c->keyed || memcmp(c->key, k->k, ST_KEY_SIZE) != 0) {
		c->keyed = false;
		if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->k, NULL, enc ? 1 : 0) != 1)
			return crypto_fail("AES-256-GCM");
		memcpy(c->key, k->k, ST_KEY_SIZE);
		c->keyed = true;
	}
	if (len > INT32_MAX || aadlen > INT32_MAX ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc ? 1 : 0) != 1 ||
	    (aadlen && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) ||
	    (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)) {
		rc = crypto_fail("AES-256-GCM");
		goto out_free;
	}
	if (enc) {
		if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ST_TAG_SIZE, tag) != 1)
			rc = crypto_fail("AES-256-GCM");
	} else {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ST_TAG_SIZE, tag) != 1)
			rc = crypto_fail("AES-256-GCM");
		else if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1)
			rc = ST_ECORRUPT; /* the caller says where */
	}
out_free:
	/* A failed operation may leave the context half way: key it anew. */
	if (rc == ST_EIO)
		c->keyed = false;
	return rc;
}

/* A fresh random nonce, from the thread's buffer of generator output. */
static int nonce_make(uint8_t out[ST_NONCE_SIZE])
{
	struct gcm_cache *c = cache_get();
	pid_t pid = getpid();

	if (!c)
		return st_fail_oom();
	if (c->rnd_left < ST_NONCE_SIZE || c->pid != pid) {
		if (RAND_bytes(c->rnd, (int)sizeof(c->rnd)) != 1)
			return crypto_fail("RAND_bytes");
		c->rnd_left = sizeof(c->rnd);
		c->pid = pid;
	}
	memcpy(out, c->rnd + sizeof(c->rnd) - c->rnd_left, ST_NONCE_SIZE);
	OPENSSL_cleanse(c->rnd + sizeof(c->rnd) - c->rnd_left, ST_NONCE_SIZE);
	c->rnd_left -= ST_NONCE_SIZE;
	return ST_OK;
}

int st_seal(const struct st_key *k, const void *aad, size_t aadlen, const void *in, size_t len,
	    uint8_t *out)
{
	int rc = nonce_make(out);

	if (rc == ST_OK)
		rc = gcm(true, k, out, aad, aadlen, in, len, out + ST_NONCE_SIZE,
			 out + ST_NONCE_SIZE + len);
	return rc;
}

int st_unseal(const struct st_key *k, const void *aad, size_t aadlen, const uint8_t *in, size_t len,
	      void *out)
{
	uint8_t tag[ST_TAG_SIZE];

	if (len < ST_SEAL_OVERHEAD)
		return ST_ECORRUPT;
	/* The tag is copied: the cipher may write over in when out == in. */
	memcpy(tag, in + len - ST_TAG_SIZE, ST_TAG_SIZE);
	return gcm(false, k, in, aad, aadlen, in + ST_NONCE_SIZE, len - ST_SEAL_OVERHEAD, out, tag);
}
