/*
 * key.c - an encrypted vault's master key (docs/FORMAT.md, section 19,
 * "The key slot"): made at random, kept in the superblock sealed under a
 * key derived from a passphrase or a key file, unwrapped at mount, shown
 * once as a recovery key; and the passphrase read from a terminal without
 * echo or from a descriptor, never from a command line. The cryptography
 * is the engine's (st_seal, st_kdf_*, st_hkdf: OpenSSL's EVP).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ns.h"

static const char wrap_label[] = "revfs master key v1";
static const char check_label[] = "revfs key check v1";

/* What the wrapping binds the master key to: the vault and the KDF. */
#define WRAP_AAD (sizeof(wrap_label) - 1 + 16 + 1 + 8 + 4 + 4 + NS_SALT_SIZE)

static void wrap_aad(const struct ns_super *sb, const struct ns_keyslot *s, uint8_t *out)
{
	uint8_t *p = out;

	memcpy(p, wrap_label, sizeof(wrap_label) - 1);
	p += sizeof(wrap_label) - 1;
	memcpy(p, sb->uuid, 16);
	p[16] = s->kdf;
	st_put64(p + 17, s->n);
	st_put32(p + 25, s->r);
	st_put32(p + 29, s->p);
	memcpy(p + 33, s->salt, NS_SALT_SIZE);
}

/* The key-encryption key of slot s from secret. */
static int kek_derive(const struct ns_keyslot *s, const void *secret, size_t len,
		      uint8_t kek[ST_KEY_SIZE])
{
	switch (s->kdf) {
	case NS_KDF_SCRYPT:
		if (s->n < 2 || (s->n & (s->n - 1)) || s->r == 0 || s->p == 0)
			break;
		return st_kdf_scrypt(secret, len, s->salt, NS_SALT_SIZE, s->n, s->r, s->p, kek);
	case NS_KDF_PBKDF2:
		if (s->n == 0)
			break;
		return st_kdf_pbkdf2(secret, len, s->salt, NS_SALT_SIZE, s->n, kek);
	case NS_KDF_KEYFILE:
		/* A key file is a key: one round only stretches nothing. */
		if (len < NS_KEYFILE_MIN)
			return st_fail(ST_EINVAL, EINVAL, 0, "a key file holds at least %u bytes",
				       NS_KEYFILE_MIN);
		return st_hkdf(secret, len, s->salt, NS_SALT_SIZE, "revfs key file v1", 17, kek,
			       ST_KEY_SIZE);
	}
	return st_fail(ST_EINVAL, EINVAL, 0, "key slot: unknown KDF %u or bad parameters", s->kdf);
}

static int check_value(const struct ns_super *sb, const uint8_t master[ST_KEY_SIZE],
		       uint8_t out[NS_CHECK_SIZE])
{
	return st_hkdf(master, ST_KEY_SIZE, sb->uuid, 16, check_label, sizeof(check_label) - 1, out,
		       NS_CHECK_SIZE);
}

/* Wraps sb->master into sb->slot under secret, with params' KDF. */
static int wrap(struct ns_super *sb, const struct ns_keyslot *params, const void *secret,
		size_t len)
{
	struct ns_keyslot s = *params;
	uint8_t kek[ST_KEY_SIZE], aad[WRAP_AAD], out[ST_KEY_SIZE + ST_SEAL_OVERHEAD];
	struct st_key k;
	int rc;

	if ((rc = st_random(s.salt, sizeof(s.salt))) != ST_OK ||
	    (rc = kek_derive(&s, secret, len, kek)) != ST_OK)
		return rc;
	memcpy(k.k, kek, sizeof(kek));
	wrap_aad(sb, &s, aad);
	rc = st_seal(&k, aad, sizeof(aad), sb->master, ST_KEY_SIZE, out);
	if (rc == ST_OK)
		rc = check_value(sb, sb->master, s.check);
	if (rc == ST_OK) {
		memcpy(s.nonce, out, ST_NONCE_SIZE);
		memcpy(s.wrapped, out + ST_NONCE_SIZE, ST_KEY_SIZE);
		memcpy(s.tag, out + ST_NONCE_SIZE + ST_KEY_SIZE, ST_TAG_SIZE);
		sb->slot = s;
	}
	memset(kek, 0, sizeof(kek));
	memset(&k, 0, sizeof(k));
	return rc;
}

int ns_kdf_params(bool key_file, enum ns_kdf kdf, uint64_t n, uint32_t r, uint32_t p,
		  const bool given[3], struct ns_keyslot *out)
{
	memset(out, 0, sizeof(*out));
	if (key_file) {
		out->kdf = NS_KDF_KEYFILE;
		return ST_OK;
	}
	out->kdf = (uint8_t)kdf;
	if (kdf == NS_KDF_PBKDF2) {
		out->n = given[0] ? n : 600000;
		if (!out->n || given[1] || given[2])
			return st_fail(ST_EINVAL, EINVAL, 0,
				       "PBKDF2 takes its iteration count (--kdf-n), at least 1");
		return ST_OK;
	}
	out->kdf = NS_KDF_SCRYPT;
	out->n = given[0] ? n : NS_SCRYPT_N;
	out->r = given[1] ? r : NS_SCRYPT_R;
	out->p = given[2] ? p : NS_SCRYPT_P;
	if (out->n < 2 || (out->n & (out->n - 1)) || !out->r || !out->p)
		return st_fail(ST_EINVAL, EINVAL, 0,
			       "scrypt's N is a power of 2 above 1, r and p at least 1");
	return ST_OK;
}

