import Foundation
import GRDB
import Metrics
import Store

// MARK: GRDB conformances of the store's records (the records themselves do not depend on GRDB)

extension RunStatus: DatabaseValueConvertible {}
extension CandidateStatus: DatabaseValueConvertible {}

extension RunRecord: FetchableRecord, MutablePersistableRecord {
    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy { .custom(StoredDate.parse) }
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
    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy { .custom(StoredDate.parse) }
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
    public static func databaseDateDecodingStrategy(for column: String) -> DatabaseDateDecodingStrategy { .custom(StoredDate.parse) }
    public static let databaseTableName = "observations"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public enum Columns {
        public static let runId = Column("runId")
        public static let candidateId = Column("candidateId")
        public static let rung = Column("rung")
    }
}

/// Reads the dates the store holds (GRDB's "YYYY-MM-DD HH:MM:SS.SSS" in UTC, the fraction optional) without
/// trusting them: anything else, a damaged file's bytes included, reads as no date, which fails the row's decoding
/// with an error instead of reaching a date parser with values it does not expect.
enum StoredDate {
    @Sendable static func parse(_ value: DatabaseValue) -> Date? {
        guard let text = String.fromDatabaseValue(value) else { return nil }
        let bytes = Array(text.utf8)
        guard bytes.count == 19 || (bytes.count > 20 && bytes.count <= 29 && bytes[19] == UInt8(ascii: ".")) else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var result = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                result = result * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return result
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        var fraction = 0.0
        if bytes.count > 20 {
            guard let digits = number(20..<bytes.count) else { return nil }
            fraction = Double(digits) / pow(10, Double(bytes.count - 20))
        }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        (components.hour, components.minute, components.second) = (hour, minute, second)
        // Not a day of that month (the calendar would roll 30 February over into March): no date.
        guard let date = calendar.date(from: components), calendar.component(.day, from: date) == day else { return nil }
        return date.addingTimeInterval(fraction)
    }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}

/// The SQLite store of runs and candidates, through GRDB (WAL, busy timeout, named append-only migrations): the
/// embedded default, for one machine.
public final class SQLiteStore: Store, @unchecked Sendable {
    public let path: String
    /// The metrics its candidates table has a column for.
    public let metricTable: MetricTable
    /// The file's connections; for a read-only store with an older schema, an up-to-date copy in memory.
    let pool: any DatabaseWriter

    public var location: String { path }
    public var localFolder: URL { URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent() }

    /// The migrations of a store of the standard metrics.
    static var migrator: DatabaseMigrator { migrator(for: .standard) }

    /// Migrations are named and append-only: never edit one that has shipped, add a new one. The literal ones
    /// come first; then each metric of `table` that no literal one made gets its column by a migration of its own.
    static func migrator(for table: MetricTable) -> DatabaseMigrator {
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
        for metric in table.stored where metric.migration == nil {
            migrator.registerMigration(metric.migrationName) { db in
                try db.alter(table: "candidates") { t in t.add(column: metric.column!, metric.type == .integer ? .integer : .double) }
            }
        }
        return migrator
    }

