// The example hook in AssemblyScript: a title must not be all caps, and the
// slug is derived from the title. Built with asc (see asconfig.json).
//
// The input envelope is scanned, not parsed into a tree: the hook finds the
// top-level "data" object, then its "title" member, and writes the output
// data by copying every member but "slug" as it was in the input and
// appending the new "slug". The C, Rust and WAT hooks follow the same
// steps, so their outputs agree byte for byte.
//
// All per-call memory is raw (heap.alloc / heap.free): no managed objects
// are created after start-up, so the garbage collector has nothing to do
// and linear memory stays flat.

@external("hook", "input_read")
declare function input_read(ptr: usize, len: i32): i32;

@external("hook", "output_write")
declare function output_write(ptr: usize, len: i32): void;

@external("hook", "log")
declare function host_log(level: i32, ptr: usize, len: i32): void;

const LOG_INFO: i32 = 1;
const LOG_ERROR: i32 = 3;

// UTF-8 constants, encoded once at start-up and kept alive as globals.
const REJECTION = String.UTF8.encode(
  '{"allow":false,"errors":[{"path":"/title","message":"title must not be all caps"}]}',
);
const ALLOW = String.UTF8.encode('{"allow":true}');
const DATA_OPEN = String.UTF8.encode('{"allow":true,"data":');
const SLUG_OPEN = String.UTF8.encode('"slug":"');
const CLOSE = String.UTF8.encode('"}}');
const CHECKED = String.UTF8.encode("checked title");
const ERR_ENVELOPE = String.UTF8.encode("malformed input envelope");
const ERR_DATA = String.UTF8.encode("malformed data");
const KEY_DATA = String.UTF8.encode("data");
const KEY_TITLE = String.UTF8.encode("title");
const KEY_SLUG = String.UTF8.encode("slug");

// The input being scanned: IN[0..LEN), position POS.
let IN: usize = 0;
let LEN: i32 = 0;
let POS: i32 = 0;

// The member next_member last read: key (quotes included) and value spans.
let keyStart: i32 = 0;
let keyEnd: i32 = 0;
let valStart: i32 = 0;
let valEnd: i32 = 0;

// The output being built.
let OUT: usize = 0;
let OUTLEN: i32 = 0;

/** Marks the module as implementing hook ABI v1. */
export function hook_abi_v1(): void {}

/** Handles one call: 0 when output was written, 1 for a hook error. */
export function hook_handle(len: i32): i32 {
  if (len < 0) return 1;
  IN = heap.alloc(len > 0 ? <usize>len : 1);
  LEN = len;
  let status = 1;
  if (input_read(IN, len) == len) {
    status = answer();
  }
  heap.free(IN);
  return status;
}

function at(i: i32): i32 {
  return <i32>load<u8>(IN + <usize>i);
}

