//! The Rust SDK for writing blockhost blocks: WebAssembly modules that run
//! one step of a workflow and talk to the host through the `blockhost`
//! import module (ABI v1, `abi/ABI.md`).
//!
//! The SDK is this one file and has no dependencies. Use it either as a
//! module of the block's crate, building with plain `rustc`:
//!
//! ```ignore
//! #[path = "../../abi/rust/blockhost.rs"]
//! mod blockhost;
//! ```
//!
//! or as a crate, `blockhost = { path = ".../abi/rust" }` in Cargo.toml.
//! Either way the block is a `cdylib` for `wasm32-wasi` (a WASI preview 1
//! reactor) that exports `blockhost_run_v1`:
//!
//! ```ignore
//! use blockhost::{Error, Step};
//!
//! fn upper(step: &mut Step) -> Result<(), Error> {
//!     let text = step.input_string("text")?;
//!     step.set_output("text", text.to_uppercase())
//! }
//!
//! blockhost::export_block!(upper);
//! ```
//!
//! # Layers
//!
//! - [`sys`]: the 26 raw imports, with their exact wasm signatures.
//! - Free functions named after the ABI ([`input_len`], [`output_set`],
//!   [`blob_stat_json`], ...): one host call each, safe, returning
//!   [`Result`]; copy-out calls retry with a bigger buffer when the value
//!   does not fit (ABI.md 3, "Copy-out").
//! - The convenient API: [`Step`] (inputs, outputs, context, config, log),
//!   [`Handle`] (streams, with `std::io::Read`/`Write`), [`HttpRequest`],
//!   [`blob_stat`]/[`blob_list`], [`Error`] and [`export_block!`].
//!
//! # Errors
//!
//! Every fallible call returns `Result<T, Error>`. An [`Error`] from a
//! failed host call carries the host's code (e.g. [`Code::NOT_FOUND`]), the
//! ABI function that failed ([`Error::op`]) and the host's detail
//! (`last_error`) as its message. A handler that returns an `Error` fails
//! the step with its code, message, HTTP status, retry-after delay and
//! retryable override (`error_set`); so `?` on a host call reports exactly
//! what the host said, e.g. `NOT_FOUND: no input "text"`.
//!
//! A panic cannot be caught on wasm32 (it aborts, which traps): the entry
//! point installs a panic hook that reports the panic's message and
//! location to the operator — on stderr (the host quotes it in the step's
//! error message), in the step's log at error level, and with `error_set`
//! — before the trap. The step then fails with EXECUTION_FAILED, is not
//! retried, and the host discards the instance.
//!
//! # Steps
//!
//! An instance serves many steps, one call at a time; keep no per-step
//! state in statics. Everything a step opens belongs to it: handles are
//! valid only during the call that opened them, and the host closes (and
//! commits) the ones still open when the step ends.

#![allow(dead_code)]

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The ABI version this SDK implements; the entry point is
/// `blockhost_run_v1`.
pub const ABI_VERSION: u32 = 1;

/// The longest input, output, config, context or blob key, in bytes.
pub const MAX_KEY_LEN: usize = 4096;

/// The longest error message the host keeps, in bytes; longer messages
/// are cut on a character boundary by [`Error::report`].
pub const MAX_MESSAGE_LEN: usize = 8192;

/// How many handles a step may have open at once (the host's default).
pub const MAX_HANDLES: usize = 64;

/// The chunk size the SDK reads and copies with: inputs are read with
/// `input_read` in chunks of at most this many bytes, and handles are
/// pumped through a buffer of this size.
pub const CHUNK: usize = 64 << 10;

// ---------------------------------------------------------------------------
// Raw imports
// ---------------------------------------------------------------------------

/// The raw imports of module `blockhost` (ABI.md section 4).
///
/// On wasm32 a pointer and a `usize` are both `i32`, so each declaration
/// has exactly the wasm signature of the ABI: `(key_ptr, key_len)` pairs
/// are `*const u8, usize`, buffers the host fills are `*mut u8, usize`,
/// handles, codes and levels are `i32`, offsets and sizes `i64`.
///
/// Every function returns a status: a non-negative result, or a negated
/// [`Code`]. They are `unsafe` because the host reads and writes the
/// memory the pointers name; the safe wrappers of the crate root are the
/// way to call them.
pub mod sys {
    #[link(wasm_import_module = "blockhost")]
    extern "C" {
        /// `input_len(key) -> i64`: the byte length of input `key`.
        pub fn input_len(key_ptr: *const u8, key_len: usize) -> i64;
        /// `input_read(key, offset, buf)`: copies bytes of input `key`
        /// from `offset`; returns the count, 0 at the end.
        pub fn input_read(
            key_ptr: *const u8,
            key_len: usize,
            offset: i64,
            buf_ptr: *mut u8,
            buf_len: usize,
        ) -> i32;
        /// `input_open(key)`: a readable handle over input `key`.
        pub fn input_open(key_ptr: *const u8, key_len: usize) -> i32;
        /// `input_keys(buf)`: copy-out of the JSON array of input keys.
        pub fn input_keys(buf_ptr: *mut u8, buf_len: usize) -> i32;
        /// `inputs_json(buf)`: copy-out of the JSON object of all inputs.
        pub fn inputs_json(buf_ptr: *mut u8, buf_len: usize) -> i32;
        /// `output_set(key, val)`: sets output `key`.
        pub fn output_set(
            key_ptr: *const u8,
            key_len: usize,
            val_ptr: *const u8,
            val_len: usize,
        ) -> i32;
        /// `output_open(key)`: a writable handle whose bytes become output
        /// `key` when it is closed.
        pub fn output_open(key_ptr: *const u8, key_len: usize) -> i32;
        /// `output_from_handle(key, h)`: drains readable `h` into output
        /// `key` on the host side; consumes `h`.
        pub fn output_from_handle(key_ptr: *const u8, key_len: usize, h: i32) -> i32;
        /// `context_get(key, buf)`: copy-out of a context value.
        pub fn context_get(
            key_ptr: *const u8,
            key_len: usize,
            buf_ptr: *mut u8,
            buf_len: usize,
        ) -> i32;
        /// `config_get(key, buf)`: copy-out of a config value.
        pub fn config_get(
            key_ptr: *const u8,
            key_len: usize,
            buf_ptr: *mut u8,
            buf_len: usize,
        ) -> i32;
        /// `log(level, msg)`: logs `msg` at `level` (0..=3).
        pub fn log(level: i32, msg_ptr: *const u8, msg_len: usize) -> i32;
        /// `error_set(code, msg, http_status, retry_after_ms, retryable)`:
        /// records the step's failure report.
        pub fn error_set(
            code: i32,
            msg_ptr: *const u8,
            msg_len: usize,
            http_status: i32,
            retry_after_ms: i32,
            retryable: i32,
        ) -> i32;
        /// `last_error(buf)`: copy-out of the detail of the step's last
        /// failed host call.
        pub fn last_error(buf_ptr: *mut u8, buf_len: usize) -> i32;
        /// `handle_read(h, buf)`: reads from readable `h`; 0 at the end.
        pub fn handle_read(h: i32, buf_ptr: *mut u8, buf_len: usize) -> i32;
        /// `handle_write(h, buf)`: writes all of `buf` to writable `h`.
        pub fn handle_write(h: i32, buf_ptr: *const u8, buf_len: usize) -> i32;
        /// `handle_size(h) -> i64`: the total size of `h`, when known.
        pub fn handle_size(h: i32) -> i64;
        /// `handle_close(h)`: closes `h`, committing a writable one.
        pub fn handle_close(h: i32) -> i32;
        /// `buffer_new()`: a new in-memory readable and writable handle.
        pub fn buffer_new() -> i32;
        /// `http_request(req, body_h)`: performs an HTTP request described
        /// by the JSON `req`; returns the response body handle.
        pub fn http_request(req_ptr: *const u8, req_len: usize, body_h: i32) -> i32;
        /// `http_response_meta(h, buf)`: copy-out of the response's status
        /// and headers as JSON.
        pub fn http_response_meta(h: i32, buf_ptr: *mut u8, buf_len: usize) -> i32;
        /// `blob_open_read(key)`: a readable handle over blob `key`.
        pub fn blob_open_read(key_ptr: *const u8, key_len: usize) -> i32;
        /// `blob_open_write(key)`: a writable handle that commits blob
        /// `key` atomically when closed.
        pub fn blob_open_write(key_ptr: *const u8, key_len: usize) -> i32;
        /// `blob_put_from(key, h)`: writes blob `key` from readable `h` on
        /// the host side; consumes `h`.
        pub fn blob_put_from(key_ptr: *const u8, key_len: usize, h: i32) -> i32;
        /// `blob_delete(key)`: deletes blob `key`.
        pub fn blob_delete(key_ptr: *const u8, key_len: usize) -> i32;
        /// `blob_stat(key, buf)`: copy-out of the blob's JSON description.
        pub fn blob_stat(
            key_ptr: *const u8,
            key_len: usize,
            buf_ptr: *mut u8,
            buf_len: usize,
        ) -> i32;
        /// `blob_list(prefix, buf)`: copy-out of the JSON array describing
        /// the blobs whose keys start with `prefix`.
        pub fn blob_list(
            prefix_ptr: *const u8,
            prefix_len: usize,
            buf_ptr: *mut u8,
            buf_len: usize,
        ) -> i32;
    }
}

