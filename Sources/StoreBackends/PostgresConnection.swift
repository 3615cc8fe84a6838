import CLibPQ
import Foundation
import Store

/// An error from the PostgreSQL server or the connection to it.
struct PostgresError: Error, CustomStringConvertible {
    /// The SQLSTATE code, when the server sent one.
    var sqlState: String?
    var message: String
    /// Whether the connection was lost (the statement may or may not have taken effect).
    var connectionLost: Bool

    /// Worth trying again: a lost connection, a serialization failure, a deadlock, a server shutting down or
    /// out of connections. Everything else (a constraint, a syntax error, bad credentials) is not.
    var isTransient: Bool {
        if connectionLost { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["40001", "40P01", "57P01", "57P02", "57P03", "53300"].contains(sqlState)
    }

    var isUniqueViolation: Bool { sqlState == "23505" }

    var description: String { message }
}

/// A value bound to a statement's parameter, sent as text (the server converts it to the column's type).
protocol PostgresBindable {
    var postgresText: String { get }
}

extension String: PostgresBindable { var postgresText: String { self } }
extension Int: PostgresBindable { var postgresText: String { String(self) } }
extension Int64: PostgresBindable { var postgresText: String { String(self) } }
extension Bool: PostgresBindable { var postgresText: String { self ? "true" : "false" } }
extension RunStatus: PostgresBindable { var postgresText: String { rawValue } }
extension CandidateStatus: PostgresBindable { var postgresText: String { rawValue } }

extension Double: PostgresBindable {
    /// Swift prints the shortest text that reads back to the same bits, and the server (extra_float_digits > 0)
    /// does the same: a double makes the round trip exactly.
    var postgresText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self > 0 ? "Infinity" : "-Infinity" }
        return "\(self)"
    }
}

