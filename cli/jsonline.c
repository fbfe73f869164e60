/* jsonline.c: a strict, small JSON reader for one event object per line (see jsonline.h). */
#include "jsonline.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any real properties (the library allows 64); bounds the recursion. */
#define JL_MAX_DEPTH 256

typedef struct {
    const char *text;
    size_t len, pos;
    jl_error *err;
} jl_parser;

/* A growable byte buffer for unescaped strings. */
typedef struct {
    char *data;
    size_t len, cap;
} jl_buf;

static int buf_put(jl_buf *b, const char *bytes, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (b->len + n + 1 > cap) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static size_t column_of(const char *text, size_t offset) {
    size_t column = 1;
    for (size_t i = 0; i < offset; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80) column++;
    return column;
}

static int fail_at(jl_parser *p, size_t offset, const char *fmt, ...) {
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
        va_end(ap);
        p->err->column = column_of(p->text, offset > p->len ? p->len : offset);
    }
    return -1;
}

static void skip_ws(jl_parser *p) {
    while (p->pos < p->len) {
        char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* The length of the UTF-8 sequence at s[0..n) if it is valid (shortest form, no surrogates,
 * at most U+10FFFF), else 0. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { need = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 4; cp = c & 0x07; }
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10FFFF) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return need;
}

static int hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at p->pos (its opening quote). With out, the unescaped bytes are appended to it;
 * a \u0000 is then refused, since the text must become a C string, unless saw_nul is given:
 * then it is kept and *saw_nul set (a member name that can match none of ours). */
static int parse_string(jl_parser *p, jl_buf *out, int *saw_nul) {
    size_t open = p->pos;
    p->pos++; /* the quote */
    size_t run = p->pos; /* start of bytes not yet copied */
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->text[p->pos];
        if (c == '"') {
            if (out && buf_put(out, p->text + run, p->pos - run) != 0)
                return fail_at(p, p->pos, "out of memory");
            p->pos++;
            return 0;
        }
        if (c < 0x20)
            return fail_at(p, p->pos, "control character U+%04X in a string (write it as \\u%04X)", c, c);
        if (c >= 0x80) {
            size_t n = utf8_sequence((const unsigned char *)p->text + p->pos, p->len - p->pos);
            if (n == 0) return fail_at(p, p->pos, "invalid UTF-8 byte 0x%02X in a string", c);
            p->pos += n;
            continue;
        }
        if (c != '\\') { p->pos++; continue; }
        /* an escape */
        if (out && buf_put(out, p->text + run, p->pos - run) != 0)
            return fail_at(p, p->pos, "out of memory");
        size_t escape_at = p->pos;
        if (p->pos + 1 >= p->len) return fail_at(p, p->pos, "unterminated string (opened at column %zu)",
                                                 column_of(p->text, open));
        char e = p->text[p->pos + 1];
        char one;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'b': one = '\b'; break;
        case 'f': one = '\f'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'u': one = 0; break;
        default:
            return fail_at(p, escape_at, "invalid escape '\\%c' in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                           (e >= 0x20 && e < 0x7F) ? e : '?');
        }
        if (e != 'u') {
            if (out && buf_put(out, &one, 1) != 0) return fail_at(p, p->pos, "out of memory");
            p->pos += 2;
            run = p->pos;
            continue;
        }
        uint32_t cp;
        if (p->pos + 6 > p->len || hex4(p->text + p->pos + 2, &cp) != 0)
            return fail_at(p, escape_at, "\\u must be followed by 4 hex digits");
        p->pos += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (p->pos + 6 > p->len || p->text[p->pos] != '\\' || p->text[p->pos + 1] != 'u'
                || hex4(p->text + p->pos + 2, &low) != 0 || low < 0xDC00 || low > 0xDFFF)
                return fail_at(p, escape_at, "lone surrogate \\u%04X: a high surrogate must be followed by a low one (\\uDC00-\\uDFFF)", (unsigned)cp);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            p->pos += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail_at(p, escape_at, "lone surrogate \\u%04X: a low surrogate without a high one before it", (unsigned)cp);
        }
        if (out) {
            if (cp == 0) {
                if (!saw_nul) return fail_at(p, escape_at, "\\u0000 (NUL) cannot be passed on in this field");
                *saw_nul = 1;
            }
            char enc[4];
            size_t n = utf8_encode(cp, enc);
            if (buf_put(out, enc, n) != 0) return fail_at(p, p->pos, "out of memory");
        }
        run = p->pos;
    }
    return fail_at(p, open, "unterminated string");
}

