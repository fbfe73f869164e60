/* suprsend_native._speedups: the binding's per-event hot paths in C (optional).
 *
 * The pure-Python binding spends more CPU per event than the library itself: the JSON
 * encoder, the ctypes calls, the client's lock and the result dict. This module does the same
 * work in C for the usual event and hands everything else back to the Python code, so that
 * the results, the text sent and the errors stay exactly those of the pure path:
 *
 *   event_json(event)          the event as the JSON text Event._json_bytes makes (bytes), or
 *                              NotImplemented when the Python path must build it
 *   track_event(client, event) Suprsend.track_event for such an event (made with
 *                              suprsend_event_new and the setters): the result dict, or
 *                              NotImplemented (nothing was sent) when the Python path must run
 *   bulk_append(bulk, events)  BulkEvents.append (suprsend_bulk_append_json): how many of events
 *                              it appended (from the first), the rest being left to the Python path
 *   methods(...)               Event.__init__ and Suprsend.track_event as C methods
 *
 * It does not link libsuprsend: setup() receives the addresses of the library's functions
 * from the ctypes-loaded library, so both paths use one library instance. Built against the
 * stable ABI (Py_LIMITED_API 3.8), one binary serves CPython 3.8 and later.
 *
 * What falls back to Python (NotImplemented): anything but exact str, int (64-bit), float
 * (finite), bool, None, dict with str keys, list and tuple; a NUL in a top-level field;
 * strings that are not valid Unicode (surrogates); nesting deeper than MAX_DEPTH (circular
 * references end there); attachments; a closed client or bulk; an event the library refuses
 * to make (the Python path then says why, in its words).
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03080000
#endif
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(Py_LIMITED_API) && Py_LIMITED_API + 0 < 0x030A0000
/* Part of the stable ABI since 3.10, and exported with this signature by every CPython since
 * 3.3: the UTF-8 of a str without a temporary bytes object (cached in the str). */
PyAPI_FUNC(const char *) PyUnicode_AsUTF8AndSize(PyObject *unicode, Py_ssize_t *size);
#endif

/* Py_NewRef and Py_XSETREF are not in the 3.8 limited API. */
static PyObject *new_ref(PyObject *o) {
    Py_INCREF(o);
    return o;
}

static void replace_ref(PyObject **slot, PyObject *o) {
    PyObject *old = *slot;
    Py_INCREF(o);
    *slot = o;
    Py_XDECREF(old);
}

#ifndef METH_FASTCALL
/* Part of the stable ABI since 3.10; the same flag and calling convention (arguments in an
 * array, keyword names in a tuple) in every CPython since 3.7. */
#define METH_FASTCALL 0x0080
#endif

/* suprsend.h status codes used here (append-only in the library). */
enum { S_OK = 0, S_ARGUMENT = 1, S_VALIDATION = 2, S_TOO_LARGE = 3, S_ATTACHMENT = 4, S_NETWORK = 5, S_HTTP = 6 };

/* Deeper nesting goes to the Python path (the library refuses more than 64 levels anyway). */
#define MAX_DEPTH 100

/* The library's functions, from setup(). */
static struct {
    void (*event_free)(void *);
    int (*track_event)(void *, const void *, void **);
    int (*response_status_code)(const void *);
    const char *(*response_message)(const void *);
    const char *(*response_body)(const void *);
    void (*response_free)(void *);
    const char *(*last_error)(void);
    const char *(*status_name)(int);
    int (*bulk_append_json)(void *, const char *);
    void *(*event_new)(const char *, const char *);
    int (*event_set_properties_json)(void *, const char *);
    int (*event_set_idempotency_key)(void *, const char *);
    int (*event_set_tenant_id)(void *, const char *);
    int (*event_set_brand_id)(void *, const char *);
} lib;
static int ready;

/* Python objects from setup(), and interned names. */
static PyObject *event_class, *error_for, *parse_body, *result_fallback;
static PyObject *s_distinct_id, *s_event_name, *s_properties, *s_idempotency_key, *s_tenant_id, *s_brand_id,
    *s_attachments, *s_lock, *s_handle, *s_inflight, *s_closing, *s_cond, *s_acquire, *s_release,
    *s_notify_all, *s_success, *s_status, *s_status_code, *s_message, *s_raw_response, *v_success, *v_fail;

/* --- a growable byte buffer --------------------------------------------------------------- */
typedef struct {
    char *data;
    size_t len, cap;
    char local[4096];
} Buf;

static void buf_init(Buf *b) {
    b->data = b->local;
    b->len = 0;
    b->cap = sizeof b->local;
}

static void buf_free(Buf *b) {
    if (b->data != b->local) free(b->data);
    b->data = b->local;
}

/* buf_reserve's slow path: a bigger block. */
static int buf_grow(Buf *b, size_t n) {
    if (n > (SIZE_MAX / 2) - b->len - 1) {
        PyErr_NoMemory();
        return 0;
    }
    size_t cap = b->cap * 2;
    while (cap - b->len <= n) cap *= 2;
    char *p = b->data == b->local ? malloc(cap) : realloc(b->data, cap);
    if (!p) {
        PyErr_NoMemory();
        return 0;
    }
    if (b->data == b->local) memcpy(p, b->local, b->len);
    b->data = p;
    b->cap = cap;
    return 1;
}

/* Room for n more bytes (and a NUL); 0, with MemoryError set, when there is none. */
static inline int buf_reserve(Buf *b, size_t n) {
    return n < b->cap - b->len ? 1 : buf_grow(b, n);
}

