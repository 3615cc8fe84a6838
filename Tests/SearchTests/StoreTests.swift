import Foundation
import GRDB
import Metrics
import Store
@testable import StoreBackends
import Synchronization
import XCTest

/// What every store backend must do, written once and run against each (`SQLiteStoreTests`, `PostgresStoreTests`).
struct StoreContract: Sendable {
    /// A new, empty store; each call opens another connection to the same one.
    let open: @Sendable () throws -> any Store
    /// Adds a migration this efsearch does not know to the store's bookkeeping.
    let addFutureMigration: @Sendable () throws -> Void
    /// How many processes claim at once in the concurrency check.
    let claimers: Int
    /// Opens the same store keeping `table`'s metrics (a test's longer table).
    let openWithMetrics: @Sendable (MetricTable) throws -> any Store

    static func record(_ runId: Int64, _ key: String) -> CandidateRecord {
        CandidateRecord(runId: runId, key: key, generation: 0, genotype: "[]", arch: key, width: 1, depth: 1, resolution: 32, stem: 8, head: 8, seed: 1)
    }

    static func newRun(_ store: any Store, _ name: String = "r") throws -> RunRecord {
        try store.createRun(RunRecord(name: name, command: "test", config: "{}", seed: 1, version: "test", machine: "test"))
    }

    func claimsAreExclusiveAndStaleOnesAreTakenOver() throws {
        let store = try open()
        let run = try Self.newRun(store)
        try store.insert([Self.record(run.id!, "a"), Self.record(run.id!, "b"), Self.record(run.id!, "a")])
        XCTAssertEqual(try store.candidates(runId: run.id!).count, 2, "duplicate keys are skipped")
        let first = try XCTUnwrap(try store.claim(runId: run.id!, worker: "w1", grace: 60))
        let second = try XCTUnwrap(try store.claim(runId: run.id!, worker: "w2", grace: 60))
        XCTAssertNotEqual(first.id, second.id)
        XCTAssertNil(try store.claim(runId: run.id!, worker: "w3", grace: 60))
        // A worker that stopped sending heartbeats loses its candidate after the grace period.
        Thread.sleep(forTimeInterval: 1.1)
        let taken = try XCTUnwrap(try store.claim(runId: run.id!, worker: "w3", grace: 1))
        XCTAssertEqual(taken.id, first.id)
        var finished = first
        finished.status = .done
        finished.accuracy = 0.5
        // w1 no longer holds it: nothing is stored, and the answer says who holds it.
        XCTAssertEqual(try store.complete(finished, worker: "w1"), .lostClaim(heldBy: "w3", status: .running))
        XCTAssertEqual(try store.candidate(id: first.id!)?.status, .running)
        XCTAssertNil(try store.candidate(id: first.id!)?.accuracy)
        XCTAssertFalse(try store.heartbeat(candidateId: first.id!, worker: "w1"), "w1's heartbeat no longer counts")
        XCTAssertTrue(try store.heartbeat(candidateId: first.id!, worker: "w3"))
        XCTAssertEqual(try store.complete(finished, worker: "w3"), .stored)
        XCTAssertEqual(try store.candidate(id: first.id!)?.status, .done)
        XCTAssertEqual(try store.candidate(id: first.id!)?.accuracy, 0.5)
        // Finished: a late completion from anyone is refused.
        XCTAssertEqual(try store.complete(finished, worker: "w3"), .lostClaim(heldBy: "w3", status: .done))
        XCTAssertEqual(try store.counts(runId: run.id!), [.done: 1, .running: 1])
        XCTAssertEqual(try store.integrityCheck(), "ok")
        XCTAssertThrowsError(try store.createRun(RunRecord(name: "r", command: "", config: "{}", seed: 1, version: "", machine: ""))) { error in
            XCTAssertTrue("\(error)".contains("already exists"), "\(error)")
        }
    }

