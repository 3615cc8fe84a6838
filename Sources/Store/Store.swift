import Foundation
import GRDB

/// A store that cannot be opened or written: names the path.
public struct StoreError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "store \(path): \(message)" }
}

/// A search run (an Optuna "study").
public struct RunRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "runs"
    public var id: Int64?
    public var name: String
    public var command: String
    /// The run's full configuration, JSON.
    public var config: String
    public var seed: Int64
    public var version: String
    public var machine: String
    public var createdAt: Date
    public var finishedAt: Date?
    /// running, done or failed.
    public var status: String

    public init(name: String, command: String, config: String, seed: Int64, version: String, machine: String) {
        self.name = name
        self.command = command
        self.config = config
        self.seed = seed
        self.version = version
        self.machine = machine
        createdAt = Date()
        status = "running"
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One candidate architecture of a run (an Optuna "trial").
public struct CandidateRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable {
    public static let databaseTableName = "candidates"
    public var id: Int64?
    public var runId: Int64
    /// Canonical scaled arch, resolution, stem and head: unique within a run.
    public var key: String
    /// The strategy's round that proposed it.
    public var generation: Int
    /// Choice indices (JSON array), and extra coordinates such as alpha/beta/gamma (JSON object).
    public var genotype: String
    public var extra: String?
    public var arch: String
    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var stem: Int
    public var head: Int
    public var params: Int
    public var macs: Int
    public var latencyEstimateMs: Double
    public var latencyMeasuredMs: Double?
    public var memoryBytes: Int
    public var accuracy: Double?
    public var top5: Double?
    public var trainSeconds: Double?
    /// The candidate's training seed (from the run seed and its key).
    public var seed: Int64
    /// pending, running, done or failed.
    public var status: String
    public var reason: String?
    public var worker: String?
    public var heartbeatAt: Date?
    public var createdAt: Date
    public var finishedAt: Date?
    public var onFrontier: Bool

    /// A pending candidate; the cost-model figures are filled in by the caller.
    public init(runId: Int64, key: String, generation: Int, genotype: String, extra: String? = nil, arch: String,
                width: Double, depth: Double, resolution: Int, stem: Int, head: Int, seed: Int64) {
        self.runId = runId
        self.key = key
        self.generation = generation
        self.genotype = genotype
        self.extra = extra
        self.arch = arch
        self.width = width
        self.depth = depth
        self.resolution = resolution
        self.stem = stem
        self.head = head
        params = 0
        macs = 0
        latencyEstimateMs = 0
        memoryBytes = 0
        self.seed = seed
        status = "pending"
        createdAt = Date()
        onFrontier = false
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The figures of a finished candidate.
public struct FinishedMetrics: Sendable {
    public var id: Int64
    public var params: Int
    public var macs: Int
    public var latencyEstimateMs: Double
    public var latencyMeasuredMs: Double?
    public var memoryBytes: Int
    public var accuracy: Double?
}

/// The SQLite store of runs and candidates (WAL, busy timeout, named append-only migrations).
public final class Store: @unchecked Sendable {
    public let path: String
    let pool: DatabasePool

    /// Migrations are named and append-only: never edit one that has shipped, add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs and candidates") { db in
            try db.create(table: "runs") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("command", .text).notNull()
                t.column("config", .text).notNull()
                t.column("seed", .integer).notNull()
                t.column("version", .text).notNull()
                t.column("machine", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("status", .text).notNull()
            }
            try db.create(table: "candidates") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("runId", .integer).notNull().indexed().references("runs", onDelete: .cascade)
                t.column("key", .text).notNull()
                t.column("generation", .integer).notNull()
                t.column("genotype", .text).notNull()
                t.column("extra", .text)
                t.column("arch", .text).notNull()
                t.column("width", .double).notNull()
                t.column("depth", .double).notNull()
                t.column("resolution", .integer).notNull()
                t.column("stem", .integer).notNull()
                t.column("head", .integer).notNull()
                t.column("params", .integer).notNull()
                t.column("macs", .integer).notNull()
                t.column("latencyEstimateMs", .double).notNull()
                t.column("latencyMeasuredMs", .double)
                t.column("memoryBytes", .integer).notNull()
                t.column("accuracy", .double)
                t.column("top5", .double)
                t.column("trainSeconds", .double)
                t.column("seed", .integer).notNull()
                t.column("status", .text).notNull()
                t.column("reason", .text)
                t.column("worker", .text)
                t.column("heartbeatAt", .datetime)
                t.column("createdAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("onFrontier", .boolean).notNull().defaults(to: false)
                t.uniqueKey(["runId", "key"])
            }
            try db.create(index: "candidates_status", on: "candidates", columns: ["runId", "status"])
            try db.create(index: "candidates_generation", on: "candidates", columns: ["runId", "generation"])
        }
        return migrator
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(path: path, message: "cannot create the directory \(directory): \(error.localizedDescription)")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(120)
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError(path: path, message: "cannot open or create the database (\(error)); expected a writable path")
        }
        do {
            if try pool.read({ db in try Store.migrator.hasBeenSuperseded(db) }) {
                throw StoreError(path: path, message: "made by a newer efsearch (its schema has migrations this version does not know); use a newer efsearch or another --store")
            }
            try Store.migrator.migrate(pool)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, message: "cannot prepare the schema: \(error)")
        }
    }

    // MARK: Runs

    public func createRun(_ run: RunRecord) throws -> RunRecord {
        var run = run
        do {
            try pool.write { db in try run.insert(db) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError(path: path, message: "a run named \"\(run.name)\" already exists; choose another --run or use --resume \(run.name)")
        }
        return run
    }

    public func run(named name: String) throws -> RunRecord? {
        try pool.read { db in try RunRecord.filter(Column("name") == name).fetchOne(db) }
    }

    public func runs() throws -> [RunRecord] {
        try pool.read { db in try RunRecord.order(Column("id")).fetchAll(db) }
    }

    public func setRunStatus(_ runId: Int64, _ status: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET status = ?, finishedAt = ? WHERE id = ?",
                           arguments: [status, status == "running" ? nil : Date(), runId])
        }
    }

    // MARK: Candidates

    /// Inserts candidates in one transaction (duplicates by key are skipped); returns them with ids.
    @discardableResult
    public func insert(_ candidates: [CandidateRecord]) throws -> [CandidateRecord] {
        // One prepared statement for the whole batch: a search on estimates inserts thousands a second.
        try pool.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO candidates (runId, key, generation, genotype, extra, arch, width, depth, resolution, stem, head,
                    params, macs, latencyEstimateMs, latencyMeasuredMs, memoryBytes, accuracy, top5, trainSeconds, seed, status, reason,
                    worker, heartbeatAt, createdAt, finishedAt, onFrontier)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            return try candidates.compactMap { candidate in
                var candidate = candidate
                let values: [(any DatabaseValueConvertible)?] = [
                    candidate.runId, candidate.key, candidate.generation, candidate.genotype, candidate.extra, candidate.arch,
                    candidate.width, candidate.depth, candidate.resolution, candidate.stem, candidate.head, candidate.params,
                    candidate.macs, candidate.latencyEstimateMs, candidate.latencyMeasuredMs, candidate.memoryBytes, candidate.accuracy,
                    candidate.top5, candidate.trainSeconds, candidate.seed, candidate.status, candidate.reason, candidate.worker,
                    candidate.heartbeatAt, candidate.createdAt, candidate.finishedAt, candidate.onFrontier]
                try statement.execute(arguments: StatementArguments(values))
                guard db.changesCount > 0 else { return nil }
                candidate.id = db.lastInsertedRowID
                return candidate
            }
        }
    }

    /// Claims the oldest pending candidate of a run, or one whose worker stopped sending heartbeats more than
    /// `grace` seconds ago, atomically (GRDB runs writes in IMMEDIATE transactions).
    public func claim(runId: Int64, worker: String, grace: TimeInterval) throws -> CandidateRecord? {
        try pool.write { db in
            let stale = Date().addingTimeInterval(-grace)
            guard var candidate = try CandidateRecord
                .filter(Column("runId") == runId)
                .filter(Column("status") == "pending" || (Column("status") == "running" && Column("heartbeatAt") < stale))
                .order(Column("id"))
                .fetchOne(db) else { return nil }
            candidate.status = "running"
            candidate.worker = worker
            candidate.heartbeatAt = Date()
            try candidate.update(db)
            return candidate
        }
    }

    /// Tells the others that `worker` is still on the candidate.
    public func heartbeat(candidateId: Int64, worker: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE candidates SET heartbeatAt = ? WHERE id = ? AND worker = ? AND status = 'running'",
                           arguments: [Date(), candidateId, worker])
        }
    }

    /// Records a finished candidate (only if `worker` still holds it).
    public func complete(_ candidate: CandidateRecord, worker: String) throws {
        try pool.write { db in
            guard var current = try CandidateRecord.fetchOne(db, key: candidate.id), current.status == "running", current.worker == worker else { return }
            current = candidate
            current.finishedAt = Date()
            current.worker = worker
            try current.update(db)
        }
    }

    public func candidates(runId: Int64) throws -> [CandidateRecord] {
        try pool.read { db in try CandidateRecord.filter(Column("runId") == runId).order(Column("id")).fetchAll(db) }
    }

    /// The candidates of one generation of a run.
    public func candidates(runId: Int64, generation: Int) throws -> [CandidateRecord] {
        try pool.read { db in
            try CandidateRecord.filter(Column("runId") == runId && Column("generation") == generation).order(Column("id")).fetchAll(db)
        }
    }

    /// How many of a generation's candidates are pending or running.
    public func openCount(runId: Int64, generation: Int) throws -> Int {
        try pool.read { db in
            try CandidateRecord.filter(Column("runId") == runId && Column("generation") == generation
                && (Column("status") == "pending" || Column("status") == "running")).fetchCount(db)
        }
    }

    public func candidate(id: Int64) throws -> CandidateRecord? {
        try pool.read { db in try CandidateRecord.fetchOne(db, key: id) }
    }

    public func counts(runId: Int64) throws -> [String: Int] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM candidates WHERE runId = ? GROUP BY status", arguments: [runId])
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["status"] as String, $0["n"] as Int) })
        }
    }

    /// The figures of a run's finished candidates, without decoding whole records (for the frontier).
    public func finishedMetrics(runId: Int64) throws -> [FinishedMetrics] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, params, macs, latencyEstimateMs, latencyMeasuredMs, memoryBytes, accuracy
                FROM candidates WHERE runId = ? AND status = 'done' ORDER BY id
                """, arguments: [runId]).map { row in
                FinishedMetrics(id: row[0], params: row[1], macs: row[2], latencyEstimateMs: row[3], latencyMeasuredMs: row[4],
                                memoryBytes: row[5], accuracy: row[6])
            }
        }
    }

    /// The run's frontier members.
    public func frontier(runId: Int64) throws -> [CandidateRecord] {
        try pool.read { db in try CandidateRecord.filter(Column("runId") == runId && Column("onFrontier") == true).order(Column("id")).fetchAll(db) }
    }

    /// Marks exactly `ids` as the run's frontier.
    public func setFrontier(runId: Int64, ids: Set<Int64>) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE candidates SET onFrontier = 0 WHERE runId = ?", arguments: [runId])
            for id in ids { try db.execute(sql: "UPDATE candidates SET onFrontier = 1 WHERE id = ?", arguments: [id]) }
        }
    }

    /// `PRAGMA integrity_check`'s answer ("ok" when the file is sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}
