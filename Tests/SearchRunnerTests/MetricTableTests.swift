import Foundation
import Metrics
import Search
import SearchRunner
import Store
import StoreBackends
import XCTest

/// A metric added the way docs/contributing.md says (a line in the table, then the code that computes it) reaches
/// the store, the objectives, the export and the report with nothing else changed. The fixture adds `energy_mj`.
final class MetricTableTests: XCTestCase {
    static let energy = Metric(name: "energy_mj", unit: "mJ", direction: .minimize)
    static let table = MetricTable.standard.adding(energy)

    /// The fixture's "code that computes it": a made-up energy model from the cost model's figures.
    static func energy(of candidate: CandidateRecord) -> Double { 2e-9 * Double(candidate.macs) + 1e-8 * Double(candidate.memoryBytes) }

    func testAMetricAddedToTheTableReachesTheStoreObjectivesExportAndReport() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-metric-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("efsearch.sqlite").path

        // A store made before the metric existed, with a run of 12 candidates on estimates.
        let configuration: RunConfiguration
        do {
            let store = try SQLiteStore(path: path)
            let catalog = RunCatalog(store: store) { _ in }
            let space = URL(fileURLWithPath: RunCatalogTests.tiny).deletingLastPathComponent().appendingPathComponent("efficientnet-b0.yaml").path
            let plan = NasPlan(space: try StoredSpace.read(path: space), strategy: .random, budget: 12, objectives: [Objective(metric: .macs)],
                               constraints: [], reward: nil, fidelity: .estimate, latency: .estimate, generation: 12, population: 8, sample: 3, mutation: 0.1)
            configuration = RunConfiguration(seed: 5, proxy: ProxyTask(dataset: .synthetic(), subset: nil, epochs: 1, batch: 8, lr: 0.1, threads: 1), plan: .nas(plan))
            let record = try catalog.create(name: "before", configuration: configuration, command: "test", version: "test")
            try SearchDriver(store: store, run: record, configuration: configuration, grace: 60, machine: .developmentMachine) { _ in }.execute()
        }

        // Opened with the longer table, the store gains the column by the metric's own migration; an efsearch without
        // the metric then refuses the store as newer, instead of dropping the figures it cannot name.
        let store = try SQLiteStore(path: path, metrics: Self.table)
        XCTAssertEqual(StoreSchema.migrations(for: Self.table).last, "metric energy_mj")
        XCTAssertThrowsError(try SQLiteStore(path: path)) { XCTAssertTrue("\($0)".contains("newer efsearch"), "\($0)") }
        let before = try XCTUnwrap(try store.run(named: "before"))
        let old = try store.candidates(runId: before.id!)
        XCTAssertEqual(old.count, 12)
        XCTAssertTrue(old.allSatisfy { $0.metrics[Self.energy] == nil }, "an old candidate has no value, not a zero")

        // Candidates with the new figure are stored and read back with it, by whole records and by the frontier's query.
        var measured = old
        for index in measured.indices { measured[index].metrics[Self.energy] = Self.energy(of: measured[index]) }
        var renamed = before
        renamed.name = "after"
        let after = try store.importRun(renamed, candidates: measured, observations: [], replacing: nil)
        let stored = try store.candidates(runId: after.id!)
        XCTAssertEqual(stored.map { $0.metrics[Self.energy] }, measured.map { $0.metrics[Self.energy] })
        XCTAssertEqual(try store.finishedMetrics(runId: after.id!).map { $0.values[Self.energy] }, measured.map { $0.metrics[Self.energy] })

        // Objectives and constraints name it; its direction is the table's.
        let objectives = try Objective.list(parsing: "energy_mj, params", in: Self.table)
        XCTAssertEqual(objectives.map(\.description), ["energy_mj", "params"])
        XCTAssertThrowsError(try Objective(parsing: "energy_mj")) { XCTAssertTrue("\($0)".contains("unknown objective"), "\($0)") }
        let bound = measured.map { Self.energy(of: $0) }.sorted()[6]
        let constraint = try Constraint(parsing: "energy_mj<=\(bound)", in: Self.table)
        XCTAssertEqual(stored.filter { constraint.holds($0.metrics) }.count, 7)
        // The frontier on (energy, params), from the objectives, against the non-dominated set worked out by hand.
        let costs = stored.map { candidate in objectives.map { $0.cost(candidate.metrics)! } }
        let frontier = Set(Pareto.frontier(costs))
        for (i, candidate) in stored.enumerated() {
            let (e, p) = (Self.energy(of: candidate), candidate.params)
            let dominated = stored.contains { other in
                let (e2, p2) = (Self.energy(of: other), other.params)
                return e2 <= e && p2 <= p && (e2 < e || p2 < p)
            }
            XCTAssertEqual(frontier.contains(i), !dominated, "candidate \(candidate.id!)")
        }

        // The export has its column, after the standard metrics, with each candidate's value.
        let exported = directory.appendingPathComponent("export").path
        try RunExport.write(store: store, run: after, configuration: configuration, format: .csv, directory: exported, metrics: Self.table)
        let lines = try String(contentsOfFile: exported + "/candidates.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let column = try XCTUnwrap(lines[0].firstIndex(of: "energy_mj"))
        XCTAssertEqual(column, lines[0].firstIndex(of: "supernet")! + 1)
        XCTAssertEqual(lines.dropFirst().map { Double($0[column])! }, measured.map { $0.metrics[Self.energy]! })
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exported + "/run.json"))) as! [String: Any]
        XCTAssertTrue((run["columns"] as! [String]).contains("energy_mj"))

        // The report offers it as an axis (name, label, direction) and carries each row's value in its place.
        let report = RunReport(store: store, run: after, configuration: configuration, machine: .developmentMachine, metrics: Self.table)
        let data = try JSONSerialization.jsonObject(with: Data(try report.data().utf8)) as! [String: Any]
        let metrics = data["metrics"] as! [[String: Any]]
        let index = try XCTUnwrap(metrics.firstIndex { $0["name"] as? String == "energy_mj" })
        XCTAssertEqual(metrics[index]["label"] as? String, "energy_mj mJ")
        XCTAssertEqual(metrics[index]["better"] as? String, "min")
        let rows = data["rows"] as! [[Any]]
        XCTAssertEqual(rows.count, measured.count)
        for (row, candidate) in zip(rows, measured) {
            // The page's numbers have 7 significant digits.
            let value = try XCTUnwrap(row[2 + index] as? Double), expected = candidate.metrics[Self.energy]!
            XCTAssertEqual(value, expected, accuracy: 1e-6 * expected)
        }
    }
}
