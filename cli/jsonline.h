/*
 * jsonline.h: the little JSON the CLI needs. It reads one JSON object (one line of an import
 * file) strictly (RFC 8259, UTF-8) and picks out the fields of an event: the strings
 * distinct_id, event, idempotency_key, tenant_id and brand_id (unescaped, \uXXXX and surrogate pairs
 * included) and properties as raw JSON text, which goes to suprsend_event_set_properties_json
 * untouched. Every other member is checked for syntax and otherwise ignored. Errors name the
 * problem and its column.
 */
#ifndef SUPRSEND_CLI_JSONLINE_H
#define SUPRSEND_CLI_JSONLINE_H

#include <stddef.h>
#include <stdio.h>

/* Where a member of the object is in the line: from its key's opening quote to the end of its
 * value. Used to write the object again with an "error" member of our own. */
typedef struct {
    size_t start, end;
    int is_error_key; /* the key is "error" (written by an earlier import's --failed) */
} jl_member;

typedef struct {
    char *distinct_id;       /* malloc'ed, NUL-terminated; NULL when absent */
    char *event;
    char *idempotency_key;   /* NULL when absent or null */
    char *tenant_id;         /* NULL when absent or null */
    char *brand_id;          /* NULL when absent or null */
    const char *properties;  /* points into the line; NULL when absent or null */
    size_t properties_len;
    jl_member *members;
    size_t member_count, member_capacity;
    int is_object;           /* the line was a JSON object (members are valid) */
} jl_event;

typedef struct {
    size_t column;           /* 1-based, in characters; 0 when the error has no place */
    char message[320];
} jl_error;

/* Parses line[0..len) as one JSON object with the event's fields. Returns 0, or -1 with *err
 * set. On error ev->is_object tells whether the line was at least a well-formed object (so
 * that it can be written back with an "error" member). Call jl_event_clear after either. */
int jl_parse_event(const char *line, size_t len, jl_event *ev, jl_error *err);
void jl_event_clear(jl_event *ev);

/* Checks that text[0..len) is exactly one JSON object (whitespace around it allowed). */
int jl_check_object(const char *text, size_t len, jl_error *err);

/* Writes s[0..len) as a JSON string, quotes included. Bytes that are not valid UTF-8 are
 * written as U+FFFD. */
void jl_write_string(FILE *out, const char *s, size_t len);

/* For reading JSON the library returns (failed records): each element of a JSON array, in
 * order, to fn (a nonzero return stops). Returns 0, or -1 when the text is not a valid array. */
typedef int (*jl_element_fn)(const char *element, size_t len, void *user_data);
int jl_each_element(const char *array, size_t len, jl_element_fn fn, void *user_data);

/* The raw value of the top-level member name of an object: 0, or -1 when absent or invalid. */
int jl_find_member(const char *object, size_t len, const char *name, const char **value, size_t *value_len);

/* The unescaped text of a JSON string value (malloc'ed), or NULL when it is no string. */
char *jl_string_value(const char *value, size_t len);

#endif
