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
/* libcurl re-sends a request by itself when a reused connection closes before any answer.
 * The hub may have processed it already, so that decision belongs to the library's retry
 * policy, which can see the outcome and knows whether the events carry idempotency keys.
 * libcurl calls the "pre-request" function before each request it sends on a connection; a
 * second call within one transfer is such a re-send, and the library refuses it. */
typedef int (*suprsend_curl_prereq_fn)(void *user_data, char *primary_ip, char *local_ip,
                                       int primary_port, int local_port);
static inline CURLcode suprsend_curl_set_prereq_fn(CURL *handle, suprsend_curl_prereq_fn fn) {
    return curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, fn);
}
static inline CURLcode suprsend_curl_get_socket(CURL *handle, curl_socket_t *socket) {
    return curl_easy_getinfo(handle, CURLINFO_ACTIVESOCKET, socket);
}
static inline CURLcode suprsend_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
/* curl_multi_setopt is variadic too. */
static inline CURLMcode suprsend_curl_multi_set_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}
/* curl_multi_info_read's message: the union member for a finished transfer. */
static inline CURLcode suprsend_curl_message_result(const CURLMsg *message) {
    return message->data.result;
}
/* Every socket libcurl opens gets close-on-exec (a program the host starts with system()
 * must not inherit the connection to the hub), and its descriptor is recorded so that a
 * forked child can close its copies without a word on the wire. */
typedef int (*suprsend_curl_sockopt_fn)(void *user_data, curl_socket_t socket, curlsocktype purpose);
typedef int (*suprsend_curl_closesocket_fn)(void *user_data, curl_socket_t socket);
static inline CURLcode suprsend_curl_set_sockopt_fn(CURL *handle, suprsend_curl_sockopt_fn fn) {
    return curl_easy_setopt(handle, CURLOPT_SOCKOPTFUNCTION, fn);
}
static inline CURLcode suprsend_curl_set_closesocket_fn(CURL *handle, suprsend_curl_closesocket_fn fn) {
    return curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, fn);
}
#endif
