import Architecture
import CZlib
import Engine
import Foundation
import Metrics
import Search
import Statistics

/// A replay benchmark of the search strategies: every candidate of a space evaluated once and kept in a table
/// (an `efsearch export` CSV, gzip-compressed), each strategy run against it with many seeds, and the hypervolume
/// it reached after each budget, as a fraction of the whole table's.
///
/// Two tables are shipped, both of every candidate of `searchspaces/tiny.yaml`: `benchmarks/tiny-naswot-macs.csv.gz`
/// (NASWOT at estimate fidelity, `scripts/make_strategy_table.sh`) and `benchmarks/tiny-digits-accuracy-macs.csv.gz`
/// (accuracy after a 2-epoch training on real handwritten digits, `scripts/make_digits_table.sh`); the objectives
/// are the table's metric (maximised) and MACs. Candidates run in generations of 10, as `efsearch nas
/// --generation 10` runs them; a duplicate (another genotype of a network already proposed) is rejected as the
/// search driver rejects it. The reference point is the whole table's front's nadir (its worst value of each
/// cost), as in issue 35's baseline.
struct StrategyBenchmark {
    struct Row { var value: Double, macs: Double, params: Double }

    /// The modelled objective (maximised): naswot or accuracy.
    let metric: Metric
    let space: SearchSpace
    /// The table's rows by candidate key.
    let rows: [String: Row]
    /// Each genotype's candidate key (nil: no valid network).
    let keys: [Genotype: String]
    let reference: [Double]
    let wholeVolume: Double

    /// Costs to minimise, or nil for a candidate that breaks the space's constraints.
    func costs(_ values: MetricValues) -> [Double]? {
        guard space.constraints.allSatisfy({ $0.holds(values) }) else { return nil }
        return [-values[metric]!, values[.macs]!]
    }

    func values(_ row: Row) -> MetricValues { MetricValues([metric: row.value, .macs: row.macs, .params: row.params]) }

    init(space path: String, table: String, metric: Metric) throws {
        let space = try SearchSpace.load(path: path)
        self.space = space
        self.metric = metric
        let rows = try StrategyBenchmark.readTable(table, metric: metric)
        self.rows = rows
        var keys: [Genotype: String] = [:]
        var grid = GridStrategy(dimensions: space.dimensions)
        while true {
            let batch = grid.propose(1000) { _ in true }
            if batch.isEmpty { break }
            for genotype in batch {
                guard let network = try? space.network(for: genotype).resolve() else { continue }
                keys[genotype] = SearchSpace.key(network)
            }
        }
        self.keys = keys
        let missing = Set(keys.values).subtracting(rows.keys)
        guard missing.isEmpty else {
            throw NSError(domain: "strategies", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(table) lacks \(missing.count) candidates of the space, e.g. \(missing.first!); make it again"])
        }
        let all = Set(keys.values).sorted().compactMap { key -> [Double]? in
            let row = rows[key]!
            let values = MetricValues([metric: row.value, .macs: row.macs, .params: row.params])
            return space.constraints.allSatisfy { $0.holds(values) } ? [-row.value, row.macs] : nil
        }
        let front = Pareto.frontier(all).map { all[$0] }
        let reference = (0..<2).map { d in front.map { $0[d] }.max()! }
        self.reference = reference
        wholeVolume = Pareto.hypervolume(front, reference: reference)
    }

    /// The rows of an `efsearch export` candidates CSV (gzip), by candidate key (arch, resolution, stem, head).
    static func readTable(_ path: String, metric: Metric) throws -> [String: Row] {
        guard let file = gzopen(path, "rb") else { throw NSError(domain: "strategies", code: 2, userInfo: [NSLocalizedDescriptionKey: "cannot open \(path)"]) }
        defer { gzclose(file) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = gzread(file, &buffer, UInt32(buffer.count))
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<Int(n)])
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        let header = splitCSV(lines[0])
        func column(_ name: String) -> Int { header.firstIndex(of: name)! }
        let (arch, resolution, stem, head) = (column("arch"), column("resolution"), column("stem"), column("head"))
        let (value, macs, params) = (column(metric.key), column("macs"), column("params"))
        var rows: [String: Row] = [:]
        for line in lines.dropFirst() {
            let fields = splitCSV(line)
            guard let v = Double(fields[value]), let m = Double(fields[macs]), let p = Double(fields[params]) else { continue }
            rows["\(fields[arch])@\(fields[resolution])px/stem\(fields[stem])/head\(fields[head])"] = Row(value: v, macs: m, params: p)
        }
        return rows
    }