// ---------------------------------------------------------------------------
// Codes, levels, retry
// ---------------------------------------------------------------------------

/// An error code of the shared table (ABI.md section 5). Host functions
/// return it negated; a block reports a positive one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub i32);

impl Code {
    /// Success.
    pub const NONE: Code = Code(0);
    /// The input is invalid. Not retried.
    pub const INVALID_INPUT: Code = Code(1001);
    /// A required input is missing. Not retried.
    pub const MISSING_REQUIRED_FIELD: Code = Code(1002);
    /// An input is malformed. Not retried.
    pub const INVALID_FORMAT: Code = Code(1003);
    /// The block failed. Retried (not after a trap).
    pub const EXECUTION_FAILED: Code = Code(2001);
    /// A resource the block needs is unavailable. Retried.
    pub const RESOURCE_UNAVAILABLE: Code = Code(2002);
    /// The block may not do what it tried. Not retried.
    pub const PERMISSION_DENIED: Code = Code(2003);
    /// A quota or limit was exceeded. Not retried.
    pub const QUOTA_EXCEEDED: Code = Code(2004);
    /// A network failure. Retried.
    pub const NETWORK_ERROR: Code = Code(3001);
    /// A connection timed out. Retried.
    pub const CONNECTION_TIMEOUT: Code = Code(3002);
    /// An upstream HTTP failure; report it with its HTTP status: retried
    /// for 5xx and 429, not for other statuses.
    pub const HTTP_ERROR: Code = Code(3003);
    /// An internal failure. Retried.
    pub const INTERNAL_ERROR: Code = Code(4001);
    /// The system is overloaded. Retried.
    pub const SYSTEM_OVERLOAD: Code = Code(4002);
    /// The step was cancelled. Final.
    pub const CANCELLED_BY_USER: Code = Code(5001);
    /// Set by the host only, when a step times out.
    pub const CANCELLED_BY_TIMEOUT: Code = Code(5002);
    /// A failure of unknown kind. Not retried.
    pub const UNKNOWN_ERROR: Code = Code(9999);

    /// Input, config, context key or blob absent.
    pub const NOT_FOUND: Code = Code(6001);
    /// Pointer/length outside linear memory.
    pub const BAD_POINTER: Code = Code(6002);
    /// Handle not open, or of the wrong kind.
    pub const BAD_HANDLE: Code = Code(6003);
    /// Malformed argument, metadata, level or flag.
    pub const INVALID_ARGUMENT: Code = Code(6004);
    /// A size, count or handle limit.
    pub const LIMIT_EXCEEDED: Code = Code(6005);
    /// The target's circuit breaker is open.
    pub const CIRCUIT_OPEN: Code = Code(6006);
    /// Capability not granted, egress or jail policy.
    pub const DENIED: Code = Code(6007);
    /// The step was cancelled or its deadline passed.
    pub const CANCELLED: Code = Code(6008);
    /// Not available on this handle, or outside the entry point.
    pub const UNSUPPORTED: Code = Code(6009);
    /// Disk full, EIO, other storage failures.
    pub const IO_ERROR: Code = Code(6010);
    /// A host call's own timeout fired.
    pub const TIMEOUT: Code = Code(6011);