extension Date: PostgresBindable {
    /// ISO 8601 in UTC with microseconds (timestamptz's resolution).
    var postgresText: String {
        let seconds = timeIntervalSince1970
        var whole = Int(seconds.rounded(.down))
        var micros = Int(((seconds - Double(whole)) * 1e6).rounded())
        if micros == 1_000_000 {
            whole += 1
            micros = 0
        }
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), micros)
    }

    /// Reads timestamptz's ISO output in UTC ("2026-11-28 11:05:00.123456+00", the fraction optional).
    init?(postgresText text: String) {
        let utf8 = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= utf8.count else { return nil }
            var value = 0
            for byte in utf8[from..<from + count] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard utf8.count >= 19, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var fraction = 0.0
        var index = 19
        if index < utf8.count && utf8[index] == UInt8(ascii: ".") {
            var scale = 0.1
            index += 1
            while index < utf8.count, utf8[index] >= 48 && utf8[index] <= 57 {
                fraction += Double(utf8[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        // The session's time zone is UTC, so the offset is +00.
        guard text[text.utf8.index(text.utf8.startIndex, offsetBy: index)...] == "+00" else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let whole = timegm(&parts)
        // Rounded to the microsecond, as stored.
        self.init(timeIntervalSince1970: Double(whole) + (fraction * 1e6).rounded() / 1e6)
    }
}

/// The rows of a query, as text (NULL as nil).
struct PostgresRows {
    var rows: [[String?]]
    /// How many rows an INSERT, UPDATE or DELETE touched.
    var affected: Int
}

/// Reads one row's columns in order.
struct PostgresRowReader {
    let values: [String?]
    let table: String
    private var index = 0

    init(_ values: [String?], table: String) {
        self.values = values
        self.table = table
    }

    private mutating func next() -> String? {
        defer { index += 1 }
        return index < values.count ? values[index] : nil
    }

    private func malformed(_ text: String, _ expected: String) -> StoreError {
        StoreError(location: table, message: "column \(index) holds \"\(text)\"; expected \(expected)")
    }

    mutating func optionalString() -> String? { next() }
    mutating func string() throws -> String {
        guard let text = next() else { throw StoreError(location: table, message: "column \(index - 1) is NULL; expected text") }
        return text
    }
    mutating func optionalInt64() throws -> Int64? {
        guard let text = next() else { return nil }
        guard let value = Int64(text) else { throw malformed(text, "an integer") }
        return value
    }
    mutating func int64() throws -> Int64 {
        guard let value = try optionalInt64() else { throw StoreError(location: table, message: "column \(index - 1) is NULL; expected an integer") }
        return value
    }
    mutating func int() throws -> Int { Int(try int64()) }
    mutating func optionalDouble() throws -> Double? {
        guard let text = next() else { return nil }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(text) else { throw malformed(text, "a number") }
            return value
        }
    }
    mutating func double() throws -> Double {
        guard let value = try optionalDouble() else { throw StoreError(location: table, message: "column \(index - 1) is NULL; expected a number") }
        return value
    }
    mutating func bool() throws -> Bool {
        let text = try string()
        guard text == "t" || text == "f" else { throw malformed(text, "t or f") }
        return text == "t"
    }
    mutating func optionalDate() throws -> Date? {
        guard let text = next() else { return nil }
        guard let date = Date(postgresText: text) else { throw malformed(text, "a timestamp in UTC") }
        return date
    }
    mutating func date() throws -> Date {
        guard let date = try optionalDate() else { throw StoreError(location: table, message: "column \(index - 1) is NULL; expected a timestamp") }
        return date
    }
    mutating func status<Status: RawRepresentable<String> & CaseIterable>(_ type: Status.Type) throws -> Status {
        let text = try string()
        guard let status = Status(rawValue: text) else {
            throw malformed(text, "one of \(Status.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return status
    }
}

/// One connection to a PostgreSQL server through libpq. Not thread-safe: `PostgresStore` serialises its use.
final class PostgresConnection {
    let address: PostgresAddress
    private var connection: OpaquePointer?

    /// Connects; a server that is down, refuses the credentials or has no such database is a `PostgresError`
    /// carrying libpq's message.
    init(address: PostgresAddress) throws {
        self.address = address
        try connect()
    }

    /// Connects to the database a `postgresql://` URL names.
    convenience init(url: String) throws {
        try self.init(address: try PostgresAddress(parsing: url))
    }

    deinit { PQfinish(connection) }

    private func connect() throws {
        PQfinish(connection)
        connection = nil
        // Keyword and value arrays, so that nothing in the URL needs quoting. The session runs in UTC with ISO
        // dates and shortest exact floats, which the row reader expects.
        var parameters: [(String, String)] = [
            ("host", address.host), ("port", String(address.port)), ("dbname", address.database),
            ("connect_timeout", String(address.connectTimeout)), ("application_name", "efsearch"),
            ("options", "-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=1"),
        ]
        if let user = address.user { parameters.append(("user", user)) }
        if let password = address.password { parameters.append(("password", password)) }
        if let sslMode = address.sslMode { parameters.append(("sslmode", sslMode)) }
        let keywords = parameters.map { strdup($0.0) } + [nil]
        let values = parameters.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let opened = keywords.map { UnsafePointer($0) }.withUnsafeBufferPointer { keywordPointer in
            values.map { UnsafePointer($0) }.withUnsafeBufferPointer { valuePointer in
                PQconnectdbParams(keywordPointer.baseAddress, valuePointer.baseAddress, 0)
            }
        }
        guard let opened else { throw PostgresError(sqlState: nil, message: "out of memory", connectionLost: true) }
        guard PQstatus(opened) == CONNECTION_OK else {
            let message = PostgresConnection.clean(PQerrorMessage(opened))
            PQfinish(opened)
            // A server that is starting up or out of connection slots may accept the next attempt.
            let transient = message.contains("too many clients") || message.contains("the database system is starting up")
            throw PostgresError(sqlState: transient ? "53300" : nil, message: message, connectionLost: false)
        }
        // NOTICEs (such as "relation already exists, skipping") are not for the user.
        PQsetNoticeProcessor(opened, { _, _ in }, nil)
        connection = opened
    }

    /// Reconnects when the connection was lost (called before a retried transaction).
    func reconnectIfNeeded() throws {
        if connection == nil || PQstatus(connection) != CONNECTION_OK {
            do { try connect() } catch var error as PostgresError {
                error.connectionLost = true
                throw error
            }
        }
    }

    /// Runs one statement with its parameters bound (never spliced into the SQL); several statements when there are none.
    @discardableResult
    func execute(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws -> PostgresRows {
        guard let connection else { throw PostgresError(sqlState: nil, message: "not connected", connectionLost: true) }
        let result: OpaquePointer?
        if parameters.isEmpty {
            result = PQexec(connection, sql)
        } else {
            let texts = parameters.map { $0.map { strdup($0.postgresText) } ?? nil }
            defer { texts.forEach { free($0) } }
            result = texts.map { UnsafePointer($0) }.withUnsafeBufferPointer { values in
                PQexecParams(connection, sql, Int32(parameters.count), nil, values.baseAddress, nil, nil, 0)
            }
        }
        defer { PQclear(result) }
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let sqlState = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
            let message = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "M"))) }.map { String(cString: $0) }
                ?? PostgresConnection.clean(PQerrorMessage(connection))
            throw PostgresError(sqlState: sqlState, message: message, connectionLost: PQstatus(connection) != CONNECTION_OK)
        }
        let rowCount = Int(PQntuples(result)), columnCount = Int(PQnfields(result))
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            rows.append((0..<columnCount).map { column in
                PQgetisnull(result, Int32(row), Int32(column)) == 1 ? nil : String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            })
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(rows: rows, affected: affected)
    }

    /// Ends a failed transaction, if the connection still stands.
    func rollbackQuietly() {
        guard let connection, PQstatus(connection) == CONNECTION_OK, PQtransactionStatus(connection) != PQTRANS_IDLE else { return }
        PQclear(PQexec(connection, "ROLLBACK"))
    }

    /// libpq's message without its trailing newline.
    static func clean(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
