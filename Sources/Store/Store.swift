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

/// Where a run stands.
public enum RunStatus: String, Codable, CaseIterable, Sendable, DatabaseValueConvertible {
    /// Being searched (or stopped by a crash or Ctrl-C: `--resume` continues it).
    case running
    case done
    case failed
}

/// Where a candidate stands: pending until a worker claims it, running while the worker sends heartbeats,
/// then done or failed.
public enum CandidateStatus: String, Codable, CaseIterable, Sendable, DatabaseValueConvertible {
    case pending, running, done, failed
    /// Left out by the run's pre-filter (`--prefilter`): scored by a zero-cost proxy, never trained (Optuna's "pruned").
    case pruned

    /// Pending or running: not finished yet.
    public var isOpen: Bool { self == .pending || self == .running }
}

/// What `Store.complete` did with a finished candidate.
public enum Completion: Sendable, Equatable {
    /// Stored.
    case stored
    /// Not stored: another worker took the candidate over (this one's heartbeats stopped for longer than the
    /// grace period), or it was finished already. The other worker's result counts.
    case lostClaim(heldBy: String?, status: CandidateStatus)
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
    public var status: RunStatus

    public init(name: String, command: String, config: String, seed: Int64, version: String, machine: String) {
        self.name = name
        self.command = command
        self.config = config
        self.seed = seed
        self.version = version
        self.machine = machine
        createdAt = Date()
        status = .running
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The columns that queries name.
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let name = Column(CodingKeys.name)
        public static let status = Column(CodingKeys.status)
        public static let finishedAt = Column(CodingKeys.finishedAt)
        public static let config = Column(CodingKeys.config)
    }
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
    /// The run's calibrated latency model's prediction (batch 1), when it has one.
    public var latencyPredictedMs: Double?
    public var memoryBytes: Int
    public var accuracy: Double?
    public var top5: Double?
    public var trainSeconds: Double?
    /// The trained weights (`nas --keep-checkpoints`): an absolute path to a safetensors file.
    public var checkpoint: String?
    /// Where a trained candidate was computed: CPU, threads and kernel paths (they decide a result's last bits).
    public var machine: String?
    /// Zero-cost proxy scores of the untrained network (ln synflow, NASWOT's log |det K|), when the run computes them.
    public var synflow: Double?
    public var naswot: Double?
    /// The candidate's training seed (from the run seed and its key).
    public var seed: Int64
    /// Successive halving: the rung the candidate is at (or queued for, while pending); 0 otherwise. Its figures
    /// (accuracy, top-5, training seconds) are those of its highest finished rung; every rung's are in `observations`.
    public var rung: Int
    public var status: CandidateStatus
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
        rung = 0
        status = .pending
        createdAt = Date()
        onFrontier = false
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The columns that queries name.
    public enum Columns {
        public static let id = Column(CodingKeys.id)
        public static let runId = Column(CodingKeys.runId)
        public static let generation = Column(CodingKeys.generation)
        public static let status = Column(CodingKeys.status)
        public static let worker = Column(CodingKeys.worker)
        public static let heartbeatAt = Column(CodingKeys.heartbeatAt)
        public static let onFrontier = Column(CodingKeys.onFrontier)
        public static let rung = Column(CodingKeys.rung)
    }
}

/// One finished rung of a candidate under successive halving: how long it had trained by then and how well it
/// did (an entry of the `observations` table; one per candidate and rung).
public struct ObservationRecord: Codable, FetchableRecord, MutablePersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "observations"
    public var id: Int64?
    public var runId: Int64
    public var candidateId: Int64
    public var rung: Int
    /// Epochs trained in all when the rung finished.
    public var epochs: Int
    public var accuracy: Double
    public var top5: Double
    /// Validation loss (no label smoothing).
    public var loss: Double
    /// Training seconds of this rung alone.
    public var trainSeconds: Double
    public var worker: String?
    public var finishedAt: Date

    public init(runId: Int64, candidateId: Int64, rung: Int, epochs: Int, accuracy: Double, top5: Double, loss: Double, trainSeconds: Double) {
        self.runId = runId
        self.candidateId = candidateId
        self.rung = rung
        self.epochs = epochs
        self.accuracy = accuracy
        self.top5 = top5
        self.loss = loss
        self.trainSeconds = trainSeconds
        finishedAt = Date()
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public enum Columns {
        public static let runId = Column(CodingKeys.runId)
        public static let candidateId = Column(CodingKeys.candidateId)
        public static let rung = Column(CodingKeys.rung)
    }
}

/// The figures of a finished candidate.
public struct FinishedMetrics: Sendable {
    public var id: Int64
    public var params: Int
    public var macs: Int
    public var latencyEstimateMs: Double
    public var latencyMeasuredMs: Double?
    public var latencyPredictedMs: Double?
    public var memoryBytes: Int
    public var accuracy: Double?
    public var synflow: Double?
    public var naswot: Double?
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
    public func complete(_ candidate: CandidateRecord, worker: String, observation: ObservationRecord? = nil) throws -> Completion {
        try pool.write { db in
            guard let current = try CandidateRecord.fetchOne(db, key: candidate.id) else {
                throw StoreError(path: path, message: "candidate \(candidate.id.map(String.init) ?? "without id") is not in the store")
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
                    throw StoreError(path: path, message: "a candidate has the status \"\(text)\"; expected one of \(CandidateStatus.allCases.map(\.rawValue).joined(separator: ", "))")
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
