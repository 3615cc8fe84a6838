import Foundation
import Store
@testable import StoreBackends
import XCTest

/// Searches on a PostgreSQL store through the binary, against the server `scripts/with_postgres.sh` started:
/// the same results as on SQLite, workers and kill -9, 32 workers at once, `store copy`, bad URLs.
final class PostgresCLITests: XCTestCase {
    var directory: URL!
    var sqlite: String { directory.appendingPathComponent("efsearch.sqlite").path }
    var tiny: String { SearchCLITests.repository.appendingPathComponent("searchspaces/tiny.yaml").path }
    /// The server's URL (its `postgres` database) and a new database for this test.
    var server = ""
    var postgres = ""
    /// A connection to the test's database, for checking what the processes stored.
    var database: PostgresConnection!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-postgres-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard let url = ProcessInfo.processInfo.environment["EFSEARCH_TEST_POSTGRES"], !url.isEmpty else {
            let message = "no PostgreSQL server: run the tests under scripts/with_postgres.sh (make test does), which sets EFSEARCH_TEST_POSTGRES"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            throw XCTSkip(message)
        }
        server = url
        postgres = try newDatabase()
        database = try PostgresConnection(url: postgres)
    }

    override func tearDown() {
        database = nil
        try? FileManager.default.removeItem(at: directory)
    }

    func newDatabase() throws -> String {
        let name = "cli_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let connection = try PostgresConnection(url: server)
        try connection.execute("CREATE DATABASE \(name)")  // a name made here: CREATE DATABASE takes no parameters
        return String(server[...server.lastIndex(of: "/")!]) + name
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLITests.Result {
        try CLITests.execute(arguments, in: directory, environment: environment)
    }

    /// Starts the binary in the test's folder, its output discarded.
    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        // Standard error goes to a file named after the process id once it is known (for failure messages).
        let log = directory.appendingPathComponent("stderr-\(UUID()).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        try? FileManager.default.moveItem(at: log, to: directory.appendingPathComponent("stderr-\(process.processIdentifier).log"))
        return process
    }

    /// A run's exported candidates, without the columns that depend on the clock or on who trained them.
    func candidates(_ run: String, store: String) throws -> [[String: String]] {
        let out = directory.appendingPathComponent("export-\(UUID())").path
        let result = try self.run(["export", run, "--store", store, "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try SearchCLITests.csv(out + "/candidates.csv").map { $0.filter { !["id", "train_seconds"].contains($0.key) } }
    }

    /// Reads one number from the test's database.
    func count(_ sql: String, _ parameters: [any PostgresBindable] = []) throws -> Int {
        Int(try database.execute(sql, parameters).rows.first?[0] ?? "") ?? -1
    }

    /// Waits until the coordinator has stored run `run`'s first candidates (workers need the run to exist).
    func waitForCandidates(of run: String) {
        let sql = "SELECT count(*) FROM candidates c JOIN runs r ON r.id = c.\"runId\" WHERE r.name = $1"
        for _ in 0..<1200 {
            if ((try? count(sql, [run])) ?? 0) > 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("run \(run)'s candidates appeared")
    }

    /// What a started process wrote to standard error (for failure messages).
    func errors(of process: Process) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("stderr-\(process.processIdentifier).log"), encoding: .utf8)) ?? ""
    }

    /// Who holds a running candidate of `run` now, as worker strings.
    func holders(_ run: String) throws -> [String] {
        try database.execute("""
            SELECT c.worker FROM candidates c JOIN runs r ON r.id = c."runId" WHERE r.name = $1 AND c.status = 'running'
            """, [run]).rows.compactMap { $0[0] }
    }

    var trainedSearch: [String] {
        ["--space", tiny, "--strategy", "evolution", "--population", "4", "--budget", "8", "--generation", "4", "--fidelity", "train",
         "--dataset", "synthetic:400", "--epochs", "1", "--batch", "32", "--seed", "5", "--threads", "1"]
    }

    /// The same configuration and seed on SQLite and on PostgreSQL, in one process and with a coordinator and
    /// two workers: identical candidates and metrics.
    func testSameRunOnSQLiteAndPostgres() throws {
        XCTAssertEqual(try run(["nas"] + trainedSearch + ["--store", sqlite, "--run", "r"]).status, 0)
        let single = try run(["nas"] + trainedSearch + ["--store", postgres, "--run", "r"])
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertTrue(single.stdout.contains("postgresql://efsearch:***@"), single.stdout)
        XCTAssertFalse(single.stdout.contains(try PostgresAddress(parsing: server).password!), "the password is masked")
        let reference = try candidates("r", store: sqlite)
        XCTAssertEqual(reference.count, 8)
        XCTAssertEqual(try candidates("r", store: postgres), reference, "PostgreSQL gives the SQLite run's candidates and metrics")

        // The workers start first and wait for the run (--wait), as on machines started before the coordinator.
        let workers = try (0..<2).map { _ in try start(["worker", "--run", "shared", "--store", postgres, "--grace", "5", "--idle", "60", "--wait", "60"]) }
        Thread.sleep(forTimeInterval: 1)
        let coordinator = try start(["nas"] + trainedSearch + ["--store", postgres, "--run", "shared", "--grace", "5"])
        coordinator.waitUntilExit()
        workers.forEach { $0.waitUntilExit() }
        XCTAssertEqual(coordinator.terminationStatus, 0, errors(of: coordinator))
        XCTAssertEqual(workers.map(\.terminationStatus), [0, 0], workers.map(errors).joined(separator: "\n"))
        XCTAssertEqual(try candidates("shared", store: postgres), reference, "a coordinator and two workers give the same run")
        XCTAssertEqual(try run(["frontier", "shared", "--store", postgres]).status, 0)
    }

    /// A coordinator and two workers on PostgreSQL, with kill -9s of a worker and of the coordinator mid-run and
    /// restarts: every candidate once, and the run an uninterrupted process makes.
    func testKillsAndRestartsOnPostgres() throws {
        XCTAssertEqual(try run(["nas"] + trainedSearch + ["--store", sqlite, "--run", "whole"]).status, 0)
        let shared = trainedSearch + ["--store", postgres, "--run", "killed", "--grace", "2"]
        var coordinator = try start(["nas"] + shared)
        waitForCandidates(of: "killed")
        var workers = try (0..<2).map { _ in try start(["worker", "--run", "killed", "--store", postgres, "--grace", "2", "--idle", "60"]) }
        /// Waits until `process` holds a candidate, then kills it.
        func killWhileHolding(_ process: Process) throws {
            var holding = false
            for _ in 0..<600 where !holding {
                holding = try holders("killed").contains { $0.hasSuffix(":\(process.processIdentifier)") }
                if !holding { Thread.sleep(forTimeInterval: 0.05) }
            }
            XCTAssertTrue(holding, "process \(process.processIdentifier) claimed a candidate")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try killWhileHolding(workers[0])
        workers[0] = try start(["worker", "--run", "killed", "--store", postgres, "--grace", "2", "--idle", "60"])
        try killWhileHolding(coordinator)
        coordinator = try start(["nas", "--resume", "killed", "--store", postgres, "--grace", "2"])
        coordinator.waitUntilExit()
        workers.forEach { $0.waitUntilExit() }
        XCTAssertEqual(coordinator.terminationStatus, 0, errors(of: coordinator))
        XCTAssertEqual(try count("SELECT count(*) FROM candidates"), 8)
        XCTAssertEqual(try count("SELECT count(DISTINCT key) FROM candidates"), 8)
        XCTAssertEqual(try count("SELECT count(*) FROM candidates WHERE status = 'done'"), 8)
        XCTAssertEqual(try candidates("killed", store: postgres), try candidates("whole", store: sqlite), "the run an uninterrupted process makes")
    }

    /// 32 workers started at the same instant on one run: every candidate is claimed and finished exactly once,
    /// no worker fails.
    func testThirtyTwoWorkersAtOnce() throws {
        let search = ["--space", tiny, "--strategy", "random", "--budget", "48", "--generation", "48", "--fidelity", "train",
                      "--dataset", "synthetic:100", "--epochs", "1", "--batch", "32", "--seed", "2", "--threads", "1",
                      "--store", postgres, "--run", "crowd", "--grace", "120"]
        let coordinator = try start(["nas"] + search)
        waitForCandidates(of: "crowd")
        let workers = try (0..<32).map { _ in try start(["worker", "--run", "crowd", "--store", postgres, "--grace", "120", "--idle", "120"]) }
        coordinator.waitUntilExit()
        workers.forEach { $0.waitUntilExit() }
        XCTAssertEqual(coordinator.terminationStatus, 0, errors(of: coordinator))
        XCTAssertEqual(workers.map(\.terminationStatus), Array(repeating: 0, count: 32), "no worker fails: " + workers.map(errors).joined(separator: "\n"))
        XCTAssertEqual(try count("SELECT count(*) FROM candidates WHERE status = 'done'"), 48)
        XCTAssertEqual(try count("SELECT count(*) FROM candidates"), 48)
        XCTAssertGreaterThan(try count("SELECT count(DISTINCT worker) FROM candidates"), 2, "the workers shared the run")
    }

    /// SQLite to PostgreSQL and back gives the same exports; a run the target has is refused unless --replace.
    func testStoreCopyBothWays() throws {
        let search = ["nas", "--space", tiny, "--strategy", "nsga2", "--budget", "60", "--fidelity", "estimate", "--objectives", "macs,params", "--seed", "1"]
        XCTAssertEqual(try run(search + ["--store", sqlite, "--run", "a"]).status, 0)
        XCTAssertEqual(try run(search + ["--store", sqlite, "--run", "b", "--seed", "2"]).status, 0)
        let there = try run(["store", "copy", sqlite, postgres])
        XCTAssertEqual(there.status, 0, there.stderr)
        XCTAssertTrue(there.stdout.contains("copied run a: 60 candidates"), there.stdout)
        let back = directory.appendingPathComponent("back.sqlite").path
        let again = try run(["store", "copy", postgres, back, "--run", "b", "--json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("\"run\":\"b\""), again.stdout)
        for name in ["a", "b"] { XCTAssertEqual(try candidates(name, store: postgres), try candidates(name, store: sqlite)) }
        XCTAssertEqual(try candidates("b", store: back), try candidates("b", store: sqlite))
        // Already there: refused, exit 2, nothing written.
        let refused = try run(["store", "copy", sqlite, postgres])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("already exists"), refused.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM runs"), 2)
        XCTAssertEqual(try count("SELECT count(*) FROM candidates"), 120)
        let replaced = try run(["store", "copy", sqlite, postgres, "--run", "a", "--replace"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(try count("SELECT count(*) FROM candidates"), 120)
        XCTAssertEqual(try run(["store", "copy", sqlite, postgres, "--run", "nothing"]).status, 2)
        // $EFSEARCH_STORE names the store when --store is not given.
        let listed = try run(["runs", "--json"], environment: ["EFSEARCH_STORE": postgres])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertEqual(listed.stdout.split(separator: "\n").count, 2)
    }

    /// Unreachable host, wrong password, missing database, malformed URL: exit 2, a clear message with the
    /// password masked, and nothing written.
    func testBadPostgresURLsExitWithTwo() throws {
        let address = try PostgresAddress(parsing: server)
        let port = address.port
        let cases: [(String, String)] = [
            ("postgresql://efsearch:hunter2@127.0.0.1:1/postgres", "cannot connect"),
            ("postgresql://efsearch:hunter2@127.0.0.1:\(port)/postgres", "password authentication failed"),
            ("postgresql://efsearch:\(address.password!)@127.0.0.1:\(port)/missing_database", "does not exist"),
            ("postgresql://efsearch:hunter2@127.0.0.1:\(port)", "names no database"),
            ("postgresql://efsearch:hunter2@127.0.0.1:\(port)/postgres?sslmode=maybe", "sslmode"),
            ("postgresql://efsearch:hunter2@:\(port)/postgres", "no host"),
        ]
        for (url, expected) in cases {
            for arguments in [["nas", "--space", tiny, "--fidelity", "estimate", "--objectives", "macs", "--budget", "4"], ["runs"], ["worker", "--run", "x"]] {
                let result = try run(arguments + ["--store", url])
                XCTAssertEqual(result.status, 2, "\(arguments) \(url): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains(expected), "\(url): \(result.stderr)")
                XCTAssertFalse(result.stderr.contains("hunter2") || result.stderr.contains(address.password!), "\(url): the password shows: \(result.stderr)")
            }
        }
        XCTAssertEqual(try count("SELECT count(*) FROM pg_database WHERE datname = 'missing_database'"), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("results").path), "nothing written")
    }
}
