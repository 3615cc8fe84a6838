import Foundation
import Metrics
import Store

/// The PostgreSQL store, for searches across machines: the same tables and columns as the SQLite store, under
/// the same migration names. Claims lock with `FOR UPDATE SKIP LOCKED`; heartbeats and takeovers are judged by
/// the server's clock (machines' clocks differ); transient errors (a lost connection, a serialization failure, a
/// deadlock, a server restarting or out of connections) are retried with backoff, a bounded number of times.
public final class PostgresStore: Store, @unchecked Sendable {
    public let address: PostgresAddress
    /// The metrics its candidates table has a column for.
    public let metricTable: MetricTable
    private let connection: PostgresConnection
    /// One statement or transaction at a time on the connection (the heartbeat thread shares it).
    private let lock = NSLock()
    /// Attempts of a transaction before a transient error is reported.
    static let attempts = 8

    public var location: String { address.masked }
    public var localFolder: URL {
        URL(fileURLWithPath: "results", isDirectory: true).appendingPathComponent("\(address.database)@\(address.host)").standardizedFileURL
    }

    /// Connects and brings the schema up to date. A server that cannot be reached, refuses the credentials or
    /// has no such database, and a schema newer than this efsearch's, are reported with the URL (password masked).
    /// `metrics`: the table whose metrics the store keeps (efsearch's own unless a test adds one).
    public init(address: PostgresAddress, metrics: MetricTable = .standard) throws {
        self.address = address
        metricTable = metrics
        candidateColumns = PostgresStore.fieldColumns + metrics.stored.map { $0.column! }
        selectCandidate = "SELECT id, \(PostgresStore.list(candidateColumns)) FROM candidates"
        var attempt = 0
        while true {
            do {
                connection = try PostgresConnection(address: address)
                break
            } catch let error as PostgresError where error.isTransient && attempt + 1 < PostgresStore.attempts {
                attempt += 1
                PostgresStore.backOff(attempt)
            } catch {
                throw StoreError(location: address.masked, message: "cannot connect: \(error)")
            }
        }
        try migrate()
    }

    // MARK: Transactions

    /// Waits before attempt `attempt + 1`: 50 ms doubling up to 2 s, spread by the process id so that workers
    /// that failed together do not retry together.
    static func backOff(_ attempt: Int) {
        let base = min(2.0, 0.05 * pow(2, Double(attempt - 1)))
        let spread = Double((Int(getpid()) &* 2_654_435_761 &+ attempt) % 1000) / 1000
        Thread.sleep(forTimeInterval: base * (0.5 + spread))
    }

    /// Runs `body` in one transaction, again from the start after a transient error. `retried` tells the body
    /// that an earlier attempt may have committed (its connection was lost during COMMIT).
    func transaction<T>(_ body: (PostgresConnection, _ retried: Bool) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        var attempt = 0
        while true {
            do {
                try connection.reconnectIfNeeded()
                try connection.execute("BEGIN")
                let value = try body(connection, attempt > 0)
                try connection.execute("COMMIT")
                return value
            } catch let error as PostgresError {
                connection.rollbackQuietly()
                attempt += 1
                guard error.isTransient && attempt < PostgresStore.attempts else {
                    throw StoreError(location: location, message: error.isTransient ? "\(error) (after \(attempt) attempts)" : "\(error)")
                }
                PostgresStore.backOff(attempt)
            } catch {
                connection.rollbackQuietly()
                throw error
            }
        }
    }

