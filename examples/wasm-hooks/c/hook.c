// The example hook in C: a title must not be all caps, and the slug is
// derived from the title. Built with clang and wasi-libc as a WASI reactor
// (see ../Makefile); it needs nothing from libc but malloc and free.
//
// The input envelope is scanned, not parsed into a tree: the hook finds the
// top-level "data" object, then its "title" member, and writes the output
// data by copying every member but "slug" as it was in the input and
// appending the new "slug". The other splicing hooks (Rust,
// AssemblyScript, WAT) follow the same steps, so their outputs agree byte
// for byte.

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_IMPORT(name) __attribute__((import_module("hook"), import_name(name)))
#define HOOK_EXPORT(name) __attribute__((export_name(name)))

HOOK_IMPORT("input_read") int32_t input_read(uint8_t *ptr, int32_t len);
HOOK_IMPORT("output_write") void output_write(const uint8_t *ptr, int32_t len);
HOOK_IMPORT("log") void host_log(int32_t level, const uint8_t *ptr, int32_t len);

enum { STATUS_OK = 0, STATUS_ERROR = 1, LOG_INFO = 1, LOG_ERROR = 3 };

static const char REJECTION[] =
    "{\"allow\":false,\"errors\":[{\"path\":\"/title\",\"message\":\"title must not be all caps\"}]}";

// A JSON text being scanned: p[0..n), position i.
typedef struct {
    const uint8_t *p;
    size_t n, i;
} scanner;

// A span of the input: [start, end).
typedef struct {
    size_t start, end;
} span;

static void skip_ws(scanner *s) {
    while (s->i < s->n) {
        uint8_t c = s->p[s->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        s->i++;
    }
}

// skip_string moves past the string starting at s->i (a '"').
static int skip_string(scanner *s) {
    if (s->i >= s->n || s->p[s->i] != '"') {
        return 0;
    }
    for (s->i++; s->i < s->n; s->i++) {
        uint8_t c = s->p[s->i];
        if (c == '\\') {
            s->i++;
        } else if (c == '"') {
            s->i++;
            return 1;
        }
    }
    return 0;
}

// skip_value moves past the value starting at s->i.
static int skip_value(scanner *s) {
    if (s->i >= s->n) {
        return 0;
    }
    uint8_t c = s->p[s->i];
    if (c == '"') {
        return skip_string(s);
    }
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (s->i < s->n) {
            c = s->p[s->i];
            if (c == '"') {
                if (!skip_string(s)) {
                    return 0;
                }
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
            }
            s->i++;
            if (depth == 0) {
                return 1;
            }
        }
        return 0;
    }
    size_t start = s->i;
    while (s->i < s->n) {
        c = s->p[s->i];
        if (c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            break;
        }
        s->i++;
    }
    return s->i > start;
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// next_char decodes one character of a string body at *i (not the closing
// quote) and advances *i. It is lossy on purpose: escapes of ASCII decode
// to their byte, escapes of anything else to 0x80, and raw bytes are
// returned as they are. Every byte >= 0x80 is a non-letter to this hook.
static uint8_t next_char(const uint8_t *p, size_t end, size_t *i) {
    uint8_t c = p[(*i)++];
    if (c != '\\' || *i >= end) {
        return c;
    }
    c = p[(*i)++];
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': {
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
            int h = *i < end ? hexval(p[*i]) : -1;
            if (h < 0) {
                return 0x80;
            }
            cp = cp << 4 | (unsigned)h;
            (*i)++;
        }
        return cp < 0x80 ? (uint8_t)cp : 0x80;
    }
    default: return c; // '"', '\\', '/'
    }
}

// key_is reports whether the string at k (quotes included) decodes to lit.
static int key_is(const uint8_t *p, span k, const char *lit) {
    size_t i = k.start + 1, end = k.end - 1;
    size_t j = 0;
    while (i < end) {
        if (lit[j] == 0 || next_char(p, end, &i) != (uint8_t)lit[j]) {
            return 0;
        }
        j++;
    }
    return lit[j] == 0;
}

// begin_object enters the object at s->i, after any whitespace.
static int begin_object(scanner *s) {
    skip_ws(s);
    if (s->i >= s->n || s->p[s->i] != '{') {
        return 0;
    }
    s->i++;
    return 1;
}

// next_member reads the next member of the object begin_object entered;
// first is set for the first call. It returns 1 with key (quotes included)
// and val set, 0 at the end of the object, -1 on malformed input.
static int next_member(scanner *s, int first, span *key, span *val) {
    skip_ws(s);
    if (s->i >= s->n) {
        return -1;
    }
    if (s->p[s->i] == '}') {
        s->i++;
        return 0;
    }
    if (!first) {
        if (s->p[s->i] != ',') {
            return -1;
        }
        s->i++;
        skip_ws(s);
    }
    key->start = s->i;
    if (!skip_string(s)) {
        return -1;
    }
    key->end = s->i;
    skip_ws(s);
    if (s->i >= s->n || s->p[s->i] != ':') {
        return -1;
    }
    s->i++;
    skip_ws(s);
    val->start = s->i;
    if (!skip_value(s)) {
        return -1;
    }
    val->end = s->i;
    return 1;
}

