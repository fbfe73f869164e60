#ifndef SUPRSEND_CCRYPTO_SHIM_H
#define SUPRSEND_CCRYPTO_SHIM_H
/*
 * OpenSSL's libcrypto, already loaded with libcurl: digests, base64, random bytes.
 *
 * The low-level MD5 and SHA-256 functions are deprecated in OpenSSL 3 in favour of the EVP
 * interface, but stay exported by libcrypto.so.3 and cost a fraction of it: EVP looks up a
 * provider and allocates a context per use, which made up most of the cost of signing a
 * request. Their context structs are plain values, so HMAC's keyed states can be copied.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#endif