static inline int buf_put(Buf *b, const char *s, size_t n) {
    if (!buf_reserve(b, n)) return 0;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

#define PUT_LIT(b, lit) buf_put((b), (lit), sizeof(lit) - 1)

/* --- the JSON encoder ---------------------------------------------------------------------- */
/* Results of the encoder: done, hand over to Python, or a Python exception is set. */
typedef enum { ENC_OK = 0, ENC_FALLBACK = 1, ENC_ERROR = -1 } Enc;

static const char HEX[] = "0123456789abcdef";

/* The bytes a JSON string escapes: the control characters, '"' and '\\'. */
static const unsigned char ESCAPED[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
};

/* Whether any of the 8 bytes in w is one JSON escapes (< 0x20, '"', '\\'): the usual bit
 * tricks (exact for "any"; bytes >= 0x80, UTF-8, never match). */
static inline int word_needs_escape(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high ? 1 : 0;
}

/* s as a JSON string as json's encode_basestring (ensure_ascii=False) writes it: '"', '\\' and
 * the control characters escaped, the rest as is (UTF-8). */
static Enc put_string_bytes(Buf *b, const char *s, Py_ssize_t n) {
    if (n < 0 || (size_t)n > (SIZE_MAX - 2) / 6) return ENC_FALLBACK;
    if (!buf_reserve(b, (size_t)n * 6 + 2)) return ENC_ERROR;
    char *out = b->data + b->len;
    *out++ = '"';
    /* The usual string has nothing to escape: copied 8 bytes at a time, then byte by byte,
     * noting whether any byte needed an escape (then written again, escaped). */
    Py_ssize_t i = 0;
    unsigned char escapes = 0;
    for (; n - i >= 8 && !escapes; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        escapes = (unsigned char)word_needs_escape(w);
        memcpy(out + i, &w, 8);
    }
    for (; i < n && !escapes; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (char)c;
        escapes = ESCAPED[c];
    }
    if (!escapes) {
        out += n;
        *out++ = '"';
        b->len = (size_t)(out - b->data);
        return ENC_OK;
    }
    for (i = 0; i < n; i++) {
        Py_ssize_t run = i;
        while (run < n && !ESCAPED[(unsigned char)s[run]]) run++;
        if (run > i) { /* plain bytes, copied as they are */
            memcpy(out, s + i, (size_t)(run - i));
            out += run - i;
            i = run;
            if (i == n) break;
        }
        unsigned char c = (unsigned char)s[i];
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = HEX[c >> 4];
            *out++ = HEX[c & 15];
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    return ENC_OK;
}

/* The UTF-8 of an exact str; NULL (no exception left) when it is not valid Unicode. */
static const char *utf8_of(PyObject *str, Py_ssize_t *n) {
    const char *s = PyUnicode_AsUTF8AndSize(str, n);
    if (!s) PyErr_Clear();
    return s;
}

/* The JSON text of recently written short strings, by identity: the keys and many values of
 * properties are the same str objects (constants in the caller's code) event after event. A
 * slot holds a reference to its str, so the object it names stays the same str; only touched
 * with the GIL held. */
#define WRITTEN_SLOTS 64 /* the hash below gives 6 bits */
#define WRITTEN_MAX 46
static struct {
    PyObject *str;
    unsigned char len;
    char json[WRITTEN_MAX];
} written[WRITTEN_SLOTS];

static Enc put_string(Buf *b, PyObject *str) {
    /* Fibonacci hashing: objects of one size are a fixed stride apart, their low bits alike. */
    unsigned slot = (unsigned)(((uint64_t)(uintptr_t)str * 0x9E3779B97F4A7C15ULL) >> 58); /* 0..63 */
    if (written[slot].str == str) return buf_put(b, written[slot].json, written[slot].len) ? ENC_OK : ENC_ERROR;
    Py_ssize_t n;
    const char *s = utf8_of(str, &n);
    if (!s) return ENC_FALLBACK;
    size_t start = b->len;
    Enc r = put_string_bytes(b, s, n);
    if (r == ENC_OK && b->len - start <= WRITTEN_MAX) {
        replace_ref(&written[slot].str, str);
        written[slot].len = (unsigned char)(b->len - start);
        memcpy(written[slot].json, b->data + start, b->len - start);
    }
    return r;
}

static Enc put_value(Buf *b, PyObject *v, int depth);

static Enc put_dict(Buf *b, PyObject *d, int depth) {
    if (!PUT_LIT(b, "{")) return ENC_ERROR;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    /* Borrowed references, valid while nothing runs Python code: nothing here does (exact
     * types only, and the dict is not resized during the walk). */
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (Py_TYPE(k) != &PyUnicode_Type) return ENC_FALLBACK;
        if (i++ && !PUT_LIT(b, ",")) return ENC_ERROR;
        Enc r = put_string(b, k);
        if (r != ENC_OK) return r;
        if (!PUT_LIT(b, ":")) return ENC_ERROR;
        r = put_value(b, v, depth + 1);
        if (r != ENC_OK) return r;
    }
    return PUT_LIT(b, "}") ? ENC_OK : ENC_ERROR;
}

static Enc put_sequence(Buf *b, PyObject *seq, int is_list, int depth) {
    Py_ssize_t n = is_list ? PyList_Size(seq) : PyTuple_Size(seq);
    if (n < 0) return ENC_ERROR;
    if (!PUT_LIT(b, "[")) return ENC_ERROR;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = is_list ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i);
        if (!item) return ENC_ERROR;
        if (i && !PUT_LIT(b, ",")) return ENC_ERROR;
        Enc r = put_value(b, item, depth + 1);
        if (r != ENC_OK) return r;
    }
    return PUT_LIT(b, "]") ? ENC_OK : ENC_ERROR;
}

/* x in decimal, without snprintf's format parsing. */
static int put_int(Buf *b, long long x) {
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0) *--p = '-';
    return buf_put(b, p, (size_t)(end - p));
}

/* repr(x) for the floats most properties hold (a few decimals, 1e-4 <= |x| < 1e15), without
 * the general shortest-repr algorithm; 0 when x is not such a float. The decimal m / 10^k with
 * at most 15 significant digits that converts back to x is the only decimal of at most 15
 * digits that does (DBL_DIG), hence the shortest, hence what repr() prints. */
static int put_short_float(Buf *b, double x) {
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double ax = fabs(x);
    if (x == 0) return (signbit(x) ? PUT_LIT(b, "-0.0") : PUT_LIT(b, "0.0")) ? 1 : -1;
    if (!(ax >= 1e-4 && ax < 1e15)) return 0;
    for (int k = 0; k <= 6; k++) {
        double t = ax * pow10[k];
        if (t >= 1e15) return 0;
        double m = floor(t);
        if (m != t || m / pow10[k] != ax) continue;
        long long whole = (long long)m;
        long long unit = (long long)pow10[k];
        char tmp[48], *p = tmp;
        if (x < 0) *p++ = '-';
        long long ip = whole / unit, fp = whole % unit;
        char digits[24];
        int nd = 0;
        do {
            digits[nd++] = (char)('0' + ip % 10);
            ip /= 10;
        } while (ip);
        while (nd) *p++ = digits[--nd];
        *p++ = '.';
        if (k == 0) {
            *p++ = '0';
        } else {
            char frac[8];
            for (int i = k - 1; i >= 0; i--) {
                frac[i] = (char)('0' + fp % 10);
                fp /= 10;
            }
            int len = k;
            while (len > 1 && frac[len - 1] == '0') len--; /* m / 10^k is in lowest terms here */
            memcpy(p, frac, (size_t)len);
            p += len;
        }
        return buf_put(b, tmp, (size_t)(p - tmp)) ? 1 : -1;
    }
    return 0;
}

