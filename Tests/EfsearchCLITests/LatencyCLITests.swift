import Foundation
import XCTest

/// `efsearch calibrate`, predicted latency in `estimate` and `nas`, and their bad inputs, through the binary.
final class LatencyCLITests: XCTestCase {
    var directory: URL!
    let roofline = ["--peak-gflops", "100", "--bandwidth-gbs", "10"]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-latency-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func run(_ arguments: [String]) throws -> CLITests.Result { try CLITests.execute(arguments) }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// A real calibration, short (one thread, a few seconds of timing, series of 4 passes however short).
    func calibrate() throws -> String {
        let model = directory.appendingPathComponent("model.json").path
        let result = try run(["calibrate", "--threads", "1", "--budget-seconds", "4", "--runs", "4", "--series-seconds", "0", "--out", model, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        XCTAssertGreaterThanOrEqual(object["networks"] as? Int ?? 0, 8)
        XCTAssertNotNil(object["fit_mape"] as? Double)
        return model
    }

    func testCalibrationGivesPredictionsEverywhere() throws {
        let model = try calibrate()
        let with = try run(["estimate", "efficientnet-b0", "--json", "--latency-model", model, "--threads", "1"] + roofline)
        XCTAssertEqual(with.status, 0, with.stderr)
        let predicted = try XCTUnwrap(try json(with.stdout)["latency_ms_predicted"] as? Double)
        XCTAssertGreaterThan(predicted, 0.5)
        XCTAssertLessThan(predicted, 1000)
        let without = try run(["estimate", "efficientnet-b0", "--json", "--threads", "1"] + roofline)
        XCTAssertEqual(without.status, 0, without.stderr)
        XCTAssertNil(try json(without.stdout)["latency_ms_predicted"], "absent, not zero, without a calibration")
        let text = try run(["estimate", "efficientnet-b0", "--per-layer", "--latency-model", model, "--threads", "1"] + roofline)
        XCTAssertTrue(text.stdout.contains("ms predicted (calibrated") && text.stdout.contains("predicted us"), text.stdout)
        // With --json, each layer a unit runs carries its unit and the features the fit sees.
        let layers = try run(["estimate", "efficientnet-b0", "--per-layer", "--json", "--latency-model", model, "--threads", "1"] + roofline)
        XCTAssertEqual(layers.status, 0, layers.stderr)
        let layerRows = try XCTUnwrap(try json(layers.stdout)["layers"] as? [[String: Any]])
        let stem = try XCTUnwrap(layerRows.first { $0["name"] as? String == "conv_stem" })
        XCTAssertEqual(stem["latency_unit"] as? String, "stem")
        let features = try XCTUnwrap(stem["latency_features"] as? [Double])
        XCTAssertEqual(features.count, 8, "LatencyFeatures.names")
        XCTAssertEqual(features[0], 1, "the constant")
        XCTAssertEqual(features[3], 4 * Double(try XCTUnwrap(stem["params"] as? Int)), "weight bytes")
        XCTAssertNil(layerRows.first { $0["kind"] as? String == "pool" }?["latency_unit"], "global pooling is in the per-pass term")
        let stream = try CLITests.execute(["estimate", "--jsonl", "-", "--latency-model", model, "--threads", "1"] + roofline,
                                          stdin: "{\"preset\": \"mnasnet-100\"}\n{\"arch\": \"cn_r1_k3_s2_c16;ir_r2_k5_s2_e3_c24_se0.25\", \"resolution\": 96}\n")
        XCTAssertEqual(stream.status, 0, stream.stderr)
        let results = try stream.stdout.split(separator: "\n").map { try json(String($0)) }
        XCTAssertEqual(results.count, 2)
        XCTAssertTrue(results.allSatisfy { ($0["latency_ms_predicted"] as? Double ?? 0) > 0 })

        // A model for another batch is refused; one for another machine is used and said so.
        let batch = try run(["estimate", "efficientnet-b0", "--batch", "4", "--latency-model", model] + roofline)
        XCTAssertEqual(batch.status, 2, batch.stderr)
        XCTAssertTrue(batch.stderr.contains("batch 1") && batch.stderr.contains(model), batch.stderr)
        let foreign = directory.appendingPathComponent("foreign.json").path
        let original = try String(contentsOfFile: model, encoding: .utf8)
        let cpuLine = try XCTUnwrap(original.split(separator: "\n").first { $0.contains("\"cpu\"") })
        try original.replacingOccurrences(of: String(cpuLine), with: "    \"cpu\" : \"Phone SoC\",").write(toFile: foreign, atomically: true, encoding: .utf8)
        let elsewhere = try run(["estimate", "efficientnet-b0", "--latency-model", foreign, "--threads", "1"] + roofline)
        XCTAssertEqual(elsewhere.status, 0, elsewhere.stderr)
        XCTAssertTrue(elsewhere.stderr.contains("another machine") && elsewhere.stderr.contains("Phone SoC"), elsewhere.stderr)

        // The check prints its figures.
        let check = try run(["calibrate", "--check", "3", "--runs", "1", "--rounds", "2", "--series-seconds", "0", "--threads", "1",
                             "--latency-model", model, "--json"])
        XCTAssertEqual(check.status, 0, check.stderr)
        let figures = try json(check.stdout)
        for key in ["kendall_tau", "mape", "within_5", "within_10", "count", "presets"] { XCTAssertNotNil(figures[key], key) }
        XCTAssertEqual(figures["count"] as? Int, 3)
        XCTAssertEqual(figures["rounds"] as? Int, 2)
        // The reference's speed now and during the calibration, both timed.
        XCTAssertGreaterThan(figures["reference_ms"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(figures["calibration_reference_ms"] as? Double ?? 0, 0)
        // The worst-predicted networks, largest relative error first.
        let worst = try XCTUnwrap(figures["worst"] as? [[String: Any]])
        XCTAssertEqual(worst.count, 3)
        let errors = worst.map { abs(($0["predicted_ms"] as! Double) / (($0["drift_corrected_ms"] ?? $0["measured_ms"]) as! Double) - 1) }
        XCTAssertEqual(errors, errors.sorted(by: >))
        // Networks of two search spaces share the count.
        let tiny = SearchCLITests.repository.appendingPathComponent("searchspaces/tiny.yaml").path
        let b0 = SearchCLITests.repository.appendingPathComponent("searchspaces/efficientnet-b0.yaml").path
        let spaces = try run(["calibrate", "--check", "3", "--space", tiny, "--space", b0, "--runs", "1", "--rounds", "1", "--series-seconds", "0",
                              "--threads", "1", "--latency-model", model, "--csv", directory.appendingPathComponent("check.csv").path])
        XCTAssertEqual(spaces.status, 0, spaces.stderr)
        let lines = try String(contentsOf: directory.appendingPathComponent("check.csv"), encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("random,") }
        XCTAssertEqual(lines.filter { $0.split(separator: ",")[2] == "32" }.count, 2, "two networks of the 32 px space")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(spaces.stdout.contains("the five networks predicted worst"), spaces.stdout)
        XCTAssertTrue(spaces.stdout.contains("reference network (efficientnet-b0 at 160 px): "), spaces.stdout)

        // A search stores the prediction beside the estimate.
        let store = directory.appendingPathComponent("s.sqlite").path
        let space = SearchCLITests.repository.appendingPathComponent("searchspaces/tiny.yaml").path
        let nas = try run(["nas", "--space", space, "--fidelity", "estimate", "--budget", "20", "--strategy", "random", "--objectives", "macs,latency",
                           "--latency-model", model, "--store", store, "--run", "p"])
        XCTAssertEqual(nas.status, 0, nas.stderr)
        XCTAssertTrue(nas.stderr.contains("latency: predicted"), nas.stderr)
        let out = directory.appendingPathComponent("export").path
        XCTAssertEqual(try run(["export", "p", "--store", store, "--out", out, "--format", "json"]).status, 0)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/candidates.json"))) as? [[String: Any]])
        XCTAssertEqual(rows.count, 20)
        XCTAssertTrue(rows.allSatisfy { ($0["latency_predicted_ms"] as? Double ?? 0) > 0 })
    }

    func testBadInputExitsWithTwo() throws {
        let corrupt = directory.appendingPathComponent("corrupt.json").path
        try "{\"format\": 1, \"key\": 3}".write(toFile: corrupt, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["calibrate", "--threads", "0"], "--threads"),
            (["calibrate", "--budget-seconds", "-1"], "--budget-seconds"),
            (["calibrate", "--check", "0"], "--check"),
            (["calibrate", "--series-seconds", "-1"], "--series-seconds"),
            (["calibrate", "--family-share", "1.5"], "--family-share"),
            (["calibrate", "--space-share", "-0.1"], "--space-share"),
            (["calibrate", "--family-share", "0.6", "--space-share", "0.6"], "add up to at most 1"),
            (["calibrate", "--csv", "c.csv"], "--csv goes with --check"),
            (["calibrate", "--check", "5", "--from", "m.json"], "--from goes without --check"),
            (["calibrate", "--from", "/nonexistent/source.json", "--budget-seconds", "1", "--out", directory.appendingPathComponent("t.json").path], "/nonexistent/source.json"),
            (["calibrate", "--space", "/nonexistent/space.yaml", "--budget-seconds", "1", "--out", directory.appendingPathComponent("t.json").path], "/nonexistent/space.yaml"),
            (["calibrate", "--check", "5", "--latency-model", "/nonexistent/model.json"], "/nonexistent/model.json"),
            (["estimate", "efficientnet-b0", "--latency-model", "/nonexistent/model.json"] + roofline, "/nonexistent/model.json"),
            (["estimate", "efficientnet-b0", "--latency-model", corrupt] + roofline, corrupt),
            (["calibrate", "--out", "/proc/forbidden/model.json", "--budget-seconds", "1"], "/proc/forbidden"),
            (["nas", "--space", "x.yaml", "--latency", "predicted", "--fidelity", "estimate", "--objectives", "macs",
              "--store", directory.appendingPathComponent("s.sqlite").path], "x.yaml"),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
        // --latency predicted with no calibration at all is refused (the tests' cache directory has none for 3 threads).
        let space = SearchCLITests.repository.appendingPathComponent("searchspaces/tiny.yaml").path
        let none = try run(["nas", "--space", space, "--latency", "predicted", "--fidelity", "estimate", "--objectives", "macs", "--threads", "3",
                            "--store", directory.appendingPathComponent("s.sqlite").path])
        XCTAssertEqual(none.status, 2, none.stderr)
        XCTAssertTrue(none.stderr.contains("needs a latency model"), none.stderr)
    }
}
