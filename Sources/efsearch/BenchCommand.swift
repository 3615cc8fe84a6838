import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation

extension Efsearch {
    /// `efsearch bench`: timed forward (or training) passes on the engine.
    struct Bench: ParsableCommand {
        enum Mode: String, ExpressibleByArgument, CaseIterable { case inference, training }

        static let configuration = CommandConfiguration(
            abstract: "Time forward passes (or training steps) of a network on the engine: median, p10, p90, images/s, GFLOP/s.")

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
        var mode: Mode = .inference
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
            Parallel.setThreads(threadCount)
            BLAS.numerics = numerics
            if let isa { InferenceKernels.preferred = isa }
            if numerics == .fast, let advice = BLAS.coreAdvice { Console.note(advice) }
            let spec = try network.spec()
            let resolved = try spec.resolve()
            let model = EfficientNetModel(resolved)
            model.initialize(seed: seed)
            let random = RandomGenerator(seed: seed &+ 1)
            let x = Tensor(shape: [batch, resolved.resolution, resolved.resolution, 3])
            for index in 0..<x.count { x[index] = Float(random.gaussian()) }
            let labels = (0..<batch).map { _ in random.uniformInt(resolved.classes) }
            let dLogits = Tensor(shape: [batch, resolved.classes])
            let optimizer = SGD(learningRate: 0.01, momentum: 0.9)
            let parameters = model.namedParameters().map(\.1)
            var steps = 0
            func step() throws {
                steps += 1
                switch mode {
                case .inference:
                    _ = model.forward(x, training: false)
                case .training:
                    model.zeroGradients()
                    let logits = model.forward(x, training: true, random: random)
                    let loss = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: dLogits)
                    guard loss.isFinite else { throw TrainingDiverged(step: steps, loss: loss) }
                    model.backward(dLogits)
                    optimizer.step(parameters)
                }
            }
            /// Runs `step` with inference fusion on or off.
            func step(fused: Bool) throws {
                InferenceKernels.fused = fused
                defer { InferenceKernels.fused = true }
                try step()
            }
            for _ in 0..<warmup {
                try step(fused: true)
                if compareUnfused { try step(fused: false) }
            }
            var times: [Double] = [], unfusedTimes: [Double] = []
            for run in 0..<runs {
                // With --compare-unfused the two paths alternate (and which goes first alternates), so that a
                // noisy machine slows both alike.
                for fused in compareUnfused ? (run % 2 == 0 ? [true, false] : [false, true]) : [true] {
                    let start = DispatchTime.now().uptimeNanoseconds
                    try step(fused: fused)
                    let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                    if fused { times.append(ms) } else { unfusedTimes.append(ms) }
                }
            }
            let peakBytes = PeakMemory.residentBytes()
            times.sort()
            unfusedTimes.sort()
            func percentile(_ p: Double, of times: [Double]) -> Double { times[min(times.count - 1, Int((Double(times.count - 1) * p).rounded()))] }
            func percentile(_ p: Double) -> Double { percentile(p, of: times) }
            let median = percentile(0.5)
            let unfusedMedian = compareUnfused ? percentile(0.5, of: unfusedTimes) : nil
            let kernels = mode == .inference ? InferenceKernels.isa.rawValue : "avx2"
            let macs = Double(CostModel.summary(of: resolved).macs) * Double(batch)
            // A training step costs about three forward passes (forward, input gradients, weight gradients).
            let flops = 2 * macs * (mode == .training ? 3 : 1)
            let imagesPerSecond = Double(batch) / (median / 1000)
            let gflops = flops / (median / 1000) / 1e9
            let profile = perLayer ? layerProfile(model, x) : nil
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
                out.add("p10_ms", percentile(0.1))
                out.add("p90_ms", percentile(0.9))
                out.add("images_per_second", imagesPerSecond)
                out.add("gflops", gflops)
                out.add("peak_rss_bytes", peakBytes)
                if let unfusedMedian {
                    out.add("unfused_median_ms", unfusedMedian)
                    out.add("unfused_p10_ms", percentile(0.1, of: unfusedTimes))
                    out.add("unfused_p90_ms", percentile(0.9, of: unfusedTimes))
                    out.add("fused_speedup", unfusedMedian / median)
                }
                if let profile { out.add("per_layer", profile) }
                print(out.finished())
            } else {
                print("\(network.displayName), \(resolved.resolution) px, batch \(batch), \(mode.rawValue), \(threadCount) threads, \(runs) runs after \(warmup) warm-up, \(kernels) kernels")
                print("median \(Format.fixed(median, 2)) ms  (p10 \(Format.fixed(percentile(0.1), 2)), p90 \(Format.fixed(percentile(0.9), 2)))")
                if let unfusedMedian {
                    print("unfused (one pass per unit): median \(Format.fixed(unfusedMedian, 2)) ms  (p10 \(Format.fixed(percentile(0.1, of: unfusedTimes), 2)), "
                          + "p90 \(Format.fixed(percentile(0.9, of: unfusedTimes), 2))); fused is \(Format.fixed(unfusedMedian / median, 2))x faster")
                }
                print("\(Format.fixed(imagesPerSecond, 1)) images/s, \(Format.fixed(gflops, 1)) GFLOP/s, peak memory (RSS) \(Format.bytes(peakBytes))")
                if let profile { print(); print(profile) }
            }
        }

        /// A table of each layer's mean time over the timed runs, its share, and the share by kind.
        func layerProfile(_ model: EfficientNetModel, _ x: Tensor) -> String {
            let profiler = LayerProfiler()
            for _ in 0..<runs { _ = model.forward(x, training: false, profiler: profiler) }
            let total = Double(profiler.nanoseconds.values.reduce(0, +))
            var rows: [[String]] = []
            var byKind: [String: Double] = [:]
            for name in profiler.order {
                let ns = Double(profiler.nanoseconds[name]!)
                let kind = name.split(separator: ".").last.map(String.init) ?? name
                byKind[kind, default: 0] += ns
                rows.append([name, Format.fixed(ns / Double(runs) / 1e6, 3), Format.fixed(100 * ns / total, 1)])
            }
            let kinds = byKind.sorted { $0.value > $1.value }.map { [$0.key, Format.fixed($0.value / Double(runs) / 1e6, 2), Format.fixed(100 * $0.value / total, 1)] }
            return Format.table(["layer", "ms", "%"], rows) + "\n\n" + Format.table(["kind", "ms", "%"], kinds)
        }
    }
}

/// A loss that became NaN or infinite: reported, never trained through.
struct TrainingDiverged: Error, CustomStringConvertible {
    var step: Int
    var loss: Float
    var description: String { "the loss became \(loss) at step \(step); lower the learning rate or check the data" }
}

/// The process's peak resident memory.
enum PeakMemory {
    static func residentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024  // kilobytes on Linux
    }
}

extension KernelISA: ExpressibleByArgument {}
