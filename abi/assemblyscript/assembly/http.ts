// HTTP through the host's capability (abi/ABI.md 4.6).

import { host } from "./host";
import { Code } from "./codes";
import { copyOutString, errResult, HostError, hostError, okResult, Result } from "./errors";
import { Handle } from "./handle";
import { CopyOut, ptr, utf8 } from "./internal";
import { jsonString, JsonReader } from "./json";

/** The metadata of an HTTP request made through the host. */
export class HttpRequest {
  /** Header name → values, sent as given. */
  headers: Map<string, string[]> = new Map<string, string[]>();
  /**
   * Bounds the whole exchange, reading the response body included; 0 means
   * the host's default (30 s). Values above the host's maximum are lowered
   * to it.
   */
  timeoutMs: i32 = 0;
  /** Bounds establishing the connection; 0 means the host's default (5 s). */
  connectTimeoutMs: i32 = 0;

  constructor(
    /** Absolute http or https URL; the host's egress policy decides whether it may be reached. */
    public url: string,
    /** The method; GET by default. */
    public method: string = "GET",
  ) {}

  /** Adds a value to header `name`; returns this request, for chaining. */
  header(name: string, value: string): HttpRequest {
    const h = this.headers;
    if (h.has(name)) h.get(name).push(value);
    else h.set(name, [value]);
    return this;
  }

  /** The request as the JSON document http_request takes. */
  toJSON(): string {
    let s = "{\"method\":" + jsonString(this.method.length > 0 ? this.method : "GET") +
      ",\"url\":" + jsonString(this.url);
    const names = this.headers.keys();
    if (names.length > 0) {
      s += ",\"headers\":{";
      for (let i = 0; i < names.length; i++) {
        if (i > 0) s += ",";
        s += jsonString(names[i]) + ":[";
        const values = this.headers.get(names[i]);
        for (let j = 0; j < values.length; j++) {
          if (j > 0) s += ",";
          s += jsonString(values[j]);
        }
        s += "]";
      }
      s += "}";
    }
    if (this.timeoutMs > 0) s += ",\"timeout_ms\":" + this.timeoutMs.toString();
    if (this.connectTimeoutMs > 0) s += ",\"connect_timeout_ms\":" + this.connectTimeoutMs.toString();
    return s + "}";
  }
}

/**
 * A response received through the host. Any status is a response; errors
 * are failures to get one. `body` streams the response body: read it
 * (`readAll`, `readString`, `copyTo`) or pass it on (`blobPutFrom`,
 * `Step.setOutputFromHandle`), and close it when done (the host closes it
 * at the end of the step otherwise).
 */
export class HttpResponse {
  constructor(
    public readonly status: i32,
    /** Header name (canonicalised, e.g. "Content-Type") → values. */
    public readonly headers: Map<string, string[]>,
    public readonly body: Handle,
    /** The metadata JSON as the host returned it. */
    public readonly meta: string,
  ) {}

  /** The first value of header `name` (canonical spelling), or null. */
  header(name: string): string | null {
    if (!this.headers.has(name)) return null;
    const v = this.headers.get(name);
    return v.length > 0 ? v[0] : null;
  }
}

/**
 * Performs `req` through the host's HTTP capability (http_request) and
 * reads the response's status and headers (http_response_meta). `body` is
 * null for no body, or a readable handle (from `newBuffer` or
 * `Step.inputHandle`) that the call consumes. The host follows up to 10
 * redirects, each checked against the block's egress rules.
 *
 * Errors: Code.Denied (capability not granted, egress refused),
 * Code.CircuitOpen, Code.NetworkError, Code.ConnectionTimeout,
 * Code.Timeout, Code.Cancelled, Code.LimitExceeded, Code.InvalidArgument.
 */
export function httpRequest(req: HttpRequest, body: Handle | null = null): Result<HttpResponse> {
  const json = utf8(req.toJSON());
  return send(json, 0, json.byteLength, body);
}

/**
 * httpRequest with the request metadata given as JSON bytes, passed to the
 * host as they are (`{"method":"GET","url":"…","headers":{…},"timeout_ms":0}`).
 */
export function httpRequestJSON(request: Uint8Array, body: Handle | null = null): Result<HttpResponse> {
  return send(request.buffer, request.byteOffset, request.byteLength, body);
}

function send(req: ArrayBuffer, off: i32, len: i32, body: Handle | null): Result<HttpResponse> {
  const bodyId = body === null ? 0 : body.id;
  const h = host.http_request(ptr(req) + <usize>off, len, bodyId);
  if (h < 0) return errResult<HttpResponse>(hostError("http_request", h));
  const handle = new Handle(h);
  const meta = copyOutString(CopyOut.HttpResponseMeta, null, h);
  const e = meta.error;
  if (e !== null) {
    handle.close();
    return errResult<HttpResponse>(e);
  }
  const text = meta.value;
  const r = new JsonReader(text);
  let status: i32 = 0;
  let headers = new Map<string, string[]>();
  r.begin(0x7B);
  while (r.more(0x7D)) {
    const name = r.string();
    r.colon();
    if (name == "status") status = <i32>r.integer();
    else if (name == "headers") headers = r.stringArrayMap();
    else r.skip();
  }
  if (!r.end()) {
    handle.close();
    return errResult<HttpResponse>(new HostError(Code.InvalidArgument, "http_response_meta", "malformed response metadata"));
  }
  return okResult<HttpResponse>(new HttpResponse(status, headers, handle, text));
}
