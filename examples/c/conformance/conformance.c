/*
 * conformance_c: the conformance block of the C SDK. It implements the
 * table of tests/conformance/README.md: the input "op" selects what a step
 * does, and between them the ops call all 26 blockhost functions.
 *
 * "Report" in the table means: a host call returned a negative status, so
 * the step fails with that host code and the detail of last_error. That is
 * bh_report(status), which returns the code for the entry point to return.
 *
 * Build: scripts/build-c.sh (see docs/write-a-block/c.md).
 */
#include <string.h>

#include "blockhost.h"

/* Reads and copies go through this buffer, at most 64 KiB at a time. Its
 * contents never outlive the step that wrote them. */
#define CHUNK (64 * 1024)
static char chunk[CHUNK];

/* fail3 fails the step with code and the message a + b + c. (Messages are
 * built by hand: bh_failf would link wasi-libc's printf, about 15 KiB.) */
static int32_t fail3(int32_t code, const char *a, const char *b, const char *c)
{
	bh_buf msg = BH_BUF_INIT;
	bh_buf_append_str(&msg, a);
	bh_buf_append_str(&msg, b);
	bh_buf_append_str(&msg, c);
	code = bh_fail(code, msg.data);
	bh_buf_free(&msg);
	return code;
}

/* optional reads input key into out; absent inputs read as def. */
static int32_t optional(const char *key, bh_buf *out, const char *def)
{
	int32_t st = bh_input_get(key, out);
	if (st == -BH_NOT_FOUND) {
		bh_buf_reset(out);
		bh_buf_append_str(out, def);
		return 0;
	}
	return st;
}

/* parse_i32 parses the whole of s as a decimal int32 ("-5", "0", "1234"). */
static int parse_i32(const bh_buf *s, int32_t *out)
{
	uint32_t i = 0;
	int neg = 0;
	int64_t v = 0;
	if (s->len > 0 && (s->data[0] == '-' || s->data[0] == '+')) {
		neg = s->data[0] == '-';
		i = 1;
	}
	if (i == s->len)
		return 0;
	for (; i < s->len; i++) {
		char c = s->data[i];
		if (c < '0' || c > '9')
			return 0;
		v = v * 10 + (c - '0');
		if (v > (int64_t)INT32_MAX + 1)
			return 0;
	}
	if (neg)
		v = -v;
	if (v < INT32_MIN || v > INT32_MAX)
		return 0;
	*out = (int32_t)v;
	return 1;
}

/* number reads input key as a decimal int32; absent is 0. It returns 0, or
 * the code the step ends with (the failure is already reported). */
static int32_t number(const char *key, int32_t *out)
{
	bh_buf v = BH_BUF_INIT;
	int32_t ret = 0;
	int32_t st = optional(key, &v, "0");
	if (st < 0)
		ret = bh_report(st);
	else if (!parse_i32(&v, out))
		ret = fail3(BH_INVALID_INPUT, key, ": not a decimal number: ", v.data);
	bh_buf_free(&v);
	return ret;
}

/* pump copies readable src to writable dst in chunks of 64 KiB (handle_read
 * then handle_write until handle_read returns 0); 0 or a failed status. */
static int32_t pump(bh_handle src, bh_handle dst)
{
	int64_t n = bh_handle_copy(dst, src, chunk, CHUNK);
	return n < 0 ? (int32_t)n : 0;
}

/* echo: text read with input_len and input_read in chunks, set as output
 * "echo"; "keys" and "inputs" are input_keys and inputs_json verbatim. */
static int32_t op_echo(void)
{
	int64_t len = bh_input_len("text");
	if (len < 0)
		return bh_report(len);
	char *text = (char *)bh_alloc((size_t)len);
	bh_buf json = BH_BUF_INIT;
	int32_t ret = 0, st;
	int64_t off = 0;
	while (off < len) {
		int64_t want = len - off < CHUNK ? len - off : CHUNK;
		st = bh_input_read("text", off, text + off, (uint32_t)want);
		if (st < 0) {
			ret = bh_report(st);
			goto out;
		}
		if (st == 0)
			break;
		off += st;
	}
	if ((st = bh_output_set("echo", text, (uint32_t)off)) < 0 ||
	    (st = bh_input_keys(&json)) < 0 ||
	    (st = bh_output_set("keys", json.data, json.len)) < 0 ||
	    (st = bh_inputs_json(&json)) < 0 ||
	    (st = bh_output_set("inputs", json.data, json.len)) < 0)
		ret = bh_report(st);
out:
	free(text);
	bh_buf_free(&json);
	return ret;
}

/* error: error_set with the inputs (via=error_set), or return the code
 * without it (via=return). */
