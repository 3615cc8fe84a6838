// swift-tools-version:6.0
import PackageDescription

/// The estimator runs millions of times per search: release builds skip the dynamic exclusivity checks
/// (debug builds keep them, so the tests still catch violations).
let fastInReleaseBuilds: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

/// The numeric layers are optimised in debug builds too (`-O`, not `-Ounchecked`): their preconditions, the
/// exclusivity checks and `#if DEBUG` code still run, and the whole suite, command-line tests that train
/// included, runs in a debug build in minutes instead of hours (their loops are 10-50x slower unoptimised).
/// They hold no `assert`, which `-O` would drop.
let optimisedInDebugBuilds: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "efsearch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "efsearch", targets: ["efsearch"]),
        .library(name: "Architecture", targets: ["Architecture"]),
        .library(name: "Cost", targets: ["Cost"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // ONNX export: the protobuf runtime for the code generated from onnx.proto (Sources/ONNX/onnx.pb.swift).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: System libraries
        // OpenBLAS's CBLAS. Every executable links it directly so that `cblas_sgemm` binds to
        // OpenBLAS and never to GSL's reference `gslcblas`, which `libgsl` pulls in.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // GSL (random numbers, quasi-random sequences, statistics) behind a small C shim. It links
        // `gsl` with `openblas` as its CBLAS and never includes GSL's own CBLAS headers.
        .target(
            name: "CGSL",
            path: "Sources/CGSL",
            linkerSettings: [.linkedLibrary("gsl"), .linkedLibrary("openblas"), .linkedLibrary("m")]
        ),

        // JPEG (libjpeg-turbo) and PNG (libpng) decoding behind a small C shim: libjpeg reports errors by
        // longjmp, which only C can catch.
        .target(name: "CImageCodecs", path: "Sources/CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        // zlib, for gzip-compressed datasets.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // OpenSSL's libcrypto (Debian's libssl-dev), for SHA-256 (a stored search space's digest, an image
        // folder's cache key): the system's library instead of compiling BoringSSL from swift-crypto.
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto"),
        // libpq (Debian's libpq-dev), PostgreSQL's own C client, for the PostgreSQL store.
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ"),
        // The engine's AVX-512 kernels (compiled for AVX-512 function by function, called after a run-time CPU check).
        .target(name: "CEngineKernels", path: "Sources/CEngineKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // `dladdr`, to report which library a symbol resolved to.
        .target(name: "CDynamicLinker", path: "Sources/CDynamicLinker", linkerSettings: [.linkedLibrary("dl")]),

        // MARK: Library layers (each depends only on the ones above it)
        .target(name: "Architecture", swiftSettings: fastInReleaseBuilds),
        // The seeded random generator and the statistics every layer reports (GSL).
        .target(name: "Statistics", dependencies: ["CGSL"], swiftSettings: fastInReleaseBuilds + optimisedInDebugBuilds),
        .target(name: "Cost", dependencies: ["Architecture", "Statistics"], swiftSettings: fastInReleaseBuilds),
        .target(
            name: "Engine",
            dependencies: ["Architecture", "Statistics", "CBLAS", "CGSL", "CDynamicLinker", "CEngineKernels"],
            // Kernels share raw buffers across threads by design (each chunk writes disjoint elements), which
            // Swift 6's Sendable checking cannot express: this target uses the Swift 5 language mode.
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release)),
                            .unsafeFlags(["-O", "-target-cpu", "haswell"], .when(configuration: .debug)), .swiftLanguageMode(.v5)] + fastInReleaseBuilds
        ),

        .target(
            name: "Training",
            dependencies: ["Architecture", "Cost", "Engine", "Statistics", "CZlib", "CImageCodecs", "CCrypto"],
            swiftSettings: fastInReleaseBuilds + optimisedInDebugBuilds
        ),
        // A candidate's figures, declared once: the table that the stores, exports, report and objectives read.
        .target(name: "Metrics"),
        .target(
            name: "Search",
            dependencies: ["Architecture", "Metrics", "Statistics", "CGSL", .product(name: "Yams", package: "Yams")],
            swiftSettings: fastInReleaseBuilds
        ),
        // Latency models calibrated on the engine: timing, least-squares fits (GSL), checks.
        .target(name: "Latency", dependencies: ["Architecture", "Cost", "Engine", "Search", "Statistics", "CGSL"], swiftSettings: fastInReleaseBuilds),
        // ONNX export of trained networks (swift-protobuf; onnx.pb.swift generated by scripts/generate_onnx_swift.sh).
        .target(name: "ONNX", dependencies: ["Architecture", "Engine", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The store's records and its protocol (no database library), and its two backends: SQLite through GRDB,
        // PostgreSQL through libpq.
        .target(name: "Store", dependencies: ["Metrics"]),
        .target(name: "StoreBackends", dependencies: ["Store", "Metrics", "CLibPQ", .product(name: "GRDB", package: "GRDB.swift")]),
        // One-shot search: a weight-sharing supernet of a search space, trained on the engine (once-for-all, BigNAS).
        .target(name: "Supernet", dependencies: ["Architecture", "Cost", "Engine", "Statistics", "Training", "Search"], swiftSettings: fastInReleaseBuilds),
        // Runs a search: strategies, the store and the evaluators (cost model, short training, supernet) together.
        .target(
            name: "SearchRunner",
            dependencies: ["Architecture", "Cost", "Engine", "Metrics", "Statistics", "Training", "Search", "Store", "Latency", "Supernet"]
        ),

        // MARK: Executables
        .executableTarget(
            name: "efsearch",
            dependencies: [
                "Architecture", "Cost", "Engine", "Metrics", "Statistics", "Training", "Search", "Store", "StoreBackends", "SearchRunner", "Latency", "ONNX", "Supernet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastInReleaseBuilds
        ),
        .executableTarget(
            name: "efsearch-benchmarks",
            dependencies: ["Architecture", "Cost", "Engine", "Metrics", "Search", "Statistics", "CZlib"],
            path: "Sources/EfsearchBenchmarks"
        ),

        // MARK: Tests
        .testTarget(name: "ArchitectureTests", dependencies: ["Architecture"]),
        .testTarget(
            name: "CostTests",
            dependencies: ["Architecture", "Cost"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Statistics", "Architecture", "CBLAS", "CDynamicLinker"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "Statistics", "Architecture"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "Metrics", "Statistics", "Store", "StoreBackends", "Architecture", "Engine", .product(name: "GRDB", package: "GRDB.swift")],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "Engine", "Architecture"]),
        .testTarget(name: "LatencyTests", dependencies: ["Latency", "Statistics", "Cost", "Architecture"]),
        .testTarget(name: "SupernetTests", dependencies: ["Supernet", "Search", "Training", "Engine", "Statistics", "Architecture"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SearchRunnerTests", dependencies: ["SearchRunner", "Metrics", "Search", "Store", "StoreBackends", "Cost"]),
        .testTarget(name: "EfsearchCLITests", dependencies: ["efsearch", "Metrics", "Engine", "Statistics", "Training", "SearchRunner", "Store", "StoreBackends", .product(name: "GRDB", package: "GRDB.swift")]),
    ]
)