    /// `claimers` connections opened at the same instant claim 200 candidates concurrently: each is claimed
    /// exactly once and nobody fails.
    func concurrentClaimersNeverCollide() throws {
        let store = try open()
        let run = try Self.newRun(store)
        try store.insert((0..<200).map { Self.record(run.id!, "k\($0)") })
        let claimedIds = Mutex<[Int64]>([]), failures = Mutex<[String]>([])
        let runId = run.id!
        DispatchQueue.concurrentPerform(iterations: claimers) { worker in
            do {
                let own = try open()
                while let candidate = try own.claim(runId: runId, worker: "w\(worker)", grace: 600) {
                    var done = candidate
                    done.status = .done
                    guard try own.complete(done, worker: "w\(worker)") == .stored else { throw StoreError(location: own.location, message: "lost a claim") }
                    claimedIds.withLock { $0.append(candidate.id!) }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        let claimed = claimedIds.withLock { $0 }, errors = failures.withLock { $0 }
        XCTAssertEqual(errors, [])
        XCTAssertEqual(claimed.count, 200)
        XCTAssertEqual(Set(claimed).count, 200)
        XCTAssertEqual(try store.counts(runId: run.id!), [.done: 200])
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    /// Every field makes the round trip: extreme integers, doubles that need all 17 digits, NULLs, text with quotes.
    func recordsMakeTheRoundTrip() throws {
        let store = try open()
        var run = RunRecord(name: "it's \"quoted\"", command: "nas --x 'y'", config: "{\"a\": [1, 2]}", seed: Int64.min, version: "v", machine: "m")
        run.createdAt = Date(timeIntervalSince1970: 1_790_000_000.25)
        run = try store.createRun(run)
        var full = Self.record(run.id!, "full")
        full.extra = "{\"alpha\": 1.2}"
        full.params = 1 << 53 - 1  // the largest whole number a metric's value holds exactly
        full.macs = 37_000_000_000
        full.latencyEstimateMs = 0.1 + 0.2
        full.latencyMeasuredMs = 1e-300
        full.latencyPredictedMs = 123_456.789_012_345_67
        full.memoryBytes = 1 << 40
        full.accuracy = 1.0 / 3.0
        full.top5 = 0
        full.trainSeconds = 2.5
        full.checkpoint = "/tmp/x y/1.safetensors"
        full.machine = "AMD EPYC; avx2"
        full.synflow = -.infinity
        full.naswot = 1234.000_000_000_1
        full.seed = Int64.max
        full.rung = 2
        full.status = .pruned
        full.reason = "line one\nline two; DROP TABLE runs"
        full.worker = "host:1"
        full.heartbeatAt = Date(timeIntervalSince1970: 1_790_000_001.5)
        full.createdAt = Date(timeIntervalSince1970: 1_790_000_000.125)
        full.finishedAt = Date(timeIntervalSince1970: 1_790_000_002.75)
        full.onFrontier = true
        let empty = Self.record(run.id!, "empty")
        let inserted = try store.insert([full, empty])
        XCTAssertEqual(inserted.count, 2)
        XCTAssertEqual(try store.candidate(id: inserted[0].id!), inserted[0])
        XCTAssertEqual(try store.candidate(id: inserted[1].id!)?.latencyMeasuredMs, nil)
        XCTAssertEqual(try store.run(named: run.name), run)
        XCTAssertEqual(try store.frontier(runId: run.id!).map(\.key), ["full"])
        XCTAssertEqual(try store.counts(runId: run.id!), [.pruned: 1, .pending: 1])
    }

    /// Successive halving's moves, observations, frontier marks, metrics and removing a run.
    func rungsObservationsFrontierAndDeletion() throws {
        let store = try open()
        let run = try Self.newRun(store)
        let other = try Self.newRun(store, "other")
        let inserted = try store.insert((0..<4).map { Self.record(run.id!, "c\($0)") })
        try store.insert([Self.record(other.id!, "c0")])
        for index in 0..<4 {
            var candidate = try XCTUnwrap(try store.claim(runId: run.id!, worker: "w", grace: 60))
            candidate.status = .done
            candidate.accuracy = Double(index) / 10
            let observation = ObservationRecord(runId: run.id!, candidateId: candidate.id!, rung: 0, epochs: 1, accuracy: Double(index) / 10,
                                                top5: 1, loss: 2, trainSeconds: 0.5)
            XCTAssertEqual(try store.complete(candidate, worker: "w", observation: observation), .stored)
        }
        XCTAssertEqual(try store.observations(runId: run.id!).map(\.candidateId), inserted.map(\.id!))
        XCTAssertEqual(try store.observations(runId: run.id!).first?.worker, "w")
        XCTAssertEqual(try store.promote(runId: run.id!, ids: [inserted[2].id!, inserted[3].id!, 999_999], from: 0), 2)
        XCTAssertEqual(try store.promote(runId: run.id!, ids: [inserted[2].id!], from: 0), 0, "already moved on")
        XCTAssertEqual(try store.openCount(runId: run.id!, generation: 0), 2)
        XCTAssertEqual(try store.candidate(id: inserted[3].id!)?.rung, 1)
        XCTAssertNil(try store.candidate(id: inserted[3].id!)?.worker)
        XCTAssertEqual(try store.finishedMetrics(runId: run.id!).map(\.id), [inserted[0].id!, inserted[1].id!])
        XCTAssertEqual(try store.finishedMetrics(runId: run.id!).map { $0.values[.accuracy] }, [0, 0.1])
        try store.setFrontier(runId: run.id!, ids: [inserted[1].id!, inserted[2].id!])
        try store.setFrontier(runId: run.id!, ids: [inserted[0].id!, inserted[1].id!])
        XCTAssertEqual(try store.frontier(runId: run.id!).map(\.id!), [inserted[0].id!, inserted[1].id!])
        try store.setRunStatus(run.id!, .done)
        XCTAssertEqual(try store.run(named: "r")?.status, .done)
        XCTAssertNotNil(try store.run(named: "r")?.finishedAt)
        try store.setRunConfig(run.id!, "{\"format\": 2}")
        XCTAssertEqual(try store.run(named: "r")?.config, "{\"format\": 2}")
        XCTAssertEqual(try store.runs().map(\.name), ["r", "other"])
        try store.deleteRun(run.id!)
        XCTAssertEqual(try store.runs().map(\.name), ["other"])
        XCTAssertEqual(try store.candidates(runId: run.id!), [])
        XCTAssertEqual(try store.observations(runId: run.id!), [])
        XCTAssertEqual(try store.candidates(runId: other.id!).count, 1)
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    /// `importRun` stores a run whole, maps observations to the new candidate ids, replaces a run in the same
    /// transaction, and leaves the store as it was when it fails half-way (an observation naming no candidate).
    func importRunIsWholeOrNothing() throws {
        let store = try open()
        let old = try Self.newRun(store, "copied")
        try store.insert([Self.record(old.id!, "old")])
        var source = RunRecord(name: "copied", command: "elsewhere", config: "{}", seed: 7, version: "test", machine: "test")
        source.id = 900
        let candidates = (0..<5).map { index -> CandidateRecord in
            var candidate = Self.record(900, "k\(index)")
            candidate.id = Int64(1000 + index)
            candidate.accuracy = Double(index) / 10
            return candidate
        }
        let observations = [1002, 1004].map {
            ObservationRecord(runId: 900, candidateId: Int64($0), rung: 0, epochs: 1, accuracy: 0.5, top5: 1, loss: 2, trainSeconds: 0.5)
        }
        // Half-way failure: the observation names a candidate the run does not have; the old run stays, whole.
        let stray = ObservationRecord(runId: 900, candidateId: 5, rung: 0, epochs: 1, accuracy: 0.5, top5: 1, loss: 2, trainSeconds: 0.5)
        XCTAssertThrowsError(try store.importRun(source, candidates: candidates, observations: observations + [stray], replacing: old.id)) { error in
            XCTAssertTrue("\(error)".contains("candidate 5"), "\(error)")
        }
        XCTAssertEqual(try store.run(named: "copied")?.id, old.id)
        XCTAssertEqual(try store.candidates(runId: old.id!).map(\.key), ["old"])
        // Without replacing, the name is taken: refused, nothing stored.
        XCTAssertThrowsError(try store.importRun(source, candidates: candidates, observations: observations, replacing: nil))
        XCTAssertEqual(try store.runs().count, 1)
        let stored = try store.importRun(source, candidates: candidates, observations: observations, replacing: old.id)
        XCTAssertNotEqual(stored.id, old.id)
        XCTAssertEqual(try store.run(named: "copied")?.command, "elsewhere")
        XCTAssertEqual(try store.candidates(runId: old.id!), [])
        let copied = try store.candidates(runId: stored.id!)
        XCTAssertEqual(copied.map(\.key), ["k0", "k1", "k2", "k3", "k4"])
        XCTAssertEqual(copied.map(\.accuracy), [0, 0.1, 0.2, 0.3, 0.4])
        XCTAssertEqual(try store.observations(runId: stored.id!).map(\.candidateId), [copied[2].id!, copied[4].id!])
        XCTAssertEqual(try store.integrityCheck(), "ok")
    }

    /// A metric appended to the table (a real one and a whole-number one) gets its column by a migration of its own
    /// in a store made before it; its values round-trip through an insert, a completion and the frontier's query, and
    /// older candidates have none; an efsearch without it then refuses the store as newer.
    func metricAddedToTheTableGetsItsColumn() throws {
        let energy = Metric(name: "energy_mj", unit: "mJ", direction: .minimize)
        let operations = Metric(name: "operations", type: .integer, direction: .minimize)
        let old = try open()
        let run = try Self.newRun(old)
        try old.insert([Self.record(run.id!, "before")])
        let store = try openWithMetrics(MetricTable.standard.adding(energy).adding(operations))
        XCTAssertThrowsError(try open()) { XCTAssertTrue("\($0)".contains("newer efsearch"), "\($0)") }
        var added = Self.record(run.id!, "after")
        added.metrics[energy] = 0.125
        added.metrics[operations] = Double(1 << 40)
        try store.insert([added])
        var claimed = try XCTUnwrap(try store.claim(runId: run.id!, worker: "w", grace: 60))
        XCTAssertEqual(claimed.key, "before")
        XCTAssertNil(claimed.metrics[energy], "a candidate made before the metric has no value, not a zero")
        claimed.metrics[energy] = 2.5
        claimed.status = .done
        XCTAssertEqual(try store.complete(claimed, worker: "w"), .stored)
        let read = try store.candidates(runId: run.id!)
        XCTAssertEqual(read.map { $0.metrics[energy] }, [2.5, 0.125])
        XCTAssertEqual(read.map { $0.metrics[operations] }, [nil, Double(1 << 40)])
        XCTAssertEqual(try store.finishedMetrics(runId: run.id!).map { $0.values[energy] }, [2.5])
    }

    func newerSchemaIsRefused() throws {
        _ = try open()
        try addFutureMigration()
        XCTAssertThrowsError(try open()) { error in
            XCTAssertTrue("\(error)".contains("newer efsearch"), "\(error)")
        }
    }
}

final class SQLiteStoreTests: XCTestCase {
    var contract: StoreContract!

    override func setUp() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID())/efsearch.sqlite").path
        contract = StoreContract(open: { try SQLiteStore(path: path) }, addFutureMigration: {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')") }
        }, claimers: 8, openWithMetrics: { try SQLiteStore(path: path, metrics: $0) })
    }

    func testClaimsAreExclusiveAndStaleOnesAreTakenOver() throws { try contract.claimsAreExclusiveAndStaleOnesAreTakenOver() }
    func testConcurrentClaimersNeverCollide() throws { try contract.concurrentClaimersNeverCollide() }
    func testRecordsMakeTheRoundTrip() throws { try contract.recordsMakeTheRoundTrip() }
    func testRungsObservationsFrontierAndDeletion() throws { try contract.rungsObservationsFrontierAndDeletion() }
    func testNewerSchemaIsRefused() throws { try contract.newerSchemaIsRefused() }
    func testImportRunIsWholeOrNothing() throws { try contract.importRunIsWholeOrNothing() }
    func testAMetricAddedToTheTableGetsItsColumn() throws { try contract.metricAddedToTheTableGetsItsColumn() }

    /// A read-only open (`runs`, `export`, `report`, ...) writes nothing: a missing file is an error and is not
    /// created; a store with an older schema is read through an up-to-date copy and its file keeps its bytes.
    func testReadOnlyOpenWritesNothing() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("store-readonly-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing.sqlite").path
        XCTAssertThrowsError(try SQLiteStore(path: missing, readOnly: true)) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))

        let path = folder.appendingPathComponent("old.sqlite").path
        do {
            let pool = try DatabasePool(path: path)
            try SQLiteStore.migrator.migrate(pool, upTo: "v3: successive-halving rungs and their observations")
            try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO runs (name, command, config, seed, version, machine, createdAt, status)
                    VALUES ('old', 'c', '{}', 1, '0.1.0', 'm', '2026-01-02 03:04:05.678', 'done')
                    """)
            }
            try pool.close()
        }
        func schema() throws -> [String] {
            try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name") }
        }
        let before = try schema()
        let store = try SQLiteStore(path: path, readOnly: true)
        let run = try XCTUnwrap(try store.run(named: "old"))
        XCTAssertEqual(run.createdAt.timeIntervalSince1970, 1_767_323_045.678, accuracy: 1e-3)
        XCTAssertEqual(try store.candidates(runId: run.id!), [])
        XCTAssertEqual(try schema(), before, "the file keeps its schema")
        XCTAssertFalse(before.joined().contains("synflow"), "v4's columns are not in the file")
        XCTAssertEqual(try DatabaseQueue(path: path).read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }.count, 3)

        let garbage = folder.appendingPathComponent("garbage.sqlite").path
        try Data("not a database, only text that is long enough".utf8).write(to: URL(fileURLWithPath: garbage))
        XCTAssertThrowsError(try SQLiteStore(path: garbage)) { XCTAssertTrue("\($0)".contains("is not an SQLite database"), "\($0)") }
    }

    /// Stored dates are read strictly: GRDB's own layout reads, anything else is no date (an error for the row).
    func testStoredDatesAreReadStrictly() {
        func parse(_ text: String) -> Date? { StoredDate.parse(text.databaseValue) }
        XCTAssertEqual(parse("2026-01-02 03:04:05.678")?.timeIntervalSince1970 ?? 0, 1_767_323_045.678, accuracy: 1e-3)
        XCTAssertEqual(parse("2026-01-02T03:04:05")?.timeIntervalSince1970, 1_767_323_045)
        for bad in ["2026-13-02 03:04:05.678", "2026-02-30 03:04:05.000", "20x6-01-02 03:04:05.678", "2026-01-02 24:00:00.000", "abc", "",
                    "2026-01-02 03:04:05.", "2026-01-02 03:04:05.1234567890", "2026-01-02"] {
            XCTAssertNil(parse(bad), bad)
        }
        XCTAssertNil(StoredDate.parse(12.databaseValue))
    }

    func testUnwritablePathIsRefused() throws {
        XCTAssertThrowsError(try SQLiteStore(path: "/proc/efsearch/forbidden.sqlite")) { error in
            XCTAssertTrue("\(error)".contains("/proc/efsearch"), "\(error)")
        }
    }

    /// Processes that open one new store at once (`grid --workers`, two runs started together) all succeed, and
    /// the schema is made once.
    func testSimultaneousFirstOpensMigrateOnce() throws {
        for _ in 0..<5 {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID())/efsearch.sqlite").path
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { _ = try SQLiteStore(path: path) } catch { failures.withLock { $0.append("\(error)") } }
            }
            XCTAssertEqual(failures.withLock { $0 }, [])
            let queue = try DatabaseQueue(path: path)
            XCTAssertEqual(try queue.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }, StoreSchema.migrations)
        }
    }

    /// The GRDB migrator and the shared list name the same migrations in the same order.
    func testMigrationsAreTheSharedList() {
        XCTAssertEqual(SQLiteStore.migrator.migrations, StoreSchema.migrations)
        XCTAssertEqual(Set(PostgresStore.migrationSQL(for: .standard).keys), Set(StoreSchema.migrations))
    }
}

/// The server `scripts/with_postgres.sh` started (`make test` runs the suites under it).
enum TestPostgres {
    /// The server's URL (a superuser's, on its `postgres` database). Outside CI a missing server skips the
    /// PostgreSQL tests; in CI it fails them.
    static func serverURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["EFSEARCH_TEST_POSTGRES"], !url.isEmpty { return url }
        let message = "no PostgreSQL server: run the tests under scripts/with_postgres.sh (make test does), which sets EFSEARCH_TEST_POSTGRES"
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail(message)
            throw StoreError(location: "EFSEARCH_TEST_POSTGRES", message: message)
        }
        throw XCTSkip(message)
    }

    /// A new empty database on the server; returns its URL.
    static func newDatabase() throws -> String {
        let server = try serverURL()
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let connection = try PostgresConnection(url: server)
        try connection.execute("CREATE DATABASE \(name)")  // a name made here, not input: CREATE DATABASE takes no parameters
        guard let slash = server.lastIndex(of: "/") else { throw StoreError(location: server, message: "no database in the URL") }
        return server[...slash] + name
    }
}

final class PostgresStoreTests: XCTestCase {
    var contract: StoreContract!
    var url: String!

    override func setUpWithError() throws {
        let url = try TestPostgres.newDatabase()
        self.url = url
        contract = StoreContract(open: { try openStore(url) }, addFutureMigration: {
            let connection = try PostgresConnection(url: url)
            try connection.execute("INSERT INTO efsearch_migrations (identifier) VALUES ($1)", ["v99: from the future"])
        }, claimers: 32, openWithMetrics: { table in
            guard case .postgres(let address) = try StoreLocation(parsing: url) else { throw StoreError(location: url, message: "not a PostgreSQL URL") }
            return try PostgresStore(address: address, metrics: table)
        })
    }

    func testClaimsAreExclusiveAndStaleOnesAreTakenOver() throws { try contract.claimsAreExclusiveAndStaleOnesAreTakenOver() }
    /// 32 connections at once, as 32 workers starting together would.
    func testConcurrentClaimersNeverCollide() throws { try contract.concurrentClaimersNeverCollide() }
    func testRecordsMakeTheRoundTrip() throws { try contract.recordsMakeTheRoundTrip() }
    func testRungsObservationsFrontierAndDeletion() throws { try contract.rungsObservationsFrontierAndDeletion() }
    func testNewerSchemaIsRefused() throws { try contract.newerSchemaIsRefused() }
    func testImportRunIsWholeOrNothing() throws { try contract.importRunIsWholeOrNothing() }
    func testAMetricAddedToTheTableGetsItsColumn() throws { try contract.metricAddedToTheTableGetsItsColumn() }

    /// 32 stores opened at the same instant on a new database: the migrations run once, nobody fails.
    func testSimultaneousFirstOpensMigrateOnce() throws {
        let fresh = try TestPostgres.newDatabase()
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 32) { _ in
            do { _ = try openStore(fresh) } catch { failures.withLock { $0.append("\(error)") } }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        let connection = try PostgresConnection(url: fresh)
        XCTAssertEqual(try connection.execute("SELECT identifier FROM efsearch_migrations ORDER BY identifier").rows.map { $0[0]! },
                       StoreSchema.migrations.sorted())
    }

    /// The server ends the store's connection (as a restart or a network cut would): the next call reconnects.
    func testALostConnectionIsRetried() throws {
        let store = try openStore(url)
        let run = try StoreContract.newRun(store)
        let admin = try PostgresConnection(url: url)
        let killed = try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        XCTAssertEqual(killed.rows.count, 1)
        XCTAssertEqual(try store.run(named: "r")?.id, run.id)
    }

    /// Heartbeats and claims use the server's clock: a heartbeat is within a second of the server's now().
    func testHeartbeatsUseTheServersClock() throws {
        let store = try openStore(url)
        let run = try StoreContract.newRun(store)
        try store.insert([StoreContract.record(run.id!, "a")])
        let claimed = try XCTUnwrap(try store.claim(runId: run.id!, worker: "w", grace: 60))
        let admin = try PostgresConnection(url: url)
        let gap = try admin.execute("SELECT extract(epoch FROM now() - \"heartbeatAt\")::float8 FROM candidates WHERE id = $1", [claimed.id!])
        let seconds = try XCTUnwrap(Double(gap.rows.first?[0] ?? ""))
        XCTAssertLessThan(abs(seconds), 1)
    }

    /// Bad addresses: clear errors naming the URL with the password masked, and nothing created.
    func testBadAddressesAreClearErrors() throws {
        let server = try PostgresAddress(parsing: try TestPostgres.serverURL())
        let port = server.port, password = server.password ?? ""
        let cases: [(String, String)] = [
            ("postgresql://efsearch:\(password)@127.0.0.1:\(port)/no_such_database", "does not exist"),
            ("postgresql://efsearch:wrong-secret@127.0.0.1:\(port)/postgres", "password authentication failed"),
            ("postgresql://efsearch:wrong-secret@127.0.0.1:1/postgres", "cannot connect"),
            ("postgresql://efsearch:wrong-secret@127.0.0.1:99999/postgres", "out of range"),
            ("postgresql://efsearch:wrong-secret@127.0.0.1:\(port)/", "names no database"),
            ("postgresql://efsearch:wrong-secret@127.0.0.1:\(port)/postgres?sslmode=sometimes", "sslmode"),
            ("postgresql://efsearch:wrong-secret@127.0.0.1:\(port)/postgres?colour=blue", "colour"),
            ("mysql://efsearch:wrong-secret@127.0.0.1/db", "scheme"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try openStore(text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(expected), "\(text): \(message)")
                XCTAssertFalse(message.contains("wrong-secret"), "\(text): the password shows in \(message)")
                if !text.hasPrefix("mysql") { XCTAssertTrue(message.contains("***"), "\(text): \(message)") }
            }
        }
        let admin = try PostgresConnection(address: server)
        XCTAssertEqual(try admin.execute("SELECT count(*) FROM pg_database WHERE datname = 'no_such_database'").rows.first?[0], "0")
    }
}

final class StoreLocationTests: XCTestCase {
    func testPathsAndURLs() throws {
        XCTAssertEqual(try StoreLocation(parsing: "results/efsearch.sqlite"), .sqlite(path: "results/efsearch.sqlite"))
        XCTAssertEqual(try StoreLocation(parsing: "/tmp/a:b/store.sqlite"), .sqlite(path: "/tmp/a:b/store.sqlite"))
        guard case .postgres(let address) = try StoreLocation(parsing: "postgresql://ann:p%40ss@db.example.org:6543/search?sslmode=require") else {
            return XCTFail("not a PostgreSQL address")
        }
        XCTAssertEqual(address.user, "ann")
        XCTAssertEqual(address.password, "p@ss")
        XCTAssertEqual(address.host, "db.example.org")
        XCTAssertEqual(address.port, 6543)
        XCTAssertEqual(address.database, "search")
        XCTAssertEqual(address.sslMode, "require")
        XCTAssertEqual(address.masked, "postgresql://ann:***@db.example.org:6543/search?sslmode=require")
        guard case .postgres(let plain) = try StoreLocation(parsing: "postgres://localhost/runs") else { return XCTFail("not a PostgreSQL address") }
        XCTAssertEqual(plain.port, 5432)
        XCTAssertNil(plain.user)
        XCTAssertNil(plain.password)
        XCTAssertEqual(plain.masked, "postgresql://localhost:5432/runs")
        XCTAssertThrowsError(try StoreLocation(parsing: "postgresql://ann:secret@host:port/db")) { error in
            XCTAssertTrue("\(error)".contains("not a number") || "\(error)".contains("not a valid URL"), "\(error)")
            XCTAssertFalse("\(error)".contains("secret"), "\(error)")
        }
        XCTAssertThrowsError(try StoreLocation(parsing: " ")) { XCTAssertTrue("\($0)".contains("expected a path"), "\($0)") }
    }

    func testTimestampsAndDoublesMakeTheTextRoundTrip() {
        for seconds in [0.0, 1_790_000_000.123456, 1_790_000_000.999_999_7, -86_400.5] {
            let date = Date(timeIntervalSince1970: seconds)
            let back = Date(postgresText: date.postgresText)
            XCTAssertEqual(back?.timeIntervalSince1970 ?? .nan, seconds, accuracy: 1e-6, date.postgresText)
        }
        XCTAssertEqual(Date(postgresText: "2026-11-28 11:05:00+00")?.timeIntervalSince1970, 1_795_863_900)
        XCTAssertNil(Date(postgresText: "2026-11-28 11:05:00+01"))
        for value in [0.1, 1.0 / 3.0, 1e-300, 5e-324, Double.greatestFiniteMagnitude, -0.0] {
            XCTAssertEqual(Double(value.postgresText)?.bitPattern, value.bitPattern, value.postgresText)
        }
    }
}
