import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Latency

extension Efsearch {
    /// `efsearch bench`: timed forward (or training) passes on the engine.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time forward passes (or training steps) of a network on the engine: median, p10, p90, images/s, GFLOP/s.",
            discussion: """
            Examples:
              efsearch bench efficientnet-b0 --threads 2 --runs 30
              efsearch bench mobilenetv2-100 --per-layer            # each layer's share of the time
              efsearch bench --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24' --resolution 128 --mode training --batch 32 --json
            """)

        @OptionGroup var network: NetworkOptions
        @Option(help: "Batch size.")
        var batch: Int = 1
        @Option(help: "Threads (default: all cores).")
        var threads: Int?
        @Option(help: "Untimed runs first.")
        var warmup: Int = 3
        @Option(help: "Timed runs.")
        var runs: Int = 20
        @Option(help: "inference (eval forward) or training (forward, loss, backward, SGD step).")
        var mode: BenchMode = .inference
        @Option(help: "Seed for the weights, inputs and labels.")
        var seed: UInt64 = 0
        @Option(help: "The engine's GEMM: fast (OpenBLAS) or portable (fixed order, the same bits on every AVX2 machine).")
        var numerics: Numerics = .fast
        @Option(help: "The inference kernels' vector instructions: avx512 or avx2 (default: avx512 where the CPU has it).")
        var isa: KernelISA?
        @Flag(name: .customLong("compare-unfused"), help: "Also time the unfused inference path (one pass per unit), interleaved with the fused one, and print both.")
        var compareUnfused = false
        @Flag(help: "Print one JSON object.")
        var json = false
        @Flag(name: .customLong("per-layer"), help: "Also time each layer (inference mode) and print its share of the time.")
        var perLayer = false

        func validate() throws {
            if compareUnfused && mode == .training { throw ValidationError("--compare-unfused times inference passes; use it with --mode inference") }
            if isa == .avx512 && !InferenceKernels.cpuHasAVX512 { throw ValidationError("--isa avx512: this CPU has no AVX-512 (F, DQ, BW, VL); use --isa avx2") }
            if perLayer && mode == .training { throw ValidationError("--per-layer times inference passes; use it with --mode inference") }
            if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
            if runs < 1 { throw ValidationError("--runs \(runs) must be at least 1") }
            if warmup < 0 { throw ValidationError("--warmup \(warmup) must be 0 or more") }
            if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
        }

        func run() throws {
            #if DEBUG
            Console.note("warning: this is a DEBUG build; timings mean nothing (swift build -c release)")
            #endif
            let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
            EngineConfiguration(threads: threadCount, numerics: numerics, isa: isa ?? EngineConfiguration.environmentISA).install()
            if numerics == .fast, let advice = BLAS.coreAdvice { Console.note(advice) }
            let resolved = try network.spec().resolve()
            var bench = EngineBench()
            bench.mode = mode
            bench.batch = batch
            bench.warmup = warmup
            bench.runs = runs
            bench.seed = seed
            bench.compareUnfused = compareUnfused
            bench.perLayer = perLayer
            let result = try bench.run(resolved)
            let median = result.median
            let kernels = mode == .inference ? InferenceKernels.isa.rawValue : "avx2"
            // A training step costs about three forward passes (forward, input gradients, weight gradients).
            let flops = 2 * result.macs * (mode == .training ? 3 : 1)
            let imagesPerSecond = Double(batch) / (median / 1000)
            let gflops = flops / (median / 1000) / 1e9
            let profile = result.layers.map(layerTable)
            func percentiles(_ times: [Double]) -> (p10: Double, p90: Double) {
                (EngineBench.Result.percentile(0.1, of: times), EngineBench.Result.percentile(0.9, of: times))
            }
            if json {
                var out = JSONObjectWriter()
                out.add("mode", mode.rawValue)
                out.add("arch", resolved.archString)
                out.add("resolution", resolved.resolution)
                out.add("batch", batch)
                out.add("threads", threadCount)
                out.add("numerics", numerics.rawValue)
                out.add("kernels", kernels)
                out.add("runs", runs)
                out.add("median_ms", median)
                out.add("p10_ms", result.percentile(0.1))
                out.add("p90_ms", result.percentile(0.9))
                out.add("images_per_second", imagesPerSecond)
                out.add("gflops", gflops)
                out.add("peak_rss_bytes", result.peakBytes)
                if let unfusedMedian = result.unfusedMedian {
                    out.add("unfused_median_ms", unfusedMedian)
                    out.add("unfused_p10_ms", percentiles(result.unfusedTimes).p10)
                    out.add("unfused_p90_ms", percentiles(result.unfusedTimes).p90)
                    out.add("fused_speedup", unfusedMedian / median)
                }
                if let profile { out.add("per_layer", profile) }
                print(out.finished())
            } else {
                print("\(network.displayName), \(resolved.resolution) px, batch \(batch), \(mode.rawValue), \(threadCount) threads, \(runs) runs after \(warmup) warm-up, \(kernels) kernels")
                print("median \(Format.fixed(median, 2)) ms  (p10 \(Format.fixed(result.percentile(0.1), 2)), p90 \(Format.fixed(result.percentile(0.9), 2)))")
                if let unfusedMedian = result.unfusedMedian {
                    let (p10, p90) = percentiles(result.unfusedTimes)
                    print("unfused (one pass per unit): median \(Format.fixed(unfusedMedian, 2)) ms  (p10 \(Format.fixed(p10, 2)), "
                          + "p90 \(Format.fixed(p90, 2))); fused is \(Format.fixed(unfusedMedian / median, 2))x faster")
                }
                print("\(Format.fixed(imagesPerSecond, 1)) images/s, \(Format.fixed(gflops, 1)) GFLOP/s, peak memory (RSS) \(Format.bytes(result.peakBytes))")
                if let profile { print(); print(profile) }
            }
        }

        /// A table of each layer's mean time over the timed runs, its share, and the share by kind.
        func layerTable(_ layers: [(name: String, milliseconds: Double)]) -> String {
            let total = layers.map(\.milliseconds).reduce(0, +)
            var byKind: [String: Double] = [:]
            let rows = layers.map { name, ms -> [String] in
                byKind[name.split(separator: ".").last.map(String.init) ?? name, default: 0] += ms
                return [name, Format.fixed(ms, 3), Format.fixed(100 * ms / total, 1)]
            }
            let kinds = byKind.sorted { $0.value > $1.value }.map { [$0.key, Format.fixed($0.value, 2), Format.fixed(100 * $0.value / total, 1)] }
            return Format.table(["layer", "ms", "%"], rows) + "\n\n" + Format.table(["kind", "ms", "%"], kinds)
        }
    }
}

extension KernelISA: ExpressibleByArgument {}
extension BenchMode: ExpressibleByArgument {}
