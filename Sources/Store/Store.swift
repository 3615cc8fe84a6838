import Foundation
import Metrics

/// The runs and candidates of searches, whatever holds them (SQLite on one machine, PostgreSQL across machines).
/// Every backend keeps the same schema under the same named, append-only migrations and gives the same
/// guarantees: a candidate is claimed by one worker at a time, a worker that stops sending heartbeats for longer
/// than the grace period loses its claim, a finished candidate is stored once, and every write is one transaction.
public protocol Store: AnyObject, Sendable {
    /// Where the store is, for messages: its path, or its URL with the password masked.
    var location: String { get }
    /// A folder on this machine for the files that belong with the store's runs (kept checkpoints, successive
    /// halving's saved states): beside an SQLite file; `results/` in the working directory for a server.
    var localFolder: URL { get }

    // MARK: Runs

    /// Stores a new run (as given: status and dates included) and returns it with its id; a run of the same name is refused.
    func createRun(_ run: RunRecord) throws -> RunRecord
    func run(named name: String) throws -> RunRecord?
    /// Every run, oldest first.
    func runs() throws -> [RunRecord]
    func setRunStatus(_ runId: Int64, _ status: RunStatus) throws
    /// Replaces a run's stored configuration (used once, to bring a run made by an older efsearch up to date).
    func setRunConfig(_ runId: Int64, _ config: String) throws
    /// Removes a run with its candidates and observations.
    func deleteRun(_ runId: Int64) throws
    /// Stores a whole run from another store (`store copy`) in one transaction: the run as given (a new id), its
    /// candidates (new ids, in order) and its observations (their candidate ids mapped to the new ones), after
    /// removing the run `replacing` when given. Whatever stops it (an error, `kill -9`), the store keeps either
    /// the run it had or the new one, whole. Returns the stored run.
    func importRun(_ run: RunRecord, candidates: [CandidateRecord], observations: [ObservationRecord], replacing: Int64?) throws -> RunRecord

    // MARK: Candidates

    /// Inserts candidates as given, in one transaction (a key the run has already is skipped); returns the
    /// inserted ones with their ids, in order.
    @discardableResult
    func insert(_ candidates: [CandidateRecord]) throws -> [CandidateRecord]
    /// Inserts observations as given, in one transaction (`store copy`).
    func insert(observations: [ObservationRecord]) throws
    /// Claims the oldest pending candidate of a run, or one whose worker stopped sending heartbeats more than
    /// `grace` seconds ago (by the store's clock), atomically.
    func claim(runId: Int64, worker: String, grace: TimeInterval) throws -> CandidateRecord?
    /// Tells the others that `worker` is still on the candidate; false when it no longer holds it.
    @discardableResult
    func heartbeat(candidateId: Int64, worker: String) throws -> Bool
    /// Records a finished candidate (and its rung's observation, under successive halving) if `worker` still
    /// holds it, in one transaction; otherwise stores nothing and says who does.
    func complete(_ candidate: CandidateRecord, worker: String, observation: ObservationRecord?) throws -> Completion
    /// Successive halving: sends the finished candidates `ids` at rung `from` on to rung `from + 1` (pending again,
    /// unclaimed), in one transaction; a candidate that is elsewhere is left alone. Returns how many moved.
    @discardableResult
    func promote(runId: Int64, ids: [Int64], from rung: Int) throws -> Int
    /// Every rung observation of a run, by candidate and rung.
    func observations(runId: Int64) throws -> [ObservationRecord]
    /// A run's candidates by id.
    func candidates(runId: Int64) throws -> [CandidateRecord]
    /// The candidates of one generation of a run, by id.
    func candidates(runId: Int64, generation: Int) throws -> [CandidateRecord]
    /// How many of a generation's candidates are pending or running.
    func openCount(runId: Int64, generation: Int) throws -> Int
    func candidate(id: Int64) throws -> CandidateRecord?
    /// How many of a run's candidates are in each status (statuses with none are absent).
    func counts(runId: Int64) throws -> [CandidateStatus: Int]
    /// The figures of a run's finished candidates, without decoding whole records (for the frontier).
    func finishedMetrics(runId: Int64) throws -> [FinishedMetrics]
    /// The run's frontier members, by id.
    func frontier(runId: Int64) throws -> [CandidateRecord]
    /// Marks exactly `ids` as the run's frontier.
    func setFrontier(runId: Int64, ids: Set<Int64>) throws
    /// The backend's own consistency check: "ok" when the store is sound.
    func integrityCheck() throws -> String
}

extension Store {
    /// Records a finished candidate that has no rung observation.
    public func complete(_ candidate: CandidateRecord, worker: String) throws -> Completion {
        try complete(candidate, worker: worker, observation: nil)
    }
}

/// The migrations every backend applies, in order, by name. A store that has one this list does not know was
/// made by a newer efsearch and is refused. Never edit or reorder a name that has shipped: append.
public enum StoreSchema {
    /// The literal migrations, in order; a metric added to the table after them brings its own (`metric NAME`).
    public static let literalMigrations = [
        "v1: runs and candidates",
        "v2: predicted latency, kept checkpoints, machine",
        "v3: successive-halving rungs and their observations",
        "v4: zero-cost proxy scores",
    ]

