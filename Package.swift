// swift-tools-version:6.0
// libsuprsend: SuprSend's "send and track events" client as a C-ABI shared library.
//
// Targets, from the wire up:
//   CCurl, CCrypto,  system libraries (libcurl for HTTP, OpenSSL's libcrypto for MD5/HMAC/random,
//   CSQLite          SQLite for the durable outbox)
//   CSuprSend        the hand-written public header include/suprsend.h, imported so that the
//                    C boundary is checked against it at compile time (@c @implementation)
//   SuprSendCore     the core: wire format, rules, transport, delivery; testable without C
//   SuprSend         the thin C boundary, built as libsuprsend.so
//
// Link flags for the release library (static Swift runtime, version script, SONAME, -z defs)
// live in scripts/build-lib.sh, not here.
import PackageDescription

let package = Package(
    name: "suprsend",
    products: [
        .library(name: "suprsend", type: .dynamic, targets: ["SuprSend"]),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(name: "CSuprSend"),
        .target(
            name: "SuprSendCore",
            dependencies: ["CCurl", "CCrypto", "CSQLite"]
        ),
        .target(
            name: "SuprSend",
            dependencies: ["SuprSendCore", "CSuprSend"]
        ),
        .testTarget(
            name: "SuprSendCoreTests",
            dependencies: ["SuprSendCore"]
        ),
    ]
)
