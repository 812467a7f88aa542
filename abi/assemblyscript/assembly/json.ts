// A small JSON reader and writer, enough for the documents of the ABI
// (input_keys, inputs_json, http_request and its response metadata,
// blob_stat, blob_list). AssemblyScript's standard library has no JSON.

/**
 * A forward-only reader over one JSON text. Each method consumes one
 * token or value; the first syntax error sets `failed` and makes every
 * later call return a zero value, so a decoder checks `failed` once at
 * the end:
 *
 * ```ts
 * const r = new JsonReader(text);
 * r.begin(0x7B); // {
 * while (r.more(0x7D)) { // }
 *   const name = r.string(); r.colon();
 *   if (name == "size") size = r.integer(); else r.skip();
 * }
 * if (!r.end()) ... // malformed
 * ```
 */
export class JsonReader {
  private pos: i32 = 0;
  private first: bool = false;
  /** Set by the first syntax error. */
  failed: bool = false;

  constructor(private readonly text: string) {}

  private ws(): void {
    const s = this.text;
    let i = this.pos;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c != 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) break;
      i++;
    }
    this.pos = i;
  }

  private peek(): i32 {
    this.ws();
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  private error(): void {
    this.failed = true;
    this.pos = this.text.length;
  }

  /** Consumes `c` (after whitespace); a syntax error if it is not next. */
  expect(c: i32): void {
    if (this.peek() == c) this.pos++;
    else this.error();
  }

  /** Consumes the `[` (0x5B) or `{` (0x7B) opening an array or object. */
  begin(open: i32): void {
    this.expect(open);
    this.first = true;
  }

  /**
   * Whether the array or object has another element: consumes the comma
   * before it, or the closing `close` (`]` 0x5D or `}` 0x7D) and returns
   * false.
   */
  more(close: i32): bool {
    if (this.failed) return false;
    const c = this.peek();
    if (c == close) {
      this.pos++;
      this.first = false;
      return false;
    }
    if (!this.first) {
      if (c != 0x2C) {
        this.error();
        return false;
      }
      this.pos++;
    }
    this.first = false;
    return true;
  }

  /** Consumes the `:` after an object key. */
  colon(): void {
    this.expect(0x3A);
  }

  /** Whether the next value is `null`; consumes it if so. */
  nullValue(): bool {
    if (this.peek() == 0x6E && this.text.substr(this.pos, 4) == "null") {
      this.pos += 4;
      return true;
    }
    return false;
  }

  /** Reads a string value. */
  string(): string {
    if (this.peek() != 0x22) {
      this.error();
      return "";
    }
    const s = this.text;
    let i = this.pos + 1;
    let start = i;
    let out = "";
    while (true) {
      if (i >= s.length) {
        this.error();
        return "";
      }
      const c = s.charCodeAt(i);
      if (c == 0x22) break;
      if (c != 0x5C) {
        i++;
        continue;
      }
      out += s.substring(start, i);
      if (i + 1 >= s.length) {
        this.error();
        return "";
      }
      const e = s.charCodeAt(i + 1);
      i += 2;
      switch (e) {
        case 0x22: out += "\""; break;
        case 0x5C: out += "\\"; break;
        case 0x2F: out += "/"; break;
        case 0x62: out += "\b"; break;
        case 0x66: out += "\f"; break;
        case 0x6E: out += "\n"; break;
        case 0x72: out += "\r"; break;
        case 0x74: out += "\t"; break;
        case 0x75: {
          let u = 0;
          for (let k = 0; k < 4; k++) {
            const d = hexValue(i < s.length ? s.charCodeAt(i) : -1);
            if (d < 0) {
              this.error();
              return "";
            }
            u = (u << 4) | d;
            i++;
          }
          out += String.fromCharCode(u);
          break;
        }
        default:
          this.error();
          return "";
      }
      start = i;
    }
    out += s.substring(start, i);
    this.pos = i + 1;
    return out;
  }

  /** Reads a number value that is an integer (no fraction or exponent). */
  integer(): i64 {
    this.ws();
    const s = this.text;
    let i = this.pos;
    let neg = false;
    if (i < s.length && s.charCodeAt(i) == 0x2D) {
      neg = true;
      i++;
    }
    const start = i;
    let v: i64 = 0;
    while (i < s.length) {
      const d = s.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    if (i == start || i - start > 18) {
      this.error();
      return 0;
    }
    this.pos = i;
    return neg ? -v : v;
  }

  /** Skips one value of any kind. */
  skip(): void {
    const c = this.peek();
    if (c == 0x22) {
      this.string();
    } else if (c == 0x7B || c == 0x5B) {
      const close = c == 0x7B ? 0x7D : 0x5D;
      this.begin(c);
      while (this.more(close)) {
        if (c == 0x7B) {
          this.string();
          this.colon();
        }
        this.skip();
      }
    } else if (c == 0x2D || (c >= 0x30 && c <= 0x39)) {
      const s = this.text;
      let i = this.pos + 1;
      while (i < s.length) {
        const d = s.charCodeAt(i);
        if (!((d >= 0x30 && d <= 0x39) || d == 0x2E || d == 0x65 || d == 0x45 || d == 0x2B || d == 0x2D)) break;
        i++;
      }
      this.pos = i;
    } else if (c == 0x74 && this.text.substr(this.pos, 4) == "true") {
      this.pos += 4;
    } else if (c == 0x66 && this.text.substr(this.pos, 5) == "false") {
      this.pos += 5;
    } else if (!this.nullValue()) {
      this.error();
    }
  }

  /** Whether the whole text was read without error. */
  end(): bool {
    return !this.failed && this.peek() == -1;
  }

  /** Reads an array of strings. */
  stringArray(): string[] {
    const out = new Array<string>();
    this.begin(0x5B);
    while (this.more(0x5D)) out.push(this.string());
    return out;
  }

  /** Reads an object of strings. */
  stringMap(): Map<string, string> {
    const out = new Map<string, string>();
    this.begin(0x7B);
    while (this.more(0x7D)) {
      const k = this.string();
      this.colon();
      out.set(k, this.string());
    }
    return out;
  }

  /** Reads an object of string arrays (HTTP headers); `null` reads as empty. */
  stringArrayMap(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    if (this.nullValue()) return out;
    this.begin(0x7B);
    while (this.more(0x7D)) {
      const k = this.string();
      this.colon();
      out.set(k, this.nullValue() ? new Array<string>() : this.stringArray());
    }
    return out;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

const HEX = "0123456789abcdef";

/** `s` as a JSON string literal, quotes included. */
export function jsonString(s: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5C) continue;
    out += s.substring(start, i);
    switch (c) {
      case 0x22: out += "\\\""; break;
      case 0x5C: out += "\\\\"; break;
      case 0x0A: out += "\\n"; break;
      case 0x0D: out += "\\r"; break;
      case 0x09: out += "\\t"; break;
      default:
        out += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
    }
    start = i + 1;
  }
  out += s.substring(start);
  return out + "\"";
}