    /// Brings the schema up to date. Two processes that open a new store at the same moment both find no
    /// migration applied and both start the first one; the second one's fails ("table already exists") and rolls
    /// back. Each migration commits with its own record, so trying again finds it applied and goes on.
    static func migrate(_ pool: DatabasePool, _ migrator: DatabaseMigrator) throws {
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

    /// Opens (creating if needed) the store at `path`, checks it (`PRAGMA quick_check`) and brings its schema up
    /// to date. `readOnly`: the file must exist, and nothing is written to it; a store with an older schema is
    /// read through an up-to-date copy in memory. A file that is not an SQLite database, or is damaged, is an
    /// error that says so.
    /// `metrics`: the table whose metrics the store keeps (efsearch's own unless a test adds one).
    public init(path: String, readOnly: Bool = false, metrics: MetricTable = .standard) throws {
        self.path = path
        metricTable = metrics
        let migrator = SQLiteStore.migrator(for: metrics)
        let exists = FileManager.default.fileExists(atPath: path)
        if readOnly && !exists {
            throw StoreError(location: path, message: "no such file; a command that stores runs (efsearch nas, grid or proxy-check) creates it")
        }
        if exists { try SQLiteStore.checkHeader(path) }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(location: path, message: "cannot create the directory \(directory): \(error.localizedDescription)")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(120)
        let file: DatabasePool
        do {
            file = try SQLiteStore.open(path, configuration: configuration)
        } catch {
            throw StoreError(location: path, message: SQLiteStore.describe(error, opening: true))
        }
        do {
            let check = try file.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else {
                throw StoreError(location: path, message: "is damaged (SQLite's check: \(check.prefix(3).joined(separator: "; "))); \(SQLiteStore.restoreAdvice)")
            }
            if try file.read({ db in try migrator.hasBeenSuperseded(db) }) {
                throw StoreError(location: path, message: StoreSchema.newerSchemaMessage)
            }
            if readOnly, try !file.read({ db in try migrator.hasCompletedMigrations(db) }) {
                // Read-only: the schema is brought up to date in a copy, never in the file.
                let copy = try DatabaseQueue(configuration: configuration)
                try file.backup(to: copy)
                try migrator.migrate(copy)
                pool = copy
            } else {
                try SQLiteStore.migrate(file, migrator)
                // The readers that checked the file opened before the migration: a `SELECT *` they prepare can miss
                // the columns it added (seen with a metric's column). New readers see the schema as it is now.
                file.invalidateReadOnlyConnections()
                pool = file
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(location: path, message: SQLiteStore.describe(error, opening: true))
        }
    }

    static let restoreAdvice = "restore it from a copy, or copy the runs that still read with efsearch store copy --run NAME"

    /// Refuses a file that is not an SQLite database (an empty one is a new store).
    static func checkHeader(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError(location: path, message: "cannot be read; expected a readable SQLite file")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        guard header.isEmpty || header == Data("SQLite format 3\0".utf8) else {
            throw StoreError(location: path, message: "is not an SQLite database (its first bytes are not SQLite's header); expected an efsearch store")
        }
    }

    /// What went wrong, in a line: SQLite's own message for its errors, the column and the problem for a row that
    /// does not decode (never the row itself).
    static func describe(_ error: Error, opening: Bool = false) -> String {
        if let error = error as? DatabaseError {
            let sqlite = error.message ?? "\(error.resultCode)"
            switch error.resultCode.primaryResultCode {
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                return "is damaged (SQLite: \(sqlite)); \(restoreAdvice)"
            case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM:
                return "cannot be \(opening ? "opened" : "written") (SQLite: \(sqlite)); expected a writable path"
            default:
                return opening ? "cannot be opened or prepared (SQLite: \(sqlite))" : "SQLite: \(sqlite)"
            }
        }
        // A row that does not decode: the first line names the column and the problem; the rest would dump the row.
        let text = "\(error)"
        var summary = text.split(separator: "\n").first.map(String.init) ?? text
        if let row = summary.range(of: ", row:") { summary = String(summary[..<row.lowerBound]) }
        return "a stored value cannot be read (\(summary.count > 200 ? summary.prefix(200) + "..." : summary)); the store may be damaged: \(restoreAdvice)"
    }

    /// `pool.read`, with every failure reported as a `StoreError` that names the store.
    func reading<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as StoreError { throw error } catch {
            throw StoreError(location: path, message: SQLiteStore.describe(error))
        }
    }

    /// `pool.write` (one transaction), with every failure reported as a `StoreError` that names the store.
    func writing<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch let error as StoreError { throw error } catch {
            throw StoreError(location: path, message: SQLiteStore.describe(error))
        }
    }

    // MARK: Runs