static int parse_value(jl_parser *p, int depth);

static int parse_number(jl_parser *p) {
    size_t start = p->pos;
    const char *t = p->text;
    if (p->pos < p->len && t[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) return fail_at(p, start, "invalid number");
    if (t[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9')
            return fail_at(p, start, "invalid number: no leading zeros");
    } else if (t[p->pos] >= '1' && t[p->pos] <= '9') {
        while (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9') p->pos++;
    } else {
        return fail_at(p, start, "invalid number");
    }
    if (p->pos < p->len && t[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || t[p->pos] < '0' || t[p->pos] > '9')
            return fail_at(p, start, "invalid number: a digit must follow '.'");
        while (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->len && (t[p->pos] == 'e' || t[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (t[p->pos] == '+' || t[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || t[p->pos] < '0' || t[p->pos] > '9')
            return fail_at(p, start, "invalid number: a digit must follow the exponent");
        while (p->pos < p->len && t[p->pos] >= '0' && t[p->pos] <= '9') p->pos++;
    }
    return 0;
}

static int parse_literal(jl_parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
        return fail_at(p, p->pos, "invalid literal (expected %s)", word);
    p->pos += n;
    return 0;
}

static const char *describe_token(char c) {
    switch (c) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return (c == '-' || (c >= '0' && c <= '9')) ? "a number" : "something that is not JSON";
    }
}

static int parse_container(jl_parser *p, int depth, char close) {
    if (depth >= JL_MAX_DEPTH) return fail_at(p, p->pos, "nested more than %d deep", JL_MAX_DEPTH);
    p->pos++; /* { or [ */
    skip_ws(p);
    if (p->pos < p->len && p->text[p->pos] == close) { p->pos++; return 0; }
    for (;;) {
        skip_ws(p);
        if (close == '}') {
            if (p->pos >= p->len || p->text[p->pos] != '"')
                return fail_at(p, p->pos, p->pos >= p->len ? "unexpected end of line inside an object"
                                                           : "expected a member name (a string in double quotes)");
            if (parse_string(p, NULL, NULL) != 0) return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->text[p->pos] != ':')
                return fail_at(p, p->pos, "expected ':' after a member name");
            p->pos++;
            skip_ws(p);
        }
        if (parse_value(p, depth + 1) != 0) return -1;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail_at(p, p->pos, close == '}' ? "unexpected end of line inside an object (missing '}')"
                                                   : "unexpected end of line inside an array (missing ']')");
        char c = p->text[p->pos];
        if (c == ',') { p->pos++; continue; }
        if (c == close) { p->pos++; return 0; }
        return fail_at(p, p->pos, close == '}' ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
    }
}

static int parse_value(jl_parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) return fail_at(p, p->pos, "unexpected end of line: a value is missing");
    char c = p->text[p->pos];
    switch (c) {
    case '{': return parse_container(p, depth, '}');
    case '[': return parse_container(p, depth, ']');
    case '"': return parse_string(p, NULL, NULL);
    case 't': return parse_literal(p, "true");
    case 'f': return parse_literal(p, "false");
    case 'n': return parse_literal(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
        if (c == '\'') return fail_at(p, p->pos, "strings take double quotes, not single ones");
        return fail_at(p, p->pos, "unexpected character '%c': not the start of a JSON value",
                       ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7F) ? c : '?');
    }
}

static int add_member(jl_event *ev, size_t start, size_t end, int is_error_key) {
    if (ev->member_count == ev->member_capacity) {
        size_t cap = ev->member_capacity ? ev->member_capacity * 2 : 8;
        jl_member *grown = realloc(ev->members, cap * sizeof *grown);
        if (!grown) return -1;
        ev->members = grown;
        ev->member_capacity = cap;
    }
    ev->members[ev->member_count++] = (jl_member){ start, end, is_error_key };
    return 0;
}

/* The field a member name stands for. */
enum { F_OTHER, F_DISTINCT_ID, F_EVENT, F_PROPERTIES, F_IDEMPOTENCY_KEY, F_TENANT_ID, F_BRAND_ID, F_ERROR };

static int field_of(const char *name) {
    if (strcmp(name, "distinct_id") == 0) return F_DISTINCT_ID;
    if (strcmp(name, "event") == 0) return F_EVENT;
    if (strcmp(name, "properties") == 0) return F_PROPERTIES;
    if (strcmp(name, "idempotency_key") == 0) return F_IDEMPOTENCY_KEY;
    if (strcmp(name, "tenant_id") == 0) return F_TENANT_ID;
    if (strcmp(name, "brand_id") == 0) return F_BRAND_ID;
    if (strcmp(name, "error") == 0) return F_ERROR;
    return F_OTHER;
}

/* A field that breaks a rule (wrong type, duplicate) does not stop the parse: the line is still
 * checked to the end, so that a well-formed object can be written back to --failed whole. The
 * first such problem is kept here. */
typedef struct {
    int set;
    jl_error error;
} jl_pending;

static void field_problem(jl_parser *p, jl_pending *pending, size_t offset, const char *fmt, ...) {
    if (pending->set) return;
    pending->set = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pending->error.message, sizeof pending->error.message, fmt, ap);
    va_end(ap);
    pending->error.column = offset == (size_t)-1 ? 0 : column_of(p->text, offset > p->len ? p->len : offset);
}

int jl_parse_event(const char *line, size_t len, jl_event *ev, jl_error *err) {
    memset(ev, 0, sizeof *ev);
    jl_error scratch;
    if (!err) err = &scratch;
    err->column = 0;
    err->message[0] = '\0';
    jl_parser p = { line, len, 0, err };
    jl_buf name = { 0 };
    jl_pending pending = { 0 };
    int rc = -1;
    size_t seen_at[F_ERROR + 1] = { 0 };
    int seen[F_ERROR + 1] = { 0 };

    skip_ws(&p);
    if (p.pos >= len) { fail_at(&p, 0, "empty line"); goto done; }
    if (line[p.pos] != '{') {
        size_t value_start = p.pos;
        if (parse_value(&p, 0) != 0) {
            static const char prefix[] = "not JSON: ";
            size_t n = strlen(err->message), room = sizeof err->message - sizeof prefix;
            if (n > room) n = room;
            memmove(err->message + sizeof prefix - 1, err->message, n);
            memcpy(err->message, prefix, sizeof prefix - 1);
            err->message[sizeof prefix - 1 + n] = '\0';
        } else {
            fail_at(&p, value_start, "expected a JSON object ({...}), found %s", describe_token(line[value_start]));
        }
        goto done;
    }
    p.pos++;
    skip_ws(&p);
    if (p.pos < len && line[p.pos] == '}') {
        p.pos++;
    } else {
        for (;;) {
            skip_ws(&p);
            if (p.pos >= len) { fail_at(&p, p.pos, "unexpected end of line inside the object (missing '}')"); goto done; }
            if (line[p.pos] != '"') { fail_at(&p, p.pos, "expected a member name (a string in double quotes)"); goto done; }
            size_t member_start = p.pos;
            name.len = 0;
            int name_has_nul = 0;
            if (buf_put(&name, "", 0) != 0) { fail_at(&p, p.pos, "out of memory"); goto done; }
            if (parse_string(&p, &name, &name_has_nul) != 0) goto done;
            int field = name_has_nul ? F_OTHER : field_of(name.data);
            skip_ws(&p);
            if (p.pos >= len || line[p.pos] != ':') { fail_at(&p, p.pos, "expected ':' after the member name \"%s\"", name.data); goto done; }
            p.pos++;
            skip_ws(&p);
            size_t value_start = p.pos;
            int duplicate = 0;
            if (field != F_OTHER && field != F_ERROR) {
                if (seen[field]) {
                    field_problem(&p, &pending, member_start, "\"%s\" appears twice (first at column %zu)",
                                  name.data, column_of(line, seen_at[field]));
                    duplicate = 1;
                } else {
                    seen[field] = 1;
                    seen_at[field] = member_start;
                }
            }
            char first = value_start < len ? line[value_start] : '\0';
            int wants_string = field == F_DISTINCT_ID || field == F_EVENT || field == F_IDEMPOTENCY_KEY || field == F_TENANT_ID
                               || field == F_BRAND_ID;
            if (wants_string && first == '"' && !duplicate) {
                jl_buf value = { 0 };
                if (buf_put(&value, "", 0) != 0) { fail_at(&p, value_start, "out of memory"); goto done; }
                if (parse_string(&p, &value, NULL) != 0) {
                    free(value.data);
                    if (strstr(err->message, "\\u0000") == NULL) goto done; /* a syntax error */
                    /* a NUL the C API cannot take: a problem of the field, not of the line */
                    field_problem(&p, &pending, value_start, "\"%s\": %s", name.data, err->message);
                    p.pos = value_start;
                    if (parse_string(&p, NULL, NULL) != 0) goto done;
                } else {
                    char **slot = field == F_DISTINCT_ID ? &ev->distinct_id : field == F_EVENT ? &ev->event
                                : field == F_IDEMPOTENCY_KEY ? &ev->idempotency_key
                                : field == F_TENANT_ID ? &ev->tenant_id : &ev->brand_id;
                    *slot = value.data;
                }
            } else {
                if (parse_value(&p, 1) != 0) goto done;
                if (duplicate) {
                    /* reported above */
                } else if (field == F_PROPERTIES) {
                    if (first == '{') {
                        ev->properties = line + value_start;
                        ev->properties_len = p.pos - value_start;
                    } else if (first != 'n') {
                        field_problem(&p, &pending, value_start, "\"properties\" must be a JSON object, found %s",
                                      describe_token(first));
                    }
                } else if (wants_string && (first != 'n' || field == F_DISTINCT_ID || field == F_EVENT)) {
                    field_problem(&p, &pending, value_start, "\"%s\" must be a string, found %s", name.data,
                                  describe_token(first));
                }
            }
            if (add_member(ev, member_start, p.pos, field == F_ERROR) != 0) { fail_at(&p, p.pos, "out of memory"); goto done; }
            skip_ws(&p);
            if (p.pos >= len) { fail_at(&p, p.pos, "unexpected end of line inside the object (missing '}')"); goto done; }
            if (line[p.pos] == ',') { p.pos++; continue; }
            if (line[p.pos] == '}') { p.pos++; break; }
            fail_at(&p, p.pos, "expected ',' or '}' after the member \"%s\"", name.data);
            goto done;
        }
    }
    skip_ws(&p);
    if (p.pos < len) { fail_at(&p, p.pos, "unexpected text after the object (one JSON object per line)"); goto done; }
    ev->is_object = 1;
    if (pending.set) { *err = pending.error; goto done; }
    if (!ev->distinct_id) { field_problem(&p, &pending, (size_t)-1, "missing \"distinct_id\" (the user's id, a string)"); *err = pending.error; goto done; }
    if (!ev->event) { field_problem(&p, &pending, (size_t)-1, "missing \"event\" (the event's name, a string)"); *err = pending.error; goto done; }
    rc = 0;
done:
    free(name.data);
    if (!ev->is_object) ev->member_count = 0; /* members found before a syntax error are of no use */
    return rc;
}

void jl_event_clear(jl_event *ev) {
    free(ev->distinct_id);
    free(ev->event);
    free(ev->idempotency_key);
    free(ev->tenant_id);
    free(ev->brand_id);
    free(ev->members);
    memset(ev, 0, sizeof *ev);
}

int jl_check_object(const char *text, size_t len, jl_error *err) {
    if (err) { err->column = 0; err->message[0] = '\0'; }
    jl_parser p = { text, len, 0, err };
    skip_ws(&p);
    if (p.pos >= len) return fail_at(&p, p.pos, "empty: expected a JSON object ({...})");
    if (text[p.pos] != '{')
        return fail_at(&p, p.pos, "not a JSON object: found %s", describe_token(text[p.pos]));
    if (parse_value(&p, 0) != 0) return -1;
    skip_ws(&p);
    if (p.pos < len) return fail_at(&p, p.pos, "unexpected text after the object");
    return 0;
}

void jl_write_string(FILE *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    putc('"', out);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t n = utf8_sequence((const unsigned char *)s + i, len - i);
            if (n == 0) { fputs("\\ufffd", out); i++; continue; }
            fwrite(s + i, 1, n, out);
            i += n;
            continue;
        }
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20 || c == 0x7F) {
                fputs("\\u00", out);
                putc(hex[c >> 4], out);
                putc(hex[c & 15], out);
            } else {
                putc(c, out);
            }
        }
        i++;
    }
    putc('"', out);
}

