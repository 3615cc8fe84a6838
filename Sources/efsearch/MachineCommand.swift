import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Latency

extension Efsearch {
    /// `efsearch machine`: the roofline figures and which BLAS is linked.
    struct Machine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show (or measure again) this machine's GEMM throughput and memory bandwidth, and the BLAS in use.",
            discussion: """
            Examples:
              efsearch machine
              efsearch machine --threads 1 --remeasure
            """)

        @OptionGroup var machine: MachineOptions

        @Flag(help: "Measure again and replace the cached figures.")
        var remeasure = false

        func run() throws {
            let threads = machine.threadCount
            let profile = remeasure ? MachineProfileCache.measure(threads: threads) { Console.note($0) } : machine.profile()
            let chosen = ProcessInfo.processInfo.environment[BLAS.chosenCoreVariable].map { _ in ", chosen by efsearch: OpenBLAS did not recognise this CPU" } ?? ""
            print("cblas_sgemm  \(BLAS.sgemmLibraryPath) (OpenBLAS core \(BLAS.coreName)\(chosen))")
            print("threads      \(threads)")
            print("GEMM         \(Format.fixed(profile.peakGFLOPS, 1)) GFLOP/s (sgemm 512^3, \(profile.source))")
            print("bandwidth    \(Format.fixed(profile.bandwidthGBs, 1)) GB/s (256 MiB copy, \(profile.source))")
            print("cache        \(MachineProfileCache.file(threads: threads).path)")
            if let advice = BLAS.coreAdvice { Console.note(advice) }
        }
    }
}