    public func createRun(_ run: RunRecord) throws -> RunRecord {
        var run = run
        do {
            try pool.write { db in try run.insert(db) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError(location: path, message: "a run named \"\(run.name)\" already exists; choose another --run or use --resume \(run.name)")
        } catch {
            throw StoreError(location: path, message: SQLiteStore.describe(error))
        }
        return run
    }

    public func run(named name: String) throws -> RunRecord? {
        try reading { db in try RunRecord.filter(RunRecord.Columns.name == name).fetchOne(db) }
    }

    public func runs() throws -> [RunRecord] {
        try reading { db in try RunRecord.order(RunRecord.Columns.id).fetchAll(db) }
    }

    public func setRunStatus(_ runId: Int64, _ status: RunStatus) throws {
        try writing { db in
            _ = try RunRecord.filter(key: runId).updateAll(db, [
                RunRecord.Columns.status.set(to: status),
                RunRecord.Columns.finishedAt.set(to: status == .running ? nil : Date()),
            ])
        }
    }

    /// Replaces a run's stored configuration (used once, to bring a run made by an older efsearch up to date).
    public func setRunConfig(_ runId: Int64, _ config: String) throws {
        try writing { db in
            _ = try RunRecord.filter(key: runId).updateAll(db, [RunRecord.Columns.config.set(to: config)])
        }
    }

    public func deleteRun(_ runId: Int64) throws {
        // Observations and candidates go with the run (ON DELETE CASCADE; GRDB turns foreign keys on).
        try writing { db in _ = try RunRecord.deleteOne(db, key: runId) }
    }

    public func importRun(_ run: RunRecord, candidates: [CandidateRecord], observations: [ObservationRecord], replacing: Int64?) throws -> RunRecord {
        let path = self.path
        return try writing { db in
            if let replacing { _ = try RunRecord.deleteOne(db, key: replacing) }
            var stored = run
            stored.id = nil
            do { try stored.insert(db) } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StoreError(location: path, message: "a run named \"\(run.name)\" already exists")
            }
            let ids = try ImportedIds.insert(candidates, runId: stored.id!) { candidate in
                var candidate = candidate
                try candidate.insert(db)
                return candidate.id!
            }
            for observation in observations {
                var moved = observation
                moved.id = nil
                moved.runId = stored.id!
                moved.candidateId = try ids.mapped(observation.candidateId, run: run.name, location: path)
                try moved.insert(db)
            }
            return stored
        }
    }

    // MARK: Candidates

    /// Inserts candidates in one transaction (duplicates by key are skipped); returns them with ids.
    @discardableResult
    public func insert(_ candidates: [CandidateRecord]) throws -> [CandidateRecord] {
        // One prepared statement for the whole batch: a search on estimates inserts thousands a second.
        try writing { db in
            let stored = metricTable.stored
            let columns = CandidateRecord.fieldColumns.dropFirst() + stored.map { $0.column! }
            let statement = try db.makeStatement(sql: """
                INSERT OR IGNORE INTO candidates (\(columns.joined(separator: ", ")))
                VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))
                """)
            return try candidates.compactMap { candidate in
                var candidate = candidate
                let values: [(any DatabaseValueConvertible)?] = [
                    candidate.runId, candidate.key, candidate.generation, candidate.genotype, candidate.extra, candidate.arch,
                    candidate.width, candidate.depth, candidate.resolution, candidate.stem, candidate.head, candidate.checkpoint, candidate.machine,
                    candidate.seed, candidate.rung, candidate.status, candidate.reason, candidate.worker, candidate.heartbeatAt, candidate.createdAt,
                    candidate.finishedAt, candidate.onFrontier] + stored.map { candidate.metrics[$0] }
                try statement.execute(arguments: StatementArguments(values))
                guard db.changesCount > 0 else { return nil }
                candidate.id = db.lastInsertedRowID
                return candidate
            }
        }
    }