int ns_key_create(struct ns_super *sb, const struct ns_keyslot *params, const void *secret,
		  size_t len)
{
	int rc;

	if (!(sb->incompat & NS_FEAT_DAMAGE))
		return st_fail(ST_EINVAL, EINVAL, 0, "encryption needs stores with identities");
	if ((rc = st_random(sb->master, ST_KEY_SIZE)) != ST_OK)
		return rc;
	sb->unlocked = true;
	if ((rc = wrap(sb, params, secret, len)) != ST_OK) {
		ns_key_forget(sb);
		return rc;
	}
	sb->incompat |= NS_FEAT_SEALED;
	return ST_OK;
}

int ns_key_unlock(struct ns_super *sb, const void *secret, size_t len)
{
	const struct ns_keyslot *s = &sb->slot;
	uint8_t kek[ST_KEY_SIZE], aad[WRAP_AAD], in[ST_KEY_SIZE + ST_SEAL_OVERHEAD];
	uint8_t check[NS_CHECK_SIZE];
	struct st_key k;
	int rc;

	if (!(sb->incompat & NS_FEAT_SEALED))
		return st_fail(ST_EINVAL, EINVAL, 0, "the vault is not encrypted");
	if ((rc = kek_derive(s, secret, len, kek)) != ST_OK)
		return rc;
	memcpy(k.k, kek, sizeof(kek));
	wrap_aad(sb, s, aad);
	memcpy(in, s->nonce, ST_NONCE_SIZE);
	memcpy(in + ST_NONCE_SIZE, s->wrapped, ST_KEY_SIZE);
	memcpy(in + ST_NONCE_SIZE + ST_KEY_SIZE, s->tag, ST_TAG_SIZE);
	rc = st_unseal(&k, aad, sizeof(aad), in, sizeof(in), sb->master);
	memset(kek, 0, sizeof(kek));
	memset(&k, 0, sizeof(k));
	if (rc == ST_ECORRUPT)
		return st_fail(ST_EKEY, 0, 0, "wrong passphrase or key file");
	if (rc != ST_OK)
		return rc;
	/* The slot and the check value come from the same superblock: a
	 * mismatch is damage to one of them, said as such. */
	if ((rc = check_value(sb, sb->master, check)) != ST_OK ||
	    memcmp(check, s->check, NS_CHECK_SIZE) != 0) {
		ns_key_forget(sb);
		return rc ? rc
			  : st_fail(ST_ECORRUPT, 0, 0, "the key slot's check value is damaged");
	}
	sb->unlocked = true;
	return ST_OK;
}

int ns_key_rewrap(struct ns_super *sb, const struct ns_keyslot *params, const void *secret,
		  size_t len)
{
	if (!sb->unlocked)
		return st_fail(ST_EKEY, 0, 0, "the vault's key is not unlocked");
	return wrap(sb, params, secret, len);
}

void ns_key_recovery_text(const struct ns_super *sb, char out[NS_RECOVERY_TEXT])
{
	char *p = out;

	for (unsigned i = 0; i < ST_KEY_SIZE; i++) {
		if (i && i % 4 == 0)
			*p++ = '-';
		p += snprintf(p, 3, "%02x", sb->master[i]);
	}
	*p = 0;
}

int ns_key_recover(struct ns_super *sb, const char *text)
{
	uint8_t master[ST_KEY_SIZE], check[NS_CHECK_SIZE];
	unsigned n = 0;
	int rc;

	if (!(sb->incompat & NS_FEAT_SEALED))
		return st_fail(ST_EINVAL, EINVAL, 0, "the vault is not encrypted");
	/* Hex digits; dashes, spaces and a newline may come between. */
	for (const char *p = text; *p && n < 2 * ST_KEY_SIZE + 1; p++) {
		int v = *p >= '0' && *p <= '9'	 ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
						 : -1;

		if (v < 0) {
			if (*p == '-' || *p == ' ' || *p == '\n')
				continue;
			n = 0;
			break;
		}
		if (n < 2 * ST_KEY_SIZE)
			master[n / 2] = (uint8_t)(n % 2 ? master[n / 2] | v : v << 4);
		n++;
	}
	if (n != 2 * ST_KEY_SIZE)
		return st_fail(ST_EINVAL, EINVAL, 0, "a recovery key is 64 hex digits");
	if ((rc = check_value(sb, master, check)) != ST_OK)
		return rc;
	if (memcmp(check, sb->slot.check, NS_CHECK_SIZE) != 0) {
		memset(master, 0, sizeof(master));
		return st_fail(ST_EKEY, 0, 0, "not this vault's recovery key");
	}
	memcpy(sb->master, master, ST_KEY_SIZE);
	memset(master, 0, sizeof(master));
	sb->unlocked = true;
	return ST_OK;
}