    /// The upper-case name of the code (its wire form), or
    /// `"UNKNOWN_ERROR"` for a code outside the table.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NONE",
            1001 => "INVALID_INPUT",
            1002 => "MISSING_REQUIRED_FIELD",
            1003 => "INVALID_FORMAT",
            2001 => "EXECUTION_FAILED",
            2002 => "RESOURCE_UNAVAILABLE",
            2003 => "PERMISSION_DENIED",
            2004 => "QUOTA_EXCEEDED",
            3001 => "NETWORK_ERROR",
            3002 => "CONNECTION_TIMEOUT",
            3003 => "HTTP_ERROR",
            4001 => "INTERNAL_ERROR",
            4002 => "SYSTEM_OVERLOAD",
            5001 => "CANCELLED_BY_USER",
            5002 => "CANCELLED_BY_TIMEOUT",
            6001 => "NOT_FOUND",
            6002 => "BAD_POINTER",
            6003 => "BAD_HANDLE",
            6004 => "INVALID_ARGUMENT",
            6005 => "LIMIT_EXCEEDED",
            6006 => "CIRCUIT_OPEN",
            6007 => "DENIED",
            6008 => "CANCELLED",
            6009 => "UNSUPPORTED",
            6010 => "IO_ERROR",
            6011 => "TIMEOUT",
            _ => "UNKNOWN_ERROR",
        }
    }

    /// Whether the code is in the table of ABI.md section 5.
    pub fn is_known(self) -> bool {
        self.0 == 9999 || self.name() != "UNKNOWN_ERROR"
    }

    /// Whether the code is one of the host's own codes (6001..=6011),
    /// which the host maps onto a beamline code on the wire.
    pub fn is_host(self) -> bool {
        (6001..=6011).contains(&self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// A log level of [`log`] and [`Step::log`]. The host accepts 0..=3; any
/// other value is refused with INVALID_ARGUMENT.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Level(pub i32);

impl Level {
    /// Debug (0).
    pub const DEBUG: Level = Level(0);
    /// Info (1).
    pub const INFO: Level = Level(1);
    /// Warn (2).
    pub const WARN: Level = Level(2);
    /// Error (3).
    pub const ERROR: Level = Level(3);
}

/// The retryable override of a failure report (`error_set`'s
/// `retryable`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(i32)]
pub enum Retry {
    /// Let the host classify the failure by its code (0).
    #[default]
    Default = 0,
    /// Retry whatever the code (1).
    Yes = 1,
    /// Never retry (2).
    No = 2,
}

/// The context keys readable with [`context_get`] (ABI.md 4.3).
pub mod ctx {
    /// The tenant the step runs for (may be empty).
    pub const TENANT_ID: &str = "tenant_id";
    /// The trace id, as received (may be empty).
    pub const TRACE_ID: &str = "trace_id";
    /// The run id, as received (may be empty).
    pub const RUN_ID: &str = "run_id";
    /// The flow id, as received (may be empty).
    pub const FLOW_ID: &str = "flow_id";
    /// The step's id; generated by the host when the request had none.
    pub const STEP_ID: &str = "step_id";
    /// The step type the block is serving.
    pub const STEP_TYPE: &str = "step_type";
    /// Decimal: 0 for the first attempt, 1 for the first retry, ...
    pub const ATTEMPT: &str = "attempt";
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// `Result` with [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A step failure, or a failed host call.
///
/// A handler fails its step by returning one: the entry point reports it
/// with `error_set` ([`Error::report`]). Build one with [`Error::new`] and
/// the `with_*` methods:
///
/// ```ignore
/// return Err(Error::new(Code::HTTP_ERROR, "upstream said 503")
///     .with_http_status(503)
///     .with_retry_after(Duration::from_secs(2)));
/// ```
///
/// A failed host call returns one whose `code` is the host's (e.g.
/// [`Code::NOT_FOUND`]), whose `message` is the host's detail and whose
/// `op` names the ABI function.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    /// A code of the table; 0 or less is reported as EXECUTION_FAILED, a
    /// positive code outside the table is recorded by the host as
    /// EXECUTION_FAILED.
    pub code: Code,
    /// The human-readable detail; the host keeps its first 8 KiB.
    pub message: String,
    /// The HTTP status behind the failure (with HTTP_ERROR), or 0. A value
    /// outside 100..=599 is reported as 0.
    pub http_status: u16,
    /// The least wait before a retry (rounded up to whole milliseconds),
    /// or zero for no hint.
    pub retry_after: Duration,
    /// Overrides the host's classification of the failure.
    pub retryable: Retry,
    /// For an error returned by a host call: the ABI function that failed,
    /// e.g. `"blob_open_read"`.
    pub op: Option<&'static str>,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            http_status: 0,
            retry_after: Duration::ZERO,
            retryable: Retry::Default,
            op: None,
        }
    }

    /// INVALID_INPUT with `message`.
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(Code::INVALID_INPUT, message)
    }

    /// MISSING_REQUIRED_FIELD naming the missing input `name`.
    pub fn missing_field(name: &str) -> Error {
        Error::new(
            Code::MISSING_REQUIRED_FIELD,
            format!("input {name:?} is required"),
        )
    }

    /// EXECUTION_FAILED with `message`.
    pub fn execution_failed(message: impl Into<String>) -> Error {
        Error::new(Code::EXECUTION_FAILED, message)
    }

    /// HTTP_ERROR for an upstream response with `status`; the host retries
    /// 5xx and 429 and honours a retry-after for 429 and 503.
    pub fn http(status: u16, message: impl Into<String>) -> Error {
        Error::new(Code::HTTP_ERROR, message).with_http_status(status)
    }

    /// Sets the HTTP status behind the failure.
    pub fn with_http_status(mut self, status: u16) -> Error {
        self.http_status = status;
        self
    }

    /// Sets the least wait before a retry.
    pub fn with_retry_after(mut self, delay: Duration) -> Error {
        self.retry_after = delay;
        self
    }

    /// Overrides the host's retry classification.
    pub fn with_retryable(mut self, retry: Retry) -> Error {
        self.retryable = retry;
        self
    }

    /// The error of a host call `op` that returned the negative `status`:
    /// its code, with the detail of `last_error` as the message.
    pub fn from_status(op: &'static str, status: i64) -> Error {
        let code = match status.checked_neg().map(i32::try_from) {
            Some(Ok(c)) if c > 0 => Code(c),
            _ => Code::EXECUTION_FAILED,
        };
        let mut e = Error::new(code, last_error());
        e.op = Some(op);
        e
    }

    /// Whether a host call failed because what it named does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code == Code::NOT_FOUND
    }

    /// Records this error as the step's failure report with `error_set`
    /// and returns the code the entry point returns. The message is cut to
    /// [`MAX_MESSAGE_LEN`] bytes; details the host refuses are dropped,
    /// keeping the code and message.
    pub fn report(&self) -> i32 {
        let code = if self.code.0 <= 0 {
            Code::EXECUTION_FAILED
        } else {
            self.code
        };
        let msg = truncate(&self.message, MAX_MESSAGE_LEN);
        let http_status = match self.http_status {
            100..=599 => i32::from(self.http_status),
            _ => 0,
        };
        let retry_after_ms = duration_ms(self.retry_after);
        let retryable = self.retryable as i32;
        if error_set(code, msg, http_status, retry_after_ms, retryable).is_err() {
            let _ = error_set(code, msg, 0, 0, 0);
        }
        code.0
    }
}

impl fmt::Display for Error {
    /// `op: CODE: message` for a host call, else `CODE: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = self.op {
            write!(f, "{op}: ")?;
        }
        f.write_str(self.code.name())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code).field("message", &self.message);
        if self.http_status != 0 {
            d.field("http_status", &self.http_status);
        }
        if !self.retry_after.is_zero() {
            d.field("retry_after", &self.retry_after);
        }
        if self.retryable != Retry::Default {
            d.field("retryable", &self.retryable);
        }
        if let Some(op) = self.op {
            d.field("op", &op);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.code {
            Code::NOT_FOUND => io::ErrorKind::NotFound,
            Code::DENIED => io::ErrorKind::PermissionDenied,
            Code::TIMEOUT => io::ErrorKind::TimedOut,
            Code::INVALID_ARGUMENT => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

impl From<io::Error> for Error {
    /// Recovers the [`Error`] inside an `io::Error` made from one (e.g. by
    /// a `Handle`'s `Read` or `Write`); any other is EXECUTION_FAILED.
    fn from(e: io::Error) -> Error {
        let text = e.to_string();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(inner)) => *inner,
            _ => Error::execution_failed(text),
        }
    }
}

