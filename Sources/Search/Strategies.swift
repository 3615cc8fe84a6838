import CGSL
import Statistics
import Foundation
import Metrics

/// A finished candidate as a strategy sees it; `metrics` is nil when the candidate failed.
public struct Observation: Sendable {
    public var id: Int
    public var genotype: Genotype
    public var metrics: MetricValues?

    public init(id: Int, genotype: Genotype, metrics: MetricValues?) {
        self.id = id
        self.genotype = genotype
        self.metrics = metrics
    }
}

/// How a search proposes candidates. Strategies are deterministic: the same seed and the same
/// observations, in the same order, give the same proposals (which is what makes `--resume` replay).
public protocol SearchStrategy {
    /// Up to `count` genotypes for which `accept` is true (it rejects duplicates and invalid networks).
    mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype]
    /// Results of earlier proposals, in candidate order.
    mutating func observe(_ observations: [Observation])
}

/// The strategies `efsearch nas --strategy` offers.
public enum StrategyKind: String, Codable, Sendable, CaseIterable {
    case grid, random, sobol, evolution, nsga2, tpe, bo

    /// The strategies that fit a model to the observations after a random start-up (`--startup`).
    public var isModelBased: Bool { self == .tpe || self == .bo }
}

/// Draws genotypes from `next` until `count` are accepted, giving up after 1000 draws per wanted genotype
/// (a small space runs out of new candidates) or when `next` returns nil.
func drawAccepted(_ count: Int, accept: (Genotype) -> Bool, next: (_ accepted: Int) -> Genotype?) -> [Genotype] {
    var result: [Genotype] = []
    var attempts = 0
    while result.count < count && attempts < 1000 * max(1, count) {
        attempts += 1
        guard let genotype = next(result.count) else { break }
        if accept(genotype) { result.append(genotype) }
    }
    return result
}

/// Every genotype in mixed-radix order (first dimension fastest).
public struct GridStrategy: SearchStrategy {
    let counts: [Int]
    var next = 0
    public init(dimensions: [Dimension]) { counts = dimensions.map(\.count) }

    public var total: Int { counts.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 } }

    public mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        var result: [Genotype] = []
        while result.count < count && next < total {
            var rest = next
            let genotype = counts.map { n -> Int in defer { rest /= n }; return rest % n }
            next += 1
            if accept(genotype) { result.append(genotype) }
        }
        return result
    }

    public mutating func observe(_ observations: [Observation]) {}
}

/// Uniform random genotypes from a seeded generator.
public struct RandomStrategy: SearchStrategy {
    let counts: [Int]
    let random: RandomGenerator
    public init(dimensions: [Dimension], seed: UInt64) {
        counts = dimensions.map(\.count)
        random = RandomGenerator(seed: seed)
    }

    public mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        drawAccepted(count, accept: accept) { _ in counts.map { random.uniformInt($0) } }
    }

    public mutating func observe(_ observations: [Observation]) {}
}

/// A Sobol sequence (GSL's `gsl_qrng_sobol`) over the dimensions with more than one choice, shifted by a
/// seeded random offset per dimension (Cranley-Patterson rotation), so different seeds give different,
/// equally well-spread designs.
public final class SobolStrategy: SearchStrategy {
    let counts: [Int]
    let varying: [Int]
    let shift: [Double]
    let generator: OpaquePointer?
    var point: [Double]

    public init(dimensions: [Dimension], seed: UInt64) throws {
        let counts = dimensions.map(\.count)
        self.counts = counts
        varying = counts.indices.filter { counts[$0] > 1 }
        guard varying.count <= 40 else {
            throw ObjectiveError(text: "sobol", message: "GSL's Sobol sequence has at most 40 dimensions; this space varies \(varying.count) choices (use random or evolution)")
        }
        let random = RandomGenerator(seed: seed)
        shift = varying.map { _ in random.uniform() }
        generator = varying.isEmpty ? nil : OpaquePointer(gsl_qrng_alloc(cgsl_qrng_sobol(), UInt32(varying.count)))
        point = [Double](repeating: 0, count: varying.count)
    }

    deinit { if let generator { gsl_qrng_free(UnsafeMutablePointer(generator)) } }

    public func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        var drawn = 0
        return drawAccepted(count, accept: accept) { _ in
            drawn += 1
            var genotype = [Int](repeating: 0, count: counts.count)
            guard let generator else { return drawn == 1 ? genotype : nil }  // nothing varies: one candidate
            point.withUnsafeMutableBufferPointer { _ = gsl_qrng_get(UnsafeMutablePointer(generator), $0.baseAddress!) }
            for (axis, dimension) in varying.enumerated() {
                let u = (point[axis] + shift[axis]).truncatingRemainder(dividingBy: 1)
                genotype[dimension] = min(counts[dimension] - 1, Int(u * Double(counts[dimension])))
            }
            return genotype
        }
    }

    public func observe(_ observations: [Observation]) {}
}

