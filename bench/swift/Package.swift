// swift-tools-version:6.0
// The bench's Swift client (bench/run.py's swift_track and swift_enqueue): the repository's
// `SuprSend` library product, used the way a server would, timed from inside the process.
// A package of its own, depending on the repository's by path, so that building or testing the
// main package (`swift build`, `swift test`, `make test`) never builds it: bench/run.py builds
// it (release) only when a swift_* scenario is asked for.
import PackageDescription

let package = Package(
    name: "suprsend-swift-bench",
    dependencies: [
        .package(name: "suprsend", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "swift-bench",
            dependencies: [.product(name: "SuprSend", package: "suprsend")]
        ),
    ]
)
