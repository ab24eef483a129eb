import Foundation
// swift-tools-version: 6.0
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The targets every row passes through, optimized also in a debug build when
/// `FORAGER_OPTIMIZE_DEBUG=1` (set by `./scripts/test`): the integration tests run the debug
/// `forager` binary over millions of rows, which unoptimized generic code makes ten times slower.
let hotPath: [SwiftSetting] =
    upcoming
    + (ProcessInfo.processInfo.environment["FORAGER_OPTIMIZE_DEBUG"] == "1" ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : [])

/// The products of other packages that several targets use.
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")
let metricsTestKit: Target.Dependency = .product(name: "MetricsTestKit", package: "swift-metrics")
let httpClient: Target.Dependency = .product(name: "AsyncHTTPClient", package: "async-http-client")
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")

let package = Package(
    name: "Forager",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "forager", targets: ["forager"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "LibPQ", dependencies: ["CLibPQ"], swiftSettings: hotPath),
        // gzip compression over zlib, for the warehouses' request bodies and staged objects.
        .target(name: "Gzip", dependencies: ["CZlib"], swiftSettings: hotPath),
        .target(name: "PGOutput", swiftSettings: hotPath),
        // The wall clock (the one system call the pipeline's pure targets leave to others).
        .target(name: "WallClock", dependencies: ["PGOutput"], swiftSettings: upcoming),
        // Test doubles shared by test targets: an encoder of pgoutput and replication messages.
        .target(name: "PGOutputTestSupport", dependencies: ["PGOutput"], swiftSettings: upcoming),
        .target(
            name: "ForagerCore",
            dependencies: ["PGOutput", logging, metrics],
            swiftSettings: hotPath
        ),
        // Test doubles of the replication core: a scripted stream, an in-memory warehouse, a manual clock.
        .target(
            name: "ForagerTestSupport",
            dependencies: ["ForagerCore", "PGOutput", "PGOutputTestSupport", "WallClock", logging],
            swiftSettings: upcoming),
        .target(
            name: "ForagerConfig",
            dependencies: ["ForagerCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: upcoming
        ),
        .target(
            name: "PostgresSource",
            dependencies: ["LibPQ", "PGOutput", "ForagerCore", "WallClock", logging],
            swiftSettings: hotPath
        ),
        .target(
            name: "PostgresWarehouse",
            dependencies: ["LibPQ", "ForagerCore", "PGOutput", logging, metrics],
            swiftSettings: hotPath
        ),
        .target(
            name: "ClickHouseWarehouse",
            dependencies: [
                "ForagerCore", "PGOutput", "Gzip", "WallClock", logging, httpClient, nioCore,
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: hotPath
        ),
        // An S3 client signed with AWS Signature Version 4, for the Redshift warehouse's staging.
        .target(
            name: "S3Staging",
            dependencies: ["ForagerCore", .product(name: "Crypto", package: "swift-crypto"), logging, httpClient, nioCore],
            swiftSettings: upcoming
        ),
        // The Redshift warehouse: rows staged in S3 as gzip CSV, loaded with COPY, applied in SQL.
        .target(
            name: "RedshiftWarehouse",
            dependencies: ["LibPQ", "ForagerCore", "PGOutput", "S3Staging", "Gzip", logging, metrics],
            swiftSettings: upcoming
        ),
        // Test doubles of S3: moto's S3 server on a loopback port, with signature checking on.
        .target(name: "S3TestSupport", dependencies: ["S3Staging", "ForagerDemo"], swiftSettings: upcoming),
        // The Redshift emulation of the tests: an upstream PostgreSQL, moto's S3 and the emulator
        // (Tests/IntegrationTests/Support/Redshift) in front of both; also the warehouse of
        // `forager demo --warehouse redshift-emulated`.
        .target(
            name: "RedshiftTestSupport",
            dependencies: ["ForagerDemo", "LibPQ", "S3Staging", "S3TestSupport", logging],
            swiftSettings: upcoming),
        .target(
            name: "ForagerDemo",
            dependencies: ["LibPQ", "ForagerCore", "ForagerConfig", "ForagerPipeline", "PGOutput", "WallClock", logging],
            swiftSettings: upcoming
        ),
        .target(
            name: "ForagerPipeline",
            dependencies: ["ForagerCore", "ForagerConfig", "PostgresSource", "LibPQ", "PGOutput", "WallClock", logging, metrics],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "forager",
            dependencies: [
                "ForagerCore", "ForagerPipeline", "ForagerConfig", "ForagerDemo", "PostgresWarehouse", "ClickHouseWarehouse",
                "RedshiftWarehouse", "RedshiftTestSupport", "S3Staging", "LibPQ",
                "WallClock",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), logging, metrics,
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                httpClient,
            ],
            swiftSettings: upcoming
        ),
        .testTarget(name: "PGOutputTests", dependencies: ["PGOutput", "PGOutputTestSupport"], swiftSettings: upcoming),
        .testTarget(name: "LibPQTests", dependencies: ["LibPQ"], swiftSettings: upcoming),
        .testTarget(name: "PostgresSourceTests", dependencies: ["PostgresSource", "ForagerCore", "PGOutput"], swiftSettings: upcoming),
        .testTarget(
            name: "ForagerCoreTests", dependencies: ["ForagerCore", "PGOutput", "PGOutputTestSupport", "ForagerTestSupport"],
            swiftSettings: upcoming),
        .testTarget(
            name: "ClickHouseWarehouseTests", dependencies: ["ClickHouseWarehouse", "ForagerCore", "Gzip"],
            swiftSettings: upcoming),
        .testTarget(
            name: "PostgresWarehouseTests", dependencies: ["PostgresWarehouse", "ForagerCore", "PGOutput"], swiftSettings: upcoming),
        .testTarget(
            name: "ForagerPipelineTests",
            dependencies: ["ForagerPipeline", "ForagerCore", "ForagerConfig", "LibPQ", "PGOutput", "PostgresSource", metricsTestKit],
            swiftSettings: upcoming),
        .testTarget(name: "S3StagingTests", dependencies: ["S3Staging", "S3TestSupport", "ForagerCore"], swiftSettings: upcoming),
        .testTarget(
            name: "RedshiftWarehouseTests",
            dependencies: [
                "RedshiftWarehouse", "RedshiftTestSupport", "S3Staging", "S3TestSupport", "ForagerCore", "ForagerDemo", "LibPQ", "PGOutput",
                "Gzip",
            ],
            exclude: ["Golden"],
            swiftSettings: upcoming),
        .testTarget(name: "ForagerConfigTests", dependencies: ["ForagerConfig", "ForagerCore"], swiftSettings: upcoming),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "LibPQ", "ForagerDemo", "forager", "ForagerCore", "PGOutput", "PostgresWarehouse", "RedshiftTestSupport",
                metricsTestKit,
                httpClient,
            ],
            // The modern ClickHouse engine's HTTP front, run by ClickHouseServer from the sources;
            // the Redshift emulation (Python), run by the Redshift tests.
            exclude: ["Support/chdb_front.py", "Support/Redshift"],
            swiftSettings: upcoming
        ),
    ],
    swiftLanguageModes: [.v6]
)
