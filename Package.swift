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
        // Alert webhooks: pooled HTTP/1.1 client on the same NIO event loops as the server, with timeouts.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Tally's own health series on /metrics (HTTP requests, ingest transactions): live, lock-free counters and
        // histograms with the exposition format's escaping, instead of hand-kept ones.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The PostgreSQL store (`--db postgres://…`): a pooled, async client speaking the wire protocol with bound
        // parameters; no ORM.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // TLS to PostgreSQL (`sslmode=require`, `verify-full`): the TLS configuration postgres-nio takes (already one
        // of its dependencies).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // schema/, the built-in price table and web/ are compiled into the binary by the EmbedResources plugin:
        // `tally` runs from any folder without resource bundles or the checkout (a new file needs no manifest
        // change).
        .executableTarget(name: "tally-embed"),
        .plugin(name: "EmbedResources", capability: .buildTool(), dependencies: ["tally-embed"]),
        .target(name: "TallyResources", plugins: ["EmbedResources"]),
        // The system zlib, for content stored compressed (compress-nio links the same library for gzip bodies).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "TallyCore", dependencies: ["TallyResources"], exclude: ["Resources"]),
        .target(
            name: "TallyOTLP",
            dependencies: ["TallyCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // The store contract the server talks to: protocols with values in and values out (no SQL, no driver types),
        // implemented by TallyStore (SQLite).
        .target(name: "TallyStoreAPI", dependencies: ["TallyCore"]),
        // The SQL both stores speak: read filters and analytics queries written once, rendered per dialect.
        .target(name: "TallySQL", dependencies: ["TallyCore", "TallyStoreAPI"]),
        // Key secrets hashed at rest and UI session tokens, the same for every store.
        .target(name: "TallySecrets", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "TallyStore",
            dependencies: [
                "TallyCore", "TallyStoreAPI", "TallySQL", "TallySecrets", "TallyResources", "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API GRDB links, for `Statement.executeBound` on the ingest hot path.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TallyPostgres",
            dependencies: [
                "TallyCore", "TallyStoreAPI", "TallySQL", "TallySecrets", "TallyResources",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TallyServer",
            dependencies: [
                // The store contract only: the server never sees SQL or a driver (tally picks the store).
                "TallyCore", "TallyStoreAPI", "TallyOTLP", "TallyResources",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // HMAC-SHA256 signatures of webhook bodies.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: []
        ),
        .executableTarget(
            name: "tally",
            dependencies: [
                "TallyServer", "TallyStoreAPI", "TallyStore", "TallyPostgres", "TallyCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "tally-bench",
            dependencies: [
                "TallyStore", "TallyPostgres", "TallySQL", "TallyStoreAPI", "TallyCore",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(name: "TallyCoreTests", dependencies: ["TallyCore"]),
        .testTarget(name: "TallyOTLPTests", dependencies: ["TallyOTLP", "TallyCore"]),
        .testTarget(
            name: "TallyStoreTests",
            dependencies: ["TallyStore", "TallyStoreAPI", "TallySQL", "TallyPostgres", "TallyCore"]),
        .testTarget(
            name: "TallyServerTests",
            dependencies: [
                "TallyServer", "TallyStoreAPI", "TallyStore", "TallyCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
