import Cost
import Foundation
import Search
import SearchRunner
import Store
import StoreBackends
import XCTest

/// Runs keep their own definition: configurations round-trip, old stores are brought up to date once, resumes
/// that change settings are refused, and stored genotypes and grid points are read strictly.
final class RunCatalogTests: XCTestCase {
    var directory: URL!
    var store: (any Store)!
    var warnings: [String] = []
    var catalog: RunCatalog { RunCatalog(store: store) { [unowned self] in warnings.append($0) } }
    static let tiny = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("searchspaces/tiny.yaml").path

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-runs-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory.appendingPathComponent("efsearch.sqlite").path)
        warnings = []
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func nasConfiguration(space path: String = tiny) throws -> RunConfiguration {
        let plan = NasPlan(space: try StoredSpace.read(path: path), strategy: .random, budget: 5, objectives: [Objective(metric: .macs), Objective(metric: .params)], constraints: [],
                           reward: nil, fidelity: .estimate, latency: .estimate, generation: 5, population: 8, sample: 3, mutation: 0.1)
        try plan.validate()
        return RunConfiguration(seed: 7, proxy: ProxyTask(dataset: .synthetic(3000), subset: nil, epochs: 3, batch: 64, lr: 0.05, threads: 2),
                                plan: .nas(plan))
    }

    /// A run made by efsearch 0.1.0 stored a flat configuration with the space's path only.
    func legacyJSON(kind: String, space: String) -> String {
        """
        {"kind":"\(kind)","space":"\(space)","strategy":"random","budget":4,"objectives":["macs"],"constraints":[],"fidelity":"estimate",
         "latency":"estimate","seed":3,"generation":4,"population":8,"sample":3,"mutation":0.1,"dataset":"synthetic:3000","epochs":3,
         "batch":64,"lr":0.05,"threads":2,"gridBase":"efficientnet-b0","proxyWidth":0.25,"proxyDepth":0.25,"proxyResolution":64,"phi":1}
        """
    }

    func testConfigurationRoundTripsWithTheSpaceText() throws {
        let configuration = try nasConfiguration()
        let run = try catalog.create(name: "r", configuration: configuration, command: "test", version: "test")
        let (record, stored) = try catalog.open("r")
        XCTAssertEqual(record.id, run.id)
        XCTAssertEqual(try stored.encoded(), try configuration.encoded())
        guard case .nas(let plan) = stored.plan else { return XCTFail("a nas plan") }
        XCTAssertEqual(plan.space.text, try String(contentsOfFile: Self.tiny, encoding: .utf8))
        XCTAssertEqual(plan.space.sha256.count, 64)
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        XCTAssertEqual(StoredSpace.hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(try plan.space.parse().dimensions, try SearchSpace.load(path: Self.tiny).dimensions)
        XCTAssertEqual(warnings, [])
    }

    func testUnknownRunListsTheRuns() throws {
        _ = try catalog.create(name: "first", configuration: try nasConfiguration(), command: "test", version: "test")
        XCTAssertThrowsError(try catalog.open("second")) { error in
            XCTAssertTrue(error is RunError)
            XCTAssertTrue("\(error)".contains("no such run; runs: first"), "\(error)")
        }
    }

    func testLegacyNasRunReadsItsSpaceOnceThenKeepsIt() throws {
        let copy = directory.appendingPathComponent("space.yaml")
        try FileManager.default.copyItem(atPath: Self.tiny, toPath: copy.path)
        let run = try store.createRun(RunRecord(name: "old", command: "", config: legacyJSON(kind: "nas", space: copy.path), seed: 3, version: "0.1.0", machine: ""))
        let configuration = try catalog.configuration(of: run)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("efsearch 0.1.0") && warnings[0].contains(copy.path), warnings[0])
        guard case .nas(let plan) = configuration.plan else { return XCTFail("a nas plan") }
        XCTAssertEqual(plan.strategy, .random)
        XCTAssertEqual(plan.budget, 4)
        XCTAssertEqual(configuration.seed, 3)
        // The upgrade is stored: the file can change or go, the run keeps what was read.
        try FileManager.default.removeItem(at: copy)
        let again = try catalog.configuration(of: try XCTUnwrap(store.run(named: "old")))
        XCTAssertEqual(warnings.count, 1, "no second warning")
        XCTAssertEqual(try again.encoded(), try configuration.encoded())
    }

    func testLegacyNasRunWithoutItsFileIsRefusedNamingIt() throws {
        let missing = directory.appendingPathComponent("gone.yaml").path
        let run = try store.createRun(RunRecord(name: "old", command: "", config: legacyJSON(kind: "nas", space: missing), seed: 3, version: "0.1.0", machine: ""))
        XCTAssertThrowsError(try catalog.configuration(of: run)) { error in
            XCTAssertTrue(error is RunError)
            XCTAssertTrue("\(error)".contains(missing), "\(error)")
        }
    }

    func testLegacyGridRunRecoversItsPointsFromItsCandidates() throws {
        let run = try store.createRun(RunRecord(name: "grid", command: "", config: legacyJSON(kind: "grid", space: ""), seed: 3, version: "0.1.0", machine: ""))
        let points = [GridPoint(alpha: 1.2, beta: 1.1, gamma: 1.15, flopsRatio: 1.9), GridPoint(alpha: 1, beta: 1, gamma: 1.4, flopsRatio: 2)]
        try store.insert(try points.enumerated().map { index, point in
            var record = CandidateRecord(runId: run.id!, key: "k\(index)", generation: 0, genotype: "[]", arch: "cn_r1_k3_s1_c8", width: 1,
                                         depth: 1, resolution: 64, stem: 8, head: 8, seed: 1)
            record.extra = try GridPointCoding.encode(point)
            return record
        })
        let configuration = try catalog.configuration(of: run)
        guard case .grid(let plan) = configuration.plan else { return XCTFail("a grid plan") }
        XCTAssertEqual(plan.points.map(\.alpha), [1.2, 1])
        XCTAssertNil(plan.axes, "the axes were not stored and are not invented")
        XCTAssertEqual(plan.proxyResolution, 64)
        XCTAssertEqual(plan.fidelity, .estimate)
    }

    func testGridPlanRanksByLossOnlyWhenItSaysSo() throws {
        let run = try store.createRun(RunRecord(name: "grid", command: "", config: "{}", seed: 3, version: "", machine: ""))
        // Point a has the better accuracy, point b the lower validation loss.
        let points = [GridPoint(alpha: 1.2, beta: 1.1, gamma: 1.15), GridPoint(alpha: 1, beta: 1, gamma: 1.4)]
        let candidates = try store.insert(try points.enumerated().map { index, point in
            var record = CandidateRecord(runId: run.id!, key: "k\(index)", generation: 0, genotype: "[]", arch: "cn_r1_k3_s1_c8", width: 1,
                                         depth: 1, resolution: 64, stem: 8, head: 8, seed: 1)
            record.extra = try GridPointCoding.encode(point)
            record.status = .done
            record.accuracy = [0.4, 0.3][index]
            return record
        })
        try store.insert(observations: candidates.enumerated().map { index, candidate in
            ObservationRecord(runId: run.id!, candidateId: candidate.id!, rung: 0, epochs: 1, accuracy: [0.4, 0.3][index], top5: 1,
                              loss: [2.1, 1.9][index], trainSeconds: 1)
        })
        var plan = GridPlan(base: "efficientnet-b0", proxyWidth: 1, proxyDepth: 1, proxyResolution: 64, phi: 1, axes: nil, points: points,
                            fidelity: .train)
        XCTAssertEqual(try GridRanking.ranked(store: store, runId: run.id!, plan: plan).map(\.point.alpha), [1, 1.2], "by loss first")
        plan.ranksByLoss = nil
        XCTAssertEqual(try GridRanking.ranked(store: store, runId: run.id!, plan: plan).map(\.point.alpha), [1.2, 1],
                       "a plan stored before the rule ranks by accuracy")
        XCTAssertEqual(plan.rankingLosses { XCTFail("not read for a plan that ranks by accuracy"); return [1: 1] }, [:])
    }

    func testNewerFormatAndCorruptConfigurationsAreRefused() throws {
        let newer = try store.createRun(RunRecord(name: "newer", command: "", config: #"{"format": 9}"#, seed: 0, version: "9", machine: ""))
        XCTAssertThrowsError(try catalog.configuration(of: newer)) { XCTAssertTrue("\($0)".contains("format 9"), "\($0)") }
        let corrupt = try store.createRun(RunRecord(name: "corrupt", command: "", config: "not json", seed: 0, version: "", machine: ""))
        XCTAssertThrowsError(try catalog.configuration(of: corrupt)) { XCTAssertTrue("\($0)".contains("not JSON"), "\($0)") }
        let badStrategy = try store.createRun(RunRecord(name: "bad", command: "", config: legacyJSON(kind: "nas", space: Self.tiny).replacingOccurrences(of: "\"random\"", with: "\"annealing\""), seed: 0, version: "", machine: ""))
        XCTAssertThrowsError(try catalog.configuration(of: badStrategy)) { XCTAssertTrue("\($0)".contains("annealing"), "\($0)") }
    }

    func testResumeCheckNamesEveryDifference() {
        var check = ResumeCheck()
        check.compare("--budget", given: 12, stored: 12)
        check.compare("--seed", given: nil, stored: UInt64(3))
        XCTAssertNoThrow(try check.verify(store: "s", run: "r"), "equal or absent flags are fine")
        check.compare("--budget", given: 20, stored: 12)
        check.compare("--fidelity", given: Fidelity.train, stored: .estimate)
        check.compare("--subset", given: 500, stored: nil)
        XCTAssertThrowsError(try check.verify(store: "s", run: "r")) { error in
            let text = "\(error)"
            for part in ["--budget 20 differs from the stored 12", "--fidelity train differs from the stored estimate", "--subset 500 differs from the stored (none)"] {
                XCTAssertTrue(text.contains(part), text)
            }
        }
    }

    func testGridAxesEnumerateExactlyThePointsWithinTheTolerance() {
        let axes = GridAxes(step: 0.1, alphaMax: 1.4, betaMax: 1.3, gammaMax: 1.3, tolerance: 0.1)
        let points = axes.points
        var expected = 0
        for a in 0...4 { for b in 0...3 { for g in 0...3 {
            let (alpha, beta, gamma) = (1 + 0.1 * Double(a), 1 + 0.1 * Double(b), 1 + 0.1 * Double(g))
            if abs(alpha * beta * beta * gamma * gamma - 2) <= 0.1 { expected += 1 }
        } } }
        XCTAssertGreaterThan(expected, 0)
        XCTAssertEqual(points.count, expected)
        XCTAssertTrue(points.allSatisfy { abs($0.product - 2) <= 0.1 + 1e-9 })
        XCTAssertEqual(Set(points.map { "\($0.alpha) \($0.beta) \($0.gamma)" }).count, points.count)
        XCTAssertEqual(GridAxes(step: 0.1, alphaMax: 1, betaMax: 1, gammaMax: 1, tolerance: 0.1).points.count, 0)
    }

    func testStoredGenotypesAndPointsAreReadStrictly() throws {
        XCTAssertEqual(try GenotypeCoding.decode(GenotypeCoding.encode([3, 0, 12])), [3, 0, 12])
        XCTAssertEqual(try GenotypeCoding.decode("[]"), [])
        for bad in ["[1,x,2]", "1,2", "[1.5]", ""] {
            XCTAssertThrowsError(try GenotypeCoding.decode(bad), bad)
        }
        XCTAssertThrowsError(try GridPointCoding.decode(nil))
        XCTAssertThrowsError(try GridPointCoding.decode(#"{"alpha": 1}"#))
    }

    func testExportRowsQuoteAndOmitAbsentValues() throws {
        var candidate = CandidateRecord(runId: 1, key: "k", generation: 2, genotype: "[0]", arch: "ds_r1_k3_s1_c16,ir_r1_k3_s1_e6_c16", width: 1,
                                        depth: 1, resolution: 32, stem: 8, head: 16, seed: 1)
        candidate.id = 5
        candidate.status = .failed
        candidate.reason = "the loss became nan; \"lower\" it"
        let row = try ExportRow(candidate)
        let fields = row.csvFields
        XCTAssertEqual(fields.count, ExportRow.columns.count)
        XCTAssertEqual(fields[ExportRow.columns.firstIndex(of: "status")!], "failed")
        XCTAssertEqual(fields[ExportRow.columns.firstIndex(of: "accuracy")!], "")
        XCTAssertEqual(fields[ExportRow.columns.firstIndex(of: "arch")!], "\"ds_r1_k3_s1_c16,ir_r1_k3_s1_e6_c16\"")
        XCTAssertEqual(fields[ExportRow.columns.firstIndex(of: "reason")!], "\"the loss became nan; \"\"lower\"\" it\"")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(row)) as! [String: Any]
        XCTAssertNil(json["accuracy"], "absent values are left out of the JSON")
        XCTAssertEqual(json["latency_estimate_ms"] as? Double, 0)
        XCTAssertEqual(Set(json.keys).subtracting(ExportRow.columns), [])
    }
}

/// The driver in-process (so the debug test pass runs its invariants): a search on estimates and its frontier.
final class SearchDriverTests: XCTestCase {
    func testEstimateSearchAndItsFrontier() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-driver-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("efsearch.sqlite").path)
        let catalog = RunCatalog(store: store) { _ in }
        let space = URL(fileURLWithPath: RunCatalogTests.tiny).deletingLastPathComponent().appendingPathComponent("efficientnet-b0.yaml").path
        let plan = NasPlan(space: try StoredSpace.read(path: space), strategy: .nsga2, budget: 120, objectives: [Objective(metric: .macs), Objective(metric: .params)], constraints: [],
                           reward: nil, fidelity: .estimate, latency: .estimate, generation: 40, population: 20, sample: 3, mutation: 0.2)
        let configuration = RunConfiguration(seed: 11, proxy: ProxyTask(dataset: .synthetic(), subset: nil, epochs: 1, batch: 8, lr: 0.1, threads: 1),
                                             plan: .nas(plan))
        var logged: [String] = []
        func search(_ name: String) throws -> [CandidateRecord] {
            let record = try catalog.create(name: name, configuration: configuration, command: "test", version: "test")
            try SearchDriver(store: store, run: record, configuration: configuration, grace: 60, machine: .developmentMachine) { logged.append($0) }.execute()
            return try store.candidates(runId: record.id!)
        }
        let whole = try search("whole")
        XCTAssertEqual(whole.count, 120)
        XCTAssertTrue(whole.allSatisfy { $0.status == .done })
        XCTAssertEqual(try store.run(named: "whole")?.status, .done)
        // The frontier is the non-dominated set of the (feasible) candidates on (macs, params).
        let feasible = whole.filter { $0.macs <= 400_000_000 }
        for candidate in whole {
            let dominated = feasible.contains { other in
                other.macs <= candidate.macs && other.params <= candidate.params && (other.macs, other.params) != (candidate.macs, candidate.params)
            }
            XCTAssertEqual(candidate.onFrontier, candidate.macs <= 400_000_000 && !dominated, "candidate \(candidate.id!)")
        }
        XCTAssertTrue(whole.contains(where: \.onFrontier))
        XCTAssertEqual(logged.filter { $0.hasPrefix("generation") }.count, 3)
    }

    /// TPE and BO through the driver: the same seed gives the same candidates in the same order, and the
    /// frontier is the non-dominated set.
    func testModelBasedSearchesRepeatWithTheirSeed() throws {
        for strategy in [StrategyKind.tpe, .bo] {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-tpe-\(UUID())")
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try SQLiteStore(path: directory.appendingPathComponent("efsearch.sqlite").path)
            let catalog = RunCatalog(store: store) { _ in }
            var plan = NasPlan(space: try StoredSpace.read(path: RunCatalogTests.tiny), strategy: strategy, budget: 40,
                               objectives: [Objective(metric: .naswot), Objective(metric: .macs)],
                               constraints: [], reward: nil, fidelity: .estimate, latency: .estimate, generation: 10, population: 8, sample: 3, mutation: 0.1)
            plan.startup = 10
            let configuration = RunConfiguration(seed: 4, proxy: ProxyTask(dataset: .synthetic(), subset: nil, epochs: 1, batch: 8, lr: 0.1, threads: 1), plan: .nas(plan))
            func search(_ name: String) throws -> [CandidateRecord] {
                let record = try catalog.create(name: name, configuration: configuration, command: "test", version: "test")
                try SearchDriver(store: store, run: record, configuration: configuration, grace: 60, machine: .developmentMachine) { _ in }.execute()
                return try store.candidates(runId: record.id!)
            }
            let (a, b) = (try search("a-\(strategy)"), try search("b-\(strategy)"))
            XCTAssertEqual(a.count, 40)
            XCTAssertEqual(a.map(\.key), b.map(\.key))
            XCTAssertEqual(a.map(\.onFrontier), b.map(\.onFrontier))
            for candidate in a {
                let (n, m) = (candidate.naswot!, candidate.macs)
                let dominated = a.contains { $0.naswot! >= n && $0.macs <= m && ($0.naswot!, $0.macs) != (n, m) }
                XCTAssertEqual(candidate.onFrontier, !dominated, "\(strategy) candidate \(candidate.id!)")
            }
        }
    }

    /// `--replay RUN`: a search answered from an earlier run's results: a candidate the earlier run has gets its
    /// figures exactly, one it lacks fails with the reason; a replay of a run that does not exist is refused.
    func testReplayAnswersFromAnEarlierRun() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-replay-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("efsearch.sqlite").path)
        let catalog = RunCatalog(store: store) { _ in }
        func plan(_ strategy: StrategyKind, budget: Int, replay: String?) throws -> RunConfiguration {
            var plan = NasPlan(space: try StoredSpace.read(path: RunCatalogTests.tiny), strategy: strategy, budget: budget,
                               objectives: [Objective(metric: .naswot), Objective(metric: .macs)], constraints: [], reward: nil,
                               fidelity: replay == nil ? .estimate : .replay, latency: .estimate, generation: 10, population: 8, sample: 3, mutation: 0.1)
            plan.replay = replay
            try plan.validate()
            return RunConfiguration(seed: 2, proxy: ProxyTask(dataset: .synthetic(), subset: nil, epochs: 1, batch: 8, lr: 0.1, threads: 1), plan: .nas(plan))
        }
        func search(_ name: String, _ configuration: RunConfiguration) throws -> [CandidateRecord] {
            let record = try catalog.create(name: name, configuration: configuration, command: "test", version: "test")
            try SearchDriver(store: store, run: record, configuration: configuration, grace: 60, machine: .developmentMachine) { _ in }.execute()
            return try store.candidates(runId: record.id!)
        }
        let earlier = try search("earlier", try plan(.random, budget: 60, replay: nil))
        let replayed = try search("replayed", try plan(.tpe, budget: 40, replay: "earlier"))
        XCTAssertEqual(replayed.count, 40)
        let known = Dictionary(uniqueKeysWithValues: earlier.map { ($0.key, $0) })
        var missing = 0
        for candidate in replayed {
            if let source = known[candidate.key] {
                XCTAssertEqual(candidate.status, .done)
                XCTAssertEqual(candidate.metrics, source.metrics, candidate.key)
            } else {
                missing += 1
                XCTAssertEqual(candidate.status, .failed)
                XCTAssertEqual(candidate.reason, "not in the replayed run earlier")
            }
        }
        XCTAssertGreaterThan(missing, 0, "60 of 3,456 candidates cannot answer every proposal")
        XCTAssertLessThan(missing, 40)
        XCTAssertThrowsError(try catalog.create(name: "nowhere", configuration: try plan(.tpe, budget: 10, replay: "nosuchrun"), command: "test")) {
            XCTAssertTrue("\($0)".contains("does not exist"), "\($0)")
        }
        let unnamed = NasPlan(space: try StoredSpace.read(path: RunCatalogTests.tiny), strategy: .random, budget: 10, objectives: [Objective(metric: .macs)],
                              constraints: [], reward: nil, fidelity: .replay, latency: .estimate, generation: 10, population: 8, sample: 3, mutation: 0.1)
        XCTAssertThrowsError(try unnamed.validate()) { XCTAssertTrue("\($0)".contains("--replay"), "\($0)") }
    }

    /// `--warm-start RUN`: the strategy first observes an earlier search's finished candidates (TPE then models
    /// from its first generation, instead of drawing at random); a run of another space is refused with the reason.
    func testWarmStartSeedsTheStrategy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-warm-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("efsearch.sqlite").path)
        let catalog = RunCatalog(store: store) { _ in }
        func configuration(_ space: String, strategy: StrategyKind, budget: Int, warmStart: String?) throws -> RunConfiguration {
            var plan = NasPlan(space: try StoredSpace.read(path: space), strategy: strategy, budget: budget, objectives: [Objective(metric: .macs), Objective(metric: .params)],
                               constraints: [], reward: nil, fidelity: .estimate, latency: .estimate, generation: 10, population: 8, sample: 3, mutation: 0.1)
            if strategy == .tpe { plan.startup = 10 }
            plan.warmStart = warmStart
            return RunConfiguration(seed: 6, proxy: ProxyTask(dataset: .synthetic(), subset: nil, epochs: 1, batch: 8, lr: 0.1, threads: 1), plan: .nas(plan))
        }
        func search(_ name: String, _ configuration: RunConfiguration) throws -> [CandidateRecord] {
            let record = try catalog.create(name: name, configuration: configuration, command: "test", version: "test")
            try SearchDriver(store: store, run: record, configuration: configuration, grace: 60, machine: .developmentMachine) { _ in }.execute()
            return try store.candidates(runId: record.id!)
        }
        _ = try search("earlier", try configuration(RunCatalogTests.tiny, strategy: .random, budget: 30, warmStart: nil))
        let cold = try search("cold", try configuration(RunCatalogTests.tiny, strategy: .tpe, budget: 10, warmStart: nil))
        let warm = try search("warm", try configuration(RunCatalogTests.tiny, strategy: .tpe, budget: 10, warmStart: "earlier"))
        let again = try search("again", try configuration(RunCatalogTests.tiny, strategy: .tpe, budget: 10, warmStart: "earlier"))
        XCTAssertNotEqual(cold.map(\.key), warm.map(\.key), "the first generation comes from the model, not the random start-up")
        XCTAssertEqual(warm.map(\.key), again.map(\.key), "a warm start is reproducible")
        let other = URL(fileURLWithPath: RunCatalogTests.tiny).deletingLastPathComponent().appendingPathComponent("efficientnet-b0.yaml").path
        XCTAssertThrowsError(try catalog.create(name: "mismatch", configuration: try configuration(other, strategy: .tpe, budget: 10, warmStart: "earlier"), command: "test")) {
            XCTAssertTrue("\($0)".contains("searched another space"), "\($0)")
        }
    }
}

