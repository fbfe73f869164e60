#ifndef SUPRSEND_CCURL_SHIM_H
#define SUPRSEND_CCURL_SHIM_H
/*
 * libcurl for Swift. curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot
 * call; these typed wrappers fix the argument type of each kind of option instead.
 */
#include <curl/curl.h>

typedef size_t (*suprsend_curl_data_fn)(char *data, size_t size, size_t nmemb, void *user_data);

static inline CURLcode suprsend_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode suprsend_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode suprsend_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode suprsend_curl_set_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode suprsend_curl_set_data_fn(CURL *handle, CURLoption option, suprsend_curl_data_fn fn) {
    return curl_easy_setopt(handle, option, fn);
}
/* Refuses every rewind of the request body. libcurl re-sends a request by itself when a
 * reused connection closes before any answer; the hub may have processed it already, so
 * that decision belongs to the library's retry policy, which can see the outcome. */
static inline int suprsend_curl_refuse_seek(void *user_data, curl_off_t offset, int origin) {
    (void)user_data; (void)offset; (void)origin;
    return CURL_SEEKFUNC_CANTSEEK;
}
static inline CURLcode suprsend_curl_refuse_rewinds(CURL *handle) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, suprsend_curl_refuse_seek);
}
static inline CURLcode suprsend_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
#endif
