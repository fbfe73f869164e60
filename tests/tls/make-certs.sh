#!/usr/bin/env bash
# tests/tls/make-certs.sh DIR: writes throw-away TLS material for the tests into DIR (created
# if missing), with the openssl command-line tool. Nothing here is ever committed.
#
#   DIR/ca.pem, ca.key              a test CA ("libsuprsend test CA <random>"), name-constrained
#                                   to IP:127.0.0.1 and DNS:localhost
#   DIR/server.pem, server.key      a server certificate signed by that CA, for
#                                   subjectAltName IP:127.0.0.1, DNS:localhost (CN 127.0.0.1)
#   DIR/server-chain.pem            server.pem followed by ca.pem
#   DIR/other-ca.pem, other-ca.key  a second CA (same constraints) that has signed nothing here
#
# EC P-256 keys (quick to make), valid from now for 2 days. Each run makes new keys and new
# random names, so no two runs' CAs are alike. Exit status 0 on success.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
command -v openssl >/dev/null || { echo "make-certs: the openssl command is missing (apt-get install openssl)" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
umask 077                      # keys readable by their owner only
tag=$(openssl rand -hex 6)

# Our own configuration, so that the system's openssl.cnf adds nothing.
cnf="$dir/openssl-test.cnf"
cat >"$cnf" <<CNF
[ req ]
distinguished_name = dn
prompt             = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
# Even while a test run has put it in the system's store, the CA can vouch for loopback only.
nameConstraints        = critical, permitted;IP:127.0.0.1/255.255.255.255, permitted;DNS:localhost
[ server_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
CNF

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() {   # make_ca NAME "common name"
    new_key "$dir/$1.key"
    openssl req -config "$cnf" -new -x509 -key "$dir/$1.key" -subj "/O=libsuprsend tests/CN=$2" \
        -extensions ca_ext -days 2 -sha256 -set_serial "0x$(openssl rand -hex 8)" -out "$dir/$1.pem"
}

make_ca ca "libsuprsend test CA $tag"
make_ca other-ca "libsuprsend other test CA $tag"

new_key "$dir/server.key"
openssl req -config "$cnf" -new -key "$dir/server.key" -subj "/O=libsuprsend tests/CN=127.0.0.1" \
    -out "$dir/server.csr"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 -extfile "$cnf" -extensions server_ext \
    -out "$dir/server.pem" 2>/dev/null
rm -f "$dir/server.csr" "$cnf"
cat "$dir/server.pem" "$dir/ca.pem" >"$dir/server-chain.pem"
chmod 644 "$dir/ca.pem" "$dir/other-ca.pem" "$dir/server.pem" "$dir/server-chain.pem"

# What was made must be what the tests rely on.
openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem" >/dev/null
if openssl verify -CAfile "$dir/other-ca.pem" "$dir/server.pem" >/dev/null 2>&1; then
    echo "make-certs: the other CA verifies the server certificate" >&2
    exit 1
fi