    /// One statement in its own transaction.
    @discardableResult
    func execute(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws -> PostgresRows {
        try transaction { connection, _ in try connection.execute(sql, parameters) }
    }

    // MARK: Schema

    /// The DDL of each migration of a store of `table`'s metrics: the literal ones, then a column for each metric
    /// that no literal migration made.
    static func migrationSQL(for table: MetricTable) -> [String: String] {
        var result = migrationSQL
        for metric in table.stored where metric.migration == nil {
            result[metric.migrationName] = "ALTER TABLE candidates ADD COLUMN \"\(metric.column!)\" \(metric.type == .integer ? "bigint" : "double precision");"
        }
        return result
    }

    /// The DDL of each literal migration of `StoreSchema.literalMigrations`, by name: the SQLite store's tables in PostgreSQL's types.
    static let migrationSQL: [String: String] = [
        "v1: runs and candidates": """
            CREATE TABLE runs (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                name text NOT NULL UNIQUE,
                command text NOT NULL,
                config text NOT NULL,
                seed bigint NOT NULL,
                version text NOT NULL,
                machine text NOT NULL,
                "createdAt" timestamptz NOT NULL,
                "finishedAt" timestamptz,
                status text NOT NULL);
            CREATE TABLE candidates (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                "runId" bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                key text NOT NULL,
                generation integer NOT NULL,
                genotype text NOT NULL,
                extra text,
                arch text NOT NULL,
                width double precision NOT NULL,
                depth double precision NOT NULL,
                resolution integer NOT NULL,
                stem integer NOT NULL,
                head integer NOT NULL,
                params bigint NOT NULL,
                macs bigint NOT NULL,
                "latencyEstimateMs" double precision NOT NULL,
                "latencyMeasuredMs" double precision,
                "memoryBytes" bigint NOT NULL,
                accuracy double precision,
                top5 double precision,
                "trainSeconds" double precision,
                seed bigint NOT NULL,
                status text NOT NULL,
                reason text,
                worker text,
                "heartbeatAt" timestamptz,
                "createdAt" timestamptz NOT NULL,
                "finishedAt" timestamptz,
                "onFrontier" boolean NOT NULL DEFAULT false,
                UNIQUE ("runId", key));
            CREATE INDEX candidates_on_runid ON candidates ("runId");
            CREATE INDEX candidates_status ON candidates ("runId", status);
            CREATE INDEX candidates_generation ON candidates ("runId", generation);
            """,
        "v2: predicted latency, kept checkpoints, machine": """
            ALTER TABLE candidates ADD COLUMN "latencyPredictedMs" double precision, ADD COLUMN checkpoint text, ADD COLUMN machine text;
            """,
        "v3: successive-halving rungs and their observations": """
            ALTER TABLE candidates ADD COLUMN rung integer NOT NULL DEFAULT 0;
            CREATE TABLE observations (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                "runId" bigint NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                "candidateId" bigint NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
                rung integer NOT NULL,
                epochs integer NOT NULL,
                accuracy double precision NOT NULL,
                top5 double precision NOT NULL,
                loss double precision NOT NULL,
                "trainSeconds" double precision NOT NULL,
                worker text,
                "finishedAt" timestamptz NOT NULL,
                UNIQUE ("candidateId", rung));
            CREATE INDEX observations_on_runid ON observations ("runId");
            """,
        "v4: zero-cost proxy scores": """
            ALTER TABLE candidates ADD COLUMN synflow double precision, ADD COLUMN naswot double precision;
            """,
    ]

    /// Applies the missing migrations in one transaction, under an advisory lock so that workers starting at
    /// once on a new database do not race; refuses a database that has migrations this efsearch does not know.
    func migrate() throws {
        try transaction { connection, _ in
            try connection.execute("SELECT pg_advisory_xact_lock(7261040911)")
            try connection.execute("CREATE TABLE IF NOT EXISTS efsearch_migrations (identifier text PRIMARY KEY, \"appliedAt\" timestamptz NOT NULL DEFAULT now())")
            let applied = Set(try connection.execute("SELECT identifier FROM efsearch_migrations").rows.compactMap { $0[0] })
            let migrations = StoreSchema.migrations(for: metricTable), sql = PostgresStore.migrationSQL(for: metricTable)
            guard applied.isSubset(of: migrations) else { throw StoreError(location: location, message: StoreSchema.newerSchemaMessage) }
            for name in migrations where !applied.contains(name) {
                guard let sql = sql[name] else {
                    throw StoreError(location: location, message: "no PostgreSQL form of the migration \"\(name)\"")
                }
                try connection.execute(sql)
                try connection.execute("INSERT INTO efsearch_migrations (identifier) VALUES ($1)", [name])
            }
        }
    }

    // MARK: Records

    static let runColumns = ["name", "command", "config", "seed", "version", "machine", "createdAt", "finishedAt", "status"]
    /// A candidate's own columns (the record's fields but its id), then one per stored metric of the table.
    static let fieldColumns = Array(CandidateRecord.fieldColumns.dropFirst())
    let candidateColumns: [String]
    static let observationColumns = ["runId", "candidateId", "rung", "epochs", "accuracy", "top5", "loss", "trainSeconds", "worker", "finishedAt"]

    static func list(_ columns: [String]) -> String { columns.map { "\"\($0)\"" }.joined(separator: ", ") }
    static func placeholders(_ count: Int, from first: Int = 1) -> String { (first..<first + count).map { "$\($0)" }.joined(separator: ", ") }

    static let selectRun = "SELECT id, \(list(runColumns)) FROM runs"
    let selectCandidate: String
    static let selectObservation = "SELECT id, \(list(observationColumns)) FROM observations"

    static func values(_ run: RunRecord) -> [(any PostgresBindable)?] {
        [run.name, run.command, run.config, run.seed, run.version, run.machine, run.createdAt, run.finishedAt, run.status]
    }

    func values(_ c: CandidateRecord) -> [(any PostgresBindable)?] {
        let fields: [(any PostgresBindable)?] = [
            c.runId, c.key, c.generation, c.genotype, c.extra, c.arch, c.width, c.depth, c.resolution, c.stem, c.head, c.checkpoint, c.machine,
            c.seed, c.rung, c.status, c.reason, c.worker, c.heartbeatAt, c.createdAt, c.finishedAt, c.onFrontier]
        // Whole-number metrics go to bigint columns as integers.
        return fields + metricTable.stored.map { metric in c.metrics[metric].map { value in metric.type == .integer ? Int64(exactly: value).map { $0 as any PostgresBindable } ?? value : value } }
    }

    static func values(_ o: ObservationRecord) -> [(any PostgresBindable)?] {
        [o.runId, o.candidateId, o.rung, o.epochs, o.accuracy, o.top5, o.loss, o.trainSeconds, o.worker, o.finishedAt]
    }

    func run(_ row: [String?]) throws -> RunRecord {
        var r = PostgresRowReader(row, table: "\(location) runs")
        let id = try r.int64()
        var run = RunRecord(name: try r.string(), command: try r.string(), config: try r.string(), seed: try r.int64(), version: try r.string(),
                            machine: try r.string())
        run.id = id
        run.createdAt = try r.date()
        run.finishedAt = try r.optionalDate()
        run.status = try r.status(RunStatus.self)
        return run
    }

    func candidate(_ row: [String?]) throws -> CandidateRecord {
        var r = PostgresRowReader(row, table: "\(location) candidates")
        let id = try r.int64()
        var c = CandidateRecord(runId: try r.int64(), key: try r.string(), generation: try r.int(), genotype: try r.string(), extra: r.optionalString(),
                                arch: try r.string(), width: try r.double(), depth: try r.double(), resolution: try r.int(), stem: try r.int(),
                                head: try r.int(), seed: 0)
        c.id = id
        c.checkpoint = r.optionalString()
        c.machine = r.optionalString()
        c.seed = try r.int64()
        c.rung = try r.int()
        c.status = try r.status(CandidateStatus.self)
        c.reason = r.optionalString()
        c.worker = r.optionalString()
        c.heartbeatAt = try r.optionalDate()
        c.createdAt = try r.date()
        c.finishedAt = try r.optionalDate()
        c.onFrontier = try r.bool()
        for metric in metricTable.stored { c.metrics[metric] = try r.optionalDouble() }
        return c
    }

    func observation(_ row: [String?]) throws -> ObservationRecord {
        var r = PostgresRowReader(row, table: "\(location) observations")
        let id = try r.int64()
        var o = ObservationRecord(runId: try r.int64(), candidateId: try r.int64(), rung: try r.int(), epochs: try r.int(), accuracy: try r.double(),
                                  top5: try r.double(), loss: try r.double(), trainSeconds: try r.double())
        o.id = id
        o.worker = r.optionalString()
        o.finishedAt = try r.date()
        return o
    }

    // MARK: Runs

    public func createRun(_ run: RunRecord) throws -> RunRecord {
        var run = run
        let sql = "INSERT INTO runs (\(Self.list(Self.runColumns))) VALUES (\(Self.placeholders(Self.runColumns.count))) ON CONFLICT (name) DO NOTHING RETURNING id"
        let rows = try execute(sql, Self.values(run)).rows
        guard let id = rows.first?[0].flatMap({ Int64($0) }) else {
            throw StoreError(location: location, message: "a run named \"\(run.name)\" already exists; choose another --run or use --resume \(run.name)")
        }
        run.id = id
        return run
    }

    public func run(named name: String) throws -> RunRecord? {
        try execute("\(Self.selectRun) WHERE name = $1", [name]).rows.first.map(run)
    }

    public func runs() throws -> [RunRecord] {
        try execute("\(Self.selectRun) ORDER BY id").rows.map(run)
    }

    public func setRunStatus(_ runId: Int64, _ status: RunStatus) throws {
        try execute("UPDATE runs SET status = $2, \"finishedAt\" = $3 WHERE id = $1", [runId, status, status == .running ? nil : Date()])
    }

    public func setRunConfig(_ runId: Int64, _ config: String) throws {
        try execute("UPDATE runs SET config = $2 WHERE id = $1", [runId, config])
    }

    public func deleteRun(_ runId: Int64) throws {
        try execute("DELETE FROM runs WHERE id = $1", [runId])
    }

    public func importRun(_ run: RunRecord, candidates: [CandidateRecord], observations: [ObservationRecord], replacing: Int64?) throws -> RunRecord {
        let insertRun = "INSERT INTO runs (\(Self.list(Self.runColumns))) VALUES (\(Self.placeholders(Self.runColumns.count))) RETURNING id"
        let insertCandidate = "INSERT INTO candidates (\(Self.list(candidateColumns))) VALUES (\(Self.placeholders(candidateColumns.count))) RETURNING id"
        let insertObservation = "INSERT INTO observations (\(Self.list(Self.observationColumns))) VALUES (\(Self.placeholders(Self.observationColumns.count)))"
        return try transaction { connection, _ in
            // A retry after a COMMIT whose answer was lost finds the name taken by the copy itself: the unique
            // name refuses it, and nothing is stored twice.
            if let replacing { try connection.execute("DELETE FROM runs WHERE id = $1", [replacing]) }
            guard let id = try connection.execute(insertRun, Self.values(run)).rows.first?[0].flatMap({ Int64($0) }) else {
                throw StoreError(location: location, message: "run \(run.name) was not stored")
            }
            var stored = run
            stored.id = id
            let ids = try ImportedIds.insert(candidates, runId: id) { candidate in
                guard let new = try connection.execute(insertCandidate, values(candidate)).rows.first?[0].flatMap({ Int64($0) }) else {
                    throw StoreError(location: location, message: "a candidate of run \(run.name) was not stored")
                }
                return new
            }
            for observation in observations {
                var moved = observation
                moved.runId = id
                moved.candidateId = try ids.mapped(observation.candidateId, run: run.name, location: location)
                try connection.execute(insertObservation, Self.values(moved))
            }
            return stored
        }
    }

    // MARK: Candidates

    @discardableResult
    public func insert(_ candidates: [CandidateRecord]) throws -> [CandidateRecord] {
        guard !candidates.isEmpty else { return [] }
        let sql = "INSERT INTO candidates (\(Self.list(candidateColumns))) VALUES (\(Self.placeholders(candidateColumns.count))) ON CONFLICT (\"runId\", key) DO NOTHING RETURNING id"
        return try transaction { connection, _ in
            try candidates.compactMap { candidate in
                guard let id = try connection.execute(sql, values(candidate)).rows.first?[0].flatMap({ Int64($0) }) else { return nil }
                var inserted = candidate
                inserted.id = id
                return inserted
            }
        }
    }

    public func insert(observations: [ObservationRecord]) throws {
        let sql = "INSERT INTO observations (\(Self.list(Self.observationColumns))) VALUES (\(Self.placeholders(Self.observationColumns.count)))"
        try transaction { connection, _ in
            for observation in observations { try connection.execute(sql, Self.values(observation)) }
        }
    }

    public func claim(runId: Int64, worker: String, grace: TimeInterval) throws -> CandidateRecord? {
        // The oldest claimable candidate that no other transaction is claiming right now; staleness by the server's clock.
        let sql = """
            UPDATE candidates SET status = 'running', worker = $2, "heartbeatAt" = now()
            WHERE id = (SELECT id FROM candidates
                        WHERE "runId" = $1 AND (status = 'pending' OR (status = 'running' AND "heartbeatAt" < now() - make_interval(secs => $3::float8)))
                        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING \(Self.list(["id"] + candidateColumns))
            """
        return try transaction { connection, _ in try connection.execute(sql, [runId, worker, grace]).rows.first.map(candidate) }
    }

    @discardableResult
    public func heartbeat(candidateId: Int64, worker: String) throws -> Bool {
        try execute("UPDATE candidates SET \"heartbeatAt\" = now() WHERE id = $1 AND worker = $2 AND status = 'running'",
                    [candidateId, worker]).affected > 0
    }

    public func complete(_ candidate: CandidateRecord, worker: String, observation: ObservationRecord?) throws -> Completion {
        guard let id = candidate.id else { throw StoreError(location: location, message: "candidate without id is not in the store") }
        let assignments = candidateColumns.enumerated().map { "\"\($1)\" = $\($0 + 2)" }.joined(separator: ", ")
        return try transaction { connection, retried in
            guard let row = try connection.execute("SELECT status, worker FROM candidates WHERE id = $1 FOR UPDATE", [id]).rows.first else {
                throw StoreError(location: location, message: "candidate \(id) is not in the store")
            }
            var reader = PostgresRowReader(row, table: "\(location) candidates")
            let status = try reader.status(CandidateStatus.self)
            guard status == .running, row[1] == worker else {
                // A completion whose COMMIT was lost with the connection and that is found done on the retry is this one.
                if retried && row[1] == worker && !status.isOpen { return .stored }
                return .lostClaim(heldBy: row[1], status: status)
            }
            let finishedAt = Date()
            var finished = candidate
            finished.finishedAt = finishedAt
            finished.worker = worker
            try connection.execute("UPDATE candidates SET \(assignments) WHERE id = $1", [id] + values(finished))
            if var observation {
                observation.worker = worker
                observation.finishedAt = finishedAt
                let columns = Self.observationColumns
                let updates = columns.map { "\"\($0)\" = EXCLUDED.\"\($0)\"" }.joined(separator: ", ")
                try connection.execute("""
                    INSERT INTO observations (\(Self.list(columns))) VALUES (\(Self.placeholders(columns.count)))
                    ON CONFLICT ("candidateId", rung) DO UPDATE SET \(updates)
                    """, Self.values(observation))
            }
            return .stored
        }
    }

    @discardableResult
    public func promote(runId: Int64, ids: [Int64], from rung: Int) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try execute("""
            UPDATE candidates SET rung = rung + 1, status = 'pending', worker = NULL, "heartbeatAt" = NULL
            WHERE id = ANY($2::bigint[]) AND "runId" = $1 AND rung = $3 AND status = 'done'
            """, [runId, Self.array(ids), rung]).affected
    }