static int32_t op_error(void)
{
	int32_t code = 0, http_status = 0, retry_after_ms = 0, retryable = 0, ret, st;
	bh_buf message = BH_BUF_INIT, via = BH_BUF_INIT;
	if ((ret = number("code", &code)) != 0 ||
	    (ret = number("http_status", &http_status)) != 0 ||
	    (ret = number("retry_after_ms", &retry_after_ms)) != 0 ||
	    (ret = number("retryable", &retryable)) != 0)
		goto out;
	if ((st = optional("message", &message, "")) < 0 ||
	    (st = optional("via", &via, "error_set")) < 0) {
		ret = bh_report(st);
		goto out;
	}
	if (strcmp(via.data, "return") == 0) {
		ret = code;
	} else if (strcmp(via.data, "error_set") == 0) {
		st = blockhost_error_set(code, message.data, message.len,
		                         http_status, retry_after_ms, retryable);
		if (st == 0) {
			ret = code;
		} else if ((st = bh_output_set_i64("error_set_status", st)) < 0) {
			ret = bh_report(st);
		}
	} else {
		ret = fail3(BH_INVALID_INPUT, "unknown via \"", via.data, "\" (want error_set or return)");
	}
out:
	bh_buf_free(&message);
	bh_buf_free(&via);
	return ret;
}

/* log: log(level, message); "status" is its return value. */
static int32_t op_log(void)
{
	int32_t level = 0, ret, st;
	bh_buf message = BH_BUF_INIT;
	if ((ret = number("level", &level)) != 0)
		return ret;
	if ((st = optional("message", &message, "")) < 0) {
		ret = bh_report(st);
	} else {
		st = blockhost_log(level, message.data, message.len);
		if ((st = bh_output_set_i64("status", st)) < 0)
			ret = bh_report(st);
	}
	bh_buf_free(&message);
	return ret;
}

/* config: "value" is config_get(key). */
static int32_t op_config(void)
{
	bh_buf key = BH_BUF_INIT, value = BH_BUF_INIT;
	int32_t ret = 0, st;
	if ((st = bh_input_get("key", &key)) < 0 ||
	    (st = bh_config_get(key.data, &value)) < 0 ||
	    (st = bh_output_set("value", value.data, value.len)) < 0)
		ret = bh_report(st);
	bh_buf_free(&key);
	bh_buf_free(&value);
	return ret;
}

/* context: one output per context key; "missing" is the status of
 * context_get("nope"). */
static int32_t op_context(void)
{
	static const char *const keys[] = {
		BH_CTX_TENANT_ID, BH_CTX_TRACE_ID, BH_CTX_RUN_ID, BH_CTX_FLOW_ID,
		BH_CTX_STEP_ID, BH_CTX_STEP_TYPE, BH_CTX_ATTEMPT,
	};
	bh_buf value = BH_BUF_INIT;
	int32_t ret = 0, st;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((st = bh_context_get(keys[i], &value)) < 0 ||
		    (st = bh_output_set(keys[i], value.data, value.len)) < 0) {
			ret = bh_report(st);
			goto out;
		}
	}
	st = bh_context_get("nope", &value);
	if ((st = bh_output_set_i64("missing", st)) < 0)
		ret = bh_report(st);
out:
	bh_buf_free(&value);
	return ret;
}

/* stream: input "data" pumped into output "stream" through the block's
 * memory, and into output "copy" on the host side; "size" is its length. */
static int32_t op_stream(void)
{
	bh_handle in, out, copy;
	int32_t st;
	int64_t size;
	if ((st = in = bh_input_open("data")) < 0 ||
	    (st = out = bh_output_open("stream")) < 0 ||
	    (st = pump(in, out)) < 0 ||
	    (st = bh_handle_close(out)) < 0 ||
	    (st = bh_handle_close(in)) < 0 ||
	    (st = copy = bh_input_open("data")) < 0 ||
	    (st = bh_output_from_handle("copy", copy)) < 0)
		return bh_report(st);
	if ((size = bh_input_len("data")) < 0)
		return bh_report(size);
	if ((st = bh_output_set_i64("size", size)) < 0)
		return bh_report(st);
	return 0;
}

/* buffer: text written twice into a buffer, which becomes output "twice";
 * "size" is handle_size of the buffer. */
static int32_t op_buffer(void)
{
	bh_buf text = BH_BUF_INIT;
	bh_handle b = 0;
	int32_t ret = 0, st;
	int64_t size = 0;
	if ((st = bh_input_get("text", &text)) < 0 ||
	    (st = b = bh_buffer_new()) < 0 ||
	    (st = bh_handle_write(b, text.data, text.len)) < 0 ||
	    (st = bh_handle_write(b, text.data, text.len)) < 0 ||
	    (st = (int32_t)(size = bh_handle_size(b))) < 0 ||
	    (st = bh_output_from_handle("twice", b)) < 0 ||
	    (st = bh_output_set_i64("size", size)) < 0)
		ret = bh_report(st);
	bh_buf_free(&text);
	return ret;
}

/* http: http_request with the bytes of "request" and "body" as the body
 * (0 when absent); "meta" is http_response_meta verbatim and the response
 * body is pumped into output "body". */
