// swift-tools-version:6.0
// An example of the SuprSend Swift library (the product SuprSend of the package two levels up),
// built and run by `make demo` (examples/run-demo.sh). A project of your own depends on it by the
// repository's URL and a tag once it is published (README, "Use from Swift"), or by path as here.
import PackageDescription

let package = Package(
    name: "suprsend-swift-example",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "suprsend", path: "../.."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
    ],
    targets: [
        .executableTarget(
            name: "TrackEvents",
            dependencies: [
                .product(name: "SuprSend", package: "suprsend"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
