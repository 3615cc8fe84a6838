import ArgumentParser
import Cost
import Engine
import Foundation
import Latency

/// Where the roofline's two figures come from: flags, a cached measurement, or a new measurement.
struct MachineOptions: ParsableArguments {
    @Option(name: .customLong("peak-gflops"), help: "GEMM throughput for the roofline, GFLOP/s (default: measured once and cached).") var peakGFLOPS: Double?
    @Option(name: .customLong("bandwidth-gbs"), help: "Memory bandwidth for the roofline, GB/s (default: measured once and cached).") var bandwidthGBs: Double?
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if let peakGFLOPS, !(peakGFLOPS > 0) { throw ValidationError("--peak-gflops \(peakGFLOPS) must be greater than 0") }
        if let bandwidthGBs, !(bandwidthGBs > 0) { throw ValidationError("--bandwidth-gbs \(bandwidthGBs) must be greater than 0") }
    }

    var threadCount: Int { threads.count }

    /// The machine profile: both flags given, or the cache for this thread count (measured when missing).
    func profile() -> MachineProfile {
        MachineProfileCache.profile(threads: threadCount, peakGFLOPS: peakGFLOPS, bandwidthGBs: bandwidthGBs) { Console.note($0) }
    }
}

/// `--threads`: the engine's threads (and OpenBLAS's where it runs alone), all cores unless given.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads of the engine (default: all cores).") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
    }

    var count: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    /// Sets the engine's threads for this command, its other settings as they are.
    func install() { EngineConfiguration.current.with { $0.threads = count }.install() }
}