/// Turns a NOT_FOUND failure into `Ok(None)`, for optional inputs,
/// config values and blobs:
///
/// ```ignore
/// let via = step.input_string("via").optional()?.unwrap_or_default();
/// ```
pub trait Optional<T> {
    /// `Ok(Some(v))` for `Ok(v)`, `Ok(None)` for a NOT_FOUND error, the
    /// error otherwise.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> Optional<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Checks a status: `Ok` with the non-negative value, or the error of
/// host call `op`.
fn check(op: &'static str, status: i32) -> Result<i32> {
    if status < 0 {
        Err(Error::from_status(op, i64::from(status)))
    } else {
        Ok(status)
    }
}

fn check64(op: &'static str, status: i64) -> Result<u64> {
    if status < 0 {
        Err(Error::from_status(op, status))
    } else {
        Ok(status as u64)
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut n = max;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Whole milliseconds, rounded up and clamped to the i32 range.
fn duration_ms(d: Duration) -> i32 {
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    i32::try_from(ms).unwrap_or(i32::MAX)
}

fn into_string(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// Copy-out
// ---------------------------------------------------------------------------

/// The first buffer size of a copy-out call.
const COPY_OUT_START: usize = 256;

/// Runs a copy-out call: `call(ptr, len)` returns the value's full length
/// and copied it only if it fit, so a longer value is asked for again
/// with a buffer of that length.
fn copy_out(op: &'static str, mut call: impl FnMut(*mut u8, usize) -> i32) -> Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(COPY_OUT_START);
    for _ in 0..8 {
        let cap = buf.capacity();
        let n = check(op, call(buf.as_mut_ptr(), cap))? as usize;
        if n <= cap {
            // SAFETY: the host wrote the first n bytes.
            unsafe { buf.set_len(n) };
            return Ok(buf);
        }
        buf.reserve_exact(n);
    }
    let mut e = Error::new(Code::UNSUPPORTED, "the value kept growing between calls");
    e.op = Some(op);
    Err(e)
}

// ---------------------------------------------------------------------------
// One host call each
// ---------------------------------------------------------------------------

/// The byte length of input `key` (`input_len`). NOT_FOUND if absent.
pub fn input_len(key: &str) -> Result<u64> {
    check64("input_len", unsafe {
        sys::input_len(key.as_ptr(), key.len())
    })
}

/// Copies bytes of input `key`, from byte `offset`, into `buf`
/// (`input_read`); returns how many, 0 when `offset` is at or past the
/// end.
pub fn input_read(key: &str, offset: u64, buf: &mut [u8]) -> Result<usize> {
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let n =
        unsafe { sys::input_read(key.as_ptr(), key.len(), offset, buf.as_mut_ptr(), buf.len()) };
    check("input_read", n).map(|n| n as usize)
}

/// A readable handle over input `key` (`input_open`), to pass on to
/// [`output_from_handle`], [`blob_put_from`] or an HTTP body without
/// copying the value through the block's memory.
pub fn input_open(key: &str) -> Result<Handle> {
    let h = check("input_open", unsafe {
        sys::input_open(key.as_ptr(), key.len())
    })?;
    Ok(Handle(h))
}

/// The JSON array of the step's input keys, sorted, e.g. `["a","b"]`
/// (`input_keys`).
pub fn input_keys_json() -> Result<String> {
    copy_out("input_keys", |p, n| unsafe { sys::input_keys(p, n) }).map(into_string)
}

/// The JSON object of all inputs, e.g. `{"a":"1"}` (`inputs_json`). Meant
/// for small steps; bytes that are not UTF-8 come out as U+FFFD.
pub fn inputs_json() -> Result<String> {
    copy_out("inputs_json", |p, n| unsafe { sys::inputs_json(p, n) }).map(into_string)
}

/// Sets output `key` to `value`, replacing any earlier value
/// (`output_set`). LIMIT_EXCEEDED past the step's output cap, which
/// then fails the step with QUOTA_EXCEEDED.
pub fn output_set(key: &str, value: &[u8]) -> Result<()> {
    let st = unsafe { sys::output_set(key.as_ptr(), key.len(), value.as_ptr(), value.len()) };
    check("output_set", st).map(drop)
}

/// A writable handle whose bytes become output `key` when it is closed
/// (`output_open`).
pub fn output_open(key: &str) -> Result<Handle> {
    let h = check("output_open", unsafe {
        sys::output_open(key.as_ptr(), key.len())
    })?;
    Ok(Handle(h))
}

/// Reads the readable handle `h` to its end on the host side and sets
/// output `key` to its bytes (`output_from_handle`). Consumes `h`.
pub fn output_from_handle(key: &str, h: Handle) -> Result<()> {
    let st = unsafe { sys::output_from_handle(key.as_ptr(), key.len(), h.into_raw()) };
    check("output_from_handle", st).map(drop)
}

/// A context value by its key, see [`ctx`] (`context_get`). NOT_FOUND for
/// a key the host does not know.
pub fn context_get(key: &str) -> Result<String> {
    copy_out("context_get", |p, n| unsafe {
        sys::context_get(key.as_ptr(), key.len(), p, n)
    })
    .map(into_string)
}

/// The block's config value `key`: the manifest's, overridden by the
/// operator's (`config_get`). NOT_FOUND when it is not set.
pub fn config_get(key: &str) -> Result<String> {
    copy_out("config_get", |p, n| unsafe {
        sys::config_get(key.as_ptr(), key.len(), p, n)
    })
    .map(into_string)
}

/// Logs `msg` for this step at `level` (`log`). INVALID_ARGUMENT for a
/// level outside 0..=3. Past the step's log cap the host drops messages
/// without failing.
pub fn log(level: Level, msg: &str) -> Result<()> {
    check("log", unsafe { sys::log(level.0, msg.as_ptr(), msg.len()) }).map(drop)
}

/// Records the step's failure report as given (`error_set`); the last
/// successful call wins, and the step fails whatever the entry point
/// returns. INVALID_ARGUMENT, recording nothing, for `code <= 0`, an
/// `http_status` not 0 and outside 100..=599, a negative
/// `retry_after_ms` or a `retryable` other than 0, 1 or 2 (a [`Retry`]
/// `as i32`). [`Error::report`] is the checked way to call it.
pub fn error_set(
    code: Code,
    msg: &str,
    http_status: i32,
    retry_after_ms: i32,
    retryable: i32,
) -> Result<()> {
    let st = unsafe {
        sys::error_set(
            code.0,
            msg.as_ptr(),
            msg.len(),
            http_status,
            retry_after_ms,
            retryable,
        )
    };
    check("error_set", st).map(drop)
}

/// The detail of the step's last failed host call (`last_error`); empty
/// if none.
pub fn last_error() -> String {
    let mut buf: Vec<u8> = Vec::with_capacity(COPY_OUT_START);
    for _ in 0..4 {
        let cap = buf.capacity();
        let n = unsafe { sys::last_error(buf.as_mut_ptr(), cap) };
        if n < 0 {
            break;
        }
        let n = n as usize;
        if n <= cap {
            // SAFETY: the host wrote the first n bytes.
            unsafe { buf.set_len(n) };
            return into_string(buf);
        }
        buf.reserve_exact(n);
    }
    String::new()
}

/// A new in-memory handle, readable and writable (`buffer_new`): reads
/// return the bytes written so far, first in, first out. Pass it as an
/// HTTP body or a blob source.
pub fn buffer_new() -> Result<Handle> {
    let h = check("buffer_new", unsafe { sys::buffer_new() })?;
    Ok(Handle(h))
}

/// Performs the HTTP request described by the JSON `req` (ABI.md 4.6)
/// with `body` (consumed) and returns the response body handle
/// (`http_request`). See [`HttpRequest`] for the typed way.
pub fn http_request(req: &[u8], body: Option<Handle>) -> Result<Handle> {
    let body = body.map_or(0, Handle::into_raw);
    let h = check("http_request", unsafe {
        sys::http_request(req.as_ptr(), req.len(), body)
    })?;
    Ok(Handle(h))
}

/// The status and headers of the response whose body is `h`, as JSON
/// (`http_response_meta`), e.g.
/// `{"status":200,"headers":{"Content-Type":["text/plain"]}}`.
pub fn http_response_meta(h: &Handle) -> Result<String> {
    let raw = h.0;
    copy_out("http_response_meta", |p, n| unsafe {
        sys::http_response_meta(raw, p, n)
    })
    .map(into_string)
}

/// Opens blob `key` for reading (`blob_open_read`). NOT_FOUND, DENIED (no
/// FS capability, or a key outside the jail), CIRCUIT_OPEN, IO_ERROR,
/// TIMEOUT.
pub fn blob_open_read(key: &str) -> Result<Handle> {
    let h = check("blob_open_read", unsafe {
        sys::blob_open_read(key.as_ptr(), key.len())
    })?;
    Ok(Handle(h))
}

/// Opens blob `key` for writing (`blob_open_write`): closing the handle
/// commits it atomically and durably, creating intermediate directories.
pub fn blob_open_write(key: &str) -> Result<Handle> {
    let h = check("blob_open_write", unsafe {
        sys::blob_open_write(key.as_ptr(), key.len())
    })?;
    Ok(Handle(h))
}

/// Writes blob `key` from the readable handle `h` on the host side
/// (`blob_put_from`), with the same commit guarantee. Consumes `h`.
pub fn blob_put_from(key: &str, h: Handle) -> Result<()> {
    let st = unsafe { sys::blob_put_from(key.as_ptr(), key.len(), h.into_raw()) };
    check("blob_put_from", st).map(drop)
}

/// Deletes blob `key` (`blob_delete`); NOT_FOUND if there is none.
pub fn blob_delete(key: &str) -> Result<()> {
    check("blob_delete", unsafe {
        sys::blob_delete(key.as_ptr(), key.len())
    })
    .map(drop)
}

/// The JSON description of blob `key` (`blob_stat`), e.g.
/// `{"key":"a/b","size":123,"modified_unix_ms":1700000000000}`.
pub fn blob_stat_json(key: &str) -> Result<String> {
    copy_out("blob_stat", |p, n| unsafe {
        sys::blob_stat(key.as_ptr(), key.len(), p, n)
    })
    .map(into_string)
}

/// The JSON array describing every blob whose key starts with `prefix`
/// (`""` for all), sorted by key (`blob_list`).
pub fn blob_list_json(prefix: &str) -> Result<String> {
    copy_out("blob_list", |p, n| unsafe {
        sys::blob_list(prefix.as_ptr(), prefix.len(), p, n)
    })
    .map(into_string)
}

// ---------------------------------------------------------------------------
// Handles
// ---------------------------------------------------------------------------

/// A host-side stream owned by the current step: an input
/// ([`input_open`]), an output being written ([`output_open`]), a buffer
/// ([`buffer_new`]), an HTTP response body or a blob.
///
/// Dropping a `Handle` closes it, which commits a writable one and
/// ignores a failure: call [`Handle::close`] to see commit errors.
/// Functions that consume a handle (`output_from_handle`,
/// `blob_put_from`, an HTTP body) take it by value. `Handle` implements
/// `std::io::Read` and `std::io::Write`; its inherent `read` and `write`
/// return this SDK's [`Error`].
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Handle(i32);

impl Handle {
    /// Wraps a raw handle number, e.g. one returned by a [`sys`] call.
    pub fn from_raw(h: i32) -> Handle {
        Handle(h)
    }

    /// The raw handle number; the `Handle` still owns it.
    pub fn as_raw(&self) -> i32 {
        self.0
    }

    /// Gives up ownership of the raw handle number without closing it.
    pub fn into_raw(self) -> i32 {
        let h = self.0;
        std::mem::forget(self);
        h
    }

    /// Reads up to `buf.len()` bytes (`handle_read`); returns how many, 0
    /// only at the end of the stream (or for an empty `buf`). Reads may be
    /// short.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len().min(1 << 30);
        let n = check("handle_read", unsafe {
            sys::handle_read(self.0, buf.as_mut_ptr(), len)
        })?;
        Ok(n as usize)
    }

    /// Writes all of `data` (`handle_write`).
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        for chunk in data.chunks(1 << 30) {
            check("handle_write", unsafe {
                sys::handle_write(self.0, chunk.as_ptr(), chunk.len())
            })?;
        }
        Ok(())
    }

    /// The handle's total size in bytes (`handle_size`): an input's or a
    /// blob's length, what was written so far, an HTTP body's
    /// Content-Length. UNSUPPORTED when the host does not know it.
    pub fn size(&self) -> Result<u64> {
        check64("handle_size", unsafe { sys::handle_size(self.0) })
    }

    /// Closes the handle (`handle_close`); for a writable one this commits
    /// the output or blob and reports a commit failure.
    pub fn close(self) -> Result<()> {
        check("handle_close", unsafe {
            sys::handle_close(self.into_raw())
        })
        .map(drop)
    }

    /// Reads the rest of the stream into memory.
    pub fn read_all(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = self.read(&mut chunk)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Pumps the rest of this readable handle into the writable `dst`
    /// through a [`CHUNK`]-byte buffer in the block's memory; returns the
    /// number of bytes copied. Closes neither. To copy without the
    /// block's memory, pass the handle to [`output_from_handle`] or
    /// [`blob_put_from`] instead.
    pub fn copy_to(&mut self, dst: &mut Handle) -> Result<u64> {
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            dst.write(&buf[..n])?;
            total += n as u64;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { sys::handle_close(self.0) };
    }
}

impl io::Read for Handle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Handle::read(self, buf).map_err(io::Error::from)
    }
}

impl io::Write for Handle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Handle::write(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Step
// ---------------------------------------------------------------------------

/// The step being run: its inputs, outputs, context, config and log. The
/// entry point passes one to the handler; it is valid only during that
/// call.
pub struct Step {
    _private: (),
}

/// The step's correlation ids ([`Step::context`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The tenant the step runs for (may be empty).
    pub tenant_id: String,
    /// The trace id (may be empty).
    pub trace_id: String,
    /// The run id (may be empty).
    pub run_id: String,
    /// The flow id (may be empty).
    pub flow_id: String,
    /// The step's id, generated by the host when the request had none.
    pub step_id: String,
    /// The step type the block is serving.
    pub step_type: String,
    /// 0 for the first attempt, 1 for the first retry, ...
    pub attempt: u32,
}

impl Step {
    /// The value of input `key`, read in [`CHUNK`]-byte pieces into a new
    /// vector. NOT_FOUND if the step has no such input: use
    /// [`Optional::optional`] for optional inputs, and
    /// [`Step::input_reader`] or [`Step::input_handle`] for large values.
    pub fn input(&self, key: &str) -> Result<Vec<u8>> {
        let len = usize::try_from(input_len(key)?).map_err(|_| {
            Error::new(
                Code::LIMIT_EXCEEDED,
                format!("input {key:?} does not fit in memory"),
            )
        })?;
        let mut buf = vec![0u8; len];
        let mut off = 0;
        while off < len {
            let end = len.min(off + CHUNK);
            let n = input_read(key, off as u64, &mut buf[off..end])?;
            if n == 0 {
                break;
            }
            off += n;
        }
        buf.truncate(off);
        Ok(buf)
    }

