import Foundation
import Metrics
import Statistics

/// What the cost model says of a genotype before it is evaluated.
public struct Assessment: Sendable {
    /// Every cost of the run, in order; only the free ones are meaningful (the others are placeholders).
    public var costs: [Double]
    /// Inputs for the model besides the choices (efsearch: ln MACs, ln params).
    public var features: [Double]
    /// The constraints on free metrics hold.
    public var feasible: Bool

    public init(costs: [Double], features: [Double], feasible: Bool) {
        self.costs = costs
        self.features = features
        self.feasible = feasible
    }
}

/// A search problem as a model-based strategy sees it: which costs are free (the cost model gives them for any
/// genotype, 100k a second) and which must be modelled (they take an evaluation: accuracy, a zero-cost score,
/// measured latency, a reward).
public struct FreeObjectives {
    /// Per cost of the run, in order: true when the cost model gives it.
    public var isFree: [Bool]
    /// A genotype's free costs, model features and free constraints; nil when it makes no valid network.
    public var assess: (Genotype) -> Assessment?
    /// A finished candidate's modelled costs (in order, constraints not applied); nil when one is missing.
    public var modelled: (MetricValues) -> [Double]?

    public init(isFree: [Bool], assess: @escaping (Genotype) -> Assessment?, modelled: @escaping (MetricValues) -> [Double]?) {
        self.isFree = isFree
        self.assess = assess
        self.modelled = modelled
    }

    public var modelledIndices: [Int] { isFree.indices.filter { !isFree[$0] } }
}

/// Bayesian optimisation that computes the free objectives exactly and models only the expensive ones:
/// - the first `startup` candidates are uniform random;
/// - then one Gaussian process per modelled cost (`GaussianProcess`: Matérn 5/2 with ARD, noise fitted, MAP
///   hyperparameters) on the choices (ordinal: a choice's index over the number of choices less one) and the
///   cost model's ln MACs and ln params (scaled to [0, 1] over the candidates considered);
/// - the candidates considered are the whole space when it has at most `enumerationLimit` genotypes, else
///   `poolSize` random ones and every one-choice neighbour of the observed front; those whose free metrics
///   break a constraint are left out before modelling;
/// - each is scored by its expected hypervolume improvement (EHVI) over the observed feasible front, its free
///   costs exact: with one modelled cost in closed form (the improvement is piecewise linear in it), with more
///   by `samples` common Monte-Carlo draws over the 128 candidates best at their optimistic point (mean less
///   a deviation); the reference point is, for each cost, the observed front's worst value plus a fifth of the
///   range of the feasible observations;
/// - a generation's proposals come one at a time: after each, the models take its posterior mean as observed
///   ("Kriging believer") and the front takes the believed point, so the next proposal is elsewhere.
/// Deterministic for a seed and the observations in order.
public final class BayesianStrategy: SearchStrategy {
    let counts: [Int]
    let varying: [Int]
    let random: RandomGenerator
    public let startup: Int
    let costs: (MetricValues) -> [Double]?
    let problem: FreeObjectives
    public let enumerationLimit: Int
    public let poolSize: Int
    public let samples: Int
    /// Finished candidates in order: costs (nil: infeasible) and modelled costs (nil: missing).
    var observed: [(genotype: Genotype, costs: [Double]?, modelled: [Double]?)] = []
    var proposed = 0
    var seen = Set<Genotype>()
    /// The last fit per modelled cost, the next fit's second start.
    var fitted: [GaussianProcess.Hyperparameters?]
    var cache: [Genotype: Assessment?] = [:]
    lazy var wholeSpace: [Genotype]? = {
        let total = counts.reduce(1.0) { $0 * Double($1) }
        guard total <= Double(enumerationLimit) else { return nil }
        var grid = GridStrategy(dimensions: counts.map { Dimension(name: "", count: $0) })
        return grid.propose(Int(total)) { _ in true }
    }()

    public init(dimensions: [Dimension], seed: UInt64, startup: Int = 10, problem: FreeObjectives, enumerationLimit: Int = 20_000,
                poolSize: Int = 2_000, samples: Int = 32, costs: @escaping (MetricValues) -> [Double]?) {
        let counts = dimensions.map(\.count)
        self.counts = counts
        varying = counts.indices.filter { counts[$0] > 1 }
        random = RandomGenerator(seed: seed)
        self.startup = max(1, startup)
        self.problem = problem
        self.enumerationLimit = enumerationLimit
        self.poolSize = poolSize
        self.samples = samples
        self.costs = costs
        fitted = problem.modelledIndices.map { _ in nil }
    }

    func assessment(_ genotype: Genotype) -> Assessment? {
        if let known = cache[genotype] { return known }
        let value = problem.assess(genotype)
        cache[genotype] = value
        return value
    }

