import Foundation
import GRDB
import SearchRunner
import Statistics
import XCTest

/// `efsearch nas`, `worker`, `grid`, `frontier`, `export` through the binary, against real stores.
final class SearchCLITests: XCTestCase {
    var directory: URL!
    var storePath: String { directory.appendingPathComponent("efsearch.sqlite").path }
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tiny: String { Self.repository.appendingPathComponent("searchspaces/tiny.yaml").path }
    var b0Space: String { Self.repository.appendingPathComponent("searchspaces/efficientnet-b0.yaml").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-search-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func run(_ arguments: [String], in directory: URL? = nil) throws -> CLITests.Result {
        try CLITests.execute(arguments, in: directory)
    }

    /// A folder inside the test's directory, created.
    func folder(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Makes a finished run look as if its process had been killed after its first `keep` candidates (or
    /// generations, for a search): the rest deleted, the run marked running.
    func crash(_ run: String, keepingGenerationsBelow generation: Int) throws {
        let queue = try DatabaseQueue(path: storePath)
        try queue.write { db in
            let id = try XCTUnwrap(Int64.fetchOne(db, sql: "SELECT id FROM runs WHERE name = ?", arguments: [run]))
            try db.execute(sql: "DELETE FROM candidates WHERE runId = ? AND generation >= ?", arguments: [id, generation])
            try db.execute(sql: "UPDATE candidates SET onFrontier = 0 WHERE runId = ?", arguments: [id])
            try db.execute(sql: "UPDATE runs SET status = 'running', finishedAt = NULL WHERE id = ?", arguments: [id])
        }
    }

    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    /// Rows of an exported CSV as dictionaries.
    static func csv(_ path: String) throws -> [[String: String]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().map { line in
            // Arch strings hold no commas between quotes here except in arch (quoted); split carefully.
            var fields: [String] = [], current = "", quoted = false
            for character in line {
                if character == "\"" { quoted.toggle() } else if character == "," && !quoted { fields.append(current); current = "" } else { current.append(character) }
            }
            fields.append(current)
            return Dictionary(uniqueKeysWithValues: zip(header, fields))
        }
    }

    func export(_ name: String) throws -> (candidates: [[String: String]], frontier: [[String: String]]) {
        let out = directory.appendingPathComponent("export-\(name)").path
        let result = try run(["export", name, "--store", storePath, "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/run.json"))
        return (try Self.csv(out + "/candidates.csv"), try Self.csv(out + "/frontier.csv"))
    }

    func testEstimateSearchIsReproducibleAndItsFrontierIsTheNonDominatedSet() throws {
        let arguments = ["nas", "--space", b0Space, "--strategy", "nsga2", "--budget", "300", "--fidelity", "estimate",
                         "--objectives", "macs,params", "--seed", "4", "--store", storePath]
        XCTAssertEqual(try run(arguments + ["--run", "a"]).status, 0)
        XCTAssertEqual(try run(arguments + ["--run", "b"]).status, 0)
        let a = try export("a"), b = try export("b")
        XCTAssertEqual(a.candidates.count, 300)
        let strip = { (rows: [[String: String]]) in rows.map { $0.filter { $0.key != "id" } } }
        XCTAssertEqual(strip(a.candidates), strip(b.candidates), "same config and seed, same candidates and metrics")
        // Recompute the frontier from the candidates.
        let points = a.candidates.map { [Double($0["macs"]!)!, Double($0["params"]!)!] }
        let frontier = Set(a.frontier.map { $0["id"]! })
        for (index, row) in a.candidates.enumerated() {
            let dominated = points.indices.contains { j in
                points[j][0] <= points[index][0] && points[j][1] <= points[index][1] && points[j] != points[index]
            }
            XCTAssertEqual(frontier.contains(row["id"]!), !dominated, "candidate \(row["id"]!)")
        }
        XCTAssertEqual(a.candidates.filter { $0["on_frontier"] == "true" }.count, frontier.count)
    }

    func testBadSearchInputExitsWithTwo() throws {
        let badSpace = directory.appendingPathComponent("bad.yaml").path
        try "stages: [{kernel: []}]\n".write(toFile: badSpace, atomically: true, encoding: .utf8)
        let badEnqueue = directory.appendingPathComponent("enqueue.txt").path
        try "# first the base network at width 1\nefficientnet-b0\n".write(toFile: badEnqueue, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["nas", "--space", badSpace], "stages[1].kernel"),
            (["nas", "--space", tiny, "--enqueue", badEnqueue], "line 2: \"efficientnet-b0\": not a candidate of the space tiny"),
            (["nas", "--space", tiny, "--enqueue", directory.appendingPathComponent("none.txt").path], "cannot read the file"),
            (["nas", "--space", tiny, "--budget", "0"], "--budget"),
            (["nas", "--space", tiny, "--strategy", "annealing"], "--strategy"),
            (["nas", "--space", tiny, "--objectives", "speed"], "speed"),
            (["nas", "--space", tiny, "--fidelity", "estimate", "--objectives", "accuracy"], "no accuracy"),
            (["nas", "--space", tiny, "--constraint", "macs<=lots"], "macs<=lots"),
            (["nas", "--space", tiny, "--store", "/proc/forbidden/x.sqlite"], "/proc/forbidden"),
            (["frontier", "nothing"], "no such run"),
            (["nas", "--space", tiny, "--dataset", "imagenet:/x"], "unknown dataset"),
            (["train", "--dataset", "synthetic:12"], "at least 100"),
            (["nas", "--space", tiny, "--strategy", "tpe", "--startup", "0"], "--startup"),
            (["nas", "--space", tiny, "--strategy", "random", "--startup", "5"], "--startup goes with --strategy tpe or bo"),
            (["nas", "--space", tiny, "--strategy", "bo", "--startup", "0"], "--startup"),
            (["nas", "--space", tiny, "--replay", "nosuchrun", "--objectives", "macs"], "does not exist"),
            (["nas", "--space", tiny, "--fidelity", "replay", "--objectives", "macs"], "--replay"),
            (["nas", "--space", tiny, "--replay", "../x"], "a run name has"),
            (["nas", "--space", tiny, "--warm-start", "nosuchrun", "--fidelity", "estimate", "--objectives", "macs"], "no such run"),
            (["proxies", "efficientnet-b0", "--dataset", "folder"], "needs a directory"),
            (["eval", "--checkpoint", "x.safetensors", "--dataset", "cifar10:"], "needs a directory"),
            (["nas", "--space", tiny, "--fidelity", "sh", "--eta", "1"], "--eta"),
            (["nas", "--space", tiny, "--rungs", "1,3,2"], "more epochs than the one before"),
            (["nas", "--space", tiny, "--rungs", "1,x"], "whole numbers"),
            (["nas", "--space", tiny, "--rungs", "0,2"], "at least 1"),
            (["nas", "--space", tiny, "--rungs", "1,3", "--epochs", "3"], "--epochs"),
            (["nas", "--space", tiny, "--fidelity", "train", "--rungs", "1,3"], "--fidelity sh"),
            (["nas", "--space", tiny, "--min-epochs", "4", "--max-epochs", "2"], "--min-epochs"),
            (["grid", "--eta", "0"], "--eta"),
            (["nas", "--space", tiny, "--prefilter", "snip:0.5"], "snip"),
            (["nas", "--space", tiny, "--prefilter", "naswot:0"], "(0, 1]"),
            (["nas", "--space", tiny, "--prefilter", "naswot:1.5"], "(0, 1]"),
            (["nas", "--space", tiny, "--fidelity", "estimate", "--objectives", "macs", "--prefilter", "naswot:0.5"], "--prefilter"),
            (["nas", "--space", tiny, "--objectives", "zen:max"], "naswot"),
            (["proxy-check", "--space", tiny, "--short", "epochs=0"], "--short"),
            (["proxy-check", "--space", tiny, "--long", "epochs=3,size=4"], "--long"),
            (["proxy-check", "--space", tiny, "--sample", "2"], "--sample"),
            (["proxies", "efficientnet-b0", "--batch", "1"], "--batch"),
            (["grid", "--workers", "0"], "--workers"),
            (["nas", "--space", tiny, "--workers", "-1"], "--workers"),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments + (arguments.contains("--store") ? [] : ["--store", storePath]))
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    /// Several workers share a run; a killed worker's candidate is taken over; the run is resumed; every
    /// candidate gets the same metrics as a single-process run; nothing finished is lost or repeated.
    func testWorkersKillAndResume() throws {
        let common = ["--space", tiny, "--strategy", "random", "--budget", "6", "--generation", "6", "--fidelity", "train",
                      "--dataset", "synthetic:600", "--epochs", "2", "--batch", "32", "--seed", "9", "--threads", "1", "--store", storePath]
        // Reference: one process.
        XCTAssertEqual(try run(["nas"] + common + ["--run", "single"]).status, 0)
        // The same search with a coordinator and two workers started at the same instant; kill -9 one mid-way.
        let coordinator = try start(["nas"] + common + ["--run", "shared", "--grace", "2"])
        var database: DatabaseQueue?
        for _ in 0..<100 where database == nil {
            Thread.sleep(forTimeInterval: 0.1)
            database = try? DatabaseQueue(path: storePath)
            if let queue = database, (try? queue.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM candidates") ?? 0 }) ?? 0 == 0 { database = nil }
        }
        let queue = try XCTUnwrap(database, "the run's candidates appeared")
        let workers = try (0..<2).map { _ in try start(["worker", "--run", "shared", "--store", storePath, "--grace", "2", "--idle", "30"]) }
        // Kill the first worker while it holds a candidate.
        let victim = workers[0].processIdentifier
        var held: Int64?
        for _ in 0..<300 where held == nil {
            held = try queue.read { try Int64.fetchOne($0, sql: "SELECT id FROM candidates WHERE status = 'running' AND worker LIKE ?", arguments: ["%:\(victim)"]) }
            if held == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        let lost = try XCTUnwrap(held, "the worker claimed a candidate")
        kill(victim, SIGKILL)
        coordinator.waitUntilExit()
        workers[1].waitUntilExit()
        XCTAssertEqual(coordinator.terminationStatus, 0)
        let takenOver = try queue.read { try Row.fetchOne($0, sql: "SELECT status, worker FROM candidates WHERE id = ?", arguments: [lost]) }
        XCTAssertEqual(takenOver?["status"], "done")
        XCTAssertNotEqual((takenOver?["worker"] as String?)?.hasSuffix(":\(victim)"), true, "another worker finished the killed worker's candidate")
        XCTAssertEqual(try queue.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }, "ok")
        // Finish anything left over (there should be nothing) and check the store.
        let resumed = try run(["nas", "--resume", "shared", "--store", storePath, "--grace", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("database is locked"))
        let single = try export("single"), shared = try export("shared")
        XCTAssertEqual(shared.candidates.count, 6)
        XCTAssertTrue(shared.candidates.allSatisfy { $0["status"] == "done" }, "\(shared.candidates.map { $0["status"]! })")
        let metrics = { (rows: [[String: String]]) in
            Dictionary(uniqueKeysWithValues: rows.map { ($0["arch"]! + "@" + $0["resolution"]!, [$0["accuracy"]!, $0["macs"]!]) })
        }
        XCTAssertEqual(metrics(single.candidates), metrics(shared.candidates), "workers give every candidate the same metrics")
        let check = try run(["runs", "--store", storePath])
        XCTAssertEqual(check.status, 0)
        XCTAssertTrue(check.stdout.contains("shared"))
    }

    func testGridAtPhiOneRanksCoefficientsAndScaleUsesTheChoice() throws {
        let result = try run(["grid", "--phi", "1", "--step", "0.1", "--tolerance", "0.1", "--fidelity", "estimate",
                              "--store", storePath, "--run", "g"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("chosen: alpha"), result.stdout)
        // At proxy depth 0.25, (1.1, 1.1, 1.2) and (1.2, 1.1, 1.2) make the same network (and so do (1.1, 1.2, 1.1)
        // and (1.2, 1.2, 1.1)): 13 points, 11 candidates, the twins listed after their network's first point.
        XCTAssertTrue(result.stderr.contains("13 (alpha, beta, gamma) points, 11 distinct proxy networks"), result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasSuffix("same network as above") }.count, 2, result.stdout)
        for (index, line) in lines.enumerated() where line.hasSuffix("same network as above") {
            let columns = { (text: String) in text.split(separator: " ").map(String.init) }
            XCTAssertEqual(Array(columns(line)[6...8]), Array(columns(lines[index - 1])[6...8]), "a twin has its network's MACs, params and px")
        }
        let exported = try export("g")
        XCTAssertEqual(exported.candidates.count, 11)
        for row in exported.candidates {
            let (a, b, g) = (Double(row["alpha"]!)!, Double(row["beta"]!)!, Double(row["gamma"]!)!)
            XCTAssertLessThanOrEqual(abs(a * b * b * g * g - 2), 0.1 + 1e-9)
            XCTAssertTrue(a >= 1 && b >= 1 && g >= 1)
        }
        let scale = try run(["scale", "--from-run", "g", "--store", storePath, "--phi", "0-2", "--json"])
        XCTAssertEqual(scale.status, 0, scale.stderr)
        XCTAssertEqual(scale.stdout.split(separator: "\n").count, 3)
    }

    /// The coordinator itself is killed mid-run; `--resume` finishes the run without repeating finished work,
    /// and the result is the run an uninterrupted process makes.
    func testResumeAfterTheCoordinatorIsKilled() throws {
        let common = ["--space", tiny, "--strategy", "evolution", "--population", "4", "--budget", "8", "--generation", "2",
                      "--fidelity", "train", "--dataset", "synthetic:400", "--epochs", "1", "--batch", "32", "--seed", "3",
                      "--threads", "2", "--store", storePath]
        XCTAssertEqual(try run(["nas"] + common + ["--run", "whole"]).status, 0)
        let coordinator = try start(["nas"] + common + ["--run", "crashed", "--grace", "1"])
        var queue: DatabaseQueue?
        var doneBefore: [Row] = []
        for _ in 0..<600 {
            Thread.sleep(forTimeInterval: 0.05)
            if queue == nil { queue = try? DatabaseQueue(path: storePath) }
            guard let queue else { continue }
            doneBefore = (try? queue.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT c.id, c.key, c.accuracy FROM candidates c JOIN runs r ON r.id = c.runId
                    WHERE r.name = 'crashed' AND c.status = 'done' ORDER BY c.id
                    """)
            }) ?? []
            if doneBefore.count >= 3 { break }
        }
        XCTAssertGreaterThanOrEqual(doneBefore.count, 3, "the run got going before the kill")
        kill(coordinator.processIdentifier, SIGKILL)
        coordinator.waitUntilExit()
        let resumed = try run(["nas", "--resume", "crashed", "--store", storePath, "--grace", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let whole = try export("whole"), crashed = try export("crashed")
        XCTAssertEqual(crashed.candidates.count, 8)
        XCTAssertTrue(crashed.candidates.allSatisfy { $0["status"] == "done" })
        // Nothing finished before the kill was lost or redone: same ids, same accuracy.
        for row in doneBefore {
            let id: Int64 = row["id"]
            let match = crashed.candidates.first { $0["id"] == String(id) }
            XCTAssertEqual(match.flatMap { Double($0["accuracy"]!) }, row["accuracy"] as Double?)
        }
        let key = { (rows: [[String: String]]) in rows.map { $0["arch"]! + "@" + $0["resolution"]! + " " + $0["accuracy"]! } }
        XCTAssertEqual(key(whole.candidates), key(crashed.candidates), "the resumed run is the uninterrupted run")
        XCTAssertEqual(try queue!.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }, "ok")
    }

    /// `--strategy bo` on trained candidates: a coordinator with a second worker process, and a coordinator
    /// killed with SIGKILL after the model started proposing and then resumed, make the run one process makes.
    func testBayesianSearchRepeatsWithWorkersAndAfterAKill() throws {
        let common = ["--space", tiny, "--strategy", "bo", "--startup", "4", "--budget", "12", "--generation", "4",
                      "--fidelity", "train", "--dataset", "synthetic:200", "--epochs", "1", "--batch", "32", "--seed", "5",
                      "--threads", "1", "--store", storePath]
        XCTAssertEqual(try run(["nas"] + common + ["--run", "whole"]).status, 0)
        let coordinator = try start(["nas"] + common + ["--run", "shared"])
        Thread.sleep(forTimeInterval: 0.5)
        let worker = try run(["worker", "--run", "shared", "--store", storePath])
        coordinator.waitUntilExit()
        XCTAssertEqual(coordinator.terminationStatus, 0)
        XCTAssertEqual(worker.status, 0, worker.stderr)
        let crashed = try start(["nas"] + common + ["--run", "crashed", "--grace", "1"])
        let queue = try DatabaseQueue(path: storePath)
        var done = 0
        for _ in 0..<1200 where done < 6 {
            Thread.sleep(forTimeInterval: 0.05)
            done = (try? queue.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM candidates c JOIN runs r ON r.id = c.runId WHERE r.name = 'crashed' AND c.status = 'done'")
            } ?? 0) ?? 0
        }
        XCTAssertGreaterThanOrEqual(done, 6, "the model's first generation was under way before the kill")
        kill(crashed.processIdentifier, SIGKILL)
        crashed.waitUntilExit()
        let resumed = try run(["nas", "--resume", "crashed", "--store", storePath, "--grace", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let key = { (rows: [[String: String]]) in rows.map { $0["arch"]! + "@" + $0["resolution"]! + " " + $0["accuracy"]! } }
        let whole = key(try export("whole").candidates)
        XCTAssertEqual(whole.count, 12)
        XCTAssertEqual(key(try export("shared").candidates), whole, "two workers")
        XCTAssertEqual(key(try export("crashed").candidates), whole, "killed and resumed")
    }

    /// Measured latency (timed forward passes) is stored beside the estimate, and a latency objective uses it.
    func testMeasuredLatencyIsStored() throws {
        let result = try run(["nas", "--space", tiny, "--strategy", "random", "--budget", "2", "--fidelity", "train",
                              "--latency", "measured", "--objectives", "accuracy,latency", "--dataset", "synthetic:200",
                              "--epochs", "1", "--batch", "32", "--store", storePath, "--run", "timed", "--keep-checkpoints"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let exported = try export("timed")
        XCTAssertEqual(exported.candidates.count, 2)
        for row in exported.candidates {
            XCTAssertGreaterThan(Double(row["latency_measured_ms"]!) ?? 0, 0)
            XCTAssertGreaterThan(Double(row["latency_estimate_ms"]!) ?? 0, 0)
            // The machine and kernel paths that computed it are recorded.
            XCTAssertTrue(row["machine"]?.contains("OpenBLAS") ?? false, row["machine"] ?? "no machine")
            // The kept weights sit next to the store, and export to ONNX by run and id.
            let path = try XCTUnwrap(row["checkpoint"])
            XCTAssertEqual(path, directory.appendingPathComponent("timed/\(row["id"]!).safetensors").standardizedFileURL.path)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), path)
            let model = directory.appendingPathComponent("\(row["id"]!).onnx").path
            let onnx = try run(["onnx", "--run", "timed", "--id", row["id"]!, "--store", storePath, "--out", model])
            XCTAssertEqual(onnx.status, 0, onnx.stderr)
        }
        let missing = try run(["onnx", "--run", "timed", "--id", "999", "--store", storePath, "--out", directory.appendingPathComponent("x.onnx").path])
        XCTAssertEqual(missing.status, 2, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("no candidate 999"), missing.stderr)
    }

    /// The scenario of issue 8: a run is interrupted, its space file edited, and it is resumed. Without --space
    /// it resumes the stored space exactly, from any directory; with the edited --space it is refused, naming
    /// both hashes.
    func testResumeUsesTheStoredSpaceFromAnyDirectory() throws {
        let work = try folder("work"), elsewhere = try folder("elsewhere")
        let space = work.appendingPathComponent("space.yaml")
        let original = try String(contentsOfFile: b0Space, encoding: .utf8)
        try original.write(to: space, atomically: true, encoding: .utf8)
        let common = ["--strategy", "nsga2", "--budget", "400", "--generation", "100", "--fidelity", "estimate", "--objectives", "macs,params",
                      "--seed", "5", "--store", storePath]
        XCTAssertEqual(try run(["nas", "--space", "space.yaml", "--run", "whole"] + common, in: work).status, 0)
        XCTAssertEqual(try run(["nas", "--space", "space.yaml", "--run", "cut"] + common, in: work).status, 0)
        try crash("cut", keepingGenerationsBelow: 2)
        XCTAssertEqual(try export("cut").candidates.count, 200, "two generations kept")
        // The user edits the file.
        let edited = original.replacingOccurrences(of: "resolution: [224]", with: "resolution: [192]")
        XCTAssertNotEqual(edited, original)
        try edited.write(to: space, atomically: true, encoding: .utf8)

        let refused = try run(["nas", "--resume", "cut", "--space", "space.yaml", "--store", storePath], in: work)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        let storedHash = String(StoredSpace.hash(original).prefix(16)), editedHash = String(StoredSpace.hash(edited).prefix(16))
        XCTAssertTrue(refused.stderr.contains(storedHash) && refused.stderr.contains(editedHash), refused.stderr)
        let changed = try run(["nas", "--resume", "cut", "--budget", "500", "--store", storePath], in: work)
        XCTAssertEqual(changed.status, 2, changed.stderr)
        XCTAssertTrue(changed.stderr.contains("--budget 500 differs from the stored 400"), changed.stderr)
        XCTAssertEqual(try export("cut").candidates.count, 200, "a refused resume adds nothing")
        // The plan is compared as values: another spelling of the stored objectives is the same plan, another
        // objective is not.
        let otherObjective = try run(["nas", "--resume", "cut", "--objectives", "macs,latency", "--store", storePath], in: work)
        XCTAssertEqual(otherObjective.status, 2, otherObjective.stderr)
        XCTAssertTrue(otherObjective.stderr.contains("--objectives [macs, latency] differs from the stored [macs, params]"), otherObjective.stderr)
        XCTAssertEqual(try export("cut").candidates.count, 200, "a refused resume adds nothing")

        // From another directory, where space.yaml does not exist: the stored space is used; `macs:min, params`
        // is the stored `macs,params` written another way.
        let resumed = try run(["nas", "--resume", "cut", "--objectives", "macs:min, params", "--store", storePath], in: elsewhere)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let whole = try export("whole"), cut = try export("cut")
        XCTAssertEqual(cut.candidates.count, 400)
        XCTAssertTrue(cut.candidates.allSatisfy { $0["resolution"] == "224" }, "no candidate from the edited file")
        let strip = { (rows: [[String: String]]) in rows.map { $0.filter { $0.key != "id" } } }
        XCTAssertEqual(strip(cut.candidates), strip(whole.candidates), "the resumed run is the uninterrupted run")
        XCTAssertEqual(strip(cut.frontier), strip(whole.frontier))

        // A worker started elsewhere reads the run from the store as well.
        try crash("cut", keepingGenerationsBelow: 4)
        let worker = try run(["worker", "--run", "cut", "--store", storePath, "--idle", "1"], in: elsewhere)
        XCTAssertEqual(worker.status, 0, worker.stderr)
    }

    /// A grid run stores its axes and points: --resume recomputes nothing from flags, refuses different ones,
    /// and works from another directory.
    func testGridResumeUsesItsStoredGrid() throws {
        let elsewhere = try folder("elsewhere")
        let flags = ["grid", "--phi", "1", "--step", "0.1", "--tolerance", "0.1", "--fidelity", "estimate", "--seed", "2", "--store", storePath]
        XCTAssertEqual(try run(flags + ["--run", "g"]).status, 0)
        let before = try export("g")
        XCTAssertFalse(before.candidates.isEmpty)
        try crash("g", keepingGenerationsBelow: 0)
        XCTAssertEqual(try export("g").candidates.count, 0)
        let refused = try run(["grid", "--resume", "g", "--step", "0.05", "--store", storePath])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--step 0.05 differs from the stored 0.1"), refused.stderr)
        let wrongKind = try run(["nas", "--resume", "g", "--store", storePath])
        XCTAssertEqual(wrongKind.status, 2, wrongKind.stderr)
        XCTAssertTrue(wrongKind.stderr.contains("grid run"), wrongKind.stderr)
        // Resumed elsewhere with none of the flags: the stored points, the stored proxy.
        let resumed = try run(["grid", "--resume", "g", "--store", storePath], in: elsewhere)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("chosen: alpha"), resumed.stdout)
        let after = try export("g")
        let points = { (rows: [[String: String]]) in rows.map { [$0["alpha"]!, $0["beta"]!, $0["gamma"]!, $0["arch"]!, $0["macs"]!, $0["resolution"]!] } }
        XCTAssertEqual(points(after.candidates), points(before.candidates))
        let same = try run(["grid", "--resume", "g", "--step", "0.1", "--seed", "2", "--store", storePath])
        XCTAssertEqual(same.status, 0, "flags equal to the stored ones are accepted: \(same.stderr)")
    }

    /// The report of a run: written with its SVGs, holding one row per candidate; bad input exits 2 naming it.
    func testReportWritesOnePageAndRefusesBadInput() throws {
        XCTAssertEqual(try run(["nas", "--space", b0Space, "--strategy", "random", "--budget", "30", "--fidelity", "estimate",
                                "--objectives", "macs,params", "--store", storePath, "--run", "r"]).status, 0)
        let out = directory.appendingPathComponent("report").path
        let result = try run(["report", "r", "--store", storePath, "--out", out, "--svg"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let page = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        XCTAssertFalse(page.contains("<script src") || page.contains("<link") || page.contains("<img"), "no external resources")
        let data = try XCTUnwrap(page.range(of: #"<script type="application/json" id="data">"#).map { page[$0.upperBound...] })
        let json = String(data[..<data.range(of: "</script>")!.lowerBound])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual((object["rows"] as? [Any])?.count, 30)
        XCTAssertFalse((object["layers"] as? [String: Any] ?? [:]).isEmpty, "per-layer costs of the frontier")
        for svg in ["pareto.svg", "progress.svg"] {
            XCTAssertTrue(try String(contentsOfFile: out + "/" + svg, encoding: .utf8).hasPrefix("<svg"), svg)
        }
        let unknown = try run(["report", "nothing", "--store", storePath, "--out", out])
        XCTAssertEqual(unknown.status, 2, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("nothing") && unknown.stderr.contains("no such run"), unknown.stderr)
        let unwritable = try run(["report", "r", "--store", storePath, "--out", "/proc/forbidden/report"])
        XCTAssertEqual(unwritable.status, 2, unwritable.stderr)
        XCTAssertTrue(unwritable.stderr.contains("/proc/forbidden/report"), unwritable.stderr)
    }

    /// The observations of a run as (candidate, rung, epochs, accuracy, loss), in candidate and rung order.
    func observations(_ run: String) throws -> [[String]] {
        let queue = try DatabaseQueue(path: storePath)
        return try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT o.candidateId, o.rung, o.epochs, o.accuracy, o.loss FROM observations o JOIN runs r ON r.id = o.runId
                WHERE r.name = ? ORDER BY o.candidateId, o.rung
                """, arguments: [run]).map { row in (0..<5).map { "\(row[$0] as DatabaseValue)" } }
        }
    }

    /// The distinct workers that stored a run's observations.
    func observationWorkers(_ run: String) throws -> [String] {
        try DatabaseQueue(path: storePath).read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT o.worker FROM observations o JOIN runs r ON r.id = o.runId WHERE r.name = ?", arguments: [run])
        }
    }

    /// Observation rows with candidate ids counted from the run's first, so that two runs of one store compare.
    func relativeIDs(_ rows: [[String]]) -> [[String]] {
        let base = Int(rows[0][0])!
        return rows.map { [String(Int($0[0])! - base)] + $0.dropFirst() }
    }

    /// Successive halving: the rungs are consistent and promotions follow eta and the ranking; the top rung equals
    /// an uninterrupted training; two runs with one seed give the same store; a killed run resumes to the same.
    func testSuccessiveHalvingPromotesByRankAndReproduces() throws {
        let common = ["--space", tiny, "--strategy", "random", "--budget", "9", "--generation", "9", "--rungs", "1,2,3", "--eta", "3",
                      "--objectives", "accuracy", "--dataset", "synthetic:300", "--batch", "32", "--seed", "5", "--threads", "2",
                      "--store", storePath]
        let first = try run(["nas"] + common + ["--run", "sh"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let rows = try observations("sh")
        let byRung = Dictionary(grouping: rows, by: { Int($0[1])! })
        XCTAssertEqual(byRung[0]?.count, 9)
        XCTAssertEqual(byRung[1]?.count, 3, "floor(9 / 3) go on to rung 1")
        XCTAssertEqual(byRung[2]?.count, 1, "floor(3 / 3) go on to rung 2")
        XCTAssertEqual(rows.map { $0[2] }.filter { $0 == "3" }.count, 1, "the top rung has trained 3 epochs in all")
        for rung in 1...2 {
            let promoted = Set(byRung[rung]!.map { $0[0] })
            let below = byRung[rung - 1]!
            XCTAssertTrue(promoted.isSubset(of: Set(below.map { $0[0] })), "every candidate at rung \(rung) has rung \(rung - 1)")
            // One objective (accuracy): nobody left behind did better than someone promoted.
            let worstPromoted = below.filter { promoted.contains($0[0]) }.map { Double($0[3])! }.min()!
            let bestLeft = below.filter { !promoted.contains($0[0]) }.map { Double($0[3])! }.max()!
            XCTAssertGreaterThanOrEqual(worstPromoted, bestLeft)
        }
        let exported = try export("sh").candidates
        for candidate in exported {
            let mine = rows.filter { $0[0] == candidate["id"] }
            XCTAssertEqual(candidate["rung"], mine.last?[1], "a candidate's rung is its highest observed one")
            XCTAssertEqual(Double(candidate["accuracy"]!), Double(mine.last![3]), "a candidate's figures are its highest rung's")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("sh/rungs").path), "the rung states are removed")

        // Continuing from the checkpoint gives the weights of an uninterrupted 3-epoch training.
        let straight = common.map { $0 == "1,2,3" ? "3" : $0 }
        XCTAssertEqual(try run(["nas"] + straight + ["--run", "straight"]).status, 0)
        let top = exported.first { $0["rung"] == "2" }!
        let uninterrupted = try export("straight").candidates.first { $0["arch"] == top["arch"] && $0["resolution"] == top["resolution"] }
        XCTAssertEqual(uninterrupted?["accuracy"], top["accuracy"])

        // The same seed again, and a run killed mid-way then resumed: the same rungs and figures.
        XCTAssertEqual(try run(["nas"] + common + ["--run", "again"]).status, 0)
        let process = try start(["nas"] + common + ["--run", "killed", "--grace", "1"])
        for _ in 0..<600 {
            Thread.sleep(forTimeInterval: 0.05)
            if let count = try? observations("killed").count, count >= 10 { break }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertGreaterThanOrEqual(try observations("killed").count, 10, "the kill came after a promotion")
        let resumed = try run(["nas", "--resume", "killed", "--store", storePath, "--grace", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(relativeIDs(try observations("again")), relativeIDs(rows))
        XCTAssertEqual(relativeIDs(try observations("killed")), relativeIDs(rows))
    }

    /// A training-free search (NASWOT and latency as objectives) and a pre-filter that trains only the best
    /// share of each generation by NASWOT, the rest stored as pruned with their scores.
    func testZeroCostObjectivesAndPrefilter() throws {
        let free = try run(["nas", "--space", tiny, "--strategy", "random", "--fidelity", "estimate", "--objectives", "naswot:max,latency:min",
                            "--budget", "12", "--seed", "2", "--store", storePath, "--run", "free"])
        XCTAssertEqual(free.status, 0, free.stderr)
        let rows = try export("free").candidates
        XCTAssertEqual(rows.count, 12)
        XCTAssertTrue(rows.allSatisfy { Double($0["naswot"] ?? "") != nil && Double($0["synflow"] ?? "x") == nil }, "only the proxy the objectives name")
        XCTAssertFalse(rows.contains { $0["accuracy"] != "" }, "nothing was trained")
        let frontier = rows.filter { $0["on_frontier"] == "true" }
        // The frontier is the non-dominated set on (NASWOT up, latency down).
        for row in rows {
            let (n, l) = (Double(row["naswot"]!)!, Double(row["latency_estimate_ms"]!)!)
            let dominated = rows.contains { other in
                let (m, k) = (Double(other["naswot"]!)!, Double(other["latency_estimate_ms"]!)!)
                return m >= n && k <= l && (m > n || k < l)
            }
            XCTAssertEqual(row["on_frontier"] == "true", !dominated, row["id"]!)
        }
        XCTAssertFalse(frontier.isEmpty)

        let filtered = try run(["nas", "--space", tiny, "--strategy", "random", "--prefilter", "naswot:0.25", "--budget", "8", "--generation", "8",
                                "--dataset", "synthetic:300", "--epochs", "1", "--batch", "32", "--seed", "2", "--threads", "2",
                                "--store", storePath, "--run", "filtered"])
        XCTAssertEqual(filtered.status, 0, filtered.stderr)
        let candidates = try export("filtered").candidates
        let trained = candidates.filter { $0["status"] == "done" }, pruned = candidates.filter { $0["status"] == "pruned" }
        XCTAssertEqual(trained.count, 2, "a quarter of 8")
        XCTAssertEqual(pruned.count, 6)
        XCTAssertTrue(pruned.allSatisfy { $0["accuracy"] == "" && $0["reason"]!.contains("pre-filter") })
        let worstTrained = trained.map { Double($0["naswot"]!)! }.min()!, bestPruned = pruned.map { Double($0["naswot"]!)! }.max()!
        XCTAssertGreaterThanOrEqual(worstTrained, bestPruned, "the trained ones have the generation's best NASWOT")
    }

    /// proxy-check stores both settings of every sampled candidate and prints the documented JSON; a resume of
    /// the finished run reprints the same figures.
    func testProxyCheckReportsCorrelations() throws {
        let arguments = ["proxy-check", "--space", tiny, "--sample", "4", "--short", "epochs=1,subset=150", "--long", "epochs=2",
                         "--dataset", "synthetic:300", "--batch", "32", "--seed", "4", "--threads", "2", "--bootstrap", "200", "--json",
                         "--store", storePath]
        let first = try run(arguments + ["--run", "check"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any], first.stdout)
        XCTAssertEqual(object["candidates"] as? Int, 4)
        for key in ["spearman", "kendall", "spearman_interval", "kendall_interval", "short", "long", "proxies"] {
            XCTAssertNotNil(object[key], key)
        }
        let proxies = try XCTUnwrap(object["proxies"] as? [[String: Any]])
        XCTAssertEqual(proxies.compactMap { $0["name"] as? String }, ["synflow", "naswot", "macs", "params"])
        let rows = try export("check").candidates
        XCTAssertEqual(rows.count, 8, "each candidate at both settings")
        XCTAssertEqual(Set(rows.map { $0["generation"]! }), ["0", "1"])
        let again = try run(["proxy-check", "--resume", "check", "--json", "--store", storePath])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, first.stdout)
        XCTAssertNil(object["noise_floor"], "only with --noise-floor")
        // --noise-floor: a third training of each candidate at the short setting, another seed; its correlation with
        // the first equals the one computed here from the stored accuracies.
        let floor = try run(arguments + ["--run", "floor", "--noise-floor"])
        XCTAssertEqual(floor.status, 0, floor.stderr)
        let figures = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(floor.stdout.utf8)) as? [String: Any], floor.stdout)
        let noise = try XCTUnwrap(figures["noise_floor"] as? [String: Any], floor.stdout)
        let floorRows = try export("floor").candidates
        XCTAssertEqual(floorRows.count, 12, "each candidate at short, long and short again")
        XCTAssertEqual(Set(floorRows.map { $0["generation"]! }), ["0", "1", "2"])
        let firsts = floorRows.filter { $0["generation"] == "0" }.map { Double($0["accuracy"]!)! }
        let seconds = floorRows.filter { $0["generation"] == "2" }.map { Double($0["accuracy"]!)! }
        let expected = Statistics.spearman(firsts, seconds)  // NaN (null) when a side is constant, as at chance here
        if expected.isNaN { XCTAssertTrue(noise["spearman"] is NSNull, "\(noise)") } else {
            XCTAssertEqual(try XCTUnwrap(noise["spearman"] as? Double), expected, accuracy: 1e-12)
        }
        // The third training is the same network at the same setting under another seed.
        let original = try XCTUnwrap(floorRows.first { $0["generation"] == "0" })
        let twin = try XCTUnwrap(floorRows.first { $0["generation"] == "2" && $0["arch"] == original["arch"] })
        func seed(_ row: [String: String]) throws -> Int64 {
            let shown = try run(["show", row["id"]!, "--store", storePath])
            return try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["seed"] as? Int64, shown.stdout)
        }
        XCTAssertNotEqual(try seed(original), try seed(twin))
    }

    /// `efsearch proxies` computes a fixture network's synflow as PyTorch did (scripts/make_zero_cost_golden.py, arch-small).
    func testProxiesCommandMatchesTheFixture() throws {
        let result = try run(["proxies", "--arch", "ds_r1_k3_s1_c16_se0.25;ir_r2_k3_s2_e6_c24_se0.25;er_r1_k3_s2_e4_c32", "--width", "0.5",
                              "--depth", "1", "--stem", "16", "--head", "64", "--classes", "10", "--resolution", "32", "--seed", "15", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], result.stdout)
        XCTAssertEqual(try XCTUnwrap(object["synflow"] as? Double), 24.8037, accuracy: 1e-3)
        XCTAssertNotNil(object["naswot"] as? Double)
    }

    /// `grid` trains with successive halving unless told otherwise: rungs 2, 6, 18 with eta 3, the ranking puts the
    /// top rung first and the table shows each point's rung.
    func testGridUsesSuccessiveHalvingByDefault() throws {
        let result = try run(["grid", "--phi", "1", "--step", "0.2", "--tolerance", "0.3", "--proxy-resolution", "32",
                              "--dataset", "synthetic:200", "--batch", "32", "--threads", "2", "--seed", "1", "--store", storePath, "--run", "g"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("rung"), result.stdout)
        let rows = try observations("g")
        XCTAssertEqual(rows.filter { $0[1] == "0" }.count, 5, "five points at rung 0")
        XCTAssertEqual(rows.filter { $0[1] == "1" }.count, 1, "floor(5 / 3) = 1 at rung 1")
        XCTAssertEqual(rows.filter { $0[1] == "0" }.map { $0[2] }, ["2", "2", "2", "2", "2"], "rung 0 trains 2 epochs")
        XCTAssertEqual(rows.filter { $0[1] == "2" }.map { $0[2] }, ["18"], "one point trained to 18 epochs")
        // The promotion is by the rung's validation loss (then accuracy, fewer MACs), not on the front of accuracy
        // and MACs, where the point with the fewest MACs always goes on.
        let exported = try export("g").candidates
        let macs = Dictionary(exported.map { ($0["id"]!, Int($0["macs"]!)!) }, uniquingKeysWith: { first, _ in first })
        let firstRung = rows.filter { $0[1] == "0" }.map { (id: $0[0], accuracy: Double($0[3])!, loss: Double($0[4])!) }
        let expected = firstRung.min { a, b in (a.loss, -a.accuracy, macs[a.id]!) < (b.loss, -b.accuracy, macs[b.id]!) }!
        XCTAssertEqual(rows.filter { $0[1] == "1" }.map { $0[0] }, [expected.id], "the lowest loss at rung 0 goes on: \(firstRung)")
        let chosen = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("chosen:") })
        let top = try XCTUnwrap(exported.first { $0["rung"] == "2" })
        XCTAssertTrue(chosen.contains("alpha \(Double(top["alpha"]!)!), beta \(Double(top["beta"]!)!), gamma \(Double(top["gamma"]!)!)"), "\(chosen)")
        let plain = try run(["grid", "--phi", "1", "--step", "0.2", "--tolerance", "0.3", "--fidelity", "estimate", "--store", storePath, "--run", "e"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertFalse(plain.stdout.contains("rung"), plain.stdout)
        // Trained alike (no halving): one observation per point, and the choice is the lowest validation loss.
        let trained = try run(["grid", "--phi", "1", "--step", "0.2", "--tolerance", "0.3", "--proxy-resolution", "32", "--fidelity", "train",
                               "--epochs", "1", "--dataset", "synthetic:200", "--batch", "32", "--threads", "2", "--seed", "1",
                               "--store", storePath, "--run", "t"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let single = try observations("t")
        XCTAssertEqual(single.count, 5, "one observation per point")
        let lowest = try XCTUnwrap(single.min { Double($0[4])! < Double($1[4])! })
        let best = try XCTUnwrap(export("t").candidates.first { $0["id"] == lowest[0] })
        let trainedChoice = try XCTUnwrap(trained.stdout.split(separator: "\n").first { $0.hasPrefix("chosen:") })
        XCTAssertTrue(trainedChoice.contains("alpha \(Double(best["alpha"]!)!), beta \(Double(best["beta"]!)!), gamma \(Double(best["gamma"]!)!)"),
                      "\(trainedChoice) vs \(single)")
    }

    /// `grid --workers 2`: a second process trains points beside the first; the rungs and figures equal one
    /// process's, and the helper has ended when the command returns. Each point takes long enough (about a
    /// second) for the second process to start and claim some while the first trains.
    func testGridWithLocalWorkersEqualsOneProcess() throws {
        let common = ["grid", "--phi", "1", "--step", "0.2", "--tolerance", "0.3", "--proxy-resolution", "48", "--dataset", "synthetic:1000",
                      "--batch", "32", "--rungs", "1,3,9", "--threads", "1", "--seed", "3", "--store", storePath]
        let single = try run(common + ["--run", "one"])
        XCTAssertEqual(single.status, 0, single.stderr)
        let shared = try run(common + ["--run", "two", "--workers", "2"])
        XCTAssertEqual(shared.status, 0, shared.stderr)
        XCTAssertTrue(shared.stderr.contains("worker 2: candidate"), shared.stderr)
        let workers = try observationWorkers("two")
        XCTAssertEqual(Set(workers).count, 2, "both processes trained points: \(workers)")
        XCTAssertEqual(relativeIDs(try observations("two")), relativeIDs(try observations("one")))
        XCTAssertEqual(single.stdout.split(separator: "\n").dropFirst(),
                       shared.stdout.replacingOccurrences(of: "--from-run two", with: "--from-run one").split(separator: "\n").dropFirst(),
                       "the same table and choice")
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/bin/sh")
        ps.arguments = ["-c", "pgrep -f 'worker --run [t]wo' || true"]
        let pipe = Pipe()
        ps.standardOutput = pipe
        try ps.run()
        ps.waitUntilExit()
        XCTAssertEqual(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "", "no worker left running")
    }

    /// Successive halving with a coordinator and a worker: the worker trains rung-0 candidates and promoted ones
    /// (continuing from the coordinator's saved states, and the other way round); the rungs and figures equal a
    /// single process's.
    func testSuccessiveHalvingWithAWorker() throws {
        let common = ["--space", tiny, "--strategy", "random", "--budget", "6", "--generation", "6", "--rungs", "1,2,3", "--eta", "2",
                      "--objectives", "accuracy", "--dataset", "synthetic:300", "--batch", "32", "--seed", "8", "--threads", "1", "--store", storePath]
        XCTAssertEqual(try run(["nas"] + common + ["--run", "single"]).status, 0)
        let coordinator = try start(["nas"] + common + ["--run", "shared"])
        var ready = false
        for _ in 0..<200 where !ready {
            Thread.sleep(forTimeInterval: 0.05)
            ready = ((try? DatabaseQueue(path: storePath).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM candidates c JOIN runs r ON r.id = c.runId WHERE r.name = 'shared'") }) ?? 0) ?? 0 > 0
        }
        XCTAssertTrue(ready, "the run's candidates appeared")
        let worker = try start(["worker", "--run", "shared", "--store", storePath, "--idle", "20"])
        coordinator.waitUntilExit()
        worker.waitUntilExit()
        XCTAssertEqual(coordinator.terminationStatus, 0)
        let workers = try observationWorkers("shared")
        XCTAssertEqual(Set(workers).count, 2, "both processes trained rungs: \(workers)")
        let single = try observations("single")
        XCTAssertEqual(single.filter { $0[1] == "1" }.count, 3, "floor(6 / 2) at rung 1")
        XCTAssertEqual(relativeIDs(try observations("shared")), relativeIDs(single))
    }
}