static Enc put_value(Buf *b, PyObject *v, int depth) {
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyUnicode_Type) return put_string(b, v);
    if (v == Py_None) return PUT_LIT(b, "null") ? ENC_OK : ENC_ERROR;
    if (v == Py_True) return PUT_LIT(b, "true") ? ENC_OK : ENC_ERROR;
    if (v == Py_False) return PUT_LIT(b, "false") ? ENC_OK : ENC_ERROR;
    if (t == &PyLong_Type) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) return ENC_FALLBACK;
        if (x == -1 && PyErr_Occurred()) return ENC_ERROR;
        return put_int(b, x) ? ENC_OK : ENC_ERROR;
    }
    if (t == &PyFloat_Type) {
        double x = PyFloat_AsDouble(v);
        if (!isfinite(x)) return ENC_FALLBACK; /* allow_nan=False: Python raises its error */
        int quick = put_short_float(b, x);
        if (quick) return quick > 0 ? ENC_OK : ENC_ERROR;
        /* float.__repr__, as json writes a float. */
        char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!s) return ENC_ERROR;
        int ok = buf_put(b, s, strlen(s));
        PyMem_Free(s);
        return ok ? ENC_OK : ENC_ERROR;
    }
    if (depth >= MAX_DEPTH) return ENC_FALLBACK;
    if (t == &PyDict_Type) return put_dict(b, v, depth);
    if (t == &PyList_Type) return put_sequence(b, v, 1, depth);
    if (t == &PyTuple_Type) return put_sequence(b, v, 0, depth);
    return ENC_FALLBACK;
}

/* A top-level field: an exact str without NUL, else the Python path. */
static Enc put_field(Buf *b, const char *key, size_t key_len, PyObject *str) {
    Py_ssize_t n;
    const char *s = utf8_of(str, &n);
    if (!s || memchr(s, 0, (size_t)n)) return ENC_FALLBACK;
    if (!buf_put(b, key, key_len)) return ENC_ERROR;
    return put_string_bytes(b, s, n);
}

/* An optional top-level field: None or "" leaves it out; anything but a str, the Python path. */
static Enc put_optional(Buf *b, const char *key, size_t key_len, PyObject *value) {
    if (value == Py_None) return ENC_OK;
    if (Py_TYPE(value) != &PyUnicode_Type) return ENC_FALLBACK;
    if (PyUnicode_GetLength(value) == 0) return ENC_OK;
    return put_field(b, key, key_len, value);
}

#define KEY(lit) (lit), sizeof(lit) - 1

/* An event's attributes, read once (new references). */
typedef struct {
    PyObject *f[7]; /* _attachments, distinct_id, event_name, properties, idempotency_key, tenant_id, brand_id */
} Fields;

static void fields_release(Fields *e) {
    for (int i = 0; i < 7; i++) Py_CLEAR(e->f[i]);
}

/* Reads the attributes; ENC_FALLBACK for an event only the Python path takes (attachments, a
 * missing attribute, a field of another type). */
static Enc read_event(PyObject *event, Fields *e) {
    PyObject *names[7] = {s_attachments, s_distinct_id, s_event_name, s_properties,
                          s_idempotency_key, s_tenant_id, s_brand_id};
    memset(e, 0, sizeof *e);
    for (int i = 0; i < 7; i++) {
        e->f[i] = PyObject_GetAttr(event, names[i]);
        if (!e->f[i]) {
            /* A missing attribute (deleted by the user): the Python path says so. */
            PyErr_Clear();
            fields_release(e);
            return ENC_FALLBACK;
        }
    }
    PyObject *attachments = e->f[0], *distinct_id = e->f[1], *event_name = e->f[2], *properties = e->f[3];
    if (Py_TYPE(attachments) != &PyList_Type || PyList_Size(attachments) != 0
        || Py_TYPE(distinct_id) != &PyUnicode_Type || Py_TYPE(event_name) != &PyUnicode_Type
        || Py_TYPE(properties) != &PyDict_Type) {
        fields_release(e);
        return ENC_FALLBACK;
    }
    return ENC_OK;
}

/* The whole event as Event._json_bytes makes it, NUL-terminated in b. */
static Enc write_event_json(Buf *b, Fields *e) {
    Enc r;
    if ((r = put_field(b, KEY("{\"distinct_id\":"), e->f[1])) != ENC_OK) return r;
    if ((r = put_field(b, KEY(",\"event\":"), e->f[2])) != ENC_OK) return r;
    if (PyDict_Size(e->f[3]) > 0) {
        if (!PUT_LIT(b, ",\"properties\":")) return ENC_ERROR;
        if ((r = put_dict(b, e->f[3], 1)) != ENC_OK) return r;
    }
    if ((r = put_optional(b, KEY(",\"$idempotency_key\":"), e->f[4])) != ENC_OK) return r;
    if ((r = put_optional(b, KEY(",\"tenant_id\":"), e->f[5])) != ENC_OK) return r;
    if ((r = put_optional(b, KEY(",\"brand_id\":"), e->f[6])) != ENC_OK) return r;
    if (!buf_put(b, "}", 2)) return ENC_ERROR; /* with its NUL */
    b->len--;
    return ENC_OK;
}

static Enc encode_event(Buf *b, PyObject *event) {
    Fields e;
    Enc r = read_event(event, &e);
    if (r != ENC_OK) return r;
    r = write_event_json(b, &e);
    fields_release(&e);
    return r;
}

/* A top-level text field for a setter: NULL for None or "", *r = ENC_FALLBACK for anything but a
 * str without NUL. Valid while e holds the str. */
static const char *field_text(PyObject *v, Enc *r) {
    if (v == Py_None) return NULL;
    if (Py_TYPE(v) != &PyUnicode_Type) {
        *r = ENC_FALLBACK;
        return NULL;
    }
    Py_ssize_t n;
    const char *s = utf8_of(v, &n);
    if (!s || memchr(s, 0, (size_t)n)) {
        *r = ENC_FALLBACK;
        return NULL;
    }
    return n ? s : NULL;
}

/* The C event field by field (suprsend_event_new and the setters, as the Python path without
 * suprsend_event_new_json makes it; cheaper for the library than parsing the whole event).
 * NULL with *r = ENC_FALLBACK when the Python path must make it (and say why), ENC_ERROR with
 * an exception set. */
