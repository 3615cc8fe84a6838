import Architecture
import Engine
import Foundation
import Search
import Metrics
import XCTest
import Statistics

/// The repository's searchspaces/ folder.
let searchSpaces = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("searchspaces")

final class SearchSpaceTests: XCTestCase {
    func write(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("space-\(UUID()).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testShippedSpacesLoadAndMakeNetworks() throws {
        for name in ["tiny", "efficientnet-b0", "efficientnetv2"] {
            let space = try SearchSpace.load(path: searchSpaces.appendingPathComponent("\(name).yaml").path)
            XCTAssertGreaterThan(space.size, 100, name)
            var random = RandomStrategy(dimensions: space.dimensions, seed: 1)
            let genotypes = random.propose(20) { _ in true }
            XCTAssertEqual(genotypes.count, 20)
            let resolvable = genotypes.filter { (try? space.network(for: $0).resolve()) != nil }
            XCTAssertGreaterThan(resolvable.count, 10, name)
        }
        let tiny = try SearchSpace.load(path: searchSpaces.appendingPathComponent("tiny.yaml").path)
        XCTAssertEqual(tiny.base.stem, 16)
        XCTAssertEqual(tiny.constraints.count, 1)
        // The first choice of everything reproduces the base (with the first width).
        let first = tiny.network(for: tiny.dimensions.map { _ in 0 })
        XCTAssertEqual(first.stages[1][0].kernel, 3)
        XCTAssertEqual(first.width, 0.5)
    }

    func testBadFilesNameTheFileAndTheField() throws {
        let cases: [(String, String)] = [
            ("stages: [ {kernel: [3, 5]\n", "yaml"),
            ("base: efficientnet-b0\nwidht: [1]\n", "widht"),
            ("stages:\n  - {kernel: []}\n", "stages[1].kernel"),
            ("width: {min: 2, max: 1}\n", "min 2.0 > max 1.0"),
            ("stages:\n  - {kernel: [4]}\n", "not an odd whole number"),
            ("stages:\n  - {flavour: [1]}\n", "stages[1].flavour"),
            ("base: resnet50\n", "base"),
            ("constraints: [\"flops<=3\"]\n", "constraints[1]"),
            ("depth: [0, 1]\n", "must be greater than 0"),
        ]
        for (text, expected) in cases {
            let path = try write(text)
            XCTAssertThrowsError(try SearchSpace.load(path: path)) { error in
                XCTAssertTrue("\(error)".contains(path) && "\(error)".contains(expected), "\(text): \(error)")
            }
        }
    }

    func testObjectivesConstraintsAndReward() throws {
        XCTAssertEqual(try Objective(parsing: "accuracy").direction, .maximize)
        XCTAssertEqual(try Objective(parsing: "macs:max").direction, .maximize)
        XCTAssertThrowsError(try Objective(parsing: "speed"))
        let constraint = try Constraint(parsing: "macs <= 400M")
        let metrics = MetricValues([.params: 5e6, .macs: 3.9e8, .latencyEstimate: 5, .memory: 1e7, .accuracy: 0.7])
        XCTAssertTrue(constraint.holds(metrics))
        XCTAssertFalse(try Constraint(parsing: "params<5M").holds(metrics))
        let reward = try Reward(parsing: "macs:400M:-0.07")
        XCTAssertEqual(reward.value(metrics)!, 0.7 * pow(3.9 / 4, -0.07), accuracy: 1e-12)
        let hard = try Reward(parsing: "macs:300M:0:-1")
        XCTAssertEqual(hard.value(metrics)!, 0.7 * 3 / 3.9, accuracy: 1e-12)
    }

    /// A run stores its settings as canonical text: however a setting was written, it reads back as the same
    /// value, and two spellings of one value store the same text (a resume compares values, not spellings).
    func testSettingsAreStoredAsCanonicalTextAndReadBackTheSame() throws {
        let objectives: [(String, String)] = [("accuracy", "accuracy"), ("accuracy:max", "accuracy"), ("macs:min", "macs"), (" macs ", "macs"),
                                              ("macs:max", "macs:max"), ("LATENCY:min", "latency"), ("naswot", "naswot"), ("params:max", "params:max")]
        for (text, canonical) in objectives {
            let objective = try Objective(parsing: text)
            XCTAssertEqual(objective.description, canonical, text)
            XCTAssertEqual(try Objective(parsing: objective.description), objective, text)
        }
        let constraints: [(String, String)] = [("macs<=400M", "macs<=400000000"), ("macs <= 400000000", "macs<=400000000"), ("params<2.5M", "params<2500000"),
                                               ("latency<=12.5", "latency<=12.5"), ("accuracy>=0.5", "accuracy>=0.5"), ("memory>1G", "memory>1000000000")]
        for (text, canonical) in constraints {
            let constraint = try Constraint(parsing: text)
            XCTAssertEqual(constraint.description, canonical, text)
            XCTAssertEqual(try Constraint(parsing: constraint.description), constraint, text)
        }
        let rewards: [(String, String)] = [("macs:400M:-0.07", "macs:400000000:-0.07:-0.07"), ("latency:15:0:-1", "latency:15:0:-1")]
        for (text, canonical) in rewards {
            let reward = try Reward(parsing: text)
            XCTAssertEqual(reward.description, canonical, text)
            XCTAssertEqual(try Reward(parsing: reward.description), reward, text)
        }
        XCTAssertEqual(try Objective.list(parsing: "accuracy, macs"), try Objective.list(parsing: "accuracy,macs:min"))
        XCTAssertThrowsError(try Objective.list(parsing: " , "))
        // Stored as JSON strings, and read from the text earlier versions stored (the user's own spelling).
        let encoded = try JSONEncoder().encode([try Objective(parsing: "accuracy:max"), try Objective(parsing: "macs:max")])
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), #"["accuracy","macs:max"]"#)
        let stored = try JSONDecoder().decode([Constraint].self, from: Data(#"["macs<=400M", "params < 5M"]"#.utf8))
        XCTAssertEqual(stored, [try Constraint(parsing: "macs<=400000000"), try Constraint(parsing: "params<5000000")])
        XCTAssertThrowsError(try JSONDecoder().decode([Objective].self, from: Data(#"["speed"]"#.utf8)))
    }
}

final class StrategyTests: XCTestCase {
    let dimensions = [Dimension(name: "a", count: 3), Dimension(name: "b", count: 4), Dimension(name: "c", count: 1), Dimension(name: "d", count: 5)]

    func testGridEnumeratesEverythingOnce() {
        var grid = GridStrategy(dimensions: dimensions)
        let all = grid.propose(1000) { _ in true }
        XCTAssertEqual(all.count, 60)
        XCTAssertEqual(Set(all.map { $0.description }).count, 60)
        XCTAssertTrue(grid.propose(5) { _ in true }.isEmpty)
    }

    func testStrategiesAreSeeded() throws {
        func run(_ make: () throws -> SearchStrategy) rethrows -> [Genotype] {
            var strategy = try make()
            var out: [Genotype] = []
            for round in 0..<4 {
                let batch = strategy.propose(5) { _ in true }
                out += batch
                strategy.observe(batch.enumerated().map { index, genotype in
                    Observation(id: round * 5 + index, genotype: genotype,
                                metrics: MetricValues([.params: Double(genotype[0]), .macs: Double(genotype[1] + genotype[3]), .latencyEstimate: 1, .memory: 1,
                                                      .accuracy: Double(genotype.reduce(0, +)) / 10]))
                })
            }
            return out
        }
        let makers: [(UInt64) throws -> SearchStrategy] = [
            { RandomStrategy(dimensions: self.dimensions, seed: $0) },
            { try SobolStrategy(dimensions: self.dimensions, seed: $0) },
            { EvolutionStrategy(dimensions: self.dimensions, seed: $0, population: 6, sample: 3, fitness: { $0[.accuracy] }) },
            { NSGA2Strategy(dimensions: self.dimensions, seed: $0, population: 6, costs: { [-$0[.accuracy]!, $0[.macs]!] }) },
        ]
        for make in makers {
            let a = try run { try make(1) }, b = try run { try make(1) }, c = try run { try make(2) }
            XCTAssertEqual(a, b)
            XCTAssertNotEqual(a, c)
            XCTAssertTrue(a.allSatisfy { $0[2] == 0 && $0[0] < 3 && $0[1] < 4 && $0[3] < 5 })
        }
    }

    func testEvolutionChildrenDifferFromTheirParents() {
        var evolution = EvolutionStrategy(dimensions: dimensions, seed: 3, population: 4, sample: 2, mutationProbability: 0) { $0[.accuracy] }
        let parents = evolution.propose(4) { _ in true }
        evolution.observe(parents.enumerated().map { Observation(id: $0, genotype: $1, metrics: MetricValues([.params: 1, .macs: 1, .latencyEstimate: 1, .memory: 1, .accuracy: Double($0)])) })
        let children = evolution.propose(10) { _ in true }
        for child in children {
            XCTAssertTrue(parents.contains { parent in zip(parent, child).filter { $0 != $1 }.count == 1 }, "a child is one mutation away from a parent")
        }
    }

    /// The frontier is exactly the non-dominated set, and NSGA-II's fronts partition the points.
    func testParetoFrontier() {
        let random = RandomGenerator(seed: 17)
        var sizes: [Int] = []
        for _ in 0..<20 {
            let points = (0..<40).map { _ in [Double(random.uniformInt(10)), Double(random.uniformInt(10))] }
            let frontier = Set(Pareto.frontier(points))
            sizes.append(frontier.count)
            for i in points.indices {
                let dominated = points.indices.contains { Pareto.dominates(points[$0], points[i]) }
                XCTAssertEqual(frontier.contains(i), !dominated)
            }
            let fronts = Pareto.fronts(points)
            XCTAssertEqual(Set(fronts[0]), frontier)
            XCTAssertEqual(fronts.flatMap { $0 }.sorted(), Array(points.indices))
        }
        // The draws make fronts of several sizes, none the whole set: the check above compared real partitions.
        XCTAssertGreaterThan(Set(sizes).count, 1)
        XCTAssertTrue(sizes.allSatisfy { $0 >= 1 && $0 < 40 }, "\(sizes)")
    }

    /// Rank correlations on samples worked out by hand.
    func testRankCorrelations() {
        // y's ranks are x's with the last two swapped: d^2 sums to 2, rho = 1 - 6 * 2 / (5 * 24) = 0.9;
        // 9 concordant pairs and 1 discordant of 10: tau = 0.8.
        let x: [Double] = [1, 2, 3, 4, 5], y: [Double] = [10, 20, 30, 50, 40]
        XCTAssertEqual(Statistics.spearman(x, y), 0.9, accuracy: 1e-12)
        XCTAssertEqual(Statistics.kendallTau(x, y), 0.8, accuracy: 1e-12)
        XCTAssertEqual(Statistics.spearman(x, x.map { -$0 }), -1, accuracy: 1e-12)
        // Ties: y = [1, 1, 2, 3]: 5 concordant, 0 discordant, one tie in y: tau-b = 5 / sqrt(6 * 5).
        XCTAssertEqual(Statistics.kendallTau([1, 2, 3, 4], [1, 1, 2, 3]), 5 / (30.0).squareRoot(), accuracy: 1e-12)
        // Ranks 1.5, 1.5, 3, 4 against 1..4: Pearson of the ranks = 0.9486832980505138.
        XCTAssertEqual(Statistics.spearman([1, 2, 3, 4], [1, 1, 2, 3]), 0.9486832980505138, accuracy: 1e-12)
        XCTAssertTrue(Statistics.spearman([1, 2, 3], [4, 4, 4]).isNaN)
        // The interval holds the estimate and is reproducible from the seed.
        let a: [Double] = (0..<20).map { Double($0) }, b = a.enumerated().map { $0.element + Double(($0.offset * 7) % 5) * 2 }
        let c = RankCorrelation(a, b, resamples: 500, seed: 3)
        XCTAssertEqual(c, RankCorrelation(a, b, resamples: 500, seed: 3))
        XCTAssertLessThanOrEqual(c.spearmanInterval[0], c.spearman)
        XCTAssertGreaterThanOrEqual(c.spearmanInterval[1], c.spearman)
        XCTAssertLessThan(c.spearmanInterval[0], c.spearmanInterval[1])
    }

    /// Non-dominated sorting and crowding on fronts worked out by hand (both costs minimised).
    func testRankingByFrontAndCrowding() {
        // A(1,5) B(2,3) C(4,1) are non-dominated; D(3,4) is dominated by B only, F(2,6) by A only; E(5,5) by D.
        let points: [[Double]] = [[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 6]]
        XCTAssertEqual(Pareto.fronts(points), [[0, 1, 2], [3, 5], [4]])
        // B's crowding: (4 - 1) / 3 on the first cost plus (5 - 1) / 4 on the second; the ends are infinite.
        let crowding = Pareto.crowding(points, front: [0, 1, 2])
        XCTAssertEqual(crowding[1]!, 2, accuracy: 1e-12)
        XCTAssertEqual(crowding[0], .infinity)
        XCTAssertEqual(crowding[2], .infinity)
        let ranking = Pareto.ranking(points)
        XCTAssertEqual(ranking.map(\.index), [0, 2, 1, 3, 5, 4])
        XCTAssertEqual(ranking.map(\.front), [0, 0, 0, 1, 1, 2])

        // Four points on one front: the inner ones get 0.3 + 0.7 and 0.9 + 0.6.
        let line: [[Double]] = [[0, 10], [1, 6], [3, 3], [10, 0]]
        let distances = Pareto.crowding(line, front: [0, 1, 2, 3])
        XCTAssertEqual(distances[1]!, 1.0, accuracy: 1e-12)
        XCTAssertEqual(distances[2]!, 1.5, accuracy: 1e-12)
        XCTAssertEqual(Pareto.ranking(line).map(\.index), [0, 3, 2, 1])

        // One objective: plain sorting by cost.
        XCTAssertEqual(Pareto.ranking([[3], [1], [2], [5]]).map(\.index), [1, 2, 0, 3])
    }
}
