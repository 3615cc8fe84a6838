import Engine
import Foundation
import GRDB
import XCTest

/// `efsearch supernet train / extract`, `nas --fidelity supernet:FILE`, `proxy-check --supernet FILE` and their
/// bad inputs, through the binary.
final class SupernetCLITests: XCTestCase {
    var directory: URL!
    var tiny: String { SearchCLITests.repository.appendingPathComponent("searchspaces/tiny.yaml").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-supernet-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func run(_ arguments: [String]) throws -> CLITests.Result { try CLITests.execute(arguments) }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    let data = ["--dataset", "synthetic:600", "--threads", "2"]

    /// Trains a small supernet of the tiny space (2 epochs of 600 synthetic images).
    func train(_ name: String = "s.supernet", extra: [String] = []) throws -> String {
        let out = directory.appendingPathComponent(name).path
        let result = try run(["supernet", "train", "--space", tiny, "--epochs", "2", "--batch", "32", "--out", out, "--json"] + data + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        XCTAssertEqual(object["epochs"] as? Int, 2)
        XCTAssertEqual(object["candidates"] as? Double, 3456)
        return out
    }

    /// A search scored by the supernet stores every candidate's score as its accuracy (and as `supernet`), the
    /// fidelity with the run, and the same results when repeated; an extracted candidate evaluates to its score.
    func testSearchWithTheSupernetAndExtraction() throws {
        let supernet = try train()
        var results: [[String: Double]] = []
        for name in ["a", "b"] {
            let store = directory.appendingPathComponent("\(name).sqlite").path
            let nas = try run(["nas", "--space", tiny, "--fidelity", "supernet:" + supernet, "--budget", "12", "--strategy", "random", "--store", store,
                               "--run", "r", "--latency", "estimate"] + data)
            XCTAssertEqual(nas.status, 0, nas.stderr)
            XCTAssertTrue(nas.stdout.contains("fidelity supernet"), nas.stdout)
            let rows = try DatabaseQueue(path: store).read { db in
                try Row.fetchAll(db, sql: "SELECT arch, stem, head, accuracy, supernet, status FROM candidates ORDER BY id")
            }
            XCTAssertEqual(rows.count, 12)
            XCTAssertTrue(rows.allSatisfy { ($0["status"] as String) == "done" && ($0["accuracy"] as Double?) == ($0["supernet"] as Double?) })
            results.append(Dictionary(uniqueKeysWithValues: rows.map { ($0["arch"] as String, $0["accuracy"] as Double) }))
            if name == "a" {
                // The first candidate, extracted: its evaluation is its stored score.
                let row = rows[0]
                let out = directory.appendingPathComponent("c.safetensors").path
                let extract = try run(["supernet", "extract", "--supernet", supernet, "--arch", row["arch"], "--stem", "\(row["stem"] as Int)",
                                       "--head", "\(row["head"] as Int)", "--out", out, "--json"] + data)
                XCTAssertEqual(extract.status, 0, extract.stderr)
                XCTAssertEqual(try json(extract.stdout)["accuracy"] as? Double, row["accuracy"] as Double)
                let eval = try run(["eval", "--checkpoint", out, "--split", "val", "--json"] + data)
                XCTAssertEqual(eval.status, 0, eval.stderr)
                XCTAssertEqual(try json(eval.stdout)["accuracy"] as? Double, row["accuracy"] as Double, eval.stdout)
                // It trains on from its inherited weights.
                let train = try run(["train", "--checkpoint", out, "--epochs", "1", "--json"] + data)
                XCTAssertEqual(train.status, 0, train.stderr)
                XCTAssertEqual(try json(train.stdout)["status"] as? String, "done")
            }
        }
        XCTAssertEqual(results[0], results[1], "a search scored by a supernet repeats")
    }

    /// proxy-check scores the sample with the supernet too (`--short supernet:FILE` is `--supernet FILE` beside the
    /// default short setting), and reports it as a predictor; the run stores each candidate's score.
    func testProxyCheckReportsTheSupernet() throws {
        let supernet = try train()
        let store = directory.appendingPathComponent("p.sqlite").path
        let result = try run(["proxy-check", "--space", tiny, "--sample", "4", "--short", "supernet:" + supernet, "--long", "epochs=1",
                              "--bootstrap", "50", "--store", store, "--json"] + data)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        XCTAssertEqual(object["short"] as? String, "epochs=3")
        let proxies = try XCTUnwrap(object["proxies"] as? [[String: Any]])
        XCTAssertNotNil(proxies.first { $0["name"] as? String == "supernet" }?["spearman"] as? Double, result.stdout)
        let scored = try DatabaseQueue(path: store).read { db in try Double.fetchAll(db, sql: "SELECT supernet FROM candidates WHERE key LIKE '%/short'") }
        XCTAssertEqual(scored.count, 4)
    }

    /// A killed training continues where it stopped, to the same file as an uninterrupted one.
    func testTrainingResumesToTheSameSupernet() throws {
        let whole = try train("whole.supernet")
        // A 2-epoch run killed once its file holds the first epoch, then continued.
        let stopped = directory.appendingPathComponent("stopped.supernet").path
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = ["supernet", "train", "--space", tiny, "--epochs", "2", "--batch", "32", "--out", stopped] + data
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: stopped) && Date() < deadline { usleep(20_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let resumed = try run(["supernet", "train", "--space", tiny, "--epochs", "2", "--batch", "32", "--out", stopped, "--resume", "--json"] + data)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let object = try json(resumed.stdout)
        XCTAssertEqual(object["epochs"] as? Int, 2)
        XCTAssertLessThanOrEqual(object["epochs_this_run"] as? Int ?? 9, 1)
        let a = try Safetensors.read(URL(fileURLWithPath: whole)).tensors, b = try Safetensors.read(URL(fileURLWithPath: stopped)).tensors
        XCTAssertEqual(a.mapValues(\.bytes), b.mapValues(\.bytes), "the resumed supernet's tensors are the uninterrupted one's")
    }

    func testBadInputExitsWithTwo() throws {
        let supernet = try train()
        let junk = directory.appendingPathComponent("junk.supernet").path
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: junk))
        let b0 = SearchCLITests.repository.appendingPathComponent("searchspaces/efficientnet-b0.yaml").path
        let store = directory.appendingPathComponent("s.sqlite").path
        let cases: [([String], String)] = [
            (["supernet", "train", "--space", tiny, "--epochs", "0", "--out", junk], "--epochs"),
            (["supernet", "train", "--space", tiny, "--largest-epochs", "3", "--epochs", "2", "--out", junk], "--largest-epochs"),
            (["supernet", "train", "--space", "/nonexistent/space.yaml", "--out", junk] + data, "/nonexistent/space.yaml"),
            (["supernet", "train", "--space", b0, "--epochs", "2", "--out", supernet, "--resume"] + data, "another space"),
            (["supernet", "extract", "--supernet", junk, "--out", junk + ".out"] + data, junk),
            (["supernet", "extract", "--supernet", supernet, "--arch", "ds_r1_k7_s1_c16;ir_r1_k3_s2_e6_c24;ir_r2_k5_s2_e6_c40;ir_r2_k3_s2_e6_c80",
              "--out", junk + ".out"] + data, "outside the supernet's space"),
            (["supernet", "extract", "--supernet", supernet, "--resolution", "64", "--out", junk + ".out"] + data, "resolution 64"),
            (["nas", "--space", b0, "--fidelity", "supernet:" + supernet, "--store", store] + data, "trained on space tiny"),
            (["nas", "--space", tiny, "--fidelity", "supernet:", "--store", store] + data, "supernet:FILE"),
            (["nas", "--space", tiny, "--fidelity", "supernet:" + junk, "--store", store] + data, junk),
            (["grid", "--fidelity", "supernet", "--store", store], "--fidelity supernet is for nas"),
            (["proxy-check", "--space", tiny, "--validation-fraction", "1.5", "--store", store] + data, "--validation-fraction"),
            (["train", "--checkpoint", junk, "--resume", junk], "--checkpoint and --resume"),
            (["train", "--checkpoint", junk] + data, junk),
            (["proxy-check", "--space", tiny, "--supernet", junk, "--store", store] + data, junk),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }
}