    /// The value of input `key` as a string; INVALID_INPUT if it is not
    /// valid UTF-8.
    pub fn input_string(&self, key: &str) -> Result<String> {
        String::from_utf8(self.input(key)?)
            .map_err(|_| Error::invalid_input(format!("input {key:?} is not valid UTF-8")))
    }

    /// The length of input `key` in bytes.
    pub fn input_len(&self, key: &str) -> Result<u64> {
        input_len(key)
    }

    /// A `std::io::Read` over input `key` that reads it with `input_read`
    /// into the caller's buffers. A missing input surfaces as NOT_FOUND
    /// from the first read.
    pub fn input_reader(&self, key: &str) -> InputReader {
        InputReader {
            key: key.to_owned(),
            offset: 0,
        }
    }

    /// A readable handle over input `key` ([`input_open`]).
    pub fn input_handle(&self, key: &str) -> Result<Handle> {
        input_open(key)
    }

    /// The input keys, sorted.
    pub fn input_keys(&self) -> Result<Vec<String>> {
        let doc = input_keys_json()?;
        let bad = || malformed("input_keys", "input keys");
        match json::parse(doc.as_bytes()).ok_or_else(bad)? {
            json::Value::Array(items) => items
                .into_iter()
                .map(|v| v.into_string().ok_or_else(bad))
                .collect(),
            _ => Err(bad()),
        }
    }

