// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "todo-cluster",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "Processes", targets: ["Processes"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Todo", targets: ["Todo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Without Hummingbird's default traits (swift-configuration support, full Foundation),
        // which the node does not use: SwiftPM orders a package's trait defines differently
        // from one build plan to the next, so every switch between debug and release builds
        // compiled Hummingbird again (20 s each way).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libzmq's header is in /usr/include (Debian libzmq3-dev, installed by the Makefile);
        // no pkgConfig here, since Debian's libzmq.pc adds -isystem flags SwiftPM refuses.
        .systemLibrary(name: "CZeroMQ"),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        // Child OS processes through posix_spawn (Foundation's Process crashes now and then).
        .target(name: "CSpawn"),
        // What Linux's TCP_INFO tells of a connection that glibc's header leaves out.
        .target(name: "CTCPInfo"),
        // glibc's malloc_trim, which the Glibc module leaves out.
        .target(name: "CHeap"),
        .target(name: "OSProcess", dependencies: ["CSpawn", "CHeap"]),
        .target(
            name: "Processes",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")]
        ),
        .target(
            name: "Cluster",
            dependencies: [
                "ZeroMQ", "Processes", "OSProcess", "CTCPInfo",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ClusterTestKit",
            dependencies: ["Cluster", "Processes", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Todo",
            dependencies: [
                "Cluster", "OSProcess", "Processes",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's own calls, for the store's writes (`DirectBindings`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "todo-node",
            dependencies: [
                "Cluster", "OSProcess", "Processes", "Todo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "todo",
            dependencies: [
                "Cluster", "OSProcess", "Processes", "Todo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "todo-bench",
            dependencies: [
                "ZeroMQ", "Processes", "Cluster", "OSProcess", "Todo",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Benchmarks"
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "OSProcessTests", dependencies: ["OSProcess"]),
        .testTarget(name: "ProcessesTests", dependencies: ["Processes"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "ClusterTestKit", "Processes"]),
        .testTarget(
            name: "TodoTests",
            dependencies: [
                "Todo", "Cluster", "ClusterTestKit", "Processes",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "BenchmarksTests", dependencies: ["todo-bench"]),
        // Starts the real binaries: `make test` builds them first.
        .testTarget(name: "EndToEndTests", dependencies: ["OSProcess"]),
    ],
    swiftLanguageModes: [.v6]
)

// Every target of ours runs a nonisolated async function on its caller's executor (SE-0461),
// as a later language mode will: the hop to the generic executor as each such function began
// and after each call it made was a task switch, 28 of a POST's 70 (README: `NonisolatedNonsendingByDefault`).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
}
