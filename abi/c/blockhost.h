/*
 * blockhost.h: the C SDK for blockhost blocks (ABI v1). Header-only, C11.
 *
 * A block is a WASI reactor that imports functions from the module
 * "blockhost" and exports the entry point blockhost_run_v1. This header
 * declares the 26 functions of ABI v1 (abi/ABI.md, section 4) with their
 * exact WebAssembly signatures, and wraps them in static inline helpers:
 *
 *     #include "blockhost.h"
 *
 *     BH_ENTRY int32_t run(void)
 *     {
 *         bh_buf text = BH_BUF_INIT;
 *         int32_t st = bh_input_get("text", &text);
 *         if (st < 0)
 *             return bh_report(st);
 *         st = bh_output_set("echo", text.data, text.len);
 *         bh_buf_free(&text);
 *         return st < 0 ? bh_report(st) : 0;
 *     }
 *
 * Build (clang 14 or later, wasi-libc, wasm-ld; docs/write-a-block/c.md):
 *
 *     clang --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 \
 *         -I abi/c -Wl,--strip-all -Wl,-z,stack-size=65536 -Wl,--stack-first \
 *         -o NAME.wasm NAME.c
 *
 * Conventions of this header
 *
 *   - Status. Like the ABI, every function returns a status: a value >= 0
 *     (a length, a count, a handle, 0) on success, or -CODE on failure,
 *     e.g. -BH_NOT_FOUND. `if (st < 0) return bh_report(st);` hands a
 *     failed host call to the host with its detail and ends the step.
 *
 *   - Strings. Keys, prefixes, messages and request documents are
 *     NUL-terminated C strings; values are (pointer, length) byte ranges
 *     and may hold any bytes. The raw imports (blockhost_*) take lengths
 *     everywhere, for keys that contain NUL bytes.
 *
 *   - Copy-out. Functions that return a value of variable size fill a
 *     bh_buf, growing it with realloc until the value fits (ABI.md 3,
 *     "Copy-out"). The value is NUL-terminated for convenience; its length
 *     is bh_buf.len. Reuse one bh_buf across calls and free it with
 *     bh_buf_free.
 *
 *   - Memory. Helpers that allocate trap when malloc fails: in a block that
 *     means the instance hit its memory limit, which the host reports as
 *     QUOTA_EXCEEDED. Read large values in chunks or pass handles instead.
 *
 *   - State. An instance serves many steps, one at a time. Do not keep
 *     per-step state in static or global variables across calls of the
 *     entry point; free what a step allocated before returning.
 *
 * Outside WebAssembly (a native build for unit tests) the 26 functions are
 * plain extern declarations: link implementations of your own to stand in
 * for the host.
 */
#ifndef BLOCKHOST_H
#define BLOCKHOST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header implements. */
#define BH_ABI_VERSION 1

/* ------------------------------------------------------------------------
 * Codes (ABI.md section 5)
 * ------------------------------------------------------------------------ */

/*
 * Error codes. A block reports a positive code (bh_fail, bh_error_set, or
 * the entry point's return value); host functions return the negated code.
 * Codes 1001..9999 go on the wire by name; the host's own codes 6001..6011
 * are mapped onto a wire code (NOT_FOUND is reported as INVALID_INPUT, and
 * so on) and keep their name in the error message.
 */
enum bh_code {
	BH_NONE = 0,
	BH_INVALID_INPUT = 1001,
	BH_MISSING_REQUIRED_FIELD = 1002,
	BH_INVALID_FORMAT = 1003,
	BH_EXECUTION_FAILED = 2001,
	BH_RESOURCE_UNAVAILABLE = 2002,
	BH_PERMISSION_DENIED = 2003,
	BH_QUOTA_EXCEEDED = 2004,
	BH_NETWORK_ERROR = 3001,
	BH_CONNECTION_TIMEOUT = 3002,
	BH_HTTP_ERROR = 3003,
	BH_INTERNAL_ERROR = 4001,
	BH_SYSTEM_OVERLOAD = 4002,
	BH_CANCELLED_BY_USER = 5001,
	BH_CANCELLED_BY_TIMEOUT = 5002,
	BH_UNKNOWN_ERROR = 9999,

	/* The host's own codes, returned negated by host functions. */
	BH_NOT_FOUND = 6001,        /* input, config, context key or blob absent */
	BH_BAD_POINTER = 6002,      /* pointer/length outside linear memory */
	BH_BAD_HANDLE = 6003,       /* handle not open, or of the wrong kind */
	BH_INVALID_ARGUMENT = 6004, /* malformed argument, metadata, level or flag */
	BH_LIMIT_EXCEEDED = 6005,   /* a size, count or handle limit */
	BH_CIRCUIT_OPEN = 6006,     /* the target's circuit breaker is open */
	BH_DENIED = 6007,           /* capability not granted, egress or jail policy */
	BH_CANCELLED = 6008,        /* the step was cancelled or its deadline passed */
	BH_UNSUPPORTED = 6009,      /* not available on this handle, or outside the entry point */
	BH_IO_ERROR = 6010,         /* disk full, EIO, other storage failures */
	BH_TIMEOUT = 6011           /* a host call's own timeout fired */
};

/* Log levels of bh_log. */
enum bh_level {
	BH_LOG_DEBUG = 0,
	BH_LOG_INFO = 1,
	BH_LOG_WARN = 2,
	BH_LOG_ERROR = 3
};

/* The retryable argument of error_set. */
enum bh_retry {
	BH_RETRY_DEFAULT = 0, /* the host's classification decides */
	BH_RETRY_YES = 1,     /* retry whatever the code */
	BH_RETRY_NO = 2       /* never retry */
};