    /// An integer array parameter ('{1,2,3}').
    static func array(_ ids: [Int64]) -> String { "{" + ids.map(String.init).joined(separator: ",") + "}" }

    public func observations(runId: Int64) throws -> [ObservationRecord] {
        try execute("\(Self.selectObservation) WHERE \"runId\" = $1 ORDER BY \"candidateId\", rung", [runId]).rows.map(observation)
    }

    public func candidates(runId: Int64) throws -> [CandidateRecord] {
        try execute("\(selectCandidate) WHERE \"runId\" = $1 ORDER BY id", [runId]).rows.map(candidate)
    }

    public func candidates(runId: Int64, generation: Int) throws -> [CandidateRecord] {
        try execute("\(selectCandidate) WHERE \"runId\" = $1 AND generation = $2 ORDER BY id", [runId, generation]).rows.map(candidate)
    }

    public func openCount(runId: Int64, generation: Int) throws -> Int {
        let rows = try execute("SELECT count(*) FROM candidates WHERE \"runId\" = $1 AND generation = $2 AND status IN ('pending', 'running')",
                               [runId, generation]).rows
        return Int(rows.first?[0] ?? "0") ?? 0
    }

    public func candidate(id: Int64) throws -> CandidateRecord? {
        try execute("\(selectCandidate) WHERE id = $1", [id]).rows.first.map(candidate)
    }

