// blockhost SDK for AssemblyScript — ABI v1 (abi/ABI.md).
//
// A block is a module whose entry point runs one step through `run`:
//
//   import { Code, fail, run, Step } from "@blockhost/sdk";
//
//   export function blockhost_run_v1(): i32 {
//     return run(upper);
//   }
//
//   function upper(step: Step): i32 {
//     const text = step.input("text");
//     if (!text.ok) return fail(Code.MissingRequiredField, "input text is required");
//     const err = step.setOutput("text", text.value.toUpperCase());
//     return err !== null ? err.report() : 0;
//   }
//
// built with the options of asconfig.json (a reactor exporting
// `_initialize`, abort and console on the ABI (env.ts), the incremental GC,
// at most 512 pages of memory):
//
//   asc block.ts --config node_modules/@blockhost/sdk/asconfig.json -o block.wasm
//
// Errors. AssemblyScript cannot catch exceptions, so SDK calls return
// failures as values: a Result<T> (`ok`, `value`, `error`, `report()`) for
// calls that produce something, a HostError | null for the others. A
// handler fails its step by returning a code: `fail(code, message, …)`
// reports a failure of the block's own, `HostError.report()` passes on a
// failed host call with the host's detail. `throw`, a failed `assert` and
// other aborts end the step with EXECUTION_FAILED (env.ts).
//
// Steps. An instance serves many steps, one at a time: keep no per-step
// state in globals. `run` resets the SDK's caches and collects garbage
// after every step.

export { host } from "./host";
export { Code, codeName, ContextKey, isKnownCode, Level, MAX_HANDLES, MAX_KEY_LEN, MAX_MESSAGE_LEN, Retry } from "./codes";
export { errorSet, errResult, fail, HostError, hostError, lastError, okResult, Result } from "./errors";
export { Context, Handler, InputReader, run, Step } from "./step";
export { Handle, newBuffer } from "./handle";
export { HttpRequest, HttpResponse, httpRequest, httpRequestJSON } from "./http";
export {
  BlobInfo, blobDelete, blobList, blobListJSON, blobOpenRead, blobOpenWrite, blobPutFrom, blobRead, blobStat,
  blobStatJSON, blobWrite,
} from "./blob";
export { jsonString, JsonReader } from "./json";

// abort, trace, seed and console for asc's --use (see env.ts).
import "./env";