    /// All inputs as (key, value) pairs sorted by key ([`inputs_json`]);
    /// meant for small steps.
    pub fn inputs(&self) -> Result<Vec<(String, String)>> {
        let doc = inputs_json()?;
        let bad = || malformed("inputs_json", "inputs");
        match json::parse(doc.as_bytes()).ok_or_else(bad)? {
            json::Value::Object(fields) => fields
                .into_iter()
                .map(|(k, v)| v.into_string().map(|v| (k, v)).ok_or_else(bad))
                .collect(),
            _ => Err(bad()),
        }
    }

    /// Sets output `key` to `value`, replacing any earlier value.
    pub fn set_output(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        output_set(key, value.as_ref())
    }

    /// A writable handle whose bytes become output `key` when it is closed
    /// (or dropped, or the step ends).
    pub fn output_writer(&self, key: &str) -> Result<Handle> {
        output_open(key)
    }

    /// Drains the readable handle `h` into output `key` on the host side
    /// ([`output_from_handle`]).
    pub fn set_output_from(&self, key: &str, h: Handle) -> Result<()> {
        output_from_handle(key, h)
    }

    /// The step's context: its correlation ids and attempt number.
    pub fn context(&self) -> Result<Context> {
        Ok(Context {
            tenant_id: context_get(ctx::TENANT_ID)?,
            trace_id: context_get(ctx::TRACE_ID)?,
            run_id: context_get(ctx::RUN_ID)?,
            flow_id: context_get(ctx::FLOW_ID)?,
            step_id: context_get(ctx::STEP_ID)?,
            step_type: context_get(ctx::STEP_TYPE)?,
            attempt: context_get(ctx::ATTEMPT)?.parse().unwrap_or(0),
        })
    }

    /// One context value by its key (see [`ctx`]).
    pub fn context_value(&self, key: &str) -> Result<String> {
        context_get(key)
    }

    /// The block's config value `key`; NOT_FOUND when it is not set.
    pub fn config(&self, key: &str) -> Result<String> {
        config_get(key)
    }

    /// Logs `msg` at `level`. The step's log is capped by the host; a log
    /// call never fails the step, so errors are ignored here (see [`log`]).
    pub fn log(&self, level: Level, msg: impl AsRef<str>) {
        let _ = log(level, msg.as_ref());
    }

    /// Logs at debug level.
    pub fn debug(&self, msg: impl AsRef<str>) {
        self.log(Level::DEBUG, msg);
    }

    /// Logs at info level.
    pub fn info(&self, msg: impl AsRef<str>) {
        self.log(Level::INFO, msg);
    }

    /// Logs at warn level.
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.log(Level::WARN, msg);
    }

    /// Logs at error level. This does not fail the step: return an
    /// [`Error`] for that.
    pub fn error(&self, msg: impl AsRef<str>) {
        self.log(Level::ERROR, msg);
    }
}

/// A reader over an input ([`Step::input_reader`]).
#[derive(Debug)]
pub struct InputReader {
    key: String,
    offset: u64,
}

impl InputReader {
    /// Reads the next bytes of the input into `buf` with one `input_read`;
    /// returns how many, 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = input_read(&self.key, self.offset, buf)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl io::Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        InputReader::read(self, buf).map_err(io::Error::from)
    }
}

fn malformed(op: &'static str, what: &str) -> Error {
    let mut e = Error::new(
        Code::INVALID_ARGUMENT,
        format!("malformed {what} from the host"),
    );
    e.op = Some(op);
    e
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// An HTTP request made through the host's HTTP capability, which the
/// operator grants; the host's egress policy, circuit breaker and timeouts
/// apply.
///
/// ```ignore
/// let resp = HttpRequest::post("https://api.example.com/v1/x")
///     .header("Content-Type", "application/json")
///     .timeout(Duration::from_secs(10))
///     .send(Some(body))?;
/// if resp.status >= 500 {
///     return Err(Error::http(resp.status, "upstream failed"));
/// }
/// step.set_output_from("body", resp.body)?;
/// ```
#[derive(Clone, Debug)]
pub struct HttpRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl HttpRequest {
    /// A request with `method` to the absolute http or https `url`.
    pub fn new(method: &str, url: &str) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            timeout: Duration::ZERO,
            connect_timeout: Duration::ZERO,
        }
    }

    /// A GET request.
    pub fn get(url: &str) -> HttpRequest {
        HttpRequest::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: &str) -> HttpRequest {
        HttpRequest::new("POST", url)
    }

    /// Adds a header; a name given several times sends several values.
    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Bounds the whole exchange, reading the body included; zero means
    /// the host's default (30 s).
    pub fn timeout(mut self, d: Duration) -> HttpRequest {
        self.timeout = d;
        self
    }

    /// Bounds establishing the connection; zero means the host's default.
    pub fn connect_timeout(mut self, d: Duration) -> HttpRequest {
        self.connect_timeout = d;
        self
    }

    /// The request metadata JSON that `http_request` takes.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"method\":");
        json::quote(&mut s, &self.method);
        s.push_str(",\"url\":");
        json::quote(&mut s, &self.url);
        if !self.headers.is_empty() {
            s.push_str(",\"headers\":{");
            let mut done: Vec<&str> = Vec::new();
            for (name, _) in &self.headers {
                if done.contains(&name.as_str()) {
                    continue;
                }
                if !done.is_empty() {
                    s.push(',');
                }
                done.push(name);
                json::quote(&mut s, name);
                s.push_str(":[");
                let values = self.headers.iter().filter(|(n, _)| n == name);
                for (i, (_, value)) in values.enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    json::quote(&mut s, value);
                }
                s.push(']');
            }
            s.push('}');
        }
        for (field, d) in [
            ("timeout_ms", self.timeout),
            ("connect_timeout_ms", self.connect_timeout),
        ] {
            if !d.is_zero() {
                s.push_str(",\"");
                s.push_str(field);
                s.push_str("\":");
                s.push_str(&duration_ms(d).to_string());
            }
        }
        s.push('}');
        s
    }

    /// Sends the request with `body` (consumed; `None` for no body). Any
    /// response, whatever its status, is `Ok`; errors are failures to get
    /// one: DENIED (capability not granted, egress refused),
    /// CIRCUIT_OPEN, NETWORK_ERROR, CONNECTION_TIMEOUT, TIMEOUT,
    /// CANCELLED, LIMIT_EXCEEDED, INVALID_ARGUMENT.
    pub fn send(&self, body: Option<Handle>) -> Result<HttpResponse> {
        let h = http_request(self.to_json().as_bytes(), body)?;
        let meta = http_response_meta(&h)?;
        let bad = || malformed("http_response_meta", "response metadata");
        let doc = json::parse(meta.as_bytes()).ok_or_else(bad)?;
        let status = doc
            .get("status")
            .and_then(json::Value::as_i64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(bad)?;
        let mut headers = Vec::new();
        if let Some(json::Value::Object(fields)) = doc.get("headers") {
            for (name, values) in fields {
                let values: Vec<String> = match values {
                    json::Value::Array(vs) => vs
                        .iter()
                        .filter_map(|v| v.as_str())
                        .map(str::to_owned)
                        .collect(),
                    _ => return Err(bad()),
                };
                headers.push((name.clone(), values));
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body: h,
        })
    }
}

