import Foundation
import GRDB
import Store

// MARK: GRDB conformances of the store's records (the records themselves do not depend on GRDB)

extension RunStatus: DatabaseValueConvertible {}
extension CandidateStatus: DatabaseValueConvertible {}

extension RunRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "runs"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The columns that queries name.
    public enum Columns {
        public static let id = Column("id")
        public static let name = Column("name")
        public static let status = Column("status")
        public static let finishedAt = Column("finishedAt")
        public static let config = Column("config")
    }
}

extension CandidateRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "candidates"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The columns that queries name.
    public enum Columns {
        public static let id = Column("id")
        public static let runId = Column("runId")
        public static let generation = Column("generation")
        public static let status = Column("status")
        public static let worker = Column("worker")
        public static let heartbeatAt = Column("heartbeatAt")
        public static let onFrontier = Column("onFrontier")
        public static let rung = Column("rung")
    }
}

extension ObservationRecord: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "observations"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public enum Columns {
        public static let runId = Column("runId")
        public static let candidateId = Column("candidateId")
        public static let rung = Column("rung")
    }
}

/// The SQLite store of runs and candidates, through GRDB (WAL, busy timeout, named append-only migrations): the
/// embedded default, for one machine.
public final class SQLiteStore: Store, @unchecked Sendable {
    public let path: String
    let pool: DatabasePool

