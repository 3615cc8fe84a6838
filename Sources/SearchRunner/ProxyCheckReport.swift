import Architecture
import Foundation
import Search
import Store

/// What `efsearch proxy-check` reports: how well the short setting, each zero-cost proxy, MACs and params rank
/// the candidates the way the long setting's accuracy does.
public struct ProxyCheckReport: Sendable {
    /// One predictor of the long accuracy (`supernet` with `--supernet FILE`, `synflow`, `naswot`, `macs`, `params`).
    public struct Entry: Sendable {
        public var name: String
        public var correlation: RankCorrelation
    }

    public var candidates: Int
    public var short: RankCorrelation
    /// The zero-cost proxies and the baselines MACs and params.
    public var predictors: [Entry]
    /// The short setting against itself under another seed (`--noise-floor`): the best any predictor can do.
    public var noiseFloor: RankCorrelation?
    public var shortSeconds: Double
    public var longSeconds: Double
    /// Finished pairs over all candidates (a failed training leaves its candidate out).
    public var missing: Int

    /// The report of a finished (or partly finished) proxy-check run; `resamples` bootstrap draws from `seed`.
    public init(candidates records: [CandidateRecord], resamples: Int, seed: UInt64) {
        var short: [String: CandidateRecord] = [:], long: [String: CandidateRecord] = [:], reseeded: [String: CandidateRecord] = [:]
        for record in records {
            if record.key.hasSuffix("/short") { short[String(record.key.dropLast(6))] = record }
            if record.key.hasSuffix("/long") { long[String(record.key.dropLast(5))] = record }
            if record.key.hasSuffix("/reseeded") { reseeded[String(record.key.dropLast(9))] = record }
        }
        let twins = short.keys.sorted().compactMap { key in short[key]!.accuracy.flatMap { a in reseeded[key]?.accuracy.map { (a, $0) } } }
        noiseFloor = twins.count >= 2 ? RankCorrelation(twins.map(\.0), twins.map(\.1), resamples: resamples, seed: seed) : nil
        let pairs = short.keys.sorted().compactMap { key -> (CandidateRecord, CandidateRecord)? in
            guard let s = short[key], let l = long[key], s.status == .done, l.status == .done, s.accuracy != nil, l.accuracy != nil else { return nil }
            return (s, l)
        }
        candidates = pairs.count
        missing = max(short.count, long.count) - pairs.count
        let target = pairs.map { $0.1.accuracy! }
        self.short = RankCorrelation(pairs.map { $0.0.accuracy! }, target, resamples: resamples, seed: seed)
        var predictors: [Entry] = []
        let named: [(String, (CandidateRecord, CandidateRecord) -> Double?)] = [
            ("supernet", { s, _ in s.supernet }), ("synflow", { s, _ in s.synflow }), ("naswot", { s, _ in s.naswot }),
            ("macs", { _, l in Double(l.macs) }), ("params", { _, l in Double(l.params) }),
        ]
        for (name, value) in named {
            let usable = pairs.filter { value($0.0, $0.1) != nil }
            guard usable.count >= 2 else { continue }
            predictors.append(Entry(name: name, correlation: RankCorrelation(usable.map { value($0.0, $0.1)! }, usable.map { $0.1.accuracy! },
                                                                             resamples: resamples, seed: seed)))
        }
        self.predictors = predictors
        shortSeconds = pairs.reduce(0) { $0 + ($1.0.trainSeconds ?? 0) }
        longSeconds = pairs.reduce(0) { $0 + ($1.1.trainSeconds ?? 0) }
    }

    /// The JSON object `proxy-check --json` prints (NaN coefficients as null).
    public func json(run: String, plan: ProxyCheckPlan) throws -> String {
        func number(_ value: Double) -> Any { value.isFinite ? value : NSNull() }
        func fields(_ c: RankCorrelation) -> [String: Any] {
            ["spearman": number(c.spearman), "kendall": number(c.kendall),
             "spearman_interval": c.spearmanInterval.map(number), "kendall_interval": c.kendallInterval.map(number)]
        }
        var object = fields(short)
        object.merge(["run": run, "candidates": candidates, "missing": missing, "short": plan.short.description, "long": plan.long.description,
                      "short_train_seconds": number(shortSeconds), "long_train_seconds": number(longSeconds),
                      "proxies": predictors.map { fields($0.correlation).merging(["name": $0.name]) { _, new in new } }]) { _, new in new }
        if let noiseFloor { object["noise_floor"] = fields(noiseFloor) }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

extension ProxyCheckReport {
    /// The report as text: a table of each predictor's rank correlations with their intervals, and the training time.
    public func text(plan: ProxyCheckPlan) -> String {
        func row(_ name: String, _ c: RankCorrelation) -> [String] {
            [name, Format.fixed(c.spearman, 3), "[\(Format.fixed(c.spearmanInterval[0], 2)), \(Format.fixed(c.spearmanInterval[1], 2))]",
             Format.fixed(c.kendall, 3), "[\(Format.fixed(c.kendallInterval[0], 2)), \(Format.fixed(c.kendallInterval[1], 2))]"]
        }
        var lines = [
            "rank correlation with the long setting's accuracy (\(plan.long)), \(candidates) candidates\(missing > 0 ? " (\(missing) without both results)" : ""):",
            Format.table(["predictor", "spearman", "95% interval", "kendall", "95% interval"],
                         [row("short (\(plan.short))", short)] + predictors.map { row($0.name, $0.correlation) }, leftColumns: 1),
        ]
        if let noiseFloor {
            lines.append("noise floor, the short setting against itself under another seed: spearman \(Format.fixed(noiseFloor.spearman, 3)), "
                         + "kendall \(Format.fixed(noiseFloor.kendall, 3)) (about the best a predictor of the short result can reach)")
        }
        lines.append(String(format: "training: short %.0f s, long %.0f s in all", shortSeconds, longSeconds))
        return lines.joined(separator: "\n")
    }
}