static void *build_event(PyObject *event, Enc *r) {
    Fields e;
    *r = read_event(event, &e);
    if (*r != ENC_OK) return NULL;
    void *ev = NULL;
    Buf b;
    buf_init(&b);
    const char *did = field_text(e.f[1], r), *name = field_text(e.f[2], r);
    const char *key = field_text(e.f[4], r), *tenant = field_text(e.f[5], r), *brand = field_text(e.f[6], r);
    if (*r == ENC_OK && (!did || !name)) *r = ENC_FALLBACK; /* an empty one: the library's message, via Python */
    if (*r == ENC_OK && PyDict_Size(e.f[3]) > 0) {
        *r = put_dict(&b, e.f[3], 1);
        if (*r == ENC_OK && !buf_put(&b, "", 1)) *r = ENC_ERROR; /* its NUL */
    }
    if (*r == ENC_OK) {
        ev = lib.event_new(did, name);
        if (!ev || (b.len && lib.event_set_properties_json(ev, b.data) != S_OK)
            || (key && lib.event_set_idempotency_key(ev, key) != S_OK)
            || (tenant && lib.event_set_tenant_id(ev, tenant) != S_OK)
            || (brand && lib.event_set_brand_id(ev, brand) != S_OK)) {
            if (ev) lib.event_free(ev);
            ev = NULL;
            *r = ENC_FALLBACK;
        }
    }
    buf_free(&b);
    fields_release(&e);
    return ev;
}

static int is_event(PyObject *o) {
    if (!event_class) return 0;
    if ((PyObject *)Py_TYPE(o) == event_class) return 1;
    int r = PyObject_IsInstance(o, event_class);
    if (r < 0) PyErr_Clear();
    return r > 0;
}

static int require_setup(void) {
    if (ready) return 1;
    PyErr_SetString(PyExc_RuntimeError, "suprsend_native._speedups: setup() was not called");
    return 0;
}

/* --- event_json ---------------------------------------------------------------------------- */
static PyObject *sp_event_json(PyObject *self, PyObject *event) {
    (void)self;
    if (!require_setup()) return NULL;
    if (!is_event(event)) Py_RETURN_NOTIMPLEMENTED;
    Buf b;
    buf_init(&b);
    Enc r = encode_event(&b, event);
    PyObject *out = NULL;
    if (r == ENC_OK)
        out = PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len);
    else if (r == ENC_FALLBACK)
        out = new_ref(Py_NotImplemented);
    buf_free(&b);
    return out;
}

/* --- helpers around Python objects --------------------------------------------------------- */
static int call_method0(PyObject *obj, PyObject *name) {
    PyObject *r = PyObject_CallMethodObjArgs(obj, name, NULL);
    if (!r) return 0;
    Py_DECREF(r);
    return 1;
}

/* _thread.lock and its acquire/release methods (unbound), from PyInit: for the binding's locks,
 * a call without a bound method object made and looked up each time. */
static PyObject *lock_type, *lock_acquire, *lock_release;

static int lock_call(PyObject *lock, PyObject *unbound, PyObject *name) {
    if ((PyObject *)Py_TYPE(lock) != lock_type) return call_method0(lock, name);
    PyObject *r = PyObject_CallFunctionObjArgs(unbound, lock, NULL);
    if (!r) return 0;
    Py_DECREF(r);
    return 1;
}

#define LOCK_ACQUIRE(lock) lock_call((lock), lock_acquire, s_acquire)
#define LOCK_RELEASE(lock) lock_call((lock), lock_release, s_release)

/* Raises error_for(rc[, message]) (message NULL: error_for reads the library's last error). */
static void raise_for(int rc, PyObject *message) {
    PyObject *code = PyLong_FromLong(rc);
    if (!code) return;
    PyObject *exc = message ? PyObject_CallFunctionObjArgs(error_for, code, message, NULL)
                            : PyObject_CallFunctionObjArgs(error_for, code, NULL);
    Py_DECREF(code);
    if (!exc) return;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

static PyObject *decode_recent(const char *s, size_t n);

static PyObject *decode(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    PyObject *r = decode_recent(s, n); /* the usual texts ("OK"), made once */
    if (r) return r;
    PyErr_Clear(); /* invalid UTF-8: as the library's text was always read, with U+FFFD */
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
}

/* client._inflight += delta; with client._lock held. */
static int add_inflight(PyObject *client, long delta, long *now) {
    PyObject *v = PyObject_GetAttr(client, s_inflight);
    if (!v) return 0;
    long n = PyLong_AsLong(v);
    Py_DECREF(v);
    if (n == -1 && PyErr_Occurred()) return 0;
    n += delta;
    PyObject *nv = PyLong_FromLong(n);
    if (!nv) return 0;
    int rc = PyObject_SetAttr(client, s_inflight, nv);
    Py_DECREF(nv);
    if (now) *now = n;
    return rc == 0;
}

/* Suprsend._enter: the C client, counted as in use; NULL with no exception when it is closed. */
static void *client_enter(PyObject *client, PyObject *lock, int *failed) {
    *failed = 0;
    if (!LOCK_ACQUIRE(lock)) {
        *failed = 1;
        return NULL;
    }
    void *handle = NULL;
    PyObject *h = PyObject_GetAttr(client, s_handle);
    if (!h) {
        *failed = 1;
    } else if (h != Py_None) {
        handle = PyLong_AsVoidPtr(h);
        if (!handle || !add_inflight(client, 1, NULL)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "suprsend_native: bad client handle");
            handle = NULL;
            *failed = 1;
        }
    }
    Py_XDECREF(h);
    /* Released whatever happened (an exception set above is kept across the call). */
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    if (!LOCK_RELEASE(lock)) {
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        *failed = 1;
        return NULL;
    }
    PyErr_Restore(et, ev, tb);
    return handle;
}

/* Suprsend._leave. */
static int client_leave(PyObject *client, PyObject *lock) {
    if (!LOCK_ACQUIRE(lock)) return 0;
    long now = 0;
    int ok = add_inflight(client, -1, &now);
    if (ok && now == 0) {
        PyObject *closing = PyObject_GetAttr(client, s_closing);
        int waiting = closing ? PyObject_IsTrue(closing) : -1;
        Py_XDECREF(closing);
        if (waiting < 0) {
            ok = 0;
        } else if (waiting) {
            PyObject *cond = PyObject_GetAttr(client, s_cond);
            ok = cond && call_method0(cond, s_notify_all);
            Py_XDECREF(cond);
        }
    }
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int released = LOCK_RELEASE(lock);
    if (released) {
        PyErr_Restore(et, ev, tb);
    } else {
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
    }
    return ok && released;
}

