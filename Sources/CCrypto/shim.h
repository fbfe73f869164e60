#ifndef SUPRSEND_CCRYPTO_SHIM_H
#define SUPRSEND_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#endif
