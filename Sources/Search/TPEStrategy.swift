import Foundation
import Metrics
import Statistics

/// Multi-objective tree-structured Parzen estimation (Bergstra et al., 2011; Ozaki et al., 2020), as Optuna's
/// `TPESampler(multivariate=True)` does it for categorical choices:
/// - the first `startup` candidates are uniform random;
/// - then the finished candidates are split: the best `gamma(n) = min(ceil(0.1 n), 25)` of the `n` feasible ones
///   ("below": whole non-dominated fronts in order, the last front cut by greedy hypervolume contribution) against
///   the rest, infeasible ones included ("above"); failed candidates are left out;
/// - each side is a Parzen estimator over whole genotypes: a mixture of one kernel per candidate (weight 1) and a
///   uniform prior kernel (weight `priorWeight`); a candidate's kernel gives its own choice of each dimension
///   `1 + priorWeight / k` and every choice `priorWeight / k` before normalising (k kernels), as Optuna's;
/// - `candidates` genotypes are drawn from the "below" estimator l(x) and the one with the largest
///   log l(x) - log g(x) that is a new candidate is proposed (the driver's `accept` says which are new).
/// A generation's proposals come from one model, kept distinct by `accept`. Deterministic for a seed and the
/// observations in order.
public struct TPEStrategy: SearchStrategy {
    let counts: [Int]
    let random: RandomGenerator
    public let startup: Int
    public let candidates: Int
    public let priorWeight: Double
    /// Costs to minimise; nil for an infeasible candidate.
    let costs: (MetricValues) -> [Double]?
    /// Finished candidates in order: costs, or nil when infeasible (failed ones are not kept).
    var observed: [(genotype: Genotype, costs: [Double]?)] = []
    var proposed = 0

    public init(dimensions: [Dimension], seed: UInt64, startup: Int = 10, candidates: Int = 24, priorWeight: Double = 1,
                costs: @escaping (MetricValues) -> [Double]?) {
        counts = dimensions.map(\.count)
        random = RandomGenerator(seed: seed)
        self.startup = max(1, startup)
        self.candidates = max(1, candidates)
        self.priorWeight = priorWeight
        self.costs = costs
    }

    /// How many of `n` feasible candidates make the "below" side.
    public static func gamma(_ n: Int) -> Int { min(Int((0.1 * Double(n)).rounded(.up)), 25) }

    public mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        let model = observed.filter { $0.costs != nil }.count >= 2 ? split() : nil
        var result: [Genotype] = []
        var attempts = 0
        while result.count < count && attempts < 1000 * max(1, count) {
            attempts += 1
            // Random until `startup` candidates were proposed, or observed (a warm start's count too).
            guard let model, proposed + result.count >= startup || observed.count >= startup else {
                let genotype = counts.map { random.uniformInt($0) }
                if accept(genotype) { result.append(genotype) }
                continue
            }
            // The best-scoring draw that `accept` takes (a new candidate): the model often prefers one already proposed.
            let draws = (0..<candidates).map { _ in model.below.sample(random) }
            let scores = draws.map(model.score)
            for index in draws.indices.sorted(by: { (scores[$0], -$0) > (scores[$1], -$1) }) where accept(draws[index]) {
                result.append(draws[index])
                break
            }
        }
        proposed += result.count
        return result
    }

    public mutating func observe(_ observations: [Observation]) {
        for observation in observations {
            guard let metrics = observation.metrics else { continue }
            observed.append((observation.genotype, costs(metrics)))
        }
    }

    /// The two estimators of the observations so far.
    struct Model {
        var below: ParzenEstimator, above: ParzenEstimator
        func score(_ genotype: Genotype) -> Double { below.logDensity(genotype) - above.logDensity(genotype) }
    }

    func split() -> Model {
        let feasible = observed.indices.filter { observed[$0].costs != nil }
        let chosen = Set(TPEStrategy.best(feasible.map { observed[$0].costs! }, count: TPEStrategy.gamma(feasible.count)).map { feasible[$0] })
        let below = observed.indices.filter { chosen.contains($0) }.map { observed[$0].genotype }
        let above = observed.indices.filter { !chosen.contains($0) }.map { observed[$0].genotype }
        return Model(below: ParzenEstimator(below, counts: counts, priorWeight: priorWeight),
                     above: ParzenEstimator(above, counts: counts, priorWeight: priorWeight))
    }

    /// The indices of the best `count` points: whole non-dominated fronts in order; from the front that does not
    /// fit, greedily the point that adds the most hypervolume to those chosen, until `count` (reference: each
    /// cost's worst value among the points plus a tenth of its range, or plus 0.1 when the range is below 1).
    static func best(_ points: [[Double]], count: Int) -> [Int] {
        var chosen: [Int] = []
        for front in Pareto.fronts(points) {
            if chosen.count + front.count <= count {
                chosen += front
                continue
            }
            guard let dimensions = points.first?.count else { break }
            let reference = (0..<dimensions).map { d -> Double in
                let values = points.map { $0[d] }
                let (low, high) = (values.min()!, values.max()!)
                return high + max(high - low, 1) * 0.1
            }
            var remaining = front
            while chosen.count < count, !remaining.isEmpty {
                let base = Pareto.hypervolume(chosen.map { points[$0] }, reference: reference)
                let gains = remaining.map { Pareto.hypervolume((chosen + [$0]).map { points[$0] }, reference: reference) - base }
                let pick = gains.indices.max { (gains[$0], -remaining[$0]) < (gains[$1], -remaining[$1]) }!
                chosen.append(remaining.remove(at: pick))
            }
            break
        }
        return chosen.sorted()
    }
}

