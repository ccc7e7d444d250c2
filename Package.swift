// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "tally",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tally", targets: ["tally"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .target(name: "TallyCore", resources: [.copy("Resources/model-prices.json")]),
        // The whole schema/ folder ships as a resource, so the binary finds its migrations from any working
        // directory and a new migration file needs no manifest change.
        .target(
            name: "TallySchema", path: ".",
            exclude: [
                "Sources/TallyCore", "Sources/TallyOTLP", "Sources/TallyStore", "Sources/TallyServer", "Sources/tally",
                "Sources/tally-bench",
                "Tests", "web", "proto",
            ],
            sources: ["Sources/TallySchema"], resources: [.copy("schema")]),
        .target(
            name: "TallyOTLP",
            dependencies: ["TallyCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "TallyStore",
            dependencies: [
                "TallyCore", "TallySchema",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TallyServer",
            dependencies: [
                "TallyCore", "TallyStore", "TallyOTLP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: []
        ),
        .executableTarget(
            name: "tally",
            dependencies: [
                "TallyServer", "TallyStore", "TallyCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tally-bench",
            dependencies: ["TallyStore", "TallyCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "TallyCoreTests", dependencies: ["TallyCore"]),
        .testTarget(name: "TallyOTLPTests", dependencies: ["TallyOTLP", "TallyCore"]),
        .testTarget(name: "TallyStoreTests", dependencies: ["TallyStore", "TallyCore"]),
        .testTarget(
            name: "TallyServerTests",
            dependencies: [
                "TallyServer", "TallyStore", "TallyCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