/* Context keys of bh_context_get. */
#define BH_CTX_TENANT_ID "tenant_id"
#define BH_CTX_TRACE_ID "trace_id"
#define BH_CTX_RUN_ID "run_id"
#define BH_CTX_FLOW_ID "flow_id"
#define BH_CTX_STEP_ID "step_id"
#define BH_CTX_STEP_TYPE "step_type"
#define BH_CTX_ATTEMPT "attempt" /* decimal; "0" for the first attempt */

/* Limits of ABI v1 (ABI.md section 8). */
#define BH_MAX_KEY_LEN 4096           /* longest key; longer: -BH_INVALID_ARGUMENT */
#define BH_MAX_META_LEN (64 * 1024)   /* longest http_request document */
#define BH_MAX_MESSAGE_LEN (8 * 1024) /* error_set keeps this much of a message */
#define BH_MAX_HANDLES 64             /* handles open at once (default) */

/* ------------------------------------------------------------------------
 * The 26 host functions (ABI.md section 4), exact signatures
 *
 * Pointers and lengths are i32 (a pointer is 32 bits on wasm32, lengths
 * are uint32_t); i64 parameters and results are int64_t; every result is
 * a status. Prefer the bh_* helpers below; these are the ABI itself.
 * ------------------------------------------------------------------------ */

#if defined(__wasm__)
#define BH_IMPORT(name) __attribute__((import_module("blockhost"), import_name(name)))
/*
 * BH_ENTRY exports a function `int32_t f(void)` as the entry point
 * blockhost_run_v1. It returns 0 for success, or a code (see section 6 of
 * ABI.md): write `BH_ENTRY int32_t run(void) { ... }`.
 */
#define BH_ENTRY __attribute__((export_name("blockhost_run_v1")))
#else
#define BH_IMPORT(name)
#define BH_ENTRY
#endif

/* A handle: an i32 > 0 naming a host-side stream. 0 is "no handle". */
typedef int32_t bh_handle;

/* 4.1 Inputs */
BH_IMPORT("input_len")
int64_t blockhost_input_len(const char *key_ptr, uint32_t key_len);
BH_IMPORT("input_read")
int32_t blockhost_input_read(const char *key_ptr, uint32_t key_len, int64_t offset,
                             void *buf_ptr, uint32_t buf_len);
BH_IMPORT("input_open")
int32_t blockhost_input_open(const char *key_ptr, uint32_t key_len);
BH_IMPORT("input_keys")
int32_t blockhost_input_keys(void *buf_ptr, uint32_t buf_len);
BH_IMPORT("inputs_json")
int32_t blockhost_inputs_json(void *buf_ptr, uint32_t buf_len);

/* 4.2 Outputs */
BH_IMPORT("output_set")
int32_t blockhost_output_set(const char *key_ptr, uint32_t key_len,
                             const void *val_ptr, uint32_t val_len);
BH_IMPORT("output_open")
int32_t blockhost_output_open(const char *key_ptr, uint32_t key_len);
BH_IMPORT("output_from_handle")
int32_t blockhost_output_from_handle(const char *key_ptr, uint32_t key_len, int32_t h);

/* 4.3 Context and config */
BH_IMPORT("context_get")
int32_t blockhost_context_get(const char *key_ptr, uint32_t key_len,
                              void *buf_ptr, uint32_t buf_len);
BH_IMPORT("config_get")
int32_t blockhost_config_get(const char *key_ptr, uint32_t key_len,
                             void *buf_ptr, uint32_t buf_len);

/* 4.4 Log and errors */
BH_IMPORT("log")
int32_t blockhost_log(int32_t level, const char *msg_ptr, uint32_t msg_len);
BH_IMPORT("error_set")
int32_t blockhost_error_set(int32_t code, const char *msg_ptr, uint32_t msg_len,
                            int32_t http_status, int32_t retry_after_ms, int32_t retryable);
BH_IMPORT("last_error")
int32_t blockhost_last_error(void *buf_ptr, uint32_t buf_len);

/* 4.5 Handles */
BH_IMPORT("handle_read")
int32_t blockhost_handle_read(int32_t h, void *buf_ptr, uint32_t buf_len);
BH_IMPORT("handle_write")
int32_t blockhost_handle_write(int32_t h, const void *buf_ptr, uint32_t buf_len);
BH_IMPORT("handle_size")
int64_t blockhost_handle_size(int32_t h);
BH_IMPORT("handle_close")
int32_t blockhost_handle_close(int32_t h);
BH_IMPORT("buffer_new")
int32_t blockhost_buffer_new(void);

/* 4.6 HTTP */
BH_IMPORT("http_request")
int32_t blockhost_http_request(const char *req_ptr, uint32_t req_len, int32_t body_h);
BH_IMPORT("http_response_meta")
int32_t blockhost_http_response_meta(int32_t h, void *buf_ptr, uint32_t buf_len);

/* 4.7 Blobs */
BH_IMPORT("blob_open_read")
int32_t blockhost_blob_open_read(const char *key_ptr, uint32_t key_len);
BH_IMPORT("blob_open_write")
int32_t blockhost_blob_open_write(const char *key_ptr, uint32_t key_len);
BH_IMPORT("blob_put_from")
int32_t blockhost_blob_put_from(const char *key_ptr, uint32_t key_len, int32_t h);
BH_IMPORT("blob_delete")
int32_t blockhost_blob_delete(const char *key_ptr, uint32_t key_len);
BH_IMPORT("blob_stat")
int32_t blockhost_blob_stat(const char *key_ptr, uint32_t key_len,
                            void *buf_ptr, uint32_t buf_len);
