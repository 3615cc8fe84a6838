import Foundation
import Metrics
@testable import Search
import Statistics
import XCTest

/// Hypervolume against counting, TPE's estimator against a committed NumPy computation, and TPE as a search.
final class TPETests: XCTestCase {
    /// Exact hypervolumes of random integer points against counting the unit cells they dominate.
    func testHypervolumeEqualsCountingCells() {
        let random = RandomGenerator(seed: 5)
        for dimensions in 1...4 {
            let side = dimensions == 4 ? 6 : 9
            for _ in 0..<25 {
                let points = (0..<(1 + random.uniformInt(12))).map { _ in (0..<dimensions).map { _ in Double(random.uniformInt(side + 2)) } }
                let reference = [Double](repeating: Double(side), count: dimensions)
                var cells = 0
                var corner = [Int](repeating: 0, count: dimensions)
                // Every unit cell [c, c + 1) below the reference; it is dominated when a point is <= its corner.
                while true {
                    if points.contains(where: { p in p.indices.allSatisfy { p[$0] <= Double(corner[$0]) } }) { cells += 1 }
                    var axis = 0
                    while axis < dimensions && corner[axis] == side - 1 { corner[axis] = 0; axis += 1 }
                    if axis == dimensions { break }
                    corner[axis] += 1
                }
                XCTAssertEqual(Pareto.hypervolume(points, reference: reference), Double(cells), "\(points)")
            }
        }
        XCTAssertEqual(Pareto.hypervolume([[0.5, 0.25]], reference: [1, 1]), 0.375)
        XCTAssertEqual(Pareto.hypervolume([[2, 0]], reference: [1, 1]), 0, "a point beyond the reference adds nothing")
    }

    /// The estimator's log densities on hand-made genotypes, against `scripts/make_tpe_golden.py` (NumPy, written
    /// from Optuna's categorical Parzen estimator).
    func testParzenEstimatorMatchesTheNumPyComputation() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tpe_golden.json")
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let counts = golden["counts"] as! [Int]
        let observations = golden["observations"] as! [[Int]]
        let queries = golden["queries"] as! [[Int]]
        let expected = golden["log_density"] as! [Double]
        let estimator = ParzenEstimator(observations, counts: counts, priorWeight: golden["prior_weight"] as! Double)
        for (query, value) in zip(queries, expected) {
            XCTAssertEqual(estimator.logDensity(query), value, accuracy: 1e-12, "\(query)")
        }
        // A density: it sums to 1 over the whole (small) space.
        var total = 0.0
        for a in 0..<counts[0] { for b in 0..<counts[1] { for c in 0..<counts[2] { total += exp(estimator.logDensity([a, b, c])) } } }
        XCTAssertEqual(total, 1, accuracy: 1e-12)
    }

    /// The split keeps whole fronts, then the points of the next front that add the most hypervolume.
    func testBestSplitTakesFrontsThenHypervolume() {
        let points: [[Double]] = [[1, 5], [5, 1], [3, 3], [2, 4.9], [6, 6], [4, 4.5]]
        XCTAssertEqual(TPEStrategy.best(points, count: 3), [0, 1, 2])
        XCTAssertEqual(Set(TPEStrategy.best(points, count: 4)), [0, 1, 2, 3])
        XCTAssertEqual(TPEStrategy.best(points, count: 2).count, 2)
        XCTAssertEqual(TPEStrategy.gamma(10), 1)
        XCTAssertEqual(TPEStrategy.gamma(101), 11)
        XCTAssertEqual(TPEStrategy.gamma(1000), 25)
    }

    /// On a separable toy problem (minimise the sum of the choices, and their spread), TPE beats uniform random
    /// sampling at the same budget in most seeds, its first `startup` proposals are random, and a seed repeats.
    func testTPESearchesBetterThanRandomAndRepeats() {
        let dimensions = (0..<6).map { Dimension(name: "d\($0)", count: 8) }
        func costs(_ genotype: Genotype) -> [Double] {
            let sum = Double(genotype.reduce(0, +))
            return [sum, Double(genotype.max()! - genotype.min()!) + 0.1 * sum]
        }
        func run(_ strategy: inout some SearchStrategy, budget: Int) -> [[Double]] {
            var seen: Set<Genotype> = [], points: [[Double]] = []
            var id = 0
            while points.count < budget {
                let batch = strategy.propose(4) { seen.insert($0).inserted }
                guard !batch.isEmpty else { break }
                strategy.observe(batch.map { genotype in
                    id += 1
                    points.append(costs(genotype))
                    let c = costs(genotype)
                    return Observation(id: id, genotype: genotype, metrics: MetricValues([.macs: c[0], .params: c[1]]))
                })
            }
            return points
        }
        let objectives = { (values: MetricValues) -> [Double]? in [values[.macs]!, values[.params]!] }
        var wins = 0
        for seed in UInt64(1)...10 {
            var tpe = TPEStrategy(dimensions: dimensions, seed: seed, startup: 8, costs: objectives)
            var random = RandomStrategy(dimensions: dimensions, seed: seed)
            let reference = [50.0, 15.0]
            let a = Pareto.hypervolume(run(&tpe, budget: 60), reference: reference)
            let b = Pareto.hypervolume(run(&random, budget: 60), reference: reference)
            if a > b { wins += 1 }
        }
        XCTAssertGreaterThanOrEqual(wins, 8, "TPE beat random in \(wins) of 10 seeds")
        var first = TPEStrategy(dimensions: dimensions, seed: 3, startup: 8, costs: objectives)
        var second = TPEStrategy(dimensions: dimensions, seed: 3, startup: 8, costs: objectives)
        XCTAssertEqual(run(&first, budget: 40), run(&second, budget: 40))
        var startup = TPEStrategy(dimensions: dimensions, seed: 3, startup: 8, costs: objectives)
        var uniform = RandomStrategy(dimensions: dimensions, seed: 3)
        XCTAssertEqual(startup.propose(8) { _ in true }, uniform.propose(8) { _ in true }, "the start-up draws are uniform random")
    }
}