// An output buffer with room reserved up front.
typedef struct {
    uint8_t *p;
    size_t n;
} out;

static void put(out *o, const void *b, size_t n) {
    memcpy(o->p + o->n, b, n);
    o->n += n;
}

static void puts_lit(out *o, const char *lit) { put(o, lit, strlen(lit)); }

static int32_t answer(const uint8_t *in, size_t len);

HOOK_EXPORT("hook_abi_v1") void hook_abi_v1(void) {}

HOOK_EXPORT("hook_handle") int32_t hook_handle(int32_t len) {
    if (len < 0) {
        return STATUS_ERROR;
    }
    uint8_t *in = malloc(len ? (size_t)len : 1);
    if (in == NULL) {
        return STATUS_ERROR;
    }
    int32_t status = STATUS_ERROR;
    if (input_read(in, len) == len) {
        status = answer(in, (size_t)len);
    }
    free(in);
    return status;
}

static int32_t write_output(const out *o) {
    output_write(o->p, (int32_t)o->n);
    return STATUS_OK;
}

static int32_t write_lit(const char *lit) {
    output_write((const uint8_t *)lit, (int32_t)strlen(lit));
    return STATUS_OK;
}

static int32_t fail(const char *msg) {
    host_log(LOG_ERROR, (const uint8_t *)msg, (int32_t)strlen(msg));
    return STATUS_ERROR;
}

static int32_t answer(const uint8_t *in, size_t len) {
    scanner s = {in, len, 0};
    span key, val, data = {0, 0};
    int found = 0, r;

    if (!begin_object(&s)) {
        return fail("input envelope is not an object");
    }
    for (int first = 1; (r = next_member(&s, first, &key, &val)) == 1; first = 0) {
        if (key_is(in, key, "data")) {
            data = val;
            found = 1;
        }
    }
    if (r < 0) {
        return fail("malformed input envelope");
    }

    static const char msg[] = "checked title";
    host_log(LOG_INFO, (const uint8_t *)msg, sizeof msg - 1);

    if (!found || in[data.start] != '{') {
        return write_lit("{\"allow\":true}");
    }

    // Find the title (the last one, as JSON decoders do).
    span title = {0, 0};
    int has_title = 0;
    s.i = data.start;
    begin_object(&s);
    for (int first = 1; (r = next_member(&s, first, &key, &val)) == 1; first = 0) {
        if (key_is(in, key, "title")) {
            title = val;
            has_title = 1;
        }
    }
    if (r < 0) {
        return fail("malformed data");
    }

    out o;
    o.n = 0;
    o.p = malloc(2 * (data.end - data.start) + 64);
    if (o.p == NULL) {
        return fail("out of memory");
    }
    int32_t status;
    if (!has_title || in[title.start] != '"') {
        puts_lit(&o, "{\"allow\":true,\"data\":");
        put(&o, in + data.start, data.end - data.start);
        puts_lit(&o, "}");
        status = write_output(&o);
        free(o.p);
        return status;
    }

    // Shouting: an ASCII letter and no lowercase one.
    int upper = 0, lower = 0;
    for (size_t i = title.start + 1; i < title.end - 1;) {
        uint8_t c = next_char(in, title.end - 1, &i);
        upper |= c >= 'A' && c <= 'Z';
        lower |= c >= 'a' && c <= 'z';
    }
    if (upper && !lower) {
        free(o.p);
        return write_lit(REJECTION);
    }

    // The data members but "slug", as they were, then the new slug.
    puts_lit(&o, "{\"allow\":true,\"data\":{");
    int members = 0;
    s.i = data.start;
    begin_object(&s);
    for (int first = 1; next_member(&s, first, &key, &val) == 1; first = 0) {
        if (key_is(in, key, "slug")) {
            continue;
        }
        if (members++) {
            puts_lit(&o, ",");
        }
        put(&o, in + key.start, val.end - key.start);
    }
    puts_lit(&o, members ? ",\"slug\":\"" : "\"slug\":\"");
    size_t slug = o.n;
    for (size_t i = title.start + 1; i < title.end - 1;) {
        uint8_t c = next_char(in, title.end - 1, &i);
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            o.p[o.n++] = c;
        } else if (o.n > slug && o.p[o.n - 1] != '-') {
            o.p[o.n++] = '-';
        }
    }
    while (o.n > slug && o.p[o.n - 1] == '-') {
        o.n--;
    }
    puts_lit(&o, "\"}}");
    status = write_output(&o);
    free(o.p);
    return status;
}