BH_IMPORT("blob_list")
int32_t blockhost_blob_list(const char *prefix_ptr, uint32_t prefix_len,
                            void *buf_ptr, uint32_t buf_len);

/* ------------------------------------------------------------------------
 * Internal helpers (names starting with bh__ are not part of the API)
 * ------------------------------------------------------------------------ */

#define BH__NORETURN __attribute__((noreturn))
#define BH__PRINTF(f, a) __attribute__((format(printf, f, a)))

static inline uint32_t bh__len(const char *s) { return s ? (uint32_t)strlen(s) : 0; }

/* The length of a C string passed as a key or message (NULL is ""). */
#define BH__S(s) (s) ? (s) : "", bh__len(s)

/* bh__oom logs and traps: malloc failed, so the instance is at its memory
 * limit; the host reports the trap as QUOTA_EXCEEDED. */
BH__NORETURN static inline void bh__oom(void)
{
	static const char msg[] = "blockhost.h: out of memory";
	blockhost_log(BH_LOG_ERROR, msg, (uint32_t)sizeof msg - 1);
	__builtin_trap();
}

/* bh__i64 formats v in decimal into out (at least 21 bytes); returns the
 * length. */
static inline uint32_t bh__i64(char *out, int64_t v)
{
	char tmp[20];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint32_t n = 0, i = 0;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		out[i++] = '-';
	while (n > 0)
		out[i++] = tmp[--n];
	out[i] = '\0';
	return i;
}

/* ------------------------------------------------------------------------
 * Memory, and bh_buf: a growable byte buffer for copy-out values
 * ------------------------------------------------------------------------ */

/* bh_alloc is malloc(n) that never returns NULL: when memory runs out it
 * logs and traps, and the host fails the step with QUOTA_EXCEEDED (the
 * instance is at its memory limit). */
static inline void *bh_alloc(size_t n)
{
	void *p = malloc(n > 0 ? n : 1);
	if (p == NULL)
		bh__oom();
	return p;
}

/*
 * bh_buf holds a value read from the host: data[0..len) are its bytes and
 * data[len] is a NUL, so text values can be used as C strings. cap is the
 * room for bytes, not counting the NUL. A zero bh_buf (BH_BUF_INIT) is
 * empty and owns nothing; bh_buf_free releases what it grew to.
 */
typedef struct bh_buf {
	char *data;
	uint32_t len;
	uint32_t cap;
} bh_buf;

#define BH_BUF_INIT {NULL, 0, 0}

/* The capacity a bh_buf starts with on its first copy-out. */
#define BH__BUF_START 256

/* bh_buf_reserve makes room for at least n bytes (plus the NUL), keeping
 * the bytes already held. It traps when memory runs out. */
static inline void bh_buf_reserve(bh_buf *b, uint32_t n)
{
	if (b->data != NULL && b->cap >= n)
		return;
	if (n >= UINT32_MAX - 1)
		bh__oom();
	char *p = (char *)realloc(b->data, (size_t)n + 1);
	if (p == NULL)
		bh__oom();
	b->data = p;
	b->cap = n;
	if (b->len > n)
		b->len = n;
	b->data[b->len] = '\0';
}