    public func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        var result: [Genotype] = []
        let modelling = observed.contains { $0.modelled != nil } && (proposed >= startup || observed.count >= startup)
        if modelling, var model = makeModel() {
            while result.count < count, let pick = model.best(accept: accept) {
                result.append(model.genotypes[pick])
                model.believe(pick)
            }
        }
        if result.isEmpty {  // the start-up (a generation's proposals come from one model, which needs observations), nothing feasible yet, or no candidate left to score
            result = drawAccepted(count, accept: accept) { _ in counts.map { random.uniformInt($0) } }
        }
        proposed += result.count
        seen.formUnion(result)
        return result
    }

    public func observe(_ observations: [Observation]) {
        for observation in observations {
            seen.insert(observation.genotype)
            guard let metrics = observation.metrics else { continue }
            observed.append((observation.genotype, costs(metrics), problem.modelled(metrics)))
        }
    }

    /// The candidates to score this round, with their assessments (feasible on free metrics, not yet seen).
    func pool() -> [(genotype: Genotype, assessment: Assessment)] {
        var genotypes: [Genotype]
        if let wholeSpace {
            genotypes = wholeSpace
        } else {
            genotypes = (0..<poolSize).map { _ in counts.map { random.uniformInt($0) } }
            let feasible = observed.filter { $0.costs != nil }
            for index in Pareto.frontier(feasible.map { $0.costs! }) {
                for dimension in varying {
                    for choice in 0..<counts[dimension] where choice != feasible[index].genotype[dimension] {
                        var neighbour = feasible[index].genotype
                        neighbour[dimension] = choice
                        genotypes.append(neighbour)
                    }
                }
            }
        }
        var unique = Set<Genotype>()
        return genotypes.compactMap { genotype in
            guard !seen.contains(genotype), unique.insert(genotype).inserted, let assessment = assessment(genotype), assessment.feasible else { return nil }
            return (genotype, assessment)
        }
    }

    func makeModel() -> Model? {
        let candidates = pool()
        guard !candidates.isEmpty else { return nil }
        let training = observed.compactMap { entry -> (Genotype, Assessment, [Double])? in
            guard let modelled = entry.modelled, let assessment = assessment(entry.genotype) else { return nil }
            return (entry.genotype, assessment, modelled)
        }
        let feasible = observed.compactMap(\.costs)
        guard !training.isEmpty, !feasible.isEmpty else { return nil }  // nothing to model, or no front to improve on yet
        // Features scaled to [0, 1] over the candidates and the observations.
        let featureCount = candidates[0].assessment.features.count
        let all = candidates.map(\.assessment.features) + training.map(\.1.features)
        let low = (0..<featureCount).map { f in all.map { $0[f] }.min()! }
        let high = (0..<featureCount).map { f in all.map { $0[f] }.max()! }
        let encode = { (genotype: Genotype, assessment: Assessment) -> [Double] in
            self.varying.map { Double(genotype[$0]) / Double(self.counts[$0] - 1) }
                + (0..<featureCount).map { f in high[f] > low[f] ? (assessment.features[f] - low[f]) / (high[f] - low[f]) : 0 }
        }
        let inputs = training.map { encode($0.0, $0.1) }
        var posteriors: [Posterior] = []
        let encoded = candidates.map { encode($0.genotype, $0.assessment) }
        for (m, _) in problem.modelledIndices.enumerated() {
            let (targets, mean, scale) = GaussianProcess.standardise(training.map { $0.2[m] })
            let hyperparameters = GaussianProcess.fit(inputs: inputs, targets: targets, start: fitted[m])
            fitted[m] = hyperparameters
            guard let process = try? GaussianProcess(inputs: inputs, targets: targets, hyperparameters: hyperparameters) else { return nil }
            posteriors.append(Posterior(process: process, candidates: encoded, offset: mean, scale: scale))
        }
        let dimensions = feasible[0].count
        let front = Pareto.frontier(feasible).map { feasible[$0] }
        // Each cost's reference: the observed front's worst value plus a fifth of the range of all feasible
        // observations (a margin that counts the front's extreme points, scaled by what the search has seen).
        let reference = (0..<dimensions).map { d -> Double in
            let values = feasible.map { $0[d] }
            let (worst, best) = (values.max()!, values.min()!)
            return front.map { $0[d] }.max()! + 0.2 * (worst > best ? worst - best : max(abs(worst), 1))
        }
        return Model(genotypes: candidates.map(\.genotype), costs: candidates.map(\.assessment.costs), inputs: encoded,
                     posteriors: posteriors, modelled: problem.modelledIndices, front: front,
                     reference: reference, samples: samples, random: random)
    }

    /// A modelled cost's posterior over the round's candidates, kept up to date as proposals are believed.
    struct Posterior {
        let process: GaussianProcess
        let offset: Double, scale: Double
        /// Standardised posterior means and latent variances, per candidate.
        var means: [Double], variances: [Double]
        /// Rows of V (one per training point, then one per believed proposal), each over the candidates:
        /// the posterior covariance of candidates a and b is k(a, b) - Σ_rows V[a] V[b].
        var rows: [[Double]]
        let inputs: [[Double]]

        init(process: GaussianProcess, candidates: [[Double]], offset: Double, scale: Double) {
            self.process = process
            self.offset = offset
            self.scale = scale
            inputs = candidates
            let (means, v) = process.posterior(at: candidates)
            let m = candidates.count
            rows = (0..<process.count).map { Array(v[($0 * m)..<(($0 + 1) * m)]) }
            self.means = means
            variances = (0..<m).map { column in
                max(0, process.hyperparameters.signalVariance - v.withUnsafeBufferPointer { v in
                    (0..<process.count).reduce(0.0) { $0 + v[$1 * m + column] * v[$1 * m + column] }
                })
            }
        }

        func prediction(_ index: Int) -> (mean: Double, deviation: Double) {
            (offset + scale * means[index], scale * variances[index].squareRoot())
        }

        /// Candidate `chosen` observed at its posterior mean: the means stay, the variances shrink by
        /// cov(x, chosen)² / (var(chosen) + σ²).
        mutating func believe(_ chosen: Int) {
            let noise = process.hyperparameters.noiseVariance
            let denominator = variances[chosen] + noise
            guard denominator > 0 else { return }
            let x = inputs[chosen]
            var row = [Double](repeating: 0, count: inputs.count)
            for index in inputs.indices {
                var covariance = process.covariance(inputs[index], x)
                for r in rows.indices { covariance -= rows[r][index] * rows[r][chosen] }
                row[index] = covariance / denominator.squareRoot()
            }
            for index in inputs.indices { variances[index] = max(0, variances[index] - row[index] * row[index]) }
            rows.append(row)
        }
    }

    /// One round's models, candidates and front.
    struct Model {
        let genotypes: [Genotype]
        let costs: [[Double]]
        let inputs: [[Double]]
        var posteriors: [Posterior]
        let modelled: [Int]
        var front: [[Double]]
        let reference: [Double]
        let samples: Int
        let random: RandomGenerator
        /// Candidates proposed or rejected by `accept` this round.
        var taken = Set<Int>()

        init(genotypes: [Genotype], costs: [[Double]], inputs: [[Double]], posteriors: [Posterior], modelled: [Int], front: [[Double]],
             reference: [Double], samples: Int, random: RandomGenerator) {
            self.genotypes = genotypes
            self.costs = costs
            self.inputs = inputs
            self.posteriors = posteriors
            self.modelled = modelled
            self.front = front
            self.reference = reference
            self.samples = samples
            self.random = random
        }

        func prediction(_ index: Int) -> [(mean: Double, deviation: Double)] { posteriors.map { $0.prediction(index) } }

        /// The candidates' costs with the modelled ones at `values`.
        func point(_ index: Int, _ values: [Double]) -> [Double] {
            var point = costs[index]
            for (m, d) in modelled.enumerated() { point[d] = values[m] }
            return point
        }

        /// The best-scoring candidate that `accept` takes.
        mutating func best(accept: (Genotype) -> Bool) -> Int? {
            let scores = acquisition()
            for index in genotypes.indices.sorted(by: { (scores[$0], -$0) > (scores[$1], -$1) }) where !taken.contains(index) {
                taken.insert(index)
                if accept(genotypes[index]) { return index }
            }
            return nil
        }

        /// After proposing candidate `index`: the models take its modelled costs as observed at their posterior
        /// means ("Kriging believer"), and the front takes the believed point.
        mutating func believe(_ index: Int) {
            let believed = point(index, prediction(index).map(\.mean))
            for m in posteriors.indices { posteriors[m].believe(index) }
            let points = front + [believed]
            front = Pareto.frontier(points).map { points[$0] }
        }

        /// The expected hypervolume improvement of every candidate.
        func acquisition() -> [Double] {
            let base = Pareto.hypervolume(front, reference: reference)
            switch modelled.count {
            case 0:
                return genotypes.indices.map { Pareto.hypervolume(front + [costs[$0]], reference: reference) - base }
            case 1:
                let slices = Slices(front: front, reference: reference, modelled: modelled[0])
                return genotypes.indices.map { index in
                    let p = posteriors[0].prediction(index)
                    return slices.expectedImprovement(known: costs[index], mean: p.mean, deviation: p.deviation)
                }
            default:
                // Screen by the optimistic point, then common Monte-Carlo draws for the best 128.
                let predictions = genotypes.indices.map(prediction)
                let optimistic = genotypes.indices.map { index in
                    Pareto.hypervolume(front + [point(index, predictions[index].map { $0.mean - $0.deviation })], reference: reference) - base
                }
                let screened = Set(genotypes.indices.filter { !taken.contains($0) }.sorted { (optimistic[$0], -$0) > (optimistic[$1], -$1) }.prefix(128))
                let draws = (0..<samples).map { _ in modelled.map { _ in random.gaussian() } }
                return genotypes.indices.map { index in
                    guard screened.contains(index) else { return -1 }
                    let total = draws.reduce(0.0) { sum, z in
                        let values = zip(predictions[index], z).map { $0.mean + $0.deviation * $1 }
                        return sum + Pareto.hypervolume(front + [point(index, values)], reference: reference) - base
                    }
                    return total / Double(samples)
                }
            }
        }

        /// E[HVI] of a point with known costs but cost `modelled`, which is Normal(mean, deviation²). The
        /// improvement as a function of that cost y is ∫_y^{r} A(t) dt, where A(t) is the measure of the point's
        /// box (in the other costs) that no front point with that cost at most t covers: a step function, so
        /// E = Σ_k A_k ∫_{b_k}^{b_{k+1}} Φ((t - mean) / deviation) dt, each integral in closed form.
        public static func expectedImprovement(known: [Double], modelled j: Int, mean: Double, deviation: Double,
                                               front: [[Double]], reference: [Double]) -> Double {
            Slices(front: front, reference: reference, modelled: j).expectedImprovement(known: known, mean: mean, deviation: deviation)
        }

        /// The front cut at each of its values of the modelled cost, shared by every candidate of a round.
        struct Slices {
            let modelled: Int
            let others: [Int]
            let lower: [Double]
            let reference: Double
            /// Interval bounds of the modelled cost: -∞, the front's values below the reference, the reference.
            let bounds: [Double]
            /// Per interval, the front points (other costs) whose modelled cost is at most its lower bound.
            let covering: [[[Double]]]
            let coveringVolume: [Double]
            /// With two costs: per interval, the smallest other cost among the covering points (else the reference).
            let floor: [Double]

            init(front: [[Double]], reference: [Double], modelled j: Int) {
                modelled = j
                let others = reference.indices.filter { $0 != j }
                self.others = others
                let lower = others.map { reference[$0] }
                self.lower = lower
                self.reference = reference[j]
                let bounds = [-Double.infinity] + Array(Set(front.map { $0[j] }.filter { $0 < reference[j] })).sorted() + [reference[j]]
                self.bounds = bounds
                var covering: [[[Double]]] = [], volumes: [Double] = [], floor: [Double] = []
                for k in 0..<(bounds.count - 1) {
                    let points = front.filter { $0[j] <= bounds[k] }.map { p in others.map { p[$0] } }
                    covering.append(points)
                    volumes.append(others.count >= 2 ? Pareto.hypervolume(points, reference: lower) : 0)
                    floor.append(others.count == 1 ? points.map { $0[0] }.reduce(lower.first ?? 0, min) : 0)
                }
                self.covering = covering
                coveringVolume = volumes
                self.floor = floor
            }

            func expectedImprovement(known: [Double], mean: Double, deviation: Double) -> Double {
                var own: [Double] = []
                own.reserveCapacity(others.count)
                for (index, d) in others.enumerated() {
                    guard known[d] < lower[index] else { return 0 }
                    own.append(known[d])
                }
                var expected = 0.0
                for k in 0..<(bounds.count - 1) {
                    let area: Double
                    switch others.count {
                    case 0: area = covering[k].isEmpty ? 1 : 0
                    case 1: area = max(0, floor[k] - own[0])
                    default: area = Pareto.hypervolume(covering[k] + [own], reference: lower) - coveringVolume[k]
                    }
                    guard area > 0 else { break }  // A only shrinks as t grows
                    expected += area * integralOfCDF(from: bounds[k], to: bounds[k + 1], mean: mean, deviation: deviation)
                }
                return expected
            }
        }

        /// ∫_a^b Φ((t - mean) / deviation) dt = deviation (ψ(z_b) - ψ(z_a)), ψ(z) = z Φ(z) + φ(z).
        static func integralOfCDF(from a: Double, to b: Double, mean: Double, deviation: Double) -> Double {
            guard b > a else { return 0 }
            guard deviation > 1e-12 * max(1, abs(mean)) else { return max(0, b - max(a, mean)) }
            func psi(_ t: Double) -> Double {
                guard t.isFinite else { return t > 0 ? t : 0 }
                let z = (t - mean) / deviation
                return z * 0.5 * erfc(-z / 2.0.squareRoot()) + exp(-z * z / 2) / (2 * Double.pi).squareRoot()
            }
            if b.isInfinite { return .infinity }
            return deviation * (psi(b) - psi(a))
        }
    }
}