    public func insert(observations: [ObservationRecord]) throws {
        try writing { db in
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
        return try writing { db in
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
        return try writing { db in
            try CandidateRecord
                .filter(key: candidateId)
                .filter(Columns.worker == worker && Columns.status == CandidateStatus.running)
                .updateAll(db, [Columns.heartbeatAt.set(to: Date())]) > 0
        }
    }

    /// Records a finished candidate (and its rung's observation, under successive halving) if `worker` still
    /// holds it, in one transaction; otherwise stores nothing and says who does.
    public func complete(_ candidate: CandidateRecord, worker: String, observation: ObservationRecord?) throws -> Completion {
        try writing { db in
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
        return try writing { db in
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
        return try reading { db in
            try ObservationRecord.filter(Columns.runId == runId).order(Columns.candidateId, Columns.rung).fetchAll(db)
        }
    }

    public func candidates(runId: Int64) throws -> [CandidateRecord] {
        try reading { db in
            try CandidateRecord.filter(CandidateRecord.Columns.runId == runId).order(CandidateRecord.Columns.id).fetchAll(db)
        }
    }

    /// The candidates of one generation of a run.
    public func candidates(runId: Int64, generation: Int) throws -> [CandidateRecord] {
        typealias Columns = CandidateRecord.Columns
        return try reading { db in
            try CandidateRecord.filter(Columns.runId == runId && Columns.generation == generation).order(Columns.id).fetchAll(db)
        }
    }

    /// How many of a generation's candidates are pending or running.
    public func openCount(runId: Int64, generation: Int) throws -> Int {
        typealias Columns = CandidateRecord.Columns
        let open = CandidateStatus.allCases.filter(\.isOpen)
        return try reading { db in
            try CandidateRecord.filter(Columns.runId == runId && Columns.generation == generation && open.contains(Columns.status)).fetchCount(db)
        }
    }

    public func candidate(id: Int64) throws -> CandidateRecord? {
        try reading { db in try CandidateRecord.fetchOne(db, key: id) }
    }

    /// How many of a run's candidates are in each status (statuses with none are absent).
    public func counts(runId: Int64) throws -> [CandidateStatus: Int] {
        typealias Columns = CandidateRecord.Columns
        return try reading { db in
            let rows = try CandidateRecord.filter(Columns.runId == runId).select(Columns.status, count(Columns.id)).group(Columns.status).asRequest(of: Row.self).fetchAll(db)
            var result: [CandidateStatus: Int] = [:]
            for row in rows {
                let text: String = try row.decode(atIndex: 0)
                guard let status = CandidateStatus(rawValue: text) else {
                    throw StoreError(location: path, message: "a candidate has the status \"\(text)\"; expected one of \(CandidateStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                result[status] = try row.decode(atIndex: 1)
            }
            return result
        }
    }

    /// The figures of a run's finished candidates, without decoding whole records (for the frontier).
    public func finishedMetrics(runId: Int64) throws -> [FinishedMetrics] {
        try reading { db in
            let stored = metricTable.stored
            return try Row.fetchAll(db, sql: """
                SELECT id, \(stored.map { $0.column! }.joined(separator: ", ")) FROM candidates WHERE runId = ? AND status = ? ORDER BY id
                """, arguments: [runId, CandidateStatus.done]).map { row in
                var values = MetricValues()
                for (index, metric) in stored.enumerated() { values[metric] = try row.decode(Double?.self, atIndex: index + 1) }
                return FinishedMetrics(id: try row.decode(atIndex: 0), values: values)
            }
        }
    }

    /// The run's frontier members.
    public func frontier(runId: Int64) throws -> [CandidateRecord] {
        typealias Columns = CandidateRecord.Columns
        return try reading { db in try CandidateRecord.filter(Columns.runId == runId && Columns.onFrontier == true).order(Columns.id).fetchAll(db) }
    }

    /// Marks exactly `ids` as the run's frontier.
    public func setFrontier(runId: Int64, ids: Set<Int64>) throws {
        typealias Columns = CandidateRecord.Columns
        try writing { db in
            try CandidateRecord.filter(Columns.runId == runId).updateAll(db, [Columns.onFrontier.set(to: false)])
            // One statement per member: a frontier can be larger than SQLite's limit on bound parameters.
            for id in ids { try CandidateRecord.filter(key: id).updateAll(db, [Columns.onFrontier.set(to: true)]) }
        }
    }

    /// `PRAGMA integrity_check`'s answer ("ok" when the file is sound).
    public func integrityCheck() throws -> String {
        try reading { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}
