/*
 * error.c - error codes, their messages, and each thread's last error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local struct st_error last;

const char *st_strerror(int err)
{
	switch (err) {
	case ST_OK:
		return "success";
	case ST_EIO:
		return "I/O error";
	case ST_ECORRUPT:
		return "store is corrupt";
	case ST_ENOMEM:
		return "out of memory";
	case ST_ENOTFOUND:
		return "not found";
	case ST_EINVAL:
		return "invalid argument";
	case ST_EEXIST:
		return "store already exists";
	case ST_ENOSPC:
		return "no space left on the backing disk";
	case ST_EROFS:
		return "store is read-only";
	case ST_EVERSION:
		return "store was written by a newer format";
	case ST_EKIND:
		return "wrong kind of store";
	case ST_EDELETED:
		return "store was deleted during compaction";
	case ST_EBUSY:
		return "a compaction of this store is already running";
	case ST_ETOOBIG:
		return "key, value or offset too large";
	case ST_EABORTED:
		return "compaction aborted";
	case ST_EBEHIND:
		return "store is older than its newest known commit";
	case ST_EKEY:
		return "sealed store and key do not go together";
	}
	return "unknown error";
}

const struct st_error *st_last_error(void)
{
	return &last;
}

int st_fail(int code, int sys_errno, uint64_t offset, const char *fmt, ...)
{
	va_list ap;

	last.code = code;
	last.sys_errno = sys_errno;
	last.offset = offset;
	va_start(ap, fmt);
	vsnprintf(last.msg, sizeof(last.msg), fmt, ap);
	va_end(ap);
	return code;
}

int st_fail_errno(int sys_errno, const char *what, const char *path)
{
	int code = sys_errno == ENOSPC || sys_errno == EDQUOT ? ST_ENOSPC : ST_EIO;

	return st_fail(code, sys_errno, 0, "%s %s: %s", what, path ? path : "",
		       strerror(sys_errno));
}

int st_fail_oom(void)
{
	return st_fail(ST_ENOMEM, ENOMEM, 0, "out of memory");
}