/* bh_buf_reset empties b, keeping its memory for the next value. */
static inline void bh_buf_reset(bh_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* bh_buf_free releases b's memory and leaves it empty (BH_BUF_INIT). */
static inline void bh_buf_free(bh_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* bh_buf_append appends n bytes, growing b as needed. */
static inline void bh_buf_append(bh_buf *b, const void *p, uint32_t n)
{
	if (b->len + (uint64_t)n >= UINT32_MAX - 1)
		bh__oom();
	if (b->data == NULL || b->len + n > b->cap) {
		uint32_t want = b->cap < BH__BUF_START ? BH__BUF_START : b->cap;
		while (want < b->len + n)
			want = want > UINT32_MAX / 2 ? b->len + n : want * 2;
		bh_buf_reserve(b, want);
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* bh_buf_append_str appends the C string s. */
static inline void bh_buf_append_str(bh_buf *b, const char *s) { bh_buf_append(b, BH__S(s)); }

/* bh_buf_append_i64 appends v in decimal. */
static inline void bh_buf_append_i64(bh_buf *b, int64_t v)
{
	char tmp[21];
	bh_buf_append(b, tmp, bh__i64(tmp, v));
}

/*
 * bh_buf_append_json_string appends the n bytes of s as a JSON string,
 * quotes included, escaping '"', '\\' and control characters. The bytes
 * are copied as they are otherwise: pass UTF-8.
 */
static inline void bh_buf_append_json_string(bh_buf *b, const char *s, uint32_t n)
{
	static const char hex[] = "0123456789abcdef";
	bh_buf_append(b, "\"", 1);
	uint32_t start = 0;
	for (uint32_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		bh_buf_append(b, s + start, i - start);
		start = i + 1;
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		uint32_t len = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			len = 6;
		}
		bh_buf_append(b, esc, len);
	}
	bh_buf_append(b, s + start, n - start);
	bh_buf_append(b, "\"", 1);
}

/* bh_buf_vprintf appends formatted text (vsnprintf) to b. */
static inline void bh_buf_vprintf(bh_buf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof small, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		bh_buf_append(b, small, (uint32_t)n);
		return;
	}
	bh_buf_reserve(b, b->len + (uint32_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (uint32_t)n;
}

/* bh_buf_printf appends formatted text (snprintf) to b. */
BH__PRINTF(2, 3) static inline void bh_buf_printf(bh_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bh_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/* The copy-out functions, called through one loop (bh__copy_out). */
enum bh__copy_op {
	BH__INPUT_KEYS,
	BH__INPUTS_JSON,
	BH__CONTEXT_GET,
	BH__CONFIG_GET,
	BH__LAST_ERROR,
	BH__HTTP_RESPONSE_META,
	BH__BLOB_STAT,
	BH__BLOB_LIST
};

static inline int32_t bh__copy_call(enum bh__copy_op op, const char *key, uint32_t key_len,
                                    int32_t h, void *buf, uint32_t len)
{
	switch (op) {
	case BH__INPUT_KEYS: return blockhost_input_keys(buf, len);
	case BH__INPUTS_JSON: return blockhost_inputs_json(buf, len);
	case BH__CONTEXT_GET: return blockhost_context_get(key, key_len, buf, len);
	case BH__CONFIG_GET: return blockhost_config_get(key, key_len, buf, len);
	case BH__LAST_ERROR: return blockhost_last_error(buf, len);
	case BH__HTTP_RESPONSE_META: return blockhost_http_response_meta(h, buf, len);
	case BH__BLOB_STAT: return blockhost_blob_stat(key, key_len, buf, len);
	case BH__BLOB_LIST: return blockhost_blob_list(key, key_len, buf, len);
	}
	return -BH_INVALID_ARGUMENT;
}

/*
 * bh__copy_out runs a copy-out call into out: the host returns the value's
 * full length L and copies it only when L fits, so a longer value is
 * fetched again into a buffer grown to L. out holds the value on success
 * and is empty on failure.
 */
static inline int32_t bh__copy_out(enum bh__copy_op op, const char *key, uint32_t key_len,
                                   int32_t h, bh_buf *out)
{
	if (out->data == NULL)
		bh_buf_reserve(out, BH__BUF_START);
	for (int tries = 0; tries < 8; tries++) {
		int32_t n = bh__copy_call(op, key, key_len, h, out->data, out->cap);
		if (n < 0) {
			bh_buf_reset(out);
			return n;
		}
		if ((uint32_t)n <= out->cap) {
			out->len = (uint32_t)n;
			out->data[n] = '\0';
			return n;
		}
		bh_buf_reserve(out, (uint32_t)n);
	}
	/* The ABI fixes a value within a step: this is not reached. */
	bh_buf_reset(out);
	return -BH_UNSUPPORTED;
}

/* ------------------------------------------------------------------------
 * Errors and the outcome of a step (ABI.md 4.4, 6)
 * ------------------------------------------------------------------------ */

/* bh_code_name returns the upper-case name of code ("NOT_FOUND"), or
 * "UNKNOWN_ERROR" for a code outside the table. A negative status is
 * named after its code. */
static inline const char *bh_code_name(int32_t code)
{
	switch (code < 0 && code != INT32_MIN ? -code : code) {
	case BH_NONE: return "NONE";
	case BH_INVALID_INPUT: return "INVALID_INPUT";
	case BH_MISSING_REQUIRED_FIELD: return "MISSING_REQUIRED_FIELD";
	case BH_INVALID_FORMAT: return "INVALID_FORMAT";
	case BH_EXECUTION_FAILED: return "EXECUTION_FAILED";
	case BH_RESOURCE_UNAVAILABLE: return "RESOURCE_UNAVAILABLE";
	case BH_PERMISSION_DENIED: return "PERMISSION_DENIED";
	case BH_QUOTA_EXCEEDED: return "QUOTA_EXCEEDED";
	case BH_NETWORK_ERROR: return "NETWORK_ERROR";
	case BH_CONNECTION_TIMEOUT: return "CONNECTION_TIMEOUT";
	case BH_HTTP_ERROR: return "HTTP_ERROR";
	case BH_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case BH_SYSTEM_OVERLOAD: return "SYSTEM_OVERLOAD";
	case BH_CANCELLED_BY_USER: return "CANCELLED_BY_USER";
	case BH_CANCELLED_BY_TIMEOUT: return "CANCELLED_BY_TIMEOUT";
	case BH_NOT_FOUND: return "NOT_FOUND";
	case BH_BAD_POINTER: return "BAD_POINTER";
	case BH_BAD_HANDLE: return "BAD_HANDLE";
	case BH_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
	case BH_LIMIT_EXCEEDED: return "LIMIT_EXCEEDED";
	case BH_CIRCUIT_OPEN: return "CIRCUIT_OPEN";
	case BH_DENIED: return "DENIED";
	case BH_CANCELLED: return "CANCELLED";
	case BH_UNSUPPORTED: return "UNSUPPORTED";
	case BH_IO_ERROR: return "IO_ERROR";
	case BH_TIMEOUT: return "TIMEOUT";
	}
	return "UNKNOWN_ERROR";
}

/*
 * bh_error_set records the step's failure report (error_set) and returns
 * its status: 0, or -BH_INVALID_ARGUMENT when code <= 0, http_status is
 * neither 0 nor 100..599, retry_after_ms < 0 or retryable is not a
 * BH_RETRY_* value (nothing is recorded then). The last successful call
 * wins, and the step fails with it whatever the entry point returns.
 */
static inline int32_t bh_error_set(int32_t code, const char *msg, int32_t http_status,
                                   int32_t retry_after_ms, int32_t retryable)
{
	return blockhost_error_set(code, BH__S(msg), http_status, retry_after_ms, retryable);
}

/* bh_error is a failure report with every detail error_set carries. */
typedef struct bh_error {
	int32_t code;           /* a BH_* code; <= 0 is reported as EXECUTION_FAILED */
	const char *message;    /* the host keeps the first 8 KiB; NULL is "" */
	int32_t http_status;    /* the upstream HTTP status, 0 for none (else 100..599) */
	int32_t retry_after_ms; /* least wait before a retry, 0 for no hint */
	int32_t retryable;      /* BH_RETRY_DEFAULT, BH_RETRY_YES or BH_RETRY_NO */
} bh_error;

/*
 * bh_fail_with reports e and returns its code, for the entry point to
 * return: `return bh_fail_with(&(bh_error){BH_HTTP_ERROR, "upstream 503",
 * 503, 2000, BH_RETRY_YES});`. Details the host refuses (an out-of-range
 * status, a negative delay, a bad retryable) are dropped, keeping the code
 * and message.
 */
static inline int32_t bh_fail_with(const bh_error *e)
{
	int32_t code = e->code > 0 ? e->code : BH_EXECUTION_FAILED;
	if (bh_error_set(code, e->message, e->http_status, e->retry_after_ms, e->retryable) < 0)
		bh_error_set(code, e->message, 0, 0, BH_RETRY_DEFAULT);
	return code;
}

/* bh_fail reports code with msg and returns code:
 * `return bh_fail(BH_MISSING_REQUIRED_FIELD, "input \"text\" is required");` */
static inline int32_t bh_fail(int32_t code, const char *msg)
{
	bh_error e = {code, msg, 0, 0, BH_RETRY_DEFAULT};
	return bh_fail_with(&e);
}

/* bh_failf is bh_fail with a printf-style message. */
BH__PRINTF(2, 3) static inline int32_t bh_failf(int32_t code, const char *fmt, ...)
{
	bh_buf msg = BH_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	bh_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	code = bh_fail(code, msg.data);
	bh_buf_free(&msg);
	return code;
}

/* bh_last_error copies out the host's detail of the step's last failed
 * call ("" if none) and returns its length. */
static inline int32_t bh_last_error(bh_buf *out)
{
	return bh__copy_out(BH__LAST_ERROR, NULL, 0, 0, out);
}

/*
 * bh_report reports a failed host call and returns the code for the entry
 * point to return: given status -CODE, it calls error_set(CODE, <the
 * detail of last_error>) so the step fails with the host's code and
 * explanation (the message reads "NOT_FOUND: no config key ..."). Call it
 * right after the failed call, before another call replaces the detail:
 *
 *     int32_t st = bh_config_get("greeting", &value);
 *     if (st < 0)
 *         return bh_report(st);
 *
 * A status >= 0 is not a failure: nothing is reported and 0 is returned.
 */
static inline int32_t bh_report(int64_t status)
{
	if (status >= 0)
		return 0;
	int32_t code = status < -INT32_MAX ? BH_EXECUTION_FAILED : (int32_t)-status;
	char small[512];
	int32_t n = blockhost_last_error(small, (uint32_t)sizeof small);
	if (n < 0) {
		n = 0;
	} else if ((uint32_t)n > sizeof small) {
		bh_buf detail = BH_BUF_INIT;
		bh_last_error(&detail);
		blockhost_error_set(code, detail.data, detail.len, 0, 0, BH_RETRY_DEFAULT);
		bh_buf_free(&detail);
		return code;
	}
	blockhost_error_set(code, small, (uint32_t)n, 0, 0, BH_RETRY_DEFAULT);
	return code;
}

/* ------------------------------------------------------------------------
 * Log (ABI.md 4.4)
 * ------------------------------------------------------------------------ */

/*
 * bh_log logs msg at level (BH_LOG_DEBUG .. BH_LOG_ERROR) with the step's
 * correlation ids. Returns 0, or -BH_INVALID_ARGUMENT for another level.
 * Logs and stdout/stderr share a per-step cap (default 64 KiB) past which
 * they are truncated; that never fails the step.
 */
static inline int32_t bh_log(int32_t level, const char *msg)
{
	return blockhost_log(level, BH__S(msg));
}

/* bh_logf logs a printf-style message. */
BH__PRINTF(2, 3) static inline int32_t bh_logf(int32_t level, const char *fmt, ...)
{
	bh_buf msg = BH_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	bh_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	int32_t st = blockhost_log(level, msg.data, msg.len);
	bh_buf_free(&msg);
	return st;
}

/*
 * bh_panic fails the step hard: it logs "panic: MSG" at error level,
 * reports EXECUTION_FAILED with MSG, and traps. The host ends the step
 * with EXECUTION_FAILED ("block trapped: ..."), does not retry it, and
 * discards the instance. For expected failures return bh_fail(...) from
 * the entry point instead: the instance is kept.
 */
BH__NORETURN static inline void bh_panic(const char *msg)
{
	static const char prefix[] = "panic: ";
	char line[1024];
	uint32_t n = bh__len(msg);
	uint32_t keep = n < sizeof line - (sizeof prefix - 1) ? n : (uint32_t)(sizeof line - (sizeof prefix - 1));
	memcpy(line, prefix, sizeof prefix - 1);
	if (keep > 0)
		memcpy(line + sizeof prefix - 1, msg, keep);
	blockhost_log(BH_LOG_ERROR, line, (uint32_t)(sizeof prefix - 1) + keep);
	blockhost_error_set(BH_EXECUTION_FAILED, BH__S(msg), 0, 0, BH_RETRY_DEFAULT);
	__builtin_trap();
}

/* bh_panicf is bh_panic with a printf-style message (formatted into a
 * fixed 1 KiB buffer: it does not allocate). */
BH__NORETURN BH__PRINTF(1, 2) static inline void bh_panicf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	bh_panic(msg);
}

/* ------------------------------------------------------------------------
 * Inputs (ABI.md 4.1)
 * ------------------------------------------------------------------------ */

/* bh_input_len returns the byte length of input key (-BH_NOT_FOUND if the
 * step has no such input). */
static inline int64_t bh_input_len(const char *key)
{
	return blockhost_input_len(BH__S(key));
}

/*
 * bh_input_read copies up to len bytes of input key, from byte offset on,
 * into buf and returns how many it copied: 0 once offset reaches the end.
 * Read a large value in chunks by advancing offset:
 *
 *     static char chunk[64 * 1024];
 *     for (int64_t off = 0;;) {
 *         int32_t n = bh_input_read("data", off, chunk, sizeof chunk);
 *         if (n < 0) return bh_report(n);
 *         if (n == 0) break;
 *         ... use chunk[0..n) ...
 *         off += n;
 *     }
 */
static inline int32_t bh_input_read(const char *key, int64_t offset, void *buf, uint32_t len)
{
	return blockhost_input_read(BH__S(key), offset, buf, len);
}

/* bh_input_get reads the whole value of input key into out (NUL-terminated)
 * and returns its length. For large values prefer bh_input_read or
 * bh_input_open: this one holds the value in memory. */
static inline int32_t bh_input_get(const char *key, bh_buf *out)
{
	uint32_t key_len = bh__len(key);
	key = key ? key : "";
	if (out->data == NULL)
		bh_buf_reserve(out, BH__BUF_START);
	/* One read is enough for a value shorter than the buffer. */
	int32_t n = blockhost_input_read(key, key_len, 0, out->data, out->cap);
	if (n < 0) {
		bh_buf_reset(out);
		return n;
	}
	uint32_t off = (uint32_t)n;
	out->len = off; /* kept by bh_buf_reserve */
	if (off == out->cap) {
		int64_t total = blockhost_input_len(key, key_len);
		if (total < 0) {
			bh_buf_reset(out);
			return (int32_t)total;
		}
		if (total > INT32_MAX - 1)
			bh__oom();
		bh_buf_reserve(out, (uint32_t)total);
		while (off < (uint32_t)total) {
			n = blockhost_input_read(key, key_len, off, out->data + off, (uint32_t)total - off);
			if (n < 0) {
				bh_buf_reset(out);
				return n;
			}
			if (n == 0)
				break;
			off += (uint32_t)n;
		}
	}
	out->len = off;
	out->data[off] = '\0';
	return (int32_t)off;
}

/* bh_input_open opens a readable handle over input key, to pass on to
 * bh_output_from_handle, bh_blob_put_from or an HTTP body without copying
 * the value through the block's memory. */
static inline bh_handle bh_input_open(const char *key)
{
	return blockhost_input_open(BH__S(key));
}

/* bh_input_keys copies out the JSON array of the input keys, sorted
 * (["a","b"]). */
static inline int32_t bh_input_keys(bh_buf *out)
{
	return bh__copy_out(BH__INPUT_KEYS, NULL, 0, 0, out);
}

/* bh_inputs_json copies out a JSON object of every input ({"a":"1"}); for
 * small steps. */
static inline int32_t bh_inputs_json(bh_buf *out)
{
	return bh__copy_out(BH__INPUTS_JSON, NULL, 0, 0, out);
}

/* ------------------------------------------------------------------------
 * Outputs (ABI.md 4.2)
 * ------------------------------------------------------------------------ */

/* bh_output_set sets output key to the len bytes at val (the host copies
 * them), replacing any earlier value. -BH_LIMIT_EXCEEDED past the step's
 * output cap, which also dooms the step (QUOTA_EXCEEDED). */
static inline int32_t bh_output_set(const char *key, const void *val, uint32_t len)
{
	return blockhost_output_set(BH__S(key), val, len);
}

/* bh_output_set_str sets output key to the C string val. */
static inline int32_t bh_output_set_str(const char *key, const char *val)
{
	return blockhost_output_set(BH__S(key), BH__S(val));
}

/* bh_output_set_i64 sets output key to v in decimal. */
static inline int32_t bh_output_set_i64(const char *key, int64_t v)
{
	char tmp[21];
	return blockhost_output_set(BH__S(key), tmp, bh__i64(tmp, v));
}

/* bh_output_open opens a writable handle whose bytes (bh_handle_write)
 * become output key when it is closed, by bh_handle_close or by the host at
 * the end of the step. */
static inline bh_handle bh_output_open(const char *key)
{
	return blockhost_output_open(BH__S(key));
}

/* bh_output_from_handle reads the readable handle h to its end on the host
 * side, sets output key to its bytes and closes h (whatever the outcome). */
static inline int32_t bh_output_from_handle(const char *key, bh_handle h)
{
	return blockhost_output_from_handle(BH__S(key), h);
}

/* ------------------------------------------------------------------------
 * Context and config (ABI.md 4.3)
 * ------------------------------------------------------------------------ */

/* bh_context_get copies out context value key (a BH_CTX_* key) into out;
 * -BH_NOT_FOUND for a key the host does not know. */
static inline int32_t bh_context_get(const char *key, bh_buf *out)
{
	return bh__copy_out(BH__CONTEXT_GET, BH__S(key), 0, out);
}

/* bh_config_get copies out the block's config value key (the manifest's
 * config, overridden by the operator); -BH_NOT_FOUND if it is not set. */
static inline int32_t bh_config_get(const char *key, bh_buf *out)
{
	return bh__copy_out(BH__CONFIG_GET, BH__S(key), 0, out);
}

/* ------------------------------------------------------------------------
 * Handles and buffers (ABI.md 3 "Handles", 4.5)
 * ------------------------------------------------------------------------ */

/* bh_handle_read reads up to len bytes of readable h into buf and returns
 * how many: possibly fewer than asked before the end, 0 only at the end. */
static inline int32_t bh_handle_read(bh_handle h, void *buf, uint32_t len)
{
	return blockhost_handle_read(h, buf, len);
}

/* bh_handle_write writes all len bytes to writable h; returns len. */
static inline int32_t bh_handle_write(bh_handle h, const void *buf, uint32_t len)
{
	return blockhost_handle_write(h, buf, len);
}

/* bh_handle_write_str writes the C string s to writable h. */
static inline int32_t bh_handle_write_str(bh_handle h, const char *s)
{
	return blockhost_handle_write(h, BH__S(s));
}

/* bh_handle_size returns the total size of h when the host knows it (an
 * input, a blob, what was written so far, an HTTP Content-Length);
 * -BH_UNSUPPORTED otherwise. */
static inline int64_t bh_handle_size(bh_handle h)
{
	return blockhost_handle_size(h);
}

/* bh_handle_close closes h. Closing a writable handle commits it (the
 * output value, the blob) and returns the commit's failure, if any; h is
 * closed either way. */
static inline int32_t bh_handle_close(bh_handle h)
{
	return blockhost_handle_close(h);
}

/* bh_buffer_new returns a new in-memory handle, readable and writable:
 * reads return the bytes written, first in, first out. */
static inline bh_handle bh_buffer_new(void)
{
	return blockhost_buffer_new();
}

/* bh_buffer_from returns a new buffer holding the len bytes at data, ready
 * to pass as an HTTP body or blob source. */
static inline bh_handle bh_buffer_from(const void *data, uint32_t len)
{
	bh_handle b = blockhost_buffer_new();
	if (b < 0)
		return b;
	int32_t st = blockhost_handle_write(b, data, len);
	if (st < 0) {
		blockhost_handle_close(b);
		return st;
	}
	return b;
}

/* bh_handle_read_all reads readable h to its end into out (NUL-terminated)
 * and returns the length. h stays open. */
static inline int32_t bh_handle_read_all(bh_handle h, bh_buf *out)
{
	bh_buf_reset(out);
	int64_t size = blockhost_handle_size(h);
	if (size > 0 && size < INT32_MAX)
		bh_buf_reserve(out, (uint32_t)size);
	else if (out->data == NULL)
		bh_buf_reserve(out, BH__BUF_START);
	for (;;) {
		if (out->len == out->cap) {
			if (out->cap >= INT32_MAX / 2)
				bh__oom();
			bh_buf_reserve(out, out->cap * 2);
		}
		int32_t n = blockhost_handle_read(h, out->data + out->len, out->cap - out->len);
		if (n < 0) {
			bh_buf_reset(out);
			return n;
		}
		if (n == 0)
			break;
		out->len += (uint32_t)n;
	}
	out->data[out->len] = '\0';
	return (int32_t)out->len;
}

/*
 * bh_handle_copy reads readable src to its end and writes everything to
 * writable dst, through buf (len bytes; NULL uses an 8 KiB buffer on the
 * stack). It returns the number of bytes copied; neither handle is closed.
 * On failure the status of the failing read or write is returned.
 */
static inline int64_t bh_handle_copy(bh_handle dst, bh_handle src, void *buf, uint32_t len)
{
	char small[8192];
	if (buf == NULL || len == 0) {
		buf = small;
		len = (uint32_t)sizeof small;
	}
	int64_t total = 0;
	for (;;) {
		int32_t n = blockhost_handle_read(src, buf, len);
		if (n < 0)
			return n;
		if (n == 0)
			return total;
		int32_t w = blockhost_handle_write(dst, buf, (uint32_t)n);
		if (w < 0)
			return w;
		total += n;
	}
}

/* ------------------------------------------------------------------------
 * HTTP (ABI.md 4.6)
 * ------------------------------------------------------------------------ */

/*
 * bh_http_request performs one request described by the JSON document
 * req_json ({"method":"GET","url":"https://...","headers":{...},
 * "timeout_ms":0,"connect_timeout_ms":0}) with body (0, BH_NO_BODY, or a
 * readable handle, which the call consumes). It returns a readable handle
 * over the response body, whatever the HTTP status; failures to get a
 * response: -BH_DENIED, -BH_CIRCUIT_OPEN, -BH_NETWORK_ERROR,
 * -BH_CONNECTION_TIMEOUT, -BH_TIMEOUT, -BH_CANCELLED, -BH_LIMIT_EXCEEDED,
 * -BH_INVALID_ARGUMENT. The host follows up to 10 redirects, each checked
 * against the block's egress rules.
 */
static inline bh_handle bh_http_request(const char *req_json, bh_handle body)
{
	return blockhost_http_request(BH__S(req_json), body);
}

/* The body argument of a request without a body. */
#define BH_NO_BODY 0

/* bh_http_req describes a request for bh_http_do. */
typedef struct bh_http_req {
	const char *method;         /* NULL is "GET" */
	const char *url;            /* absolute http or https URL */
	const char *headers_json;   /* NULL, or a JSON object {"Name":["value"]} */
	int32_t timeout_ms;         /* whole exchange; 0 is the host's default (30 s) */
	int32_t connect_timeout_ms; /* connecting; 0 is the host's default (5 s) */
} bh_http_req;

/*
 * bh_http_do builds the JSON document of req and performs it
 * (bh_http_request). Then read the status and headers with
 * bh_http_response_meta and the body with bh_handle_read.
 *
 *     bh_http_req req = {.method = "POST", .url = url,
 *                        .headers_json = "{\"Content-Type\":[\"application/json\"]}"};
 *     bh_handle resp = bh_http_do(&req, bh_buffer_from(json, json_len));
 */
static inline bh_handle bh_http_do(const bh_http_req *req, bh_handle body)
{
	bh_buf doc = BH_BUF_INIT;
	const char *method = req->method ? req->method : "GET";
	const char *url = req->url ? req->url : "";
	bh_buf_append_str(&doc, "{\"method\":");
	bh_buf_append_json_string(&doc, method, bh__len(method));
	bh_buf_append_str(&doc, ",\"url\":");
	bh_buf_append_json_string(&doc, url, bh__len(url));
	if (req->headers_json != NULL) {
		bh_buf_append_str(&doc, ",\"headers\":");
		bh_buf_append_str(&doc, req->headers_json);
	}
	if (req->timeout_ms > 0) {
		bh_buf_append_str(&doc, ",\"timeout_ms\":");
		bh_buf_append_i64(&doc, req->timeout_ms);
	}
	if (req->connect_timeout_ms > 0) {
		bh_buf_append_str(&doc, ",\"connect_timeout_ms\":");
		bh_buf_append_i64(&doc, req->connect_timeout_ms);
	}
	bh_buf_append_str(&doc, "}");
	bh_handle h = blockhost_http_request(doc.data, doc.len, body);
	bh_buf_free(&doc);
	return h;
}

/* bh_http_response_meta copies out the response's status and headers,
 * {"status":200,"headers":{"Content-Type":["text/plain"]}}, while the body
 * handle h is open. */
static inline int32_t bh_http_response_meta(bh_handle h, bh_buf *out)
{
	return bh__copy_out(BH__HTTP_RESPONSE_META, NULL, 0, h, out);
}

/* bh_http_status returns the status of a response (bh_http_response_meta
 * of handle h), or the failed call's status (< 0). */
static inline int32_t bh_http_status(bh_handle h)
{
	bh_buf meta = BH_BUF_INIT;
	int32_t st = bh_http_response_meta(h, &meta);
	if (st >= 0) {
		const char *p = strstr(meta.data, "\"status\":");
		st = 0;
		if (p != NULL)
			for (p += 9; *p >= '0' && *p <= '9' && st < 1000; p++)
				st = st * 10 + (*p - '0');
	}
	bh_buf_free(&meta);
	return st;
}

/* ------------------------------------------------------------------------
 * Blobs (ABI.md 4.7)
 *
 * Keys are '/'-separated paths under the root the operator grants. An
 * absolute key, a "." or ".." segment, an empty segment, a backslash or a
 * NUL is refused with -BH_DENIED, like a block without the capability.
 * ------------------------------------------------------------------------ */

/* bh_blob_open_read opens blob key for reading; reads see the blob as it
 * was when opened. -BH_NOT_FOUND if there is none. */
static inline bh_handle bh_blob_open_read(const char *key)
{
	return blockhost_blob_open_read(BH__S(key));
}

/* bh_blob_open_write opens blob key for writing. Nothing is visible until
 * the handle is closed (by bh_handle_close or at the end of the step),
 * which commits it atomically and durably. */
static inline bh_handle bh_blob_open_write(const char *key)
{
	return blockhost_blob_open_write(BH__S(key));
}

/* bh_blob_put_from writes blob key from readable handle h on the host side
 * (atomically, like bh_blob_open_write) and closes h. */
static inline int32_t bh_blob_put_from(const char *key, bh_handle h)
{
	return blockhost_blob_put_from(BH__S(key), h);
}

/* bh_blob_put writes blob key from the len bytes at data: through a buffer
 * and bh_blob_put_from, so a failure leaves the blob untouched. */
static inline int32_t bh_blob_put(const char *key, const void *data, uint32_t len)
{
	bh_handle b = bh_buffer_from(data, len);
	if (b < 0)
		return b;
	return blockhost_blob_put_from(BH__S(key), b);
}

/* bh_blob_get reads blob key into out and returns its length. */
static inline int32_t bh_blob_get(const char *key, bh_buf *out)
{
	bh_handle h = blockhost_blob_open_read(BH__S(key));
	if (h < 0) {
		bh_buf_reset(out);
		return h;
	}
	int32_t n = bh_handle_read_all(h, out);
	blockhost_handle_close(h);
	return n;
}

/* bh_blob_delete deletes blob key; -BH_NOT_FOUND if there is none. */
static inline int32_t bh_blob_delete(const char *key)
{
	return blockhost_blob_delete(BH__S(key));
}

/* bh_blob_stat copies out {"key":"a/b","size":123,"modified_unix_ms":...}
 * describing blob key; -BH_NOT_FOUND if there is none. */
static inline int32_t bh_blob_stat(const char *key, bh_buf *out)
{
	return bh__copy_out(BH__BLOB_STAT, BH__S(key), 0, out);
}

/* bh_blob_list copies out a JSON array of such objects for every blob whose
 * key starts with prefix ("" lists all), sorted by key. */
static inline int32_t bh_blob_list(const char *prefix, bh_buf *out)
{
	return bh__copy_out(BH__BLOB_LIST, BH__S(prefix), 0, out);
}

#ifdef __cplusplus
}
#endif

#endif /* BLOCKHOST_H */