/* --- response bodies ---------------------------------------------------------------------- */
/* The short strings of recent bodies ("status", "success", ...), decoded once: every answer
 * repeats them, and a str reused keeps its hash (dict keys). Strings are immutable, so a
 * shared one is indistinguishable from a new one but by identity. Only touched with the GIL. */
#define RECENT_SLOTS 16
#define RECENT_MAX 23
static struct {
    PyObject *str;
    unsigned char len;
    char text[RECENT_MAX];
} recent[RECENT_SLOTS];

static PyObject *decode_recent(const char *s, size_t n) {
    if (n > RECENT_MAX) return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, NULL);
    unsigned slot = (unsigned)(n * 31u + (n ? (unsigned char)s[0] * 7u + (unsigned char)s[n - 1] : 0u)) % RECENT_SLOTS;
    if (recent[slot].str && recent[slot].len == n && !memcmp(recent[slot].text, s, n))
        return new_ref(recent[slot].str);
    PyObject *str = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, NULL);
    if (str) {
        replace_ref(&recent[slot].str, str);
        recent[slot].len = (unsigned char)n;
        memcpy(recent[slot].text, s, n);
    }
    return str;
}

/* A JSON string without escapes at *p (after its '"'), as str; *p moves past its closing '"'.
 * NULL without an exception: not such a string (escapes, control characters, invalid UTF-8). */
static PyObject *plain_string(const char **p) {
    const char *start = *p, *q = start;
    while (*q != '"') {
        if ((unsigned char)*q < 0x20 || *q == '\\') return NULL; /* the end, a control char, an escape */
        q++;
    }
    PyObject *s = decode_recent(start, (size_t)(q - start));
    if (!s) {
        PyErr_Clear();
        return NULL;
    }
    *p = q + 1;
    return s;
}

/* json.loads(body) for the bodies the hub sends for one event: one flat object of strings
 * without escapes, small integers, true, false and null, without whitespace. NULL without an
 * exception for anything else (parse_body, the Python path, reads it); NULL with one set on
 * failure. */
static PyObject *parse_flat_object(const char *p) {
    if (*p++ != '{') return NULL;
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (*p == '}') goto end;
    for (;;) {
        if (*p++ != '"') goto fallback;
        PyObject *key = plain_string(&p);
        if (!key) goto fallback;
        if (*p++ != ':') {
            Py_DECREF(key);
            goto fallback;
        }
        PyObject *value = NULL;
        if (*p == '"') {
            p++;
            value = plain_string(&p);
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            /* An integer of at most 18 digits; a fraction, an exponent or a leading zero: fallback. */
            const char *q = p + (*p == '-');
            long long n = 0;
            int digits = 0;
            while (*q >= '0' && *q <= '9' && digits < 19) n = n * 10 + (*q++ - '0'), digits++;
            int leading_zero = digits > 1 && p[*p == '-'] == '0';
            if (digits > 0 && digits <= 18 && !leading_zero && *q != '.' && *q != 'e' && *q != 'E'
                && !(*q >= '0' && *q <= '9')) {
                value = PyLong_FromLongLong(*p == '-' ? -n : n);
                if (!value) {
                    Py_DECREF(key);
                    Py_DECREF(d);
                    return NULL;
                }
                p = q;
            }
        } else if (!strncmp(p, "true", 4)) {
            value = new_ref(Py_True);
            p += 4;
        } else if (!strncmp(p, "false", 5)) {
            value = new_ref(Py_False);
            p += 5;
        } else if (!strncmp(p, "null", 4)) {
            value = new_ref(Py_None);
            p += 4;
        }
        if (!value) {
            Py_DECREF(key);
            goto fallback;
        }
        int rc = PyDict_SetItem(d, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc) {
            Py_DECREF(d);
            return NULL;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}') break;
        goto fallback;
    }
end:
    if (p[1] == '\0') return d;
fallback:
    Py_DECREF(d);
    return NULL;
}

/* parse_flat_object with the last short body remembered: a hub answers every event with the
 * same few bytes, and copying a dict of strings costs a tenth of reading it again. The cached
 * dict is private (callers get copies, values are immutable). Only touched with the GIL. */
#define LAST_BODY_MAX 256
static struct {
    PyObject *dict;
    size_t len;
    char text[LAST_BODY_MAX];
} last_body;

static PyObject *read_flat_body(const char *body) {
    size_t n = strlen(body);
    if (last_body.dict && n == last_body.len && !memcmp(body, last_body.text, n)) return PyDict_Copy(last_body.dict);
    PyObject *d = parse_flat_object(body);
    if (d && n <= LAST_BODY_MAX) {
        PyObject *keep = PyDict_Copy(d);
        if (keep) {
            Py_XDECREF(last_body.dict);
            last_body.dict = keep;
            last_body.len = n;
            memcpy(last_body.text, body, n);
        } else {
            PyErr_Clear(); /* not remembered; d is still the answer */
        }
    }
    return d;
}

/* The success result's keys in _result's order, values to be replaced: copied, not built. */
static PyObject *success_template;

/* The official SDK's result dict for an accepted event (Python's _result, success branch). */
static PyObject *success_result(const void *response) {
    int status_code = lib.response_status_code(response);
    const char *body_c = lib.response_body(response);
    PyObject *text = decode(lib.response_message(response));
    if (!text) return NULL;
    PyObject *raw;
    if (status_code == 0 && (!body_c || !*body_c)) {
        raw = new_ref(Py_None);
        status_code = 500; /* NO_ANSWER_STATUS_CODE */
    } else {
        raw = read_flat_body(body_c ? body_c : "");
        if (!raw && !PyErr_Occurred()) {
            PyObject *body = decode(body_c);
            raw = body ? PyObject_CallFunctionObjArgs(parse_body, body, NULL) : NULL;
            Py_XDECREF(body);
        }
    }
    PyObject *code = raw ? PyLong_FromLong(status_code) : NULL;
    PyObject *d = code ? PyDict_Copy(success_template) : NULL;
    if (!d || PyDict_SetItem(d, s_status_code, code) || PyDict_SetItem(d, s_message, text)
        || PyDict_SetItem(d, s_raw_response, raw)) {
        Py_CLEAR(d);
    }
    Py_XDECREF(code);
    Py_XDECREF(raw);
    Py_DECREF(text);
    return d;
}

