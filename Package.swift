// swift-tools-version:6.0
import PackageDescription

/// The estimator runs millions of times per search: release builds skip the dynamic exclusivity checks
/// (debug builds keep them, so the tests still catch violations).
let fastInReleaseBuilds: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

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
        // SHA-256 of a run's stored search space.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
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

        // zlib, for gzip-compressed datasets.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // `dladdr`, to report which library a symbol resolved to.
        .target(name: "CDynamicLinker", path: "Sources/CDynamicLinker", linkerSettings: [.linkedLibrary("dl")]),

        // MARK: Library layers (each depends only on the ones above it)
        .target(name: "Architecture", swiftSettings: fastInReleaseBuilds),
        .target(name: "Cost", dependencies: ["Architecture"], swiftSettings: fastInReleaseBuilds),
        .target(
            name: "Engine",
            dependencies: ["Architecture", "CBLAS", "CGSL", "CDynamicLinker"],
            // Kernels share raw buffers across threads by design (each chunk writes disjoint elements), which
            // Swift 6's Sendable checking cannot express: this target uses the Swift 5 language mode.
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release)), .swiftLanguageMode(.v5)] + fastInReleaseBuilds
        ),

        .target(name: "Training", dependencies: ["Architecture", "Engine", "CZlib"], swiftSettings: fastInReleaseBuilds),
        .target(
            name: "Search",
            dependencies: ["Architecture", "Engine", "CGSL", .product(name: "Yams", package: "Yams")],
            swiftSettings: fastInReleaseBuilds
        ),
        // Latency models calibrated on the engine: timing, least-squares fits (GSL), checks.
        .target(name: "Latency", dependencies: ["Architecture", "Cost", "Engine", "CGSL"], swiftSettings: fastInReleaseBuilds),
        .target(name: "Store", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // Runs a search: strategies, the store and the evaluators (cost model, short training) together.
        .target(
            name: "SearchRunner",
            dependencies: ["Architecture", "Cost", "Engine", "Training", "Search", "Store", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // MARK: Executables
        .executableTarget(
            name: "efsearch",
            dependencies: [
                "Architecture", "Cost", "Engine", "Training", "Search", "Store", "SearchRunner", "Latency",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastInReleaseBuilds
        ),
        .executableTarget(
            name: "efsearch-benchmarks",
            dependencies: ["Architecture", "Cost", "Engine"],
            path: "Sources/EfsearchBenchmarks"
        ),

        // MARK: Tests
        .testTarget(name: "ArchitectureTests", dependencies: ["Architecture"]),
        .testTarget(
            name: "CostTests",
            dependencies: ["Architecture", "Cost"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Architecture", "CBLAS", "CDynamicLinker"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Engine", "Architecture"]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "Store", "Architecture", "Engine", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "LatencyTests", dependencies: ["Latency", "Cost", "Architecture"]),
        .testTarget(name: "SearchRunnerTests", dependencies: ["SearchRunner", "Search", "Store", "Cost"]),
        .testTarget(name: "EfsearchCLITests", dependencies: ["efsearch", "Engine", "SearchRunner", .product(name: "GRDB", package: "GRDB.swift")]),
    ]
)