/// A response received through the host.
#[derive(Debug)]
pub struct HttpResponse {
    /// The HTTP status, after the host followed any redirects (up to 10).
    pub status: u16,
    /// The headers, names canonicalised by the host (`Content-Type`).
    pub headers: Vec<(String, Vec<String>)>,
    /// The body stream; pass it on ([`output_from_handle`],
    /// [`blob_put_from`]) or read it.
    pub body: Handle,
}

impl HttpResponse {
    /// The first value of header `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, vs)| vs.first())
            .map(String::as_str)
    }
}

// ---------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------

/// A blob's description ([`blob_stat`], [`blob_list`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// The key, relative to the granted root, `/`-separated.
    pub key: String,
    /// The size in bytes.
    pub size: u64,
    /// The modification time, in milliseconds since the Unix epoch.
    pub modified_unix_ms: i64,
}

impl BlobInfo {
    /// The modification time.
    pub fn modified(&self) -> SystemTime {
        let ms = Duration::from_millis(self.modified_unix_ms.unsigned_abs());
        if self.modified_unix_ms >= 0 {
            UNIX_EPOCH + ms
        } else {
            UNIX_EPOCH - ms
        }
    }

    fn from_json(v: &json::Value) -> Option<BlobInfo> {
        Some(BlobInfo {
            key: v.get("key")?.as_str()?.to_owned(),
            size: u64::try_from(v.get("size")?.as_i64()?).ok()?,
            modified_unix_ms: v.get("modified_unix_ms")?.as_i64()?,
        })
    }
}

/// Describes blob `key` ([`blob_stat_json`]); NOT_FOUND if there is none.
pub fn blob_stat(key: &str) -> Result<BlobInfo> {
    let doc = blob_stat_json(key)?;
    json::parse(doc.as_bytes())
        .as_ref()
        .and_then(BlobInfo::from_json)
        .ok_or_else(|| malformed("blob_stat", "blob description"))
}

/// Describes every blob whose key starts with `prefix`, sorted by key
/// ([`blob_list_json`]).
pub fn blob_list(prefix: &str) -> Result<Vec<BlobInfo>> {
    let doc = blob_list_json(prefix)?;
    let bad = || malformed("blob_list", "blob list");
    match json::parse(doc.as_bytes()).ok_or_else(bad)? {
        json::Value::Array(items) => items
            .iter()
            .map(|v| BlobInfo::from_json(v).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/// What a handler returns, turned into the entry point's return value.
///
/// - `Result<(), Error>`: 0, or the error reported with [`Error::report`].
/// - `Result<i32, Error>` or `i32`: the number as is, for blocks that
///   control the return value themselves: 0 succeeds (unless `error_set`
///   was called), anything else fails the step with that code ("block
///   returned N").
pub trait Outcome {
    /// The value `blockhost_run_v1` returns.
    fn into_status(self) -> i32;
}

impl Outcome for () {
    fn into_status(self) -> i32 {
        0
    }
}

impl Outcome for i32 {
    fn into_status(self) -> i32 {
        self
    }
}

impl<T: Outcome> Outcome for Result<T, Error> {
    fn into_status(self) -> i32 {
        match self {
            Ok(v) => v.into_status(),
            Err(e) => e.report(),
        }
    }
}

/// Runs one step: installs the panic hook (once), calls `handler` with the
/// step and turns its outcome into the entry point's return value. This
/// is the body of `blockhost_run_v1`; [`export_block!`] writes it.
pub fn run<R: Outcome>(handler: impl FnOnce(&mut Step) -> R) -> i32 {
    static PANIC_HOOK: std::sync::Once = std::sync::Once::new();
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            report_panic(info.payload(), info.location());
        }));
    });
    let mut step = Step { _private: () };
    handler(&mut step).into_status()
}

/// The panic hook: a panic aborts (traps) on wasm32, so report it first.
/// The host ignores `error_set` after a trap but quotes the first lines
/// of stderr in the step's error message and keeps the log.
fn report_panic(payload: &(dyn std::any::Any + Send), location: Option<&std::panic::Location<'_>>) {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "Box<dyn Any>"
    };
    let text = match location {
        Some(l) => format!(
            "panicked at {}:{}:{}: {}",
            l.file(),
            l.line(),
            l.column(),
            msg
        ),
        None => format!("panicked: {msg}"),
    };
    let line = truncate(&text, MAX_MESSAGE_LEN);
    let _ = io::Write::write_all(&mut io::stderr(), format!("{line}\n").as_bytes());
    let _ = log(Level::ERROR, line);
    let _ = error_set(Code::EXECUTION_FAILED, line, 0, 0, Retry::No as i32);
}

/// Exports `blockhost_run_v1`, running `handler` — a
/// `fn(&mut Step) -> Result<(), Error>` or a closure — for each step.
///
/// ```ignore
/// fn handle(step: &mut blockhost::Step) -> Result<(), blockhost::Error> { ... }
/// blockhost::export_block!(handle);
/// ```
///
/// Invoke it once, at the crate root, where the SDK is in scope as
/// `blockhost` (the module or the crate). It expands to
///
/// ```ignore
/// #[export_name = "blockhost_run_v1"]
/// pub extern "C" fn blockhost_run_v1() -> i32 {
///     blockhost::run(handle)
/// }
/// ```
///
/// which a block may also write itself.
#[doc(inline)]
pub use crate::__blockhost_export_block as export_block;