/* --- track_event --------------------------------------------------------------------------- */
static PyObject *track(PyObject *client, PyObject *event) {
    if (!require_setup()) return NULL;
    if (!is_event(event)) Py_RETURN_NOTIMPLEMENTED;

    Enc r;
    void *ev = build_event(event, &r);
    if (!ev) {
        if (r == ENC_ERROR) return NULL;
        Py_RETURN_NOTIMPLEMENTED; /* the Python path makes it, or says why not in its words */
    }

    PyObject *lock = PyObject_GetAttr(client, s_lock);
    if (!lock) {
        lib.event_free(ev);
        return NULL;
    }
    int failed;
    void *handle = client_enter(client, lock, &failed);
    if (!handle) {
        Py_DECREF(lock);
        lib.event_free(ev);
        if (failed) return NULL;
        Py_RETURN_NOTIMPLEMENTED; /* closed: the Python path raises SuprsendClosedError */
    }

    void *response = NULL;
    int rc;
    char *message = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = lib.track_event(handle, ev, &response);
    if (rc != S_OK) {
        const char *m = lib.last_error();
        if (m && *m) message = strdup(m);
        if (!message) {
            m = lib.status_name(rc);
            if (m) message = strdup(m);
        }
    }
    lib.event_free(ev);
    Py_END_ALLOW_THREADS

    int left = client_leave(client, lock);
    Py_DECREF(lock);
    PyObject *text = NULL;
    if (rc != S_OK) {
        text = decode(message ? message : "");
        free(message);
    }
    PyObject *result = NULL;
    if (!left || (rc != S_OK && !text)) {
        /* an exception is set */
    } else if (rc == S_OK && response) {
        result = success_result(response);
    } else if (rc == S_ARGUMENT || rc == S_VALIDATION || rc == S_TOO_LARGE || rc == S_ATTACHMENT
               || (rc != S_HTTP && rc != S_NETWORK && rc != S_OK)) {
        raise_for(rc, text);
    } else {
        /* Refused or not answered: Python's _result reads the response (its hub message). */
        PyObject *code = PyLong_FromLong(rc);
        PyObject *ptr = response ? PyLong_FromVoidPtr(response) : new_ref(Py_None);
        if (code && ptr)
            result = PyObject_CallFunctionObjArgs(result_fallback, code, ptr, text ? text : v_fail, NULL);
        Py_XDECREF(code);
        Py_XDECREF(ptr);
    }
    Py_XDECREF(text);
    if (response) lib.response_free(response);
    return result;
}

static PyObject *sp_track_event(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *client, *event;
    if (!PyArg_ParseTuple(args, "OO:track_event", &client, &event)) return NULL;
    return track(client, event);
}

/* --- Event.__init__ and Suprsend.track_event as C methods ---------------------------------- */
/* The pure-Python functions they stand for (called for everything C does not handle), and the
 * binding's _clib module (its HAS_EVENT_JSON, which tests switch off). */
static PyObject *pure_init, *pure_track, *clib_module;
static PyObject *s_has_event_json, *s_doc;

/* args[0..nargs) and the keyword values after them, as a tuple and a dict (for the Python method). */
static PyObject *call_python(PyObject *func, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames) {
    Py_ssize_t nk = kwnames ? PyTuple_Size(kwnames) : 0;
    PyObject *tuple = PyTuple_New(nargs + 1), *kwargs = NULL, *r = NULL;
    if (!tuple) return NULL;
    PyTuple_SetItem(tuple, 0, new_ref(self));
    for (Py_ssize_t i = 0; i < nargs; i++) PyTuple_SetItem(tuple, i + 1, new_ref(args[i]));
    if (nk > 0) {
        kwargs = PyDict_New();
        if (!kwargs) goto done;
        for (Py_ssize_t i = 0; i < nk; i++) {
            PyObject *name = PyTuple_GetItem(kwnames, i);
            if (!name || PyDict_SetItem(kwargs, name, args[nargs + i]) < 0) goto done;
        }
    }
    r = PyObject_Call(func, tuple, kwargs);
done:
    Py_DECREF(tuple);
    Py_XDECREF(kwargs);
    return r;
}

/* The index of a keyword among names[0..n), or -1. Call sites pass interned names: compared by
 * identity first. */
static int keyword_index(PyObject *key, PyObject *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (key == names[i]) return i;
    for (int i = 0; i < n; i++) {
        int eq = PyUnicode_Compare(key, names[i]);
        if (eq == 0) return i;
        if (eq == -1 && PyErr_Occurred()) PyErr_Clear();
    }
    return -1;
}

/* Event.__init__: the attributes set in the Python method's order, nothing checked (the event
 * is checked when sent or appended, as the Python method leaves it). A call that does not bind
 * (a missing, unknown or repeated argument) goes to the Python method for its TypeError. */
