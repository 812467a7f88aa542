//! conformance_rust: the Rust SDK's conformance block. It implements the
//! table of behaviours of tests/conformance/README.md, selected by the
//! input "op", and doubles as a tour of the SDK (abi/rust/blockhost.rs):
//! inputs whole, chunked and by handle, outputs set, streamed and from
//! handles, errors with details, log, config, context, buffers, HTTP and
//! blobs.
//!
//! scripts/build-rust.sh builds it into the committed conformance_rust.wasm;
//! by hand, from this directory:
//!
//!     rustc --edition 2021 --target wasm32-wasi --crate-type cdylib \
//!         -C opt-level=s -C lto -C codegen-units=1 -C panic=abort \
//!         -C strip=symbols -o conformance_rust.wasm lib.rs

#[path = "../../../abi/rust/blockhost.rs"]
mod blockhost;

use blockhost::{Code, Error, Level, Optional, Result, Step, CHUNK};

// The handler returns Result<i32>: the "error" op controls the entry
// point's return value itself; every other op returns Ok(0) or an Error,
// which the SDK reports with error_set (for a failed host call: its code
// and the host's detail, the table's "report" rule).
blockhost::export_block!(run);

fn run(step: &mut Step) -> Result<i32> {
    let op = step.input_string("op").optional()?.unwrap_or_default();
    match op.as_str() {
        "echo" => echo(step),
        "error" => return error(step),
        "log" => log(step),
        "config" => config(step),
        "context" => context(step),
        "stream" => stream(step),
        "buffer" => buffer(step),
        "http" => http(step),
        "fs" => fs(step),
        "abort" => abort(step),
        _ => Err(Error::invalid_input(format!("unknown op {:?}", op))),
    }?;
    Ok(0)
}

/// echo: text read with input_len and input_read in 64 KiB chunks, the
/// input keys and all inputs, verbatim.
fn echo(step: &mut Step) -> Result<()> {
    let text = step.input("text")?;
    step.set_output("echo", text)?;
    step.set_output("keys", blockhost::input_keys_json()?)?;
    step.set_output("inputs", blockhost::inputs_json()?)
}

/// error: error_set with the details as given (invalid ones included), or
/// the code returned without error_set.
fn error(step: &mut Step) -> Result<i32> {
    let code = number(step, "code")?;
    let via = step.input_string("via").optional()?;
    if via.as_deref() == Some("return") {
        return Ok(code);
    }
    let message = step.input_string("message").optional()?.unwrap_or_default();
    let set = blockhost::error_set(
        Code(code),
        &message,
        number(step, "http_status")?,
        number(step, "retry_after_ms")?,
        number(step, "retryable")?,
    );
    match set {
        Ok(()) => Ok(code),
        Err(e) => {
            step.set_output("error_set_status", status(&e))?;
            Ok(0)
        }
    }
}

/// log: the status of log(level, message).
fn log(step: &mut Step) -> Result<()> {
    let level = Level(number(step, "level")?);
    let message = step.input_string("message").optional()?.unwrap_or_default();
    let st = match blockhost::log(level, &message) {
        Ok(()) => "0".to_owned(),
        Err(e) => status(&e),
    };
    step.set_output("status", st)
}

fn config(step: &mut Step) -> Result<()> {
    let key = step.input_string("key")?;
    step.set_output("value", step.config(&key)?)
}

fn context(step: &mut Step) -> Result<()> {
    use blockhost::ctx::*;
    for key in [
        TENANT_ID, TRACE_ID, RUN_ID, FLOW_ID, STEP_ID, STEP_TYPE, ATTEMPT,
    ] {
        step.set_output(key, step.context_value(key)?)?;
    }
    let missing = match step.context_value("nope") {
        Ok(v) => v.len().to_string(),
        Err(e) => status(&e),
    };
    step.set_output("missing", missing)
}

/// stream: data pumped through the block's memory into an output, then
/// copied on the host side from a second handle.
fn stream(step: &mut Step) -> Result<()> {
    let mut input = step.input_handle("data")?;
    let mut output = step.output_writer("stream")?;
    input.copy_to(&mut output)?;
    output.close()?;
    input.close()?;
    step.set_output_from("copy", step.input_handle("data")?)?;
    step.set_output("size", step.input_len("data")?.to_string())
}

fn buffer(step: &mut Step) -> Result<()> {
    let text = step.input("text")?;
    let mut b = blockhost::buffer_new()?;
    b.write(&text)?;
    b.write(&text)?;
    let size = b.size()?;
    step.set_output_from("twice", b)?;
    step.set_output("size", size.to_string())
}

/// http: the request JSON as given, the optional body from an input
/// handle, the response meta verbatim and the body streamed.
fn http(step: &mut Step) -> Result<()> {
    let request = step.input("request")?;
    let body = step.input_handle("body").optional()?;
    let mut response = blockhost::http_request(&request, body)?;
    step.set_output("meta", blockhost::http_response_meta(&response)?)?;
    let mut output = step.output_writer("body")?;
    response.copy_to(&mut output)?;
    output.close()?;
    response.close()
}

fn fs(step: &mut Step) -> Result<()> {
    let key = step.input_string("key")?;
    let key2 = step.input_string("key2")?;
    let prefix = step.input_string("prefix").optional()?.unwrap_or_default();

    // 1: a blob written from the block's memory, 64 KiB at a time.
    let mut w = blockhost::blob_open_write(&key)?;
    let mut data = step.input_reader("data");
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = data.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        w.write(&chunk[..n])?;
    }
    w.close()?;

    // 2: a blob written on the host side from an input handle.
    blockhost::blob_put_from(&key2, step.input_handle("data")?)?;

    // 3: the first blob read back.
    let mut r = blockhost::blob_open_read(&key)?;
    let mut output = step.output_writer("read")?;
    r.copy_to(&mut output)?;
    output.close()?;
    r.close()?;

    // 4, 5: stat and list, verbatim.
    step.set_output("stat", blockhost::blob_stat_json(&key)?)?;
    step.set_output("list", blockhost::blob_list_json(&prefix)?)?;

    // 6, 7: the second blob deleted, and gone.
    blockhost::blob_delete(&key2)?;
    match blockhost::blob_stat_json(&key2) {
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(Error::execution_failed(format!(
                "blob {:?} still exists after blob_delete",
                key2
            )))
        }
    }
    step.set_output("deleted", "yes")
}

/// abort: Rust's own hard failure. The SDK's panic hook reports the
/// message before the trap.
fn abort(step: &mut Step) -> Result<()> {
    let message = step.input_string("message").optional()?.unwrap_or_default();
    panic!("{}", message);
}

/// A decimal input parsed in full; absent is 0.
fn number(step: &Step, key: &str) -> Result<i32> {
    match step.input_string(key).optional()? {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            Error::invalid_input(format!("input {:?} is not a decimal number: {:?}", key, v))
        }),
    }
}

/// The status a failed host call returned: its code, negated.
fn status(e: &Error) -> String {
    (-e.code.0).to_string()
}
