/* libFuzzer target cli_jsonline: the suprsend CLI's JSON-line reader (cli/jsonline.c), which
 * reads untrusted import files. It does not need the library; fuzz/run.sh compiles
 * cli/jsonline.c into this harness. Invariants:
 *   1. an error has a message, and its column lies within the line (or is 0);
 *   2. a parsed event has distinct_id and event, its properties lie inside the line and are
 *      one JSON object, its members are ordered ranges inside the line;
 *   3. jl_write_string writes a JSON string that the reader reads back (valid UTF-8 in, the
 *      same bytes out);
 *   4. jl_check_object agrees with jl_parse_event on whether the line is a JSON object. */
#include "../cli/jsonline.h"
#include "fuzz.h"

static int utf8_valid_no_nul(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len == 0 || c > 0xF4 || i + len > n) return 0;
        uint32_t cp = c & (0x3F >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *line = (const char *)data;
    jl_event ev;
    jl_error err;
    int rc = jl_parse_event(line, size, &ev, &err);
    if (rc != 0) {
        FUZZ_CHECK(err.message[0] != 0, "no message for a refused line");
        FUZZ_CHECK(err.column <= size + 1, "column %zu past the line (%zu bytes)", err.column, size);
    } else {
        FUZZ_CHECK(ev.distinct_id && ev.event, "parsed without distinct_id or event");
        if (ev.properties) {
            FUZZ_CHECK(ev.properties >= line && ev.properties + ev.properties_len <= line + size, "properties outside the line");
            FUZZ_CHECK(jl_check_object(ev.properties, ev.properties_len, NULL) == 0, "properties are not one object");
        }
    }
    size_t previous_end = 0;
    for (size_t i = 0; i < ev.member_count; i++) {
        FUZZ_CHECK(ev.members[i].start >= previous_end && ev.members[i].start < ev.members[i].end &&
                       ev.members[i].end <= size, "member %zu out of order or outside the line", i);
        previous_end = ev.members[i].end;
    }
    int is_object = ev.is_object;
    jl_event_clear(&ev);
    FUZZ_CHECK((jl_check_object(line, size, NULL) == 0) == (is_object != 0),
               "jl_check_object and jl_parse_event disagree on whether the line is an object");

    /* 3: the input as a string value of an event, written and read back. */
    char *written = NULL;
    size_t written_len = 0;
    FILE *out = open_memstream(&written, &written_len);
    FUZZ_CHECK(out != NULL, "open_memstream");
    fputs("{\"distinct_id\":", out);
    jl_write_string(out, line, size);
    fputs(",\"event\":\"e\"}", out);
    fclose(out);
    rc = jl_parse_event(written, written_len, &ev, &err);
    if (utf8_valid_no_nul(data, size)) {
        FUZZ_CHECK(rc == 0, "a written string is not read back: %s", err.message);
        FUZZ_CHECK(strlen(ev.distinct_id) == size && memcmp(ev.distinct_id, data, size) == 0, "read back other bytes");
    } else if (!memchr(data, 0, size)) {
        FUZZ_CHECK(rc == 0, "a written string (from invalid UTF-8) is not read back: %s", err.message);
    }
    jl_event_clear(&ev);
    free(written);

    /* The readers of the library's JSON: no crash, whatever the input. */
    const char *value;
    size_t value_len;
    if (jl_find_member(line, size, "error", &value, &value_len) == 0) {
        FUZZ_CHECK(value >= line && value + value_len <= line + size, "member value outside the text");
        free(jl_string_value(value, value_len));
    }
    return 0;
}
