// swift-tools-version:6.0
// libsuprsend: SuprSend's "send and track events" client as a C-ABI shared library.
//
// Targets, from the wire up:
//   CCurl, CCrypto,  system libraries (libcurl for HTTP, OpenSSL's libcrypto for MD5/HMAC/random,
//   CSQLite          SQLite for the durable outbox)
//   CSuprSend        the hand-written public header include/suprsend.h, imported so that the
//                    C boundary is checked against it at compile time (@c @implementation)
//   SuprSendCore     the core: wire format, rules, transport, delivery; testable without C
//   SuprSendCAPI     the thin C boundary, built as libsuprsend.so (product "suprsend")
//   SuprSend         the Swift library for server-side Swift (product "SuprSend"): async/await,
//                    swift-log, swift-metrics, swift-service-lifecycle, on SuprSendCore directly.
//                    libsuprsend.so links none of its dependencies (only SuprSendCAPI's).
//
// Link flags for the release library (static Swift runtime, version script, SONAME, -z defs)
// live in scripts/build-lib.sh, not here.
import PackageDescription

let package = Package(
    name: "suprsend",
    products: [
        .library(name: "suprsend", type: .dynamic, targets: ["SuprSendCAPI"]),
        .library(name: "SuprSend", targets: ["SuprSend"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
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
            name: "SuprSendCAPI",
            dependencies: ["SuprSendCore", "CSuprSend"]
        ),
        .target(
            name: "SuprSend",
            dependencies: [
                "SuprSendCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SuprSendCoreTests",
            dependencies: ["SuprSendCore"]
        ),
        .testTarget(
            name: "SuprSendTests",
            dependencies: [
                "SuprSend",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
