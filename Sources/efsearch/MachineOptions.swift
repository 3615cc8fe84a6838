import ArgumentParser
import Cost
import Engine
import Foundation

/// Where the roofline's two figures come from: flags, a cached measurement, or a new measurement.
struct MachineOptions: ParsableArguments {
    @Option(name: .customLong("peak-gflops"), help: "GEMM throughput for the roofline, GFLOP/s (default: measured once and cached).")
    var peakGFLOPS: Double?

    @Option(name: .customLong("bandwidth-gbs"), help: "Memory bandwidth for the roofline, GB/s (default: measured once and cached).")
    var bandwidthGBs: Double?

    @Option(help: "Threads for OpenBLAS and the engine (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let peakGFLOPS, !(peakGFLOPS > 0) { throw ValidationError("--peak-gflops \(peakGFLOPS) must be greater than 0") }
        if let bandwidthGBs, !(bandwidthGBs > 0) { throw ValidationError("--bandwidth-gbs \(bandwidthGBs) must be greater than 0") }
        if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
    }

    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    /// The machine profile: both flags given, or the cache for this thread count (measured when missing).
    func profile() -> MachineProfile {
        if let peakGFLOPS, let bandwidthGBs {
            return MachineProfile(peakGFLOPS: peakGFLOPS, bandwidthGBs: bandwidthGBs, source: "flags")
        }
        var profile = MachineProfileCache.load(threads: threadCount) ?? MachineProfileCache.measure(threads: threadCount)
        if let peakGFLOPS { profile.peakGFLOPS = peakGFLOPS; profile.source += "+flags" }
        if let bandwidthGBs { profile.bandwidthGBs = bandwidthGBs; profile.source += "+flags" }
        return profile
    }
}

/// The measured machine profile, cached as JSON in `$EFSEARCH_CACHE_DIR`, `$XDG_CACHE_HOME/efsearch` or
/// `~/.cache/efsearch`, one file per thread count.
enum MachineProfileCache {
    struct Entry: Codable {
        var threads: Int
        var peakGFLOPS: Double
        var bandwidthGBs: Double
        var openblasCore: String
        var measuredAt: String
    }

    static var directory: URL { CacheLocation.directory }

    static func file(threads: Int) -> URL { directory.appendingPathComponent("machine-\(threads)-threads.json") }

    static func load(threads: Int) -> MachineProfile? {
        guard let data = try? Data(contentsOf: file(threads: threads)),
              let entry = try? JSONDecoder().decode(Entry.self, from: data),
              entry.peakGFLOPS > 0, entry.bandwidthGBs > 0 else { return nil }
        return MachineProfile(peakGFLOPS: entry.peakGFLOPS, bandwidthGBs: entry.bandwidthGBs, source: "measured")
    }

    /// Measures GEMM throughput (512^3 sgemm) and copy bandwidth (256 MiB), then caches them. A cache that
    /// cannot be written is reported and otherwise ignored.
    static func measure(threads: Int) -> MachineProfile {
        Console.note("measuring this machine for the roofline (once; cached in \(directory.path)) ...")
        BLAS.setThreads(threads)
        let gflops = MachineBenchmark.gemmGFLOPS()
        let bandwidth = MachineBenchmark.copyBandwidthGBs()
        let entry = Entry(
            threads: threads, peakGFLOPS: gflops, bandwidthGBs: bandwidth, openblasCore: BLAS.coreName,
            measuredAt: ISO8601DateFormatter().string(from: Date()))
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(entry).write(to: file(threads: threads), options: .atomic)
        } catch {
            Console.note("note: could not cache the machine profile: \(error.localizedDescription)")
        }
        return MachineProfile(peakGFLOPS: gflops, bandwidthGBs: bandwidth, source: "measured")
    }
}