    public func counts(runId: Int64) throws -> [CandidateStatus: Int] {
        var result: [CandidateStatus: Int] = [:]
        for row in try execute("SELECT status, count(*) FROM candidates WHERE \"runId\" = $1 GROUP BY status", [runId]).rows {
            var reader = PostgresRowReader(row, table: "\(location) candidates")
            result[try reader.status(CandidateStatus.self)] = try reader.int()
        }
        return result
    }

    public func finishedMetrics(runId: Int64) throws -> [FinishedMetrics] {
        let stored = metricTable.stored
        let rows = try execute("SELECT id, \(Self.list(stored.map { $0.column! })) FROM candidates WHERE \"runId\" = $1 AND status = 'done' ORDER BY id",
                               [runId]).rows
        return try rows.map { row in
            var r = PostgresRowReader(row, table: "\(location) candidates")
            let id = try r.int64()
            var values = MetricValues()
            for metric in stored { values[metric] = try r.optionalDouble() }
            return FinishedMetrics(id: id, values: values)
        }
    }

    public func frontier(runId: Int64) throws -> [CandidateRecord] {
        try execute("\(selectCandidate) WHERE \"runId\" = $1 AND \"onFrontier\" ORDER BY id", [runId]).rows.map(candidate)
    }

    public func setFrontier(runId: Int64, ids: Set<Int64>) throws {
        try execute("UPDATE candidates SET \"onFrontier\" = (id = ANY($2::bigint[])) WHERE \"runId\" = $1", [runId, Self.array(ids.sorted())])
    }

    /// The invariants the schema cannot state: a running candidate has a worker and a heartbeat; an observation
    /// belongs to its candidate's run. "ok" when they hold, else what breaks them.
    public func integrityCheck() throws -> String {
        let rows = try execute("""
            SELECT (SELECT count(*) FROM candidates WHERE status = 'running' AND (worker IS NULL OR "heartbeatAt" IS NULL)),
                   (SELECT count(*) FROM observations o JOIN candidates c ON c.id = o."candidateId" WHERE c."runId" <> o."runId"),
                   (SELECT count(*) FROM candidates WHERE status <> ALL($1::text[]))
            """, ["{" + CandidateStatus.allCases.map(\.rawValue).joined(separator: ",") + "}"]).rows
        let counts = (rows.first ?? []).map { Int($0 ?? "0") ?? 0 }
        var problems: [String] = []
        if counts.count == 3 {
            if counts[0] > 0 { problems.append("\(counts[0]) running candidates without a worker or heartbeat") }
            if counts[1] > 0 { problems.append("\(counts[1]) observations in another run than their candidate's") }
            if counts[2] > 0 { problems.append("\(counts[2]) candidates with an unknown status") }
        }
        return problems.isEmpty ? "ok" : problems.joined(separator: "; ")
    }
}
