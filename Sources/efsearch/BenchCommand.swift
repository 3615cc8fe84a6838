import ArgumentParser
import Engine
import Latency

extension Efsearch {
    /// `efsearch bench`: timed forward (or training) passes on the engine.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time forward passes (or training steps) of a network on the engine: median, p10, p90, images/s, GFLOP/s.",
            discussion: """
            Examples:
              efsearch bench efficientnet-b0 --threads 2 --runs 20 --rounds 5
              efsearch bench mobilenetv2-100 --per-layer            # each layer's share of the time
              efsearch bench --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24' --resolution 128 --mode training --batch 32 --json
            """)

        @OptionGroup var network: NetworkOptions
        @Option(help: "Batch size.") var batch: Int = 1
        @OptionGroup var threads: ThreadOptions
        @Option(help: "Untimed runs first.") var warmup: Int = 3
        @Option(help: "Timed runs per round.") var runs: Int = 10
        @Option(help: "Rounds, each between two series of a reference network (slow rounds timed again); the quietest round's median counts.") var rounds: Int = 3
        @Option(help: "inference (eval forward) or training (forward, loss, backward, SGD step).") var mode: BenchMode = .inference
        @Option(help: "Seed for the weights, inputs and labels.") var seed: UInt64 = 0
        @Option(help: "The engine's GEMM: fast (OpenBLAS) or portable (fixed order, the same bits on every AVX2 machine).") var numerics: Numerics = .fast
        @Option(help: "The inference kernels' vector instructions: avx512 or avx2 (default: avx512 where the CPU has it).") var isa: KernelISA?
        @Flag(name: .customLong("compare-unfused"), help: "Also time the unfused inference path (one pass per unit), interleaved with the fused one, and print both.") var compareUnfused = false
        @Flag(help: "Print one JSON object.") var json = false
        @Flag(name: .customLong("per-layer"), help: "Also time each layer (inference mode) and print its share of the time.") var perLayer = false

        var bench: EngineBench { EngineBench(mode: mode, batch: batch, warmup: warmup, runs: runs, rounds: rounds, seed: seed, compareUnfused: compareUnfused, perLayer: perLayer) }

        func validate() throws {
            do { try bench.validate() } catch { throw ValidationError("\(error)") }
            if isa == .avx512 && !InferenceKernels.cpuHasAVX512 { throw ValidationError("--isa avx512: this CPU has no AVX-512 (F, DQ, BW, VL); use --isa avx2") }
        }

        func run() throws {
            #if DEBUG
            Console.note("warning: this is a DEBUG build; timings mean nothing (swift build -c release)")
            #endif
            let threadCount = threads.count
            EngineConfiguration(threads: threadCount, numerics: numerics, isa: isa ?? EngineConfiguration.environmentISA).install()
            if numerics == .fast, let advice = BLAS.coreAdvice { Console.note(advice) }
            let resolved = try network.spec().resolve()
            let report = BenchReport(bench: bench, result: try bench.run(resolved), network: resolved, name: network.displayName,
                                     threads: threadCount, numerics: numerics)
            print(json ? report.json : report.text)
        }
    }
}

extension KernelISA: ExpressibleByArgument {}
extension BenchMode: ExpressibleByArgument {}