int ns_key_store(const struct ns_super *sb, const uint8_t id[ST_ID_SIZE], struct st_key *out)
{
	if (!sb->unlocked)
		return st_fail(ST_EKEY, 0, 0, "the vault is encrypted: its key is needed");
	return st_key_derive(sb->master, sb->uuid, 16, id, out);
}

void ns_key_forget(struct ns_super *sb)
{
	/* Not optimised away: the struct lives on. */
	volatile uint8_t *p = sb->master;

	for (unsigned i = 0; i < ST_KEY_SIZE; i++)
		p[i] = 0;
	sb->unlocked = false;
}

int ns_passphrase_read(int fd, const char *prompt, char *buf, size_t cap, size_t *len)
{
	struct termios old, quiet;
	size_t n = 0;
	bool tty = fd < 0, echo_off = false;
	int rc = ST_OK;

	if (tty) {
		fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return st_fail(ST_EINVAL, errno, 0,
				       "no terminal to ask for the passphrase on: give a "
				       "descriptor to read it from");
		if (tcgetattr(fd, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
			quiet.c_lflag |= ICANON;
			echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
		}
		if (write(fd, prompt, strlen(prompt)) < 0)
			rc = st_fail(ST_EIO, errno, 0, "cannot write to the terminal");
	}
	/* A byte at a time: what follows the first line is not ours. */
	while (rc == ST_OK) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = st_fail(ST_EIO, errno, 0, "cannot read the passphrase: %s",
				     strerror(errno));
			break;
		}
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= cap) {
			rc = st_fail(ST_EINVAL, EINVAL, 0, "passphrase longer than %zu bytes",
				     cap - 1);
			break;
		}
		buf[n++] = c;
	}
	if (tty) {
		if (echo_off)
			tcsetattr(fd, TCSAFLUSH, &old);
		if (write(fd, "\n", 1) < 0) {
			/* only the look of the terminal is lost */
		}
		close(fd);
	}
	if (rc == ST_OK && n == 0)
		rc = st_fail(ST_EINVAL, EINVAL, 0, "empty passphrase");
	buf[rc == ST_OK ? n : 0] = 0;
	if (rc != ST_OK)
		memset(buf, 0, cap);
	*len = rc == ST_OK ? n : 0;
	return rc;
}

int ns_keyfile_read(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	int rc = ST_OK;

	if (fd < 0)
		return st_fail(ST_EINVAL, errno, 0, "cannot open the key file %s: %s", path,
			       strerror(errno));
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = st_fail(ST_EIO, errno, 0, "cannot read the key file %s: %s", path,
				     strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			char extra;

			if (read(fd, &extra, 1) > 0)
				rc = st_fail(ST_EINVAL, EINVAL, 0,
					     "the key file %s is longer than %zu bytes", path, cap);
			break;
		}
	}
	close(fd);
	if (rc == ST_OK && n < NS_KEYFILE_MIN)
		rc = st_fail(ST_EINVAL, EINVAL, 0, "the key file %s holds fewer than %u bytes",
			     path, NS_KEYFILE_MIN);
	*len = rc == ST_OK ? n : 0;
	return rc;
}

int ns_secret_read(const struct ns_secret_src *src, const char *prompt, bool confirm, uint8_t *buf,
		   size_t *len)
{
	char again[NS_SECRET_MAX];
	size_t n2;
	int rc;

	if (src->key_file)
		return ns_keyfile_read(src->key_file, buf, NS_SECRET_MAX, len);
	rc = ns_passphrase_read(src->fd, prompt, (char *)buf, NS_SECRET_MAX, len);
	if (rc != ST_OK || !confirm || src->fd >= 0)
		return rc;
	rc = ns_passphrase_read(-1, "Again: ", again, sizeof(again), &n2);
	if (rc == ST_OK && (n2 != *len || memcmp(again, buf, n2) != 0))
		rc = st_fail(ST_EINVAL, EINVAL, 0, "the passphrases differ");
	memset(again, 0, sizeof(again));
	return rc;
}

int ns_key_unlock_from(struct ns_super *sb, const struct ns_secret_src *src, const char *dir)
{
	uint8_t secret[NS_SECRET_MAX];
	char prompt[4200];
	size_t len;
	int rc;

	if ((sb->slot.kdf == NS_KDF_KEYFILE) != (src->key_file != NULL))
		return st_fail(ST_EINVAL, EINVAL, 0, "%s is encrypted with a %s: give %s", dir,
			       sb->slot.kdf == NS_KDF_KEYFILE ? "key file" : "passphrase",
			       sb->slot.kdf == NS_KDF_KEYFILE ? "its key file"
							      : "its passphrase, not a key file");
	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", dir);
	rc = ns_secret_read(src, prompt, false, secret, &len);
	if (rc == ST_OK)
		rc = ns_key_unlock(sb, secret, len);
	memset(secret, 0, sizeof(secret));
	return rc;
}
