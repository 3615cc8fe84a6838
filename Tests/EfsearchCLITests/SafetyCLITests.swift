import Foundation
import GRDB
import XCTest

/// Hostile run names (given or planted in a store), damaged stores and a `store copy --replace` killed half-way,
/// through the binary: exit 0 or 2 with a message naming the store or the rule, and nothing written outside the
/// folders efsearch owns.
final class SafetyCLITests: XCTestCase {
    /// Deep enough that `../../../x` from the store's folder still lands inside it, where the test can look.
    var root: URL!
    var work: URL { root.appendingPathComponent("a/b/c") }
    var storePath: String { work.appendingPathComponent("work/store/s.sqlite").path }
    var tiny: String { SearchCLITests.repository.appendingPathComponent("searchspaces/tiny.yaml").path }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-safety-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: root) }

    func run(_ arguments: [String]) throws -> CLITests.Result { try CLITests.execute(arguments, in: work) }

    /// Every file below the test's root, relative to it.
    func files() -> Set<String> {
        let base = root.standardizedFileURL.resolvingSymlinksInPath().path
        let enumerator = FileManager.default.enumerator(atPath: base)
        var result = Set<String>()
        while let item = enumerator?.nextObject() as? String { result.insert(item) }
        return result
    }

    static let hostileNames = ["../../../escape1", "../x", "a/b", "/tmp/absolute-run", ".hidden", "new\nline", "", "..", String(repeating: "x", count: 101)]

    /// A small estimate-fidelity run in the store.
    func makeRun(_ name: String, budget: Int = 6) throws {
        let result = try run(["nas", "--space", tiny, "--strategy", "random", "--budget", "\(budget)", "--fidelity", "estimate",
                              "--objectives", "macs,params", "--store", storePath, "--run", name])
        XCTAssertEqual(result.status, 0, result.stderr)
    }

    func testHostileRunNamesAreRefusedBeforeAnythingIsWritten() throws {
        try makeRun("good")
        let before = files()
        for name in Self.hostileNames {
            let commands: [[String]] = [
                ["nas", "--space", tiny, "--budget", "2", "--fidelity", "train", "--dataset", "synthetic:100", "--epochs", "1", "--keep-checkpoints",
                 "--store", storePath, "--run", name],
                ["nas", "--space", tiny, "--budget", "2", "--fidelity", "sh", "--rungs", "1,2", "--dataset", "synthetic:100", "--store", storePath, "--run", name],
                ["nas", "--resume", name, "--store", storePath],
                ["grid", "--phi", "1", "--fidelity", "estimate", "--store", storePath, "--run", name],
                ["worker", "--run", name, "--store", storePath, "--idle", "1"],
                ["export", name, "--store", storePath],
                ["report", name, "--store", storePath],
                ["frontier", name, "--store", storePath],
                ["onnx", "--run", name, "--id", "1", "--store", storePath, "--out", "x.onnx"],
                ["store", "copy", storePath, work.appendingPathComponent("copy.sqlite").path, "--run", name],
            ]
            for command in commands {
                let result = try run(command)
                XCTAssertEqual(result.status, 2, "\(command): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains("a run name has 1 to 100 characters"), "\(command): \(result.stderr)")
            }
        }
        XCTAssertEqual(files(), before, "nothing was written")
    }

    func testAPlantedStoredNameNeverNamesAPath() throws {
        try makeRun("good")
        try makeRun("victim")
        let queue = try DatabaseQueue(path: storePath)
        try queue.write { db in try db.execute(sql: "UPDATE runs SET name = '../../../planted' WHERE name = 'victim'") }
        try queue.close()
        let before = files()
        // Copying every run refuses before anything is written, naming the run's id.
        let target = work.appendingPathComponent("target.sqlite").path
        let copy = try run(["store", "copy", storePath, target])
        XCTAssertEqual(copy.status, 2, copy.stderr)
        XCTAssertTrue(copy.stderr.contains("run 2 has the stored name \"../../../planted\""), copy.stderr)
        // The listing shows the others and names the planted one.
        let runs = try run(["runs", "--store", storePath])
        XCTAssertEqual(runs.status, 2, runs.stderr)
        XCTAssertTrue(runs.stdout.contains("good"), runs.stdout)
        XCTAssertFalse(runs.stdout.contains("planted"), runs.stdout)
        XCTAssertTrue(runs.stderr.contains("run 2 has the stored name"), runs.stderr)
        // Export and report of the valid run work and write inside notebooks-export/ only.
        for command in [["export", "good"], ["report", "good"]] {
            let result = try run(command + ["--store", storePath])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        // The copy of the valid run alone goes through.
        let single = try run(["store", "copy", storePath, target, "--run", "good"])
        XCTAssertEqual(single.status, 0, single.stderr)
        let added = files().subtracting(before)
        XCTAssertFalse(added.isEmpty)
        for path in added {
            XCTAssertTrue((path == "a/b/c/notebooks-export" || path.hasPrefix("a/b/c/notebooks-export/good")) || path.hasPrefix("a/b/c/target.sqlite"), path)
        }
        XCTAssertFalse(files().contains { $0.contains("planted") })
    }

    /// Damaged copies of a store (truncated, bytes flipped, the tail cut) opened by every command that reads one:
    /// each exit is 0 or 2, and a 2 names the store; never a crash, a raw SQLite error or a row dump.
    func testDamagedStoresGiveZeroOrTwo() throws {
        try makeRun("r1", budget: 30)
        try makeRun("r2", budget: 30)
        let original = try Data(contentsOf: URL(fileURLWithPath: storePath))
        // The damages are deterministic: a fixed linear congruential sequence.
        var state: UInt64 = 12_345
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var statuses: [Int32: Int] = [:]
        for index in 0..<15 {
            var bytes = [UInt8](original)
            switch index % 3 {
            case 0: bytes = Array(bytes.prefix(1 + next(bytes.count - 1)))
            case 1: for _ in 0..<[1, 8, 64][index % 9 / 3] { bytes[next(bytes.count)] ^= UInt8(1 << next(8)) }
            default: bytes = Array(bytes.dropLast(1 + next(4096)))
            }
            for command in [["runs"], ["frontier", "r1"], ["export", "r1", "--out", "ex"], ["report", "r1", "--out", "rep"], ["nas", "--resume", "r1"]] {
                let path = work.appendingPathComponent("damaged-\(index).sqlite").path
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                let result = try run(command + ["--store", path])
                statuses[result.status, default: 0] += 1
                XCTAssertTrue(result.status == 0 || result.status == 2, "\(index) \(command): \(result.status) \(result.stderr)")
                if result.status == 2 {
                    XCTAssertTrue(result.stderr.contains("store \(path)"), "\(index) \(command): \(result.stderr)")
                    XCTAssertFalse(result.stderr.contains("row: ["), "no row dump: \(result.stderr)")
                }
            }
        }
        XCTAssertGreaterThan(statuses[2, default: 0], 0, "some damage is found: \(statuses)")
    }

    /// `store copy --replace` killed with SIGKILL at several points: the target keeps the old run or the new one,
    /// whole, never a mix or nothing.
    func testStoreCopyReplaceKilledKeepsTheOldRunOrTheNewOne() throws {
        let source = work.appendingPathComponent("source.sqlite").path
        let target = work.appendingPathComponent("target.sqlite").path
        for (path, budget) in [(source, 1500), (target, 20)] {
            let result = try run(["nas", "--space", tiny, "--strategy", "random", "--budget", "\(budget)", "--fidelity", "estimate",
                                  "--objectives", "macs,params", "--store", path, "--run", "same"])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        func targetCount() throws -> Int {
            let queue = try DatabaseQueue(path: target)
            defer { try? queue.close() }
            return try queue.read { db in
                XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA integrity_check"), "ok")
                let runs = try Int64.fetchAll(db, sql: "SELECT id FROM runs WHERE name = 'same'")
                XCTAssertEqual(runs.count, 1, "the run is there once")
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM candidates WHERE runId = ?", arguments: [runs.first ?? -1]) ?? -1
            }
        }
        XCTAssertEqual(try targetCount(), 20)
        var outcomes = Set<Int>()
        for delay in [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5] {
            let process = Process()
            process.executableURL = CLITests.binary
            process.arguments = ["store", "copy", source, target, "--replace"]
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let count = try targetCount()
            XCTAssertTrue(count == 20 || count == 1500, "after \(delay) s: \(count) candidates")
            outcomes.insert(count)
            // Back to the old run for the next point, unless the copy had finished.
            if count == 1500 {
                let reset = try run(["store", "copy", work.appendingPathComponent("old.sqlite").path, target, "--replace"])
                if reset.status != 0 {
                    let old = try run(["nas", "--space", tiny, "--strategy", "random", "--budget", "20", "--fidelity", "estimate",
                                       "--objectives", "macs,params", "--store", work.appendingPathComponent("old.sqlite").path, "--run", "same"])
                    XCTAssertEqual(old.status, 0, old.stderr)
                    XCTAssertEqual(try run(["store", "copy", work.appendingPathComponent("old.sqlite").path, target, "--replace"]).status, 0)
                }
                XCTAssertEqual(try targetCount(), 20)
            }
        }
        let whole = try run(["store", "copy", source, target, "--replace"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertEqual(try targetCount(), 1500)
        print("store copy --replace killed at 8 points: outcomes \(outcomes.sorted())")
    }
}