int jl_each_element(const char *array, size_t len, jl_element_fn fn, void *user_data) {
    jl_parser p = { array, len, 0, NULL };
    skip_ws(&p);
    if (p.pos >= len || array[p.pos] != '[') return -1;
    p.pos++;
    skip_ws(&p);
    if (p.pos < len && array[p.pos] == ']') return 0;
    for (;;) {
        skip_ws(&p);
        size_t start = p.pos;
        if (parse_value(&p, 1) != 0) return -1;
        if (fn(array + start, p.pos - start, user_data) != 0) return -1;
        skip_ws(&p);
        if (p.pos >= len) return -1;
        if (array[p.pos] == ',') { p.pos++; continue; }
        if (array[p.pos] == ']') return 0;
        return -1;
    }
}

int jl_find_member(const char *object, size_t len, const char *name, const char **value, size_t *value_len) {
    jl_parser p = { object, len, 0, NULL };
    jl_buf key = { 0 };
    int found = -1;
    skip_ws(&p);
    if (p.pos >= len || object[p.pos] != '{') return -1;
    p.pos++;
    skip_ws(&p);
    if (p.pos < len && object[p.pos] == '}') return -1;
    for (;;) {
        skip_ws(&p);
        if (p.pos >= len || object[p.pos] != '"') break;
        key.len = 0;
        int has_nul = 0;
        if (buf_put(&key, "", 0) != 0 || parse_string(&p, &key, &has_nul) != 0) break;
        skip_ws(&p);
        if (p.pos >= len || object[p.pos] != ':') break;
        p.pos++;
        skip_ws(&p);
        size_t start = p.pos;
        if (parse_value(&p, 1) != 0) break;
        if (!has_nul && strcmp(key.data, name) == 0) {
            *value = object + start;
            *value_len = p.pos - start;
            found = 0;
            break;
        }
        skip_ws(&p);
        if (p.pos >= len || object[p.pos] != ',') break;
        p.pos++;
    }
    free(key.data);
    return found;
}

char *jl_string_value(const char *value, size_t len) {
    jl_parser p = { value, len, 0, NULL };
    jl_buf out = { 0 };
    if (len == 0 || value[0] != '"') return NULL;
    if (buf_put(&out, "", 0) != 0) return NULL;
    if (parse_string(&p, &out, NULL) != 0) { free(out.data); return NULL; }
    return out.data;
}