static PyObject *event_init(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *names[6] = {s_distinct_id, s_event_name, s_properties, s_idempotency_key, s_tenant_id, s_brand_id};
    PyObject *v[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    Py_ssize_t nk = kwnames ? PyTuple_Size(kwnames) : 0;
    int binds = nargs <= 6 && nk >= 0;
    for (Py_ssize_t i = 0; binds && i < nargs; i++) v[i] = args[i];
    for (Py_ssize_t i = 0; binds && i < nk; i++) {
        PyObject *key = PyTuple_GetItem(kwnames, i);
        int at = key ? keyword_index(key, names, 6) : -1;
        if (at < 0 || v[at]) binds = 0;
        else v[at] = args[nargs + i];
    }
    if (!binds || !v[0] || !v[1]) {
        PyErr_Clear();
        return call_python(pure_init, self, args, nargs, kwnames);
    }
    for (int i = 2; i < 6; i++)
        if (!v[i]) v[i] = Py_None;
    PyObject *properties = v[2] == Py_None ? PyDict_New() : new_ref(v[2]);
    PyObject *attachments = properties ? PyList_New(0) : NULL;
    PyObject *values[6] = {v[0], v[1], properties, v[3], v[4], v[5]};
    int ok = attachments != NULL;
    for (int i = 0; ok && i < 6; i++) ok = PyObject_SetAttr(self, names[i], values[i]) == 0;
    if (ok) ok = PyObject_SetAttr(self, s_attachments, attachments) == 0;
    Py_XDECREF(properties);
    Py_XDECREF(attachments);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static int has_event_json(void) {
    PyObject *flag = PyObject_GetAttr(clib_module, s_has_event_json);
    int r = flag ? PyObject_IsTrue(flag) : -1;
    Py_XDECREF(flag);
    return r;
}

/* Suprsend.track_event: C for the usual event, the Python method for anything else. */
static PyObject *client_track(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    if (nargs == 1 && !kwnames && is_event(args[0])) {
        int json = has_event_json();
        if (json < 0) return NULL;
        if (json) {
            PyObject *r = track(self, args[0]);
            if (r != Py_NotImplemented) return r;
            Py_DECREF(r);
        }
    }
    return call_python(pure_track, self, args, nargs, kwnames);
}

static PyMethodDef init_def = {"__init__", (PyCFunction)(void (*)(void))event_init, METH_FASTCALL | METH_KEYWORDS, NULL};
static PyMethodDef track_def = {"track_event", (PyCFunction)(void (*)(void))client_track, METH_FASTCALL | METH_KEYWORDS,
                                NULL};

/* ml_doc: the text signature (for inspect.signature and help) and the Python method's docstring. */
static int set_doc(PyMethodDef *def, const char *signature, PyObject *func) {
    if (def->ml_doc) return 1; /* made once; the descriptors made from it live as long as the process */
    PyObject *doc = PyObject_GetAttr(func, s_doc);
    if (!doc) return 0;
    const char *text = "";
    Py_ssize_t n = 0;
    if (doc != Py_None && (text = PyUnicode_AsUTF8AndSize(doc, &n)) == NULL) {
        Py_DECREF(doc);
        return 0;
    }
    size_t len = strlen(signature) + (size_t)n + 1;
    char *buf = PyMem_Malloc(len);
    if (!buf) {
        Py_DECREF(doc);
        PyErr_NoMemory();
        return 0;
    }
    memcpy(buf, signature, strlen(signature));
    memcpy(buf + strlen(signature), text, (size_t)n);
    buf[len - 1] = '\0';
    Py_DECREF(doc);
    def->ml_doc = buf;
    return 1;
}

/* methods(Event, Suprsend, _clib) -> (Event.__init__, Suprsend.track_event) in C, each falling
 * back to the Python method it replaces (read from the class now). */
static PyObject *sp_methods(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *event_cls, *client_cls, *clib;
    if (!PyArg_ParseTuple(args, "O!O!O:methods", &PyType_Type, &event_cls, &PyType_Type, &client_cls, &clib))
        return NULL;
    PyObject *init = PyObject_GetAttrString(event_cls, "__init__");
    PyObject *trk = init ? PyObject_GetAttrString(client_cls, "track_event") : NULL;
    if (!trk) {
        Py_XDECREF(init);
        return NULL;
    }
    if (!PyCallable_Check(init) || !PyCallable_Check(trk)) {
        PyErr_SetString(PyExc_TypeError, "methods(): Event.__init__ and Suprsend.track_event must be callable");
        Py_DECREF(init);
        Py_DECREF(trk);
        return NULL;
    }
    PyObject *result = NULL;
    if (set_doc(&init_def, "__init__($self, /, distinct_id, event_name, properties=None, idempotency_key=None, "
                           "tenant_id=None, brand_id=None)\n--\n\n", init)
        && set_doc(&track_def, "track_event($self, /, event)\n--\n\n", trk)) {
        PyObject *a = PyDescr_NewMethod((PyTypeObject *)event_cls, &init_def);
        PyObject *b = a ? PyDescr_NewMethod((PyTypeObject *)client_cls, &track_def) : NULL;
        if (b) {
            replace_ref(&pure_init, init);
            replace_ref(&pure_track, trk);
            replace_ref(&clib_module, clib);
            result = PyTuple_Pack(2, a, b);
        }
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    Py_DECREF(init);
    Py_DECREF(trk);
    return result;
}

/* --- bulk_append --------------------------------------------------------------------------- */
static PyObject *sp_bulk_append(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *bulk, *events;
    if (!PyArg_ParseTuple(args, "OO!:bulk_append", &bulk, &PyTuple_Type, &events)) return NULL;
    if (!require_setup()) return NULL;
    Py_ssize_t n = PyTuple_Size(events);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyTuple_GetItem(events, i);
        if (!ev) return NULL;
        if (!is_event(ev)) return PyLong_FromLong(0); /* the Python path raises its TypeError */
    }
    Buf b;
    buf_init(&b);
    Py_ssize_t done = 0;
    for (; done < n; done++) {
        b.len = 0;
        Enc r = encode_event(&b, PyTuple_GetItem(events, done));
        if (r == ENC_ERROR) goto error;
        if (r == ENC_FALLBACK) break;
        PyObject *lock = PyObject_GetAttr(bulk, s_lock);
        if (!lock) goto error;
        if (!LOCK_ACQUIRE(lock)) {
            Py_DECREF(lock);
            goto error;
        }
        PyObject *h = PyObject_GetAttr(bulk, s_handle);
        void *handle = h && h != Py_None ? PyLong_AsVoidPtr(h) : NULL;
        Py_XDECREF(h);
        int rc = -1;
        if (handle) {
            Py_BEGIN_ALLOW_THREADS
            rc = lib.bulk_append_json(handle, b.data);
            Py_END_ALLOW_THREADS
            if (rc != S_OK && rc != S_VALIDATION && rc != S_TOO_LARGE && rc != S_ARGUMENT)
                raise_for(rc, NULL); /* under the lock, right after the call, as the Python path */
        }
        PyObject *et, *evalue, *tb;
        PyErr_Fetch(&et, &evalue, &tb);
        int released = LOCK_RELEASE(lock);
        Py_DECREF(lock);
        if (!released) {
            Py_XDECREF(et);
            Py_XDECREF(evalue);
            Py_XDECREF(tb);
            goto error;
        }
        PyErr_Restore(et, evalue, tb);
        if (PyErr_Occurred()) goto error;
        /* No handle (closed, triggered) or refused as an argument: the Python path says why. */
        if (!handle || rc == S_ARGUMENT) break;
    }
    buf_free(&b);
    return PyLong_FromSsize_t(done);
error:
    buf_free(&b);
    return NULL;
}

/* --- for the tests ---------------------------------------------------------------------------- */
/* The C reading of a response body: what track_event puts in raw_response, or NotImplemented
 * when it leaves the body to parse_body. */
static PyObject *sp_parse_flat_body(PyObject *self, PyObject *body) {
    (void)self;
    char *data;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(body, &data, &n) < 0) return NULL;
    if ((size_t)n != strlen(data)) {
        PyErr_SetString(PyExc_ValueError, "parse_flat_body(): the library's bodies hold no NUL");
        return NULL;
    }
    PyObject *r = read_flat_body(data);
    if (!r && !PyErr_Occurred()) r = new_ref(Py_NotImplemented);
    return r;
}

/* --- setup ---------------------------------------------------------------------------------- */
static int take_address(PyObject *addresses, const char *name, void **slot) {
    PyObject *v = PyDict_GetItemString(addresses, name); /* borrowed */
    if (!v) {
        PyErr_Format(PyExc_KeyError, "setup(): no address for %s", name);
        return 0;
    }
    void *p = PyLong_AsVoidPtr(v);
    if (!p) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "setup(): NULL address for %s", name);
        return 0;
    }
    *slot = p;
    return 1;
}

