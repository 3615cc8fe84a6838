import Architecture
import Cost
import Engine
import Foundation

/// What `efsearch bench` prints of a timed series: the figures derived from the times (percentiles, images/s,
/// GFLOP/s) as one JSON object or as lines of text, with the per-layer table when layers were timed.
public struct BenchReport {
    public var bench: EngineBench
    public var result: EngineBench.Result
    public var network: Network
    /// The network as the user named it (a preset, or `custom`).
    public var name: String
    public var threads: Int
    public var numerics: Numerics

    public init(bench: EngineBench, result: EngineBench.Result, network: Network, name: String, threads: Int, numerics: Numerics) {
        (self.bench, self.result, self.network, self.name, self.threads, self.numerics) = (bench, result, network, name, threads, numerics)
    }

    /// The inference kernels' instruction set; training runs the AVX2 kernels.
    var kernels: String { bench.mode == .inference ? InferenceKernels.isa.rawValue : "avx2" }
    var median: Double { result.median }
    var imagesPerSecond: Double { Double(bench.batch) / (median / 1000) }
    /// A training step costs about three forward passes (forward, input gradients, weight gradients).
    var gflops: Double { 2 * result.macs * (bench.mode == .training ? 3 : 1) / (median / 1000) / 1e9 }
    func percentiles(_ times: [Double]) -> (p10: Double, p90: Double) {
        (EngineBench.Result.percentile(0.1, of: times), EngineBench.Result.percentile(0.9, of: times))
    }

    public var json: String {
        var out = JSONObjectWriter()
        out.add("mode", bench.mode.rawValue)
        out.add("arch", network.archString)
        out.add("resolution", network.resolution)
        out.add("batch", bench.batch)
        out.add("threads", threads)
        out.add("numerics", numerics.rawValue)
        out.add("kernels", kernels)
        out.add("runs", bench.runs)
        out.add("rounds", bench.rounds)
        out.add("median_ms", median)
        let array = { (values: [Double]) in "[" + values.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",") + "]" }
        out.addRaw("round_medians_ms", array(result.rounds.medians))
        out.add("rounds_differ", result.rounds.spread)
        if !result.rounds.references.isEmpty {
            out.addRaw("reference_ms", array(result.rounds.references))
            out.add("retimed_rounds", result.rounds.retimed)
            out.add("slow_rounds", result.rounds.slowRounds)
        }
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
        if let layers = result.layers {
            let total = layers.map(\.milliseconds).reduce(0, +)
            out.addRaw("per_layer", "[" + layers.map { layer in
                var item = JSONObjectWriter()
                item.add("name", layer.name)
                item.add("ms", layer.milliseconds)
                item.add("share", total > 0 ? layer.milliseconds / total : 0)
                return item.finished()
            }.joined(separator: ",") + "]")
        }
        return out.finished()
    }

    public var text: String {
        var lines = [
            "\(name), \(network.resolution) px, batch \(bench.batch), \(bench.mode.rawValue), \(threads) threads, \(bench.rounds) rounds of \(bench.runs) runs after \(bench.warmup) warm-up, \(kernels) kernels",
            "median \(Format.fixed(median, 2)) ms, the quietest round's  (all runs: p10 \(Format.fixed(result.percentile(0.1), 2)), p90 \(Format.fixed(result.percentile(0.9), 2)))",
        ]
        if bench.rounds > 1 {
            let rounds = result.rounds
            var line = "rounds: " + rounds.medians.map { Format.fixed($0, 2) }.joined(separator: ", ") + " ms; they differ by \(Format.fixed(100 * rounds.spread, 1))%"
            if !rounds.references.isEmpty {
                line += "; reference \(LatencyModel.probe.preset) at \(LatencyModel.probe.resolution) px around them: "
                    + rounds.references.map { Format.fixed($0, 2) }.joined(separator: ", ") + " ms"
                if rounds.retimed > 0 { line += "; \(rounds.retimed) slow round\(rounds.retimed == 1 ? "" : "s") timed again" }
                if rounds.slowRounds > 0 { line += "; \(rounds.slowRounds) still slow" }
            }
            lines.append(line)
        }
        if let unfusedMedian = result.unfusedMedian {
            let (p10, p90) = percentiles(result.unfusedTimes)
            lines.append("unfused (one pass per unit): median \(Format.fixed(unfusedMedian, 2)) ms  (p10 \(Format.fixed(p10, 2)), "
                         + "p90 \(Format.fixed(p90, 2))); fused is \(Format.fixed(unfusedMedian / median, 2))x faster")
        }
        lines.append("\(Format.fixed(imagesPerSecond, 1)) images/s, \(Format.fixed(gflops, 1)) GFLOP/s, peak memory (RSS) \(Format.bytes(result.peakBytes))")
        if let layers = result.layers { lines += ["", BenchReport.layerTable(layers)] }
        return lines.joined(separator: "\n")
    }

    /// A table of each layer's mean time over the timed runs, its share, and the share by kind.
    public static func layerTable(_ layers: [(name: String, milliseconds: Double)]) -> String {
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