function isWS(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

function skipWS(): void {
  while (POS < LEN && isWS(at(POS))) POS++;
}

function skipString(): bool {
  if (POS >= LEN || at(POS) != 0x22) return false;
  for (POS++; POS < LEN; POS++) {
    const c = at(POS);
    if (c == 0x5c) {
      POS++;
    } else if (c == 0x22) {
      POS++;
      return true;
    }
  }
  return false;
}

function skipValue(): bool {
  if (POS >= LEN) return false;
  let c = at(POS);
  if (c == 0x22) return skipString();
  if (c == 0x7b || c == 0x5b) {
    let depth = 0;
    while (POS < LEN) {
      c = at(POS);
      if (c == 0x22) {
        if (!skipString()) return false;
        continue;
      }
      if (c == 0x7b || c == 0x5b) depth++;
      else if (c == 0x7d || c == 0x5d) depth--;
      POS++;
      if (depth == 0) return true;
    }
    return false;
  }
  const start = POS;
  while (POS < LEN) {
    c = at(POS);
    if (c == 0x2c || c == 0x7d || c == 0x5d || isWS(c)) break;
    POS++;
  }
  return POS > start;
}

/** Enters the object at `at`, after any whitespace. */
function beginObject(start: i32): bool {
  POS = start;
  skipWS();
  if (POS >= LEN || at(POS) != 0x7b) return false;
  POS++;
  return true;
}

/**
 * Reads the next member of the object beginObject entered into
 * keyStart..valEnd: 1 for a member, 0 at the end, -1 on malformed input.
 */
function nextMember(first: bool): i32 {
  skipWS();
  if (POS >= LEN) return -1;
  if (at(POS) == 0x7d) {
    POS++;
    return 0;
  }
  if (!first) {
    if (at(POS) != 0x2c) return -1;
    POS++;
    skipWS();
  }
  keyStart = POS;
  if (!skipString()) return -1;
  keyEnd = POS;
  skipWS();
  if (POS >= LEN || at(POS) != 0x3a) return -1;
  POS++;
  skipWS();
  valStart = POS;
  if (!skipValue()) return -1;
  valEnd = POS;
  return 1;
}

function hexVal(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

// A cursor over a string body, CPOS..CEND.
let CPOS: i32 = 0;
let CEND: i32 = 0;

/** Sets the cursor on the body of the string at start..end (quotes included). */
function chars(start: i32, end: i32): void {
  CPOS = start + 1;
  CEND = end - 1;
}

/**
 * Decodes the next character, lossily: escapes of ASCII decode to their
 * byte, escapes of anything else to 0x80, raw bytes are returned as they
 * are. Every byte >= 0x80 is a non-letter here.
 */
function nextChar(): i32 {
  let c = at(CPOS++);
  if (c != 0x5c || CPOS >= CEND) return c;
  c = at(CPOS++);
  switch (c) {
    case 0x62: return 0x08; // b
    case 0x66: return 0x0c; // f
    case 0x6e: return 0x0a; // n
    case 0x72: return 0x0d; // r
    case 0x74: return 0x09; // t
    case 0x75: { // u
      let cp = 0;
      for (let k = 0; k < 4; k++) {
        const h = CPOS < CEND ? hexVal(at(CPOS)) : -1;
        if (h < 0) return 0x80;
        cp = (cp << 4) | h;
        CPOS++;
      }
      return cp < 0x80 ? cp : 0x80;
    }
    default: return c; // '"', '\\', '/'
  }
}

/** Reports whether the key last read decodes to lit. */
function keyIs(lit: ArrayBuffer): bool {
  const p = changetype<usize>(lit);
  const n = lit.byteLength;
  chars(keyStart, keyEnd);
  let j = 0;
  while (CPOS < CEND) {
    if (j >= n || nextChar() != <i32>load<u8>(p + <usize>j)) return false;
    j++;
  }
  return j == n;
}

function put(src: usize, n: i32): void {
  memory.copy(OUT + <usize>OUTLEN, src, <usize>n);
  OUTLEN += n;
}

function putBuf(b: ArrayBuffer): void {
  put(changetype<usize>(b), b.byteLength);
}

function putByte(c: i32): void {
  store<u8>(OUT + <usize>OUTLEN, <u8>c);
  OUTLEN++;
}

function writeBuf(b: ArrayBuffer): i32 {
  output_write(changetype<usize>(b), b.byteLength);
  return 0;
}

function fail(msg: ArrayBuffer): i32 {
  host_log(LOG_ERROR, changetype<usize>(msg), msg.byteLength);
  return 1;
}

function answer(): i32 {
  // The top-level "data" member.
  let hasData = false;
  let dataStart = 0;
  let dataEnd = 0;
  if (!beginObject(0)) return fail(ERR_ENVELOPE);
  let r: i32;
  for (let first = true; (r = nextMember(first)) == 1; first = false) {
    if (keyIs(KEY_DATA)) {
      hasData = true;
      dataStart = valStart;
      dataEnd = valEnd;
    }
  }
  if (r < 0) return fail(ERR_ENVELOPE);

  host_log(LOG_INFO, changetype<usize>(CHECKED), CHECKED.byteLength);

  if (!hasData || at(dataStart) != 0x7b) return writeBuf(ALLOW);

  // The title: the last one, as JSON decoders do.
  let hasTitle = false;
  let titleStart = 0;
  let titleEnd = 0;
  beginObject(dataStart);
  for (let first = true; (r = nextMember(first)) == 1; first = false) {
    if (keyIs(KEY_TITLE)) {
      hasTitle = true;
      titleStart = valStart;
      titleEnd = valEnd;
    }
  }
  if (r < 0) return fail(ERR_DATA);

  OUT = heap.alloc(<usize>(2 * (dataEnd - dataStart) + 64));
  OUTLEN = 0;
  let status = 0;
  if (!hasTitle || at(titleStart) != 0x22) {
    putBuf(DATA_OPEN);
    put(IN + <usize>dataStart, dataEnd - dataStart);
    putByte(0x7d);
    output_write(OUT, OUTLEN);
  } else if (shouting(titleStart, titleEnd)) {
    status = writeBuf(REJECTION);
  } else {
    slugged(dataStart, titleStart, titleEnd);
    output_write(OUT, OUTLEN);
  }
  heap.free(OUT);
  return status;
}

/** Reports whether the title has an ASCII letter and no lowercase one. */
function shouting(start: i32, end: i32): bool {
  let upper = false;
  chars(start, end);
  while (CPOS < CEND) {
    const c = nextChar();
    if (c >= 0x61 && c <= 0x7a) return false;
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  return upper;
}

/** Writes the data members but "slug", as they were, then the new slug. */
function slugged(dataStart: i32, titleStart: i32, titleEnd: i32): void {
  putBuf(DATA_OPEN);
  putByte(0x7b);
  let members = 0;
  beginObject(dataStart);
  for (let first = true; nextMember(first) == 1; first = false) {
    if (keyIs(KEY_SLUG)) continue;
    if (members++ > 0) putByte(0x2c);
    put(IN + <usize>keyStart, valEnd - keyStart);
  }
  if (members > 0) putByte(0x2c);
  putBuf(SLUG_OPEN);
  const slug = OUTLEN;
  chars(titleStart, titleEnd);
  while (CPOS < CEND) {
    let c = nextChar();
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) {
      putByte(c);
    } else if (OUTLEN > slug && load<u8>(OUT + <usize>(OUTLEN - 1)) != 0x2d) {
      putByte(0x2d);
    }
  }
  while (OUTLEN > slug && load<u8>(OUT + <usize>(OUTLEN - 1)) == 0x2d) OUTLEN--;
  putBuf(CLOSE);
}
