import ArgumentParser
import Engine
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
        @Flag(help: "Measure again and replace the cached figures.") var remeasure = false

        func run() throws {
            let threads = machine.threadCount
            let profile = remeasure ? MachineProfileCache.measure(threads: threads) { Console.note($0) } : machine.profile()
            print(MachineProfileCache.describe(profile, threads: threads))
            if let advice = BLAS.coreAdvice { Console.note(advice) }
        }
    }
}