/// A Parzen estimator over genotypes of categorical choices: a mixture of one kernel per observed genotype and a
/// uniform prior kernel (Optuna's categorical kernels, multivariate).
struct ParzenEstimator {
    let counts: [Int]
    /// Mixture weights (normalised), the prior's last.
    let weights: [Double]
    /// log p of each choice of each dimension, per kernel: [kernel][dimension][choice].
    let logProbabilities: [[[Double]]]
    /// Per kernel and dimension, the cumulative probabilities for sampling.
    let cumulative: [[[Double]]]

    init(_ genotypes: [Genotype], counts: [Int], priorWeight: Double) {
        self.counts = counts
        let kernels = genotypes.count + 1
        let raw = [Double](repeating: 1, count: genotypes.count) + [priorWeight]
        let total = raw.reduce(0, +)
        weights = raw.map { $0 / total }
        var logs: [[[Double]]] = [], sums: [[[Double]]] = []
        for kernel in 0..<kernels {
            var logRow: [[Double]] = [], sumRow: [[Double]] = []
            for (dimension, n) in counts.enumerated() {
                var p = [Double](repeating: priorWeight / Double(kernels), count: n)
                if kernel < genotypes.count { p[genotypes[kernel][dimension]] += 1 }
                let norm = p.reduce(0, +)
                p = p.map { $0 / norm }
                logRow.append(p.map { Foundation.log($0) })
                var running = 0.0
                sumRow.append(p.map { running += $0; return running })
            }
            logs.append(logRow)
            sums.append(sumRow)
        }
        logProbabilities = logs
        cumulative = sums
    }

    func logDensity(_ genotype: Genotype) -> Double {
        let terms = weights.indices.map { kernel in
            Foundation.log(weights[kernel]) + genotype.indices.reduce(0.0) { $0 + logProbabilities[kernel][$1][genotype[$1]] }
        }
        let top = terms.max()!
        return top + Foundation.log(terms.reduce(0.0) { $0 + exp($1 - top) })
    }

    func sample(_ random: RandomGenerator) -> Genotype {
        func pick(_ cumulative: [Double]) -> Int {
            let u = random.uniform() * cumulative.last!
            return min(cumulative.firstIndex { u < $0 } ?? cumulative.count - 1, cumulative.count - 1)
        }
        var running = 0.0
        let kernel = pick(weights.map { running += $0; return running })
        return counts.indices.map { pick(cumulative[kernel][$0]) }
    }
}