/// `--validation-fraction` reaches the proxy dataset, is kept with the run, and a resumed run compares it.
final class ProxyFlagsTests: XCTestCase {
    func testValidationFractionReachesTheDatasetAndTheRun() throws {
        var flags = ProxyFlags(dataset: nil, subset: nil, epochs: nil, batch: nil, lr: nil, threads: 1, normalize: nil, cropScale: nil, noFlip: false,
                               skipBadImages: false, rungs: nil, eta: nil, minEpochs: nil, maxEpochs: nil, numerics: nil, validationFraction: 0.3)
        XCTAssertNoThrow(try flags.validate())
        let task = flags.task
        XCTAssertEqual(task.validationFraction, 0.3)
        XCTAssertEqual(try task.datasetSpec().validationFraction, 0.3)
        let stored = try JSONDecoder().decode(ProxyTask.self, from: JSONEncoder().encode(task))
        XCTAssertEqual(stored.validationFraction, 0.3)
        // Left out: the dataset's default, and older runs (no field) decode as that.
        flags.validationFraction = nil
        XCTAssertEqual(try flags.task.datasetSpec().validationFraction, 0.1)
        for bad in [0.0, 1.0, -0.2, .nan] {
            flags.validationFraction = bad
            XCTAssertThrowsError(try flags.validate()) { XCTAssertTrue("\($0)".contains("--validation-fraction"), "\($0)") }
        }
    }
}