    /// A CSV line's fields (RFC 4180 quotes).
    static func splitCSV(_ line: String) -> [String] {
        var fields: [String] = [], field = "", quoted = false
        var characters = Array(line)[...]
        while let c = characters.popFirst() {
            if quoted {
                if c == "\"" { if characters.first == "\"" { field.append("\""); characters.removeFirst() } else { quoted = false } } else { field.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { fields.append(field); field = "" } else { field.append(c) }
        }
        fields.append(field)
        return fields
    }

    /// The hypervolume fractions a strategy reaches after each of `budgets` evaluations.
    func replay(_ strategy: inout some SearchStrategy, budgets: [Int]) -> [Double] {
        var seen: Set<String> = [], points: [[Double]] = [], fractions: [Double] = []
        var id = 0
        var remaining = budgets.sorted()
        while let next = remaining.first {
            if points.count >= next {
                fractions.append(Pareto.hypervolume(points.compactMap { $0 }, reference: reference) / wholeVolume)
                remaining.removeFirst()
                continue
            }
            let batch = strategy.propose(min(10, next - points.count)) { genotype in keys[genotype].map { seen.insert($0).inserted } ?? false }
            if batch.isEmpty {  // the space is exhausted
                fractions += remaining.map { _ in Pareto.hypervolume(points, reference: reference) / wholeVolume }
                break
            }
            strategy.observe(batch.map { genotype in
                id += 1
                let values = self.values(rows[keys[genotype]!]!)
                if let cost = costs(values) { points.append(cost) } else { points.append([.infinity, .infinity]) }
                return Observation(id: id, genotype: genotype, metrics: values)
            })
        }
        return fractions
    }
}

/// The free objectives as `nas --strategy bo` sees them here: MACs from the table (the cost model's figure),
/// the table's metric modelled.
extension StrategyBenchmark {
    var freeObjectives: FreeObjectives {
        FreeObjectives(
            isFree: [false, true],
            assess: { genotype in
                guard let key = keys[genotype], let row = rows[key] else { return nil }
                return Assessment(costs: [0, row.macs], features: [log(row.macs), log(row.params)],
                                  feasible: space.constraints.allSatisfy { $0.holds(values(row)) })
            },
            modelled: { [metric] values in values[metric].map { [-$0] } })
    }
}

func benchmarkStrategies() throws {
    BLAS.setThreads(1)  // the models' matrices are small: OpenBLAS's threads would only wait on each other
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for (file, metric) in [("tiny-naswot-macs.csv.gz", Metric.naswot), ("tiny-digits-accuracy-macs.csv.gz", .accuracy)] {
        let table = root.appendingPathComponent("benchmarks/\(file)").path
        guard FileManager.default.fileExists(atPath: table) else {
            print("strategies: \(table) is missing")
            continue
        }
        let bench = try StrategyBenchmark(space: root.appendingPathComponent("searchspaces/tiny.yaml").path, table: table, metric: metric)
        try bench.run(file: file, only: ProcessInfo.processInfo.environment["STRATEGIES"]?.split(separator: ",").map(String.init))
    }
}

extension StrategyBenchmark {
    func run(file: String, only: [String]?) throws {
        let bench = self
        let budgets = [12, 25, 50, 100, 200], seeds = UInt64(1)...UInt64(ProcessInfo.processInfo.environment["SEEDS"].flatMap { Int($0) } ?? 20)
        print("strategies: benchmarks/\(file), searchspaces/tiny.yaml, \(Set(bench.keys.values).count) distinct candidates, objectives \(metric.name):max,macs:min, "
              + "constraint \(bench.space.constraints.map(\.description).joined(separator: ", ")); generations of 10; \(seeds.count) seeds")
        print("  hypervolume reached, fraction of the whole table's (reference: its front's nadir, \(metric.name) \(String(format: "%.4g", -bench.reference[0])), macs \(Int(bench.reference[1]))): median [25%, 75%]")
        print("  strategy    " + budgets.map { "\($0) evaluations".padding(toLength: 24, withPad: " ", startingAt: 0) }.joined())
        let dimensions = bench.space.dimensions
        let costs = { (values: MetricValues) in bench.costs(values) }
        let fitness = { (values: MetricValues) -> Double? in bench.costs(values).map { -$0[0] } }
        let makers: [(String, (UInt64) throws -> any SearchStrategy)] = [
            ("random", { RandomStrategy(dimensions: dimensions, seed: $0) }),
            ("sobol", { try SobolStrategy(dimensions: dimensions, seed: $0) }),
            ("evolution", { EvolutionStrategy(dimensions: dimensions, seed: $0, population: 8, sample: 3, mutationProbability: 0.1, fitness: fitness) }),
            ("nsga2", { NSGA2Strategy(dimensions: dimensions, seed: $0, population: 8, mutationProbability: 0.1, costs: costs) }),
            ("tpe", { TPEStrategy(dimensions: dimensions, seed: $0, startup: 10, costs: costs) }),
            ("bo", { BayesianStrategy(dimensions: dimensions, seed: $0, startup: 10, problem: bench.freeObjectives, costs: costs) }),
        ]
        for (name, make) in makers where only?.contains(name) ?? true {
            var results = [[Double]](repeating: [], count: budgets.count)
            let elapsed = try seconds {
                for seed in seeds {
                    var strategy = try make(seed)
                    for (index, fraction) in bench.replay(&strategy, budgets: budgets).enumerated() { results[index].append(fraction) }
                }
            }
            let cells = results.map { values -> String in
                let sorted = values.sorted()
                return String(format: "%.3f [%.3f, %.3f]    ", Statistics.median(sorted), Statistics.quantile(sorted, 0.25), Statistics.quantile(sorted, 0.75))
            }
            print("  " + name.padding(toLength: 12, withPad: " ", startingAt: 0) + cells.joined() + String(format: "(%.1f s)", elapsed))
        }
    }
}
