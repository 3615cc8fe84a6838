// Benchmarks that print figures (never assertions): run them in release builds.
//
//   swift run -c release efsearch-benchmarks            # all
//   swift run -c release efsearch-benchmarks estimator  # cost-model candidates per second
//   swift run -c release efsearch-benchmarks gemm       # sgemm GFLOP/s: OpenBLAS (and which library serves it), the portable GEMM
//   swift run -c release efsearch-benchmarks search     # nas on estimates: candidates per second, stored
//   swift run -c release efsearch-benchmarks strategies # each strategy replayed on a table of a whole space: hypervolume by budget
import Architecture
import Cost
import Engine
import Foundation
import Statistics

#if DEBUG
print("""
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! DEBUG BUILD: these figures mean nothing. Use swift run -c release !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
""")
#endif

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Runs the efsearch binary with `arguments`, its output discarded, and returns the seconds it took; nil, with
/// its error printed, when it failed (a process that exits at once on bad input is not a fast one). Its error
/// output goes to a file, not a pipe, which a long run could fill.
func timedRun(_ binary: URL, _ arguments: [String]) throws -> Double? {
    let errors = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-bench-\(UUID()).err")
    _ = FileManager.default.createFile(atPath: errors.path, contents: nil)  // FileHandle(forWritingTo:) needs the file
    defer { try? FileManager.default.removeItem(at: errors) }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = try FileHandle(forWritingTo: errors)
    let elapsed = try seconds {
        try process.run()
        process.waitUntilExit()
    }
    guard process.terminationStatus == 0 else {
        let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        print("  efsearch \(arguments.first ?? "") failed (exit \(process.terminationStatus)): \(message)")
        return nil
    }
    return elapsed
}

/// Seeded candidate lines: B0-like arch strings with random kernels, expansions, SE, channels and repeats,
/// at random width, depth and resolution.
func candidateLines(count: Int, seed: UInt64) -> [String] {
    let random = RandomGenerator(seed: seed)
    let base = Presets.defaultSpec.stages
    return (0..<count).map { _ in
        let stages = base.map { stage in
            stage.map { block -> BlockSpec in
                var block = block
                block.kernel = [3, 5][random.uniformInt(2)]
                if block.type == .ir { block.expansion = [3, 4, 6][random.uniformInt(3)] }
                block.seRatio = [0, 0.25][random.uniformInt(2)]
                block.outChannels = Int(Double(block.outChannels) * [0.75, 1.0, 1.25][random.uniformInt(3)])
                block.repeats = max(1, block.repeats + random.uniformInt(3) - 1)
                return block
            }
        }
        let width = 0.5 + random.uniform(), depth = 0.5 + random.uniform()
        let resolution = 128 + 8 * random.uniformInt(25)
        return "{\"arch\": \"\(ArchString.format(stages))\", \"width\": \(width), \"depth\": \(depth), \"resolution\": \(resolution)}"
    }
}