/// Regularized (aging) evolution (Real et al., 2019): the first `population` candidates are random; then each
/// child mutates the fittest of `sample` random members of the population, and the population keeps only
/// its `population` youngest members.
public struct EvolutionStrategy: SearchStrategy {
    let counts: [Int]
    let random: RandomGenerator
    let population: Int, sample: Int
    let mutationProbability: Double
    /// Higher is better; nil for failed or infeasible candidates.
    let fitness: (MetricValues) -> Double?
    var members: [Observation] = []
    var proposed = 0

    public init(dimensions: [Dimension], seed: UInt64, population: Int = 20, sample: Int = 5, mutationProbability: Double = 0.1,
                fitness: @escaping (MetricValues) -> Double?) {
        counts = dimensions.map(\.count)
        random = RandomGenerator(seed: seed)
        self.population = max(2, population)
        self.sample = max(1, min(sample, population))
        self.mutationProbability = mutationProbability
        self.fitness = fitness
    }

    public mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        let (alreadyProposed, members) = (proposed, self.members)
        let result = drawAccepted(count, accept: accept) { accepted in
            if alreadyProposed + accepted < population || members.isEmpty { return counts.map { random.uniformInt($0) } }
            let contestants = (0..<sample).map { _ in members[random.uniformInt(members.count)] }
            let parent = contestants.max { (fitness($0.metrics!) ?? -.infinity, -$0.id) < (fitness($1.metrics!) ?? -.infinity, -$1.id) }!
            return mutate(parent.genotype)
        }
        proposed += result.count
        return result
    }

    func mutate(_ genotype: Genotype) -> Genotype {
        var child = genotype
        let mutable = counts.indices.filter { counts[$0] > 1 }
        guard !mutable.isEmpty else { return child }
        for index in mutable where random.uniform() < mutationProbability { child[index] = random.uniformInt(counts[index]) }
        if child == genotype {  // always change at least one choice
            let index = mutable[random.uniformInt(mutable.count)]
            child[index] = (genotype[index] + 1 + random.uniformInt(counts[index] - 1)) % counts[index]
        }
        return child
    }

    public mutating func observe(_ observations: [Observation]) {
        members += observations.filter { $0.metrics != nil }
        if members.count > population { members.removeFirst(members.count - population) }
    }
}

/// NSGA-II (Deb et al., 2002): the population is the best `population` candidates by (front, crowding
/// distance) among the previous population and the newest results; parents are chosen from it by binary
/// tournament on the same order; children by uniform crossover and mutation.
public struct NSGA2Strategy: SearchStrategy {
    let counts: [Int]
    let random: RandomGenerator
    let population: Int
    let mutationProbability: Double
    /// Costs to minimise; nil for failed or infeasible candidates.
    let costs: (MetricValues) -> [Double]?
    /// The surviving population with its front and crowding distance.
    var members: [(observation: Observation, costs: [Double], rank: Int, crowding: Double)] = []
    var proposed = 0

    public init(dimensions: [Dimension], seed: UInt64, population: Int = 20, mutationProbability: Double = 0.1, costs: @escaping (MetricValues) -> [Double]?) {
        counts = dimensions.map(\.count)
        random = RandomGenerator(seed: seed)
        self.population = max(2, population)
        self.mutationProbability = mutationProbability
        self.costs = costs
    }

    public mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        let (alreadyProposed, members) = (proposed, self.members)
        let result = drawAccepted(count, accept: accept) { accepted in
            if alreadyProposed + accepted < population || members.count < 2 { return counts.map { random.uniformInt($0) } }
            func tournament() -> Genotype {
                let a = members[random.uniformInt(members.count)], b = members[random.uniformInt(members.count)]
                return (a.rank, -a.crowding) <= (b.rank, -b.crowding) ? a.observation.genotype : b.observation.genotype
            }
            let (mother, father) = (tournament(), tournament())
            var child = zip(mother, father).map { random.uniform() < 0.5 ? $0 : $1 }
            for index in counts.indices where counts[index] > 1 && random.uniform() < mutationProbability {
                child[index] = random.uniformInt(counts[index])
            }
            return child
        }
        proposed += result.count
        return result
    }

    public mutating func observe(_ observations: [Observation]) {
        let candidates = members.map { ($0.observation, $0.costs) }
            + observations.compactMap { observation in observation.metrics.flatMap(costs).map { (observation, $0) } }
        let points = candidates.map(\.1)
        var survivors: [(observation: Observation, costs: [Double], rank: Int, crowding: Double)] = []
        for (index, rank, crowding) in Pareto.ranking(points).prefix(population) {
            survivors.append((candidates[index].0, candidates[index].1, rank, crowding))
        }
        members = survivors
    }
}