static int32_t op_http(void)
{
	bh_buf request = BH_BUF_INIT, meta = BH_BUF_INIT;
	bh_handle body = 0, resp, out;
	int32_t ret = 0, st;
	if ((st = bh_input_get("request", &request)) < 0)
		goto fail;
	body = bh_input_open("body");
	if (body == -BH_NOT_FOUND)
		body = BH_NO_BODY;
	else if ((st = body) < 0)
		goto fail;
	/* The raw import: the document goes to the host byte for byte. */
	if ((st = resp = blockhost_http_request(request.data, request.len, body)) < 0 ||
	    (st = bh_http_response_meta(resp, &meta)) < 0 ||
	    (st = bh_output_set("meta", meta.data, meta.len)) < 0 ||
	    (st = out = bh_output_open("body")) < 0 ||
	    (st = pump(resp, out)) < 0 ||
	    (st = bh_handle_close(out)) < 0 ||
	    (st = bh_handle_close(resp)) < 0)
		goto fail;
	goto out;
fail:
	ret = bh_report(st);
out:
	bh_buf_free(&request);
	bh_buf_free(&meta);
	return ret;
}

/* fs_write writes input "data" to blob key through blob_open_write, read
 * with input_read in chunks of 64 KiB. */
static int32_t fs_write(const char *key)
{
	bh_handle w = bh_blob_open_write(key);
	if (w < 0)
		return w;
	for (int64_t off = 0;;) {
		int32_t n = bh_input_read("data", off, chunk, CHUNK);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		int32_t st = bh_handle_write(w, chunk, (uint32_t)n);
		if (st < 0)
			return st;
		off += n;
	}
	return bh_handle_close(w);
}

/* fs: the seven blob steps of the table. */
static int32_t op_fs(void)
{
	bh_buf key = BH_BUF_INIT, key2 = BH_BUF_INIT, prefix = BH_BUF_INIT, json = BH_BUF_INIT;
	bh_handle h, out;
	int32_t ret = 0, st;
	if ((st = bh_input_get("key", &key)) < 0 ||
	    (st = bh_input_get("key2", &key2)) < 0 ||
	    (st = optional("prefix", &prefix, "")) < 0 ||
	    /* 1 */ (st = fs_write(key.data)) < 0 ||
	    /* 2 */ (st = h = bh_input_open("data")) < 0 ||
	    (st = bh_blob_put_from(key2.data, h)) < 0 ||
	    /* 3 */ (st = h = bh_blob_open_read(key.data)) < 0 ||
	    (st = out = bh_output_open("read")) < 0 ||
	    (st = pump(h, out)) < 0 ||
	    (st = bh_handle_close(out)) < 0 ||
	    (st = bh_handle_close(h)) < 0 ||
	    /* 4 */ (st = bh_blob_stat(key.data, &json)) < 0 ||
	    (st = bh_output_set("stat", json.data, json.len)) < 0 ||
	    /* 5 */ (st = bh_blob_list(prefix.data, &json)) < 0 ||
	    (st = bh_output_set("list", json.data, json.len)) < 0 ||
	    /* 6 */ (st = bh_blob_delete(key2.data)) < 0) {
		ret = bh_report(st);
		goto out;
	}
	/* 7 */
	st = bh_blob_stat(key2.data, &json);
	if (st >= 0) {
		ret = fail3(BH_EXECUTION_FAILED, "blob \"", key2.data, "\" is still there after blob_delete");
		goto out;
	}
	if (st != -BH_NOT_FOUND || (st = bh_output_set_str("deleted", "yes")) < 0)
		ret = bh_report(st);
out:
	bh_buf_free(&key);
	bh_buf_free(&key2);
	bh_buf_free(&prefix);
	bh_buf_free(&json);
	return ret;
}

/* abort: the C way to fail hard. */
static int32_t op_abort(void)
{
	bh_buf message = BH_BUF_INIT;
	int32_t st = optional("message", &message, "abort");
	if (st < 0)
		return bh_report(st);
	bh_panic(message.data);
}

static const struct {
	const char *name;
	int32_t (*run)(void);
} ops[] = {
	{"echo", op_echo},
	{"error", op_error},
	{"log", op_log},
	{"config", op_config},
	{"context", op_context},
	{"stream", op_stream},
	{"buffer", op_buffer},
	{"http", op_http},
	{"fs", op_fs},
	{"abort", op_abort},
};

BH_ENTRY int32_t run(void)
{
	bh_buf op = BH_BUF_INIT;
	int32_t st = bh_input_get("op", &op);
	if (st == -BH_NOT_FOUND)
		return bh_fail(BH_INVALID_INPUT, "unknown op: input \"op\" is missing");
	if (st < 0)
		return bh_report(st);
	int32_t (*fn)(void) = NULL;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(op.data, ops[i].name) == 0)
			fn = ops[i].run;
	int32_t ret = fn != NULL ? fn() : fail3(BH_INVALID_INPUT, "unknown op \"", op.data, "\"");
	bh_buf_free(&op);
	return ret;
}