    public var location: String { path }
    public var localFolder: URL { URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent() }

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
        migrator.registerMigration("v2: predicted latency, kept checkpoints, machine") { db in
            try db.alter(table: "candidates") { t in
                t.add(column: "latencyPredictedMs", .double)
                t.add(column: "checkpoint", .text)
                t.add(column: "machine", .text)
            }
        }
        migrator.registerMigration("v3: successive-halving rungs and their observations") { db in
            try db.alter(table: "candidates") { t in
                t.add(column: "rung", .integer).notNull().defaults(to: 0)
            }
            try db.create(table: "observations") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("runId", .integer).notNull().indexed().references("runs", onDelete: .cascade)
                t.column("candidateId", .integer).notNull().references("candidates", onDelete: .cascade)
                t.column("rung", .integer).notNull()
                t.column("epochs", .integer).notNull()
                t.column("accuracy", .double).notNull()
                t.column("top5", .double).notNull()
                t.column("loss", .double).notNull()
                t.column("trainSeconds", .double).notNull()
                t.column("worker", .text)
                t.column("finishedAt", .datetime).notNull()
                t.uniqueKey(["candidateId", "rung"])
            }
        }
        migrator.registerMigration("v4: zero-cost proxy scores") { db in
            try db.alter(table: "candidates") { t in
                t.add(column: "synflow", .double)
                t.add(column: "naswot", .double)
            }
        }
        return migrator
    }

    /// Brings the schema up to date. Two processes that open a new store at the same moment both find no
    /// migration applied and both start the first one; the second one's fails ("table already exists") and rolls
    /// back. Each migration commits with its own record, so trying again finds it applied and goes on.
    static func migrate(_ pool: DatabasePool) throws {
        try retrying(on: [.SQLITE_ERROR, .SQLITE_BUSY], attempts: 10, step: 0.05) { try migrator.migrate(pool) }
    }

    /// Opens the database, switching a new one to WAL. Processes that open one new file at once can find the
    /// switch busy: SQLite answers SQLITE_BUSY at once, without the busy timeout (seen once in 8 threads opening
    /// a new store together). Tries again, up to 20 times over about 4 seconds.
    static func open(_ path: String, configuration: Configuration) throws -> DatabasePool {
        try retrying(on: [.SQLITE_BUSY], attempts: 20, step: 0.02) { try DatabasePool(path: path, configuration: configuration) }
    }

    /// `body`, tried again up to `attempts` more times while it fails with one of `codes`, waiting `step`,
    /// `2 * step`, ... seconds in between.
    static func retrying<T>(on codes: [ResultCode], attempts: Int, step: TimeInterval, _ body: () throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                return try body()
            } catch let error as DatabaseError where attempt < attempts && codes.contains(error.resultCode) {
                attempt += 1
                Thread.sleep(forTimeInterval: step * Double(attempt))
            }
        }
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(location: path, message: "cannot create the directory \(directory): \(error.localizedDescription)")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(120)
        do {
            pool = try SQLiteStore.open(path, configuration: configuration)
        } catch {
            throw StoreError(location: path, message: "cannot open or create the database (\(error)); expected a writable path")
        }
        do {
            if try pool.read({ db in try SQLiteStore.migrator.hasBeenSuperseded(db) }) {
                throw StoreError(location: path, message: StoreSchema.newerSchemaMessage)
            }
            try SQLiteStore.migrate(pool)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(location: path, message: "cannot prepare the schema: \(error)")
        }
    }

    // MARK: Runs

    public func createRun(_ run: RunRecord) throws -> RunRecord {
        var run = run
        do {
            try pool.write { db in try run.insert(db) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError(location: path, message: "a run named \"\(run.name)\" already exists; choose another --run or use --resume \(run.name)")
        }
        return run
    }

    public func run(named name: String) throws -> RunRecord? {
        try pool.read { db in try RunRecord.filter(RunRecord.Columns.name == name).fetchOne(db) }
    }

    public func runs() throws -> [RunRecord] {
        try pool.read { db in try RunRecord.order(RunRecord.Columns.id).fetchAll(db) }
    }

    public func setRunStatus(_ runId: Int64, _ status: RunStatus) throws {
        try pool.write { db in
            _ = try RunRecord.filter(key: runId).updateAll(db, [
                RunRecord.Columns.status.set(to: status),
                RunRecord.Columns.finishedAt.set(to: status == .running ? nil : Date()),
            ])
        }
    }

    /// Replaces a run's stored configuration (used once, to bring a run made by an older efsearch up to date).
    public func setRunConfig(_ runId: Int64, _ config: String) throws {
        try pool.write { db in
            _ = try RunRecord.filter(key: runId).updateAll(db, [RunRecord.Columns.config.set(to: config)])
        }
    }

    public func deleteRun(_ runId: Int64) throws {
        // Observations and candidates go with the run (ON DELETE CASCADE; GRDB turns foreign keys on).
        try pool.write { db in _ = try RunRecord.deleteOne(db, key: runId) }
    }

    // MARK: Candidates

    /// Inserts candidates in one transaction (duplicates by key are skipped); returns them with ids.
    @discardableResult
    public func insert(_ candidates: [CandidateRecord]) throws -> [CandidateRecord] {
        // One prepared statement for the whole batch: a search on estimates inserts thousands a second.
        try pool.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO candidates (runId, key, generation, genotype, extra, arch, width, depth, resolution, stem, head,
                    params, macs, latencyEstimateMs, latencyMeasuredMs, latencyPredictedMs, memoryBytes, accuracy, top5, trainSeconds, checkpoint,
                    machine, seed, rung, status, reason, worker, heartbeatAt, createdAt, finishedAt, onFrontier, synflow, naswot)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            return try candidates.compactMap { candidate in
                var candidate = candidate
                let values: [(any DatabaseValueConvertible)?] = [
                    candidate.runId, candidate.key, candidate.generation, candidate.genotype, candidate.extra, candidate.arch,
                    candidate.width, candidate.depth, candidate.resolution, candidate.stem, candidate.head, candidate.params,
                    candidate.macs, candidate.latencyEstimateMs, candidate.latencyMeasuredMs, candidate.latencyPredictedMs, candidate.memoryBytes,
                    candidate.accuracy,
                    candidate.top5, candidate.trainSeconds, candidate.checkpoint, candidate.machine, candidate.seed, candidate.rung, candidate.status, candidate.reason, candidate.worker,
                    candidate.heartbeatAt, candidate.createdAt, candidate.finishedAt, candidate.onFrontier, candidate.synflow, candidate.naswot]
                try statement.execute(arguments: StatementArguments(values))
                guard db.changesCount > 0 else { return nil }
                candidate.id = db.lastInsertedRowID
                return candidate
            }
        }
    }

    public func insert(observations: [ObservationRecord]) throws {
        try pool.write { db in
            for observation in observations {
                var observation = observation
                observation.id = nil
                try observation.insert(db)
            }
        }
    }

    /// Claims the oldest pending candidate of a run, or one whose worker stopped sending heartbeats more than
    /// `grace` seconds ago, atomically (GRDB runs writes in IMMEDIATE transactions).
    public func claim(runId: Int64, worker: String, grace: TimeInterval) throws -> CandidateRecord? {
        typealias Columns = CandidateRecord.Columns
        return try pool.write { db in
            let stale = Date().addingTimeInterval(-grace)
            guard var candidate = try CandidateRecord
                .filter(Columns.runId == runId)
                .filter(Columns.status == CandidateStatus.pending || (Columns.status == CandidateStatus.running && Columns.heartbeatAt < stale))
                .order(Columns.id)
                .fetchOne(db) else { return nil }
            candidate.status = .running
            candidate.worker = worker
            candidate.heartbeatAt = Date()
            try candidate.update(db)
            return candidate
        }
    }

    /// Tells the others that `worker` is still on the candidate; false when it no longer holds it.
    @discardableResult
    public func heartbeat(candidateId: Int64, worker: String) throws -> Bool {
        typealias Columns = CandidateRecord.Columns
        return try pool.write { db in
            try CandidateRecord
                .filter(key: candidateId)
                .filter(Columns.worker == worker && Columns.status == CandidateStatus.running)
                .updateAll(db, [Columns.heartbeatAt.set(to: Date())]) > 0
        }
    }

    /// Records a finished candidate (and its rung's observation, under successive halving) if `worker` still
    /// holds it, in one transaction; otherwise stores nothing and says who does.
    public func complete(_ candidate: CandidateRecord, worker: String, observation: ObservationRecord?) throws -> Completion {
        try pool.write { db in
            guard let current = try CandidateRecord.fetchOne(db, key: candidate.id) else {
                throw StoreError(location: path, message: "candidate \(candidate.id.map(String.init) ?? "without id") is not in the store")
            }
            guard current.status == .running, current.worker == worker else {
                return .lostClaim(heldBy: current.worker, status: current.status)
            }
            var finished = candidate
            finished.finishedAt = Date()
            finished.worker = worker
            try finished.update(db)
            if var observation {
                observation.worker = worker
                observation.finishedAt = finished.finishedAt!
                try observation.insert(db, onConflict: .replace)
            }
            return .stored
        }
    }

    /// Successive halving: sends the finished candidates `ids` at rung `from` on to rung `from + 1` (pending again,
    /// unclaimed), in one transaction; a candidate that is elsewhere is left alone. Returns how many moved.
    @discardableResult
    public func promote(runId: Int64, ids: [Int64], from rung: Int) throws -> Int {
        typealias Columns = CandidateRecord.Columns
        return try pool.write { db in
            var moved = 0
            for id in ids {
                moved += try CandidateRecord
                    .filter(key: id)
                    .filter(Columns.runId == runId && Columns.rung == rung && Columns.status == CandidateStatus.done)
                    .updateAll(db, [Columns.rung.set(to: rung + 1), Columns.status.set(to: CandidateStatus.pending),
                                    Columns.worker.set(to: nil), Columns.heartbeatAt.set(to: nil)])
            }
            return moved
        }
    }

    /// Every rung observation of a run, by candidate and rung.
    public func observations(runId: Int64) throws -> [ObservationRecord] {
        typealias Columns = ObservationRecord.Columns
        return try pool.read { db in
            try ObservationRecord.filter(Columns.runId == runId).order(Columns.candidateId, Columns.rung).fetchAll(db)
        }
    }

    public func candidates(runId: Int64) throws -> [CandidateRecord] {
        try pool.read { db in
            try CandidateRecord.filter(CandidateRecord.Columns.runId == runId).order(CandidateRecord.Columns.id).fetchAll(db)
        }
    }

    /// The candidates of one generation of a run.
    public func candidates(runId: Int64, generation: Int) throws -> [CandidateRecord] {
        typealias Columns = CandidateRecord.Columns
        return try pool.read { db in
            try CandidateRecord.filter(Columns.runId == runId && Columns.generation == generation).order(Columns.id).fetchAll(db)
        }
    }

    /// How many of a generation's candidates are pending or running.
    public func openCount(runId: Int64, generation: Int) throws -> Int {
        typealias Columns = CandidateRecord.Columns
        let open = CandidateStatus.allCases.filter(\.isOpen)
        return try pool.read { db in
            try CandidateRecord.filter(Columns.runId == runId && Columns.generation == generation && open.contains(Columns.status)).fetchCount(db)
        }
    }

    public func candidate(id: Int64) throws -> CandidateRecord? {
        try pool.read { db in try CandidateRecord.fetchOne(db, key: id) }
    }

    /// How many of a run's candidates are in each status (statuses with none are absent).
    public func counts(runId: Int64) throws -> [CandidateStatus: Int] {
        typealias Columns = CandidateRecord.Columns
        return try pool.read { db in
            let rows = try CandidateRecord.filter(Columns.runId == runId).select(Columns.status, count(Columns.id)).group(Columns.status).asRequest(of: Row.self).fetchAll(db)
            var result: [CandidateStatus: Int] = [:]
            for row in rows {
                let text: String = row[0]
                guard let status = CandidateStatus(rawValue: text) else {
                    throw StoreError(location: path, message: "a candidate has the status \"\(text)\"; expected one of \(CandidateStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                result[status] = row[1]
            }
            return result
        }
    }

    /// The figures of a run's finished candidates, without decoding whole records (for the frontier).
    public func finishedMetrics(runId: Int64) throws -> [FinishedMetrics] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, params, macs, latencyEstimateMs, latencyMeasuredMs, latencyPredictedMs, memoryBytes, accuracy, synflow, naswot
                FROM candidates WHERE runId = ? AND status = ? ORDER BY id
                """, arguments: [runId, CandidateStatus.done]).map { row in
                FinishedMetrics(id: row[0], params: row[1], macs: row[2], latencyEstimateMs: row[3], latencyMeasuredMs: row[4],
                                latencyPredictedMs: row[5], memoryBytes: row[6], accuracy: row[7], synflow: row[8], naswot: row[9])
            }
        }
    }

    /// The run's frontier members.
    public func frontier(runId: Int64) throws -> [CandidateRecord] {
        typealias Columns = CandidateRecord.Columns
        return try pool.read { db in try CandidateRecord.filter(Columns.runId == runId && Columns.onFrontier == true).order(Columns.id).fetchAll(db) }
    }

    /// Marks exactly `ids` as the run's frontier.
    public func setFrontier(runId: Int64, ids: Set<Int64>) throws {
        typealias Columns = CandidateRecord.Columns
        try pool.write { db in
            try CandidateRecord.filter(Columns.runId == runId).updateAll(db, [Columns.onFrontier.set(to: false)])
            // One statement per member: a frontier can be larger than SQLite's limit on bound parameters.
            for id in ids { try CandidateRecord.filter(key: id).updateAll(db, [Columns.onFrontier.set(to: true)]) }
        }
    }

    /// `PRAGMA integrity_check`'s answer ("ok" when the file is sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}