static PyObject *sp_setup(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *addresses, *cls, *err, *parse, *result;
    if (!PyArg_ParseTuple(args, "O!OOOO:setup", &PyDict_Type, &addresses, &cls, &err, &parse, &result)) return NULL;
    if (!PyCallable_Check(err) || !PyCallable_Check(parse) || !PyCallable_Check(result)) {
        PyErr_SetString(PyExc_TypeError, "setup(): the helpers must be callable");
        return NULL;
    }
    void *p[14];
    static const char *const names[14] = {
        "suprsend_event_free", "suprsend_track_event", "suprsend_response_status_code",
        "suprsend_response_message", "suprsend_response_body", "suprsend_response_free", "suprsend_last_error",
        "suprsend_status_name", "suprsend_bulk_append_json", "suprsend_event_new",
        "suprsend_event_set_properties_json", "suprsend_event_set_idempotency_key", "suprsend_event_set_tenant_id",
        "suprsend_event_set_brand_id"};
    for (int i = 0; i < 14; i++)
        if (!take_address(addresses, names[i], &p[i])) return NULL;
    /* Function pointers from data pointers: what dlsym gives, as POSIX allows. */
    memcpy(&lib.event_free, &p[0], sizeof p[0]);
    memcpy(&lib.track_event, &p[1], sizeof p[1]);
    memcpy(&lib.response_status_code, &p[2], sizeof p[2]);
    memcpy(&lib.response_message, &p[3], sizeof p[3]);
    memcpy(&lib.response_body, &p[4], sizeof p[4]);
    memcpy(&lib.response_free, &p[5], sizeof p[5]);
    memcpy(&lib.last_error, &p[6], sizeof p[6]);
    memcpy(&lib.status_name, &p[7], sizeof p[7]);
    memcpy(&lib.bulk_append_json, &p[8], sizeof p[8]);
    memcpy(&lib.event_new, &p[9], sizeof p[9]);
    memcpy(&lib.event_set_properties_json, &p[10], sizeof p[10]);
    memcpy(&lib.event_set_idempotency_key, &p[11], sizeof p[11]);
    memcpy(&lib.event_set_tenant_id, &p[12], sizeof p[12]);
    memcpy(&lib.event_set_brand_id, &p[13], sizeof p[13]);
    replace_ref(&event_class, cls);
    replace_ref(&error_for, err);
    replace_ref(&parse_body, parse);
    replace_ref(&result_fallback, result);
    ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", sp_setup, METH_VARARGS,
     "setup(addresses, Event, error_for, parse_body, result): the library's function addresses "
     "(name -> int) and the binding's helpers."},
    {"event_json", sp_event_json, METH_O, "event_json(event) -> bytes, or NotImplemented."},
    {"track_event", sp_track_event, METH_VARARGS, "track_event(client, event) -> dict, or NotImplemented."},
    {"bulk_append", sp_bulk_append, METH_VARARGS, "bulk_append(bulk, events) -> how many were appended."},
    {"methods", sp_methods, METH_VARARGS,
     "methods(Event, Suprsend, _clib) -> (Event.__init__, Suprsend.track_event) in C."},
    {"parse_flat_body", sp_parse_flat_body, METH_O,
     "parse_flat_body(bytes) -> the body as track_event reads it, or NotImplemented (for the tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "libsuprsend binding hot paths in C (optional).", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int intern(PyObject **slot, const char *s) {
    *slot = PyUnicode_InternFromString(s);
    return *slot != NULL;
}

PyMODINIT_FUNC PyInit__speedups(void) {
    if (!intern(&s_distinct_id, "distinct_id") || !intern(&s_event_name, "event_name")
        || !intern(&s_properties, "properties") || !intern(&s_idempotency_key, "idempotency_key")
        || !intern(&s_tenant_id, "tenant_id") || !intern(&s_brand_id, "brand_id")
        || !intern(&s_attachments, "_attachments") || !intern(&s_lock, "_lock") || !intern(&s_handle, "_handle")
        || !intern(&s_inflight, "_inflight") || !intern(&s_closing, "_closing") || !intern(&s_cond, "_cond")
        || !intern(&s_acquire, "acquire") || !intern(&s_release, "release") || !intern(&s_notify_all, "notify_all")
        || !intern(&s_success, "success") || !intern(&s_status, "status") || !intern(&s_status_code, "status_code")
        || !intern(&s_message, "message") || !intern(&s_raw_response, "raw_response")
        || !intern(&v_success, "success") || !intern(&v_fail, "") || !intern(&s_has_event_json, "HAS_EVENT_JSON")
        || !intern(&s_doc, "__doc__"))
        return NULL;
    success_template = PyDict_New();
    if (!success_template || PyDict_SetItem(success_template, s_success, Py_True)
        || PyDict_SetItem(success_template, s_status, v_success) || PyDict_SetItem(success_template, s_status_code, Py_None)
        || PyDict_SetItem(success_template, s_message, Py_None) || PyDict_SetItem(success_template, s_raw_response, Py_None))
        return NULL;
    PyObject *thread = PyImport_ImportModule("_thread");
    PyObject *lock = thread ? PyObject_CallMethod(thread, "allocate_lock", NULL) : NULL;
    Py_XDECREF(thread);
    if (!lock) return NULL;
    lock_type = (PyObject *)Py_TYPE(lock);
    Py_INCREF(lock_type);
    Py_DECREF(lock);
    lock_acquire = PyObject_GetAttr(lock_type, s_acquire);
    lock_release = lock_acquire ? PyObject_GetAttr(lock_type, s_release) : NULL;
    if (!lock_release) return NULL;
    return PyModule_Create(&module);
}
