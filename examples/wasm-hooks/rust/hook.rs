//! The example hook in Rust: a title must not be all caps, and the slug is
//! derived from the title. Built with plain rustc for
//! wasm32-unknown-unknown (see ../Makefile): no cargo, no crates.
//!
//! The input envelope is scanned, not parsed into a tree: the hook finds the
//! top-level "data" object, then its "title" member, and writes the output
//! data by copying every member but "slug" as it was in the input and
//! appending the new "slug". The C, AssemblyScript and WAT hooks follow the
//! same steps, so their outputs agree byte for byte.

#[link(wasm_import_module = "hook")]
extern "C" {
    fn input_read(ptr: *mut u8, len: i32) -> i32;
    fn output_write(ptr: *const u8, len: i32);
    fn log(level: i32, ptr: *const u8, len: i32);
}

const LOG_INFO: i32 = 1;
const LOG_ERROR: i32 = 3;

const REJECTION: &[u8] =
    br#"{"allow":false,"errors":[{"path":"/title","message":"title must not be all caps"}]}"#;

/// Marks the module as implementing hook ABI v1.
#[no_mangle]
pub extern "C" fn hook_abi_v1() {}

/// Handles one call: 0 when output was written, 1 for a hook error.
#[no_mangle]
pub extern "C" fn hook_handle(len: i32) -> i32 {
    if len < 0 {
        return 1;
    }
    let mut input = vec![0u8; len as usize];
    if unsafe { input_read(input.as_mut_ptr(), len) } != len {
        return 1;
    }
    match answer(&input) {
        Ok(out) => {
            unsafe { output_write(out.as_ptr(), out.len() as i32) };
            0
        }
        Err(msg) => {
            unsafe { log(LOG_ERROR, msg.as_ptr(), msg.len() as i32) };
            1
        }
    }
}

/// A span of the input: start..end.
#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
}

/// A JSON text being scanned.
struct Scanner<'a> {
    p: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.p.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn skip_string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    self.i += 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
            }
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i > start {
                    Some(())
                } else {
                    None
                }
            }
        }
    }

    /// Enters the object at the current position, after any whitespace.
    fn begin_object(&mut self) -> bool {
        self.skip_ws();
        if self.peek() == Some(b'{') {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Reads the next member of the object begin_object entered: Ok(Some)
    /// with key (quotes included) and value, Ok(None) at the end, Err on
    /// malformed input.
    fn next_member(&mut self, first: bool) -> Result<Option<(Span, Span)>, ()> {
        self.skip_ws();
        match self.peek() {
            None => return Err(()),
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !first => {
                self.i += 1;
                self.skip_ws();
            }
            Some(_) if !first => return Err(()),
            Some(_) => {}
        }
        let key_start = self.i;
        self.skip_string().ok_or(())?;
        let key = Span { start: key_start, end: self.i };
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(());
        }
        self.i += 1;
        self.skip_ws();
        let val_start = self.i;
        self.skip_value().ok_or(())?;
        Ok(Some((key, Span { start: val_start, end: self.i })))
    }

    /// Calls f for each member of the object at start.
    fn members(p: &'a [u8], start: usize, mut f: impl FnMut(Span, Span)) -> Result<(), ()> {
        let mut s = Scanner { p, i: start };
        if !s.begin_object() {
            return Err(());
        }
        let mut first = true;
        while let Some((k, v)) = s.next_member(first)? {
            f(k, v);
            first = false;
        }
        Ok(())
    }
}

/// The characters of a JSON string body, decoded lossily: escapes of ASCII
/// decode to their byte, escapes of anything else to 0x80, and raw bytes
/// are returned as they are. Every byte >= 0x80 is a non-letter here.
struct Chars<'a> {
    p: &'a [u8],
    i: usize,
}

impl<'a> Chars<'a> {
    /// The characters of the string at s (quotes included).
    fn of(p: &'a [u8], s: Span) -> Self {
        Chars { p: &p[s.start + 1..s.end - 1], i: 0 }
    }
}

impl Iterator for Chars<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let c = *self.p.get(self.i)?;
        self.i += 1;
        if c != b'\\' {
            return Some(c);
        }
        let e = match self.p.get(self.i) {
            Some(&e) => e,
            None => return Some(c),
        };
        self.i += 1;
        Some(match e {
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut cp: u32 = 0;
                for _ in 0..4 {
                    let h = match self.p.get(self.i).map(|&h| (h as char).to_digit(16)) {
                        Some(Some(h)) => h,
                        _ => return Some(0x80),
                    };
                    cp = cp << 4 | h;
                    self.i += 1;
                }
                if cp < 0x80 {
                    cp as u8
                } else {
                    0x80
                }
            }
            other => other, // '"', '\\', '/'
        })
    }
}

fn key_is(p: &[u8], key: Span, lit: &[u8]) -> bool {
    Chars::of(p, key).eq(lit.iter().copied())
}

fn answer(input: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut data: Option<Span> = None;
    Scanner::members(input, 0, |k, v| {
        if key_is(input, k, b"data") {
            data = Some(v);
        }
    })
    .map_err(|_| "malformed input envelope")?;

    let msg = b"checked title";
    unsafe { log(LOG_INFO, msg.as_ptr(), msg.len() as i32) };

    let data = match data {
        Some(d) if input[d.start] == b'{' => d,
        _ => return Ok(br#"{"allow":true}"#.to_vec()),
    };

    // The title: the last one, as JSON decoders do.
    let mut title: Option<Span> = None;
    Scanner::members(input, data.start, |k, v| {
        if key_is(input, k, b"title") {
            title = Some(v);
        }
    })
    .map_err(|_| "malformed data")?;

    let mut out = Vec::with_capacity(2 * (data.end - data.start) + 64);
    let title = match title {
        Some(t) if input[t.start] == b'"' => t,
        _ => {
            out.extend_from_slice(br#"{"allow":true,"data":"#);
            out.extend_from_slice(&input[data.start..data.end]);
            out.push(b'}');
            return Ok(out);
        }
    };

    // Shouting: an ASCII letter and no lowercase one.
    let upper = Chars::of(input, title).any(|c| c.is_ascii_uppercase());
    let lower = Chars::of(input, title).any(|c| c.is_ascii_lowercase());
    if upper && !lower {
        return Ok(REJECTION.to_vec());
    }

    // The data members but "slug", as they were, then the new slug.
    out.extend_from_slice(br#"{"allow":true,"data":{"#);
    let mut members = 0;
    Scanner::members(input, data.start, |k, v| {
        if key_is(input, k, b"slug") {
            return;
        }
        if members > 0 {
            out.push(b',');
        }
        members += 1;
        out.extend_from_slice(&input[k.start..v.end]);
    })
    .map_err(|_| "malformed data")?;
    out.extend_from_slice(if members > 0 { br#","slug":""# } else { br#""slug":""# });
    let slug = out.len();
    for c in Chars::of(input, title) {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if out.len() > slug && out[out.len() - 1] != b'-' {
            out.push(b'-');
        }
    }
    while out.len() > slug && out[out.len() - 1] == b'-' {
        out.pop();
    }
    out.extend_from_slice(br#""}}"#);
    Ok(out)
}