#[doc(hidden)]
#[macro_export]
macro_rules! __blockhost_export_block {
    ($handler:expr) => {
        // export_name rather than no_mangle: rustc does not export a
        // no_mangle function that a macro of another crate defines.
        #[export_name = "blockhost_run_v1"]
        pub extern "C" fn blockhost_run_v1() -> i32 {
            blockhost::run($handler)
        }
    };
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// The little JSON the SDK needs: a parser for the host's documents and a
/// string quoter for HTTP request metadata.
mod json {
    /// A JSON value; numbers keep their text.
    pub(super) enum Value {
        Null,
        Bool(bool),
        Number(String),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    impl Value {
        pub(super) fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub(super) fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }

        pub(super) fn into_string(self) -> Option<String> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }

        pub(super) fn as_i64(&self) -> Option<i64> {
            match self {
                Value::Number(n) => n.parse().ok(),
                _ => None,
            }
        }
    }

    /// Parses a whole document; `None` if it is not valid JSON.
    pub(super) fn parse(b: &[u8]) -> Option<Value> {
        let mut p = Parser { b, i: 0 };
        let v = p.value(0)?;
        p.ws();
        if p.i == b.len() {
            Some(v)
        } else {
            None
        }
    }

    /// Appends `s` to `out` as a JSON string.
    pub(super) fn quote(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
                self.i += 1;
            }
        }

        fn eat(&mut self, c: u8) -> bool {
            self.ws();
            if self.b.get(self.i) == Some(&c) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        fn literal(&mut self, word: &str, v: Value) -> Option<Value> {
            if self.b[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Some(v)
            } else {
                None
            }
        }

        fn value(&mut self, depth: u32) -> Option<Value> {
            if depth > 64 {
                return None;
            }
            self.ws();
            match *self.b.get(self.i)? {
                b'n' => self.literal("null", Value::Null),
                b't' => self.literal("true", Value::Bool(true)),
                b'f' => self.literal("false", Value::Bool(false)),
                b'"' => self.string().map(Value::String),
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    if self.eat(b']') {
                        return Some(Value::Array(items));
                    }
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            return Some(Value::Array(items));
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                b'{' => {
                    self.i += 1;
                    let mut fields = Vec::new();
                    if self.eat(b'}') {
                        return Some(Value::Object(fields));
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        fields.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            return Some(Value::Object(fields));
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.i;
                    while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') =
                        self.b.get(self.i)
                    {
                        self.i += 1;
                    }
                    let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                    Some(Value::Number(text.to_owned()))
                }
                _ => None,
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let digits = self.b.get(self.i..self.i + 4)?;
            let s = std::str::from_utf8(digits).ok()?;
            self.i += 4;
            u32::from_str_radix(s, 16).ok()
        }

        fn string(&mut self) -> Option<String> {
            if self.b.get(self.i) != Some(&b'"') {
                return None;
            }
            self.i += 1;
            let mut out = Vec::new();
            loop {
                let c = *self.b.get(self.i)?;
                self.i += 1;
                match c {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let e = *self.b.get(self.i)?;
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let cp = if (0xD800..0xDC00).contains(&hi)
                                    && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                                {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return None;
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    hi
                                };
                                char::from_u32(cp).unwrap_or('\u{FFFD}')
                            }
                            _ => return None,
                        };
                        let mut tmp = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                    }
                    c if c < 0x20 => return None,
                    c => out.push(c),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Tests (native: `cargo test`, they call no host function)
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Code::NOT_FOUND.name(), "NOT_FOUND");
        assert_eq!(Code(1234).name(), "UNKNOWN_ERROR");
        assert!(Code::UNKNOWN_ERROR.is_known() && !Code(1234).is_known());
        assert!(Code::TIMEOUT.is_host() && !Code::HTTP_ERROR.is_host());
        assert_eq!(format!("{:?}", Code::DENIED), "DENIED(6007)");
    }

    #[test]
    fn errors() {
        let mut e = Error::new(Code::NOT_FOUND, "no input \"x\"");
        assert_eq!(e.to_string(), "NOT_FOUND: no input \"x\"");
        e.op = Some("input_len");
        assert_eq!(e.to_string(), "input_len: NOT_FOUND: no input \"x\"");
        let io: io::Error = e.clone().into();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert_eq!(Error::from(io), e);
        let other = Error::from(io::Error::new(io::ErrorKind::Other, "disk"));
        assert_eq!(
            (other.code, other.message.as_str()),
            (Code::EXECUTION_FAILED, "disk")
        );
        let missing: Result<u8> = Err(Error::new(Code::NOT_FOUND, ""));
        assert_eq!(missing.optional(), Ok(None));
        let denied: Result<u8> = Err(Error::new(Code::DENIED, ""));
        assert!(denied.optional().is_err());
    }

    #[test]
    fn truncation_and_durations() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(duration_ms(Duration::from_micros(1500)), 2);
        assert_eq!(duration_ms(Duration::from_secs(u64::MAX)), i32::MAX);
        assert_eq!(duration_ms(Duration::ZERO), 0);
    }

    #[test]
    fn request_json() {
        let req = HttpRequest::post("http://h/p?q=\"1\"")
            .header("X-A", "1")
            .header("Accept", "text/plain")
            .header("X-A", "2\n")
            .timeout(Duration::from_millis(1500))
            .connect_timeout(Duration::from_nanos(1));
        assert_eq!(
            req.to_json(),
            r#"{"method":"POST","url":"http://h/p?q=\"1\"","headers":{"X-A":["1","2\n"],"Accept":["text/plain"]},"timeout_ms":1500,"connect_timeout_ms":1}"#
        );
        assert_eq!(
            HttpRequest::get("u").to_json(),
            r#"{"method":"GET","url":"u"}"#
        );
    }

    #[test]
    fn json_parse() {
        let v = json::parse(
            br#" {"status":200,"headers":{"X":["a\"b","\u00e9\ud83d\ude00"]},"t":true,"n":null,"f":-1.5e3} "#,
        )
        .unwrap();
        assert_eq!(v.get("status").and_then(json::Value::as_i64), Some(200));
        match v.get("headers").and_then(|h| h.get("X")) {
            Some(json::Value::Array(xs)) => {
                assert_eq!(xs[0].as_str(), Some("a\"b"));
                assert_eq!(xs[1].as_str(), Some("é😀"));
            }
            _ => panic!("headers"),
        }
        for bad in [&b"{"[..], b"[1,]", b"\"\x01\"", b"{} x", b"nul"] {
            assert!(json::parse(bad).is_none(), "{:?}", bad);
        }
        let info = BlobInfo::from_json(
            &json::parse(br#"{"key":"a/b","size":3,"modified_unix_ms":1700000000000}"#).unwrap(),
        )
        .unwrap();
        assert_eq!((info.key.as_str(), info.size), ("a/b", 3));
        assert_eq!(
            info.modified(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
        );
        let mut s = String::new();
        json::quote(&mut s, "a\"\\\u{1}é");
        assert_eq!(s, r#""a\"\\\u0001é""#);
    }
}