func benchmarkEstimator() throws {
    let count = 200_000
    let lines = candidateLines(count: count, seed: 1)
    print("estimator: \(count) distinct candidates (random B0-space arch strings, widths, depths, resolutions)")

    // 1. The library alone: parse the arch string, scale, resolve, count.
    let specs: [(String, Double, Double, Int)] = lines.map { line in
        let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        return (object["arch"] as! String, object["width"] as! Double, object["depth"] as! Double, object["resolution"] as! Int)
    }
    var checksum = 0
    let library = try seconds {
        for (arch, width, depth, resolution) in specs {
            var spec = try NetworkSpec(arch: arch)
            spec.width = width
            spec.depth = depth
            spec.resolution = resolution
            checksum &+= CostModel.summary(of: try spec.resolve()).macs
        }
    }
    print(String(format: "  library (parse + resolve + count):  %9.0f candidates/s  (%.2f us each)", Double(count) / library, library / Double(count) * 1e6))

    // 2. The command line: efsearch estimate --jsonl FILE, JSON in and out, one process.
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("efsearch")
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        print("  (build the efsearch product to time the command line: swift build -c release)")
        return
    }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-bench-candidates.jsonl")
    try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    // A latency model with every unit (the values do not change the work a prediction takes).
    let fit = LatencyModel.UnitFit(coefficients: [1e-6] + [Double](repeating: 1e-11, count: LatencyFeatures.count - 1), samples: 100,
                                   rmsRelativeError: 0.1)
    let model = LatencyModel(key: CalibrationKey(cpu: "benchmark", threads: 2, batch: 1, efsearch: "benchmark", blas: "benchmark"),
                             createdAt: "2026-01-01T00:00:00Z", networks: 100, fitMAPE: 0.1,
                             units: Dictionary(uniqueKeysWithValues: LatencyUnit.allCases.map { ($0, fit) }))
    let modelFile = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-bench-latency-model.json")
    try JSONEncoder().encode(model).write(to: modelFile)
    // One worker (one core), then one per core; each the best of three runs (a shared host's speed drifts).
    let cores = ProcessInfo.processInfo.activeProcessorCount
    for jobs in Set([1, cores]).sorted() {
        for predicted in [false, true] {
            var best = Double.infinity
            for _ in 0..<3 {
                guard let cli = try timedRun(binary, ["estimate", "--jsonl", file.path, "--jobs", String(jobs), "--peak-gflops", "100", "--bandwidth-gbs", "10"]
                                                 + (predicted ? ["--latency-model", modelFile.path] : [])) else { return }
                best = min(best, cli)
            }
            print(String(format: "  efsearch estimate --jsonl --jobs %d%@: %9.0f candidates/s  (%.2f us each, JSON in and out, process start included)",
                         jobs, predicted ? ", predicted latency on" : "", Double(count) / best, best / Double(count) * 1e6))
        }
    }
    print("  reference: building a timm model and counting with fvcore takes about 650 ms per candidate here")
    if checksum == 42 { print("") }  // keeps the loop from being optimised away
}

func benchmarkGEMM() {
    print("gemm: cblas_sgemm from \(BLAS.sgemmLibraryPath) (core \(BLAS.coreName)); then the engine's portable GEMM")
    for numerics in Numerics.allCases {
        EngineConfiguration.current.with { $0.numerics = numerics }.apply {
            for threads in [1, ProcessInfo.processInfo.activeProcessorCount] {
                BLAS.setThreads(threads)
                for size in [128, 512, 1024] where numerics == .fast || threads == 1 {
                    print(String(format: "  %@ %4d^3  %d thread(s): %7.1f GFLOP/s", numerics.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0),
                                 size, threads, MachineBenchmark.gemmGFLOPS(size: size)))
                }
            }
        }
    }
    print(String(format: "  copy bandwidth (256 MiB, 1 thread): %.1f GB/s", MachineBenchmark.copyBandwidthGBs()))
}

/// `efsearch nas --fidelity estimate` end to end: proposals, cost model, SQLite inserts, the frontier.
func benchmarkSearch() throws {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("efsearch")
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        print("search: build the efsearch product first (swift build -c release)")
        return
    }
    let space = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("searchspaces/efficientnet-b0.yaml").path
    for (strategy, budget) in [("random", 50_000), ("nsga2", 20_000)] {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-bench-\(UUID()).sqlite").path
        let elapsed = try timedRun(binary, ["nas", "--space", space, "--strategy", strategy, "--budget", "\(budget)", "--fidelity", "estimate",
                                            "--objectives", "macs,params", "--store", store, "--population", "100"])
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store + suffix) }
        guard let elapsed else { continue }
        print(String(format: "search: %@ on estimates, %d candidates stored in %.2f s = %.0f candidates/s (process start included)",
                     strategy, budget, elapsed, Double(budget) / elapsed))
    }
}

let which = CommandLine.arguments.dropFirst().first ?? "all"
switch which {
case "estimator": try benchmarkEstimator()
case "gemm": benchmarkGEMM()
case "search": try benchmarkSearch()
case "strategies": try benchmarkStrategies()
case "all":
    benchmarkGEMM()
    try benchmarkEstimator()
    try benchmarkSearch()
    try benchmarkStrategies()
default:
    print("usage: efsearch-benchmarks [all|estimator|gemm|search|strategies]")
    exit(2)
}