    /// Every migration of a store that keeps `table`'s metrics, in order.
    public static func migrations(for table: MetricTable) -> [String] {
        literalMigrations + table.stored.filter { $0.migration == nil }.map(\.migrationName)
    }

    /// The migrations of a store of the standard metrics.
    public static let migrations = migrations(for: .standard)

    /// The message for a store whose schema is newer than this efsearch's.
    public static let newerSchemaMessage =
        "made by a newer efsearch (its schema has migrations this version does not know); use a newer efsearch or another --store"
}

/// What `--store` names: an SQLite file, or a PostgreSQL database
/// (`postgresql://user[:password]@host[:port]/database[?sslmode=...]`).
public enum StoreLocation: Equatable, Sendable {
    case sqlite(path: String)
    case postgres(PostgresAddress)

    /// What `--store` names when it is given, else `$EFSEARCH_STORE` when set, else `results/efsearch.sqlite`.
    public static func text(given: String?) -> String {
        given ?? ProcessInfo.processInfo.environment["EFSEARCH_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? "results/efsearch.sqlite"
    }

    /// Reads a `--store` value (or `$EFSEARCH_STORE`): a URL with the postgresql or postgres scheme, else a path.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw StoreError(location: "\"\"", message: "expected a path to an SQLite file or a postgresql://user@host/database URL")
        }
        if let scheme = trimmed.range(of: "://").map({ String(trimmed[..<$0.lowerBound]) }), !scheme.contains("/") {
            guard ["postgresql", "postgres"].contains(scheme.lowercased()) else {
                throw StoreError(location: PostgresAddress.mask(trimmed), message: "the scheme \"\(scheme)\" is not a store; expected a path to an SQLite file or a postgresql://user@host/database URL")
            }
            self = .postgres(try PostgresAddress(parsing: trimmed))
        } else {
            self = .sqlite(path: trimmed)
        }
    }

    /// The location for messages (the password masked).
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let address): address.masked
        }
    }
}

/// A PostgreSQL database's address, from a `postgresql://` URL. The password may also come from `PGPASSWORD`
/// or `~/.pgpass` (the client library reads them when the URL has none).
public struct PostgresAddress: Equatable, Sendable {
    public var user: String?
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// libpq's `sslmode`: disable, allow, prefer (the default), require, verify-ca or verify-full.
    public var sslMode: String?
    /// Seconds to wait for a connection (default 10).
    public var connectTimeout: Int

    public static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    public init(parsing text: String) throws {
        // The password is masked in every message, including those about a malformed URL.
        let masked = PostgresAddress.mask(text)
        func fail(_ message: String) -> StoreError { StoreError(location: masked, message: message) }
        let form = "postgresql://user[:password]@host[:port]/database[?sslmode=...]"
        guard let components = URLComponents(string: text) else { throw fail("not a valid URL; expected \(form)") }
        guard let host = components.host, !host.isEmpty else { throw fail("the URL names no host; expected \(form)") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if let port = components.port {
            guard (1...65_535).contains(port) else { throw fail("port \(port) is out of range; expected 1 to 65535") }
            self.port = port
        } else if PostgresAddress.authority(text).hasSuffix(":") {
            throw fail("the URL has an empty port; expected \(form)")
        } else {
            port = 5432
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty else { throw fail("the URL names no database; expected \(form)") }
        guard !path.contains("/") else { throw fail("\"\(path)\" is not a database name (it has a \"/\"); expected \(form)") }
        database = path
        user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        password = components.password
        sslMode = nil
        connectTimeout = 10
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard PostgresAddress.sslModes.contains(value) else {
                    throw fail("sslmode \"\(value)\" is not known; expected one of \(PostgresAddress.sslModes.joined(separator: ", "))")
                }
                sslMode = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds >= 1 else { throw fail("connect_timeout \"\(value)\": expected whole seconds, at least 1") }
                connectTimeout = seconds
            default:
                throw fail("the parameter \"\(item.name)\" is not known; expected sslmode or connect_timeout")
            }
        }
    }

    /// The URL with the password replaced by `***`.
    public var masked: String {
        var text = "postgresql://"
        if let user { text += user + (password == nil ? "" : ":***") + "@" }
        text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)/\(database)"
        var query: [String] = []
        if let sslMode { query.append("sslmode=\(sslMode)") }
        if connectTimeout != 10 { query.append("connect_timeout=\(connectTimeout)") }
        return query.isEmpty ? text : text + "?" + query.joined(separator: "&")
    }

    /// The host and port part of a URL: after the credentials, before the path.
    static func authority(_ text: String) -> Substring {
        guard let schemeEnd = text.range(of: "://") else { return "" }
        let rest = text[schemeEnd.upperBound...]
        let hostPart = rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)]
        return hostPart.lastIndex(of: "@").map { hostPart[hostPart.index(after: $0)...] } ?? hostPart
    }

    /// Masks the password of a URL that may not parse.
    static func mask(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://"), let at = text[schemeEnd.upperBound...].lastIndex(of: "@") else { return text }
        let credentials = text[schemeEnd.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
