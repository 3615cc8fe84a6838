import Engine
import Foundation
import XCTest

/// Runs the built `efsearch` binary: exit codes, messages and output formats.
final class CLITests: XCTestCase {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL {
        let directory = Bundle.main.bundleURL.deletingLastPathComponent()
        for candidate in [directory, Bundle.main.bundleURL, directory.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("efsearch")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return directory.appendingPathComponent("efsearch")
    }

    func run(_ arguments: [String], stdin: String? = nil) throws -> Result {
        try Self.execute(arguments, stdin: stdin)
    }

    /// Runs the binary with `arguments`, in `directory` when given (else the test's working directory).
    static func execute(_ arguments: [String], stdin: String? = nil, in directory: URL? = nil, environment extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        // Fixed roofline figures keep the tests from measuring the machine.
        var environment = ProcessInfo.processInfo.environment
        environment["EFSEARCH_CACHE_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-cli-tests").path
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }

    let roofline = ["--peak-gflops", "100", "--bandwidth-gbs", "10"]

    /// Portable numerics: the same training run gives byte-identical checkpoints whichever kernels OpenBLAS is
    /// forced to (AVX2's Haswell and Zen, and AVX-512's SkylakeX where the CPU has it); `machine` names the path.
    func testPortableNumericsGiveTheSameCheckpointOnEveryKernelPath() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-portable-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let cores = ["Haswell", "Zen"] + (cpu.contains("avx512f") ? ["SkylakeX"] : [])
        var checkpoints: [String: Data] = [:]
        for core in cores {
            let out = directory.appendingPathComponent("\(core).safetensors").path
            let result = try Self.execute(["train", "efficientnet-b0", "--width", "0.25", "--depth", "0.25", "--dataset", "synthetic:300", "--epochs", "1",
                                           "--batch", "32", "--threads", "2", "--seed", "1", "--numerics", "portable", "--out", out],
                                          environment: ["OPENBLAS_CORETYPE": core])
            XCTAssertEqual(result.status, 0, result.stderr)
            checkpoints[core] = try Data(contentsOf: URL(fileURLWithPath: out))
            let machine = try Self.execute(["machine"], environment: ["OPENBLAS_CORETYPE": core])
            XCTAssertTrue(machine.stdout.contains("OpenBLAS core \(core)"), "OpenBLAS took the forced kernels: \(machine.stdout)")
        }
        for core in cores.dropFirst() { XCTAssertEqual(checkpoints[core], checkpoints[cores[0]], "\(core) against \(cores[0])") }
    }

    func testEstimateJSONHasTheDocumentedKeys() throws {
        let result = try run(["estimate", "efficientnet-b0", "--json"] + roofline)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["params"] as? Int, 5_288_548)
        XCTAssertEqual(object["macs"] as? Int, 385_814_752)
        XCTAssertEqual(object["resolution"] as? Int, 224)
        for key in ["flops_fvcore", "arch", "latency_ms_estimate", "activation_bytes", "peak_memory_bytes"] {
            XCTAssertNotNil(object[key], key)
        }
    }

    func testFlagsOverrideThePresetAndArchPrintsScaled() throws {
        let result = try run(["estimate", "efficientnet-b0", "--width", "1.2", "--depth", "1.4", "--resolution", "300", "--json"] + roofline)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["params"] as? Int, 12_233_232)   // = efficientnet-b3
        XCTAssertEqual(object["arch"] as? String,
                       "ds_r2_k3_s1_c24_se0.25;ir_r3_k3_s2_e6_c32_se0.25;ir_r3_k5_s2_e6_c48_se0.25;ir_r5_k3_s2_e6_c96_se0.25;" +
                       "ir_r5_k5_s1_e6_c136_se0.25;ir_r6_k5_s2_e6_c232_se0.25;ir_r2_k3_s1_e6_c384_se0.25")
        let custom = try run(["estimate", "--arch", "ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24", "--head", "0", "--classes", "10", "--json"] + roofline)
        XCTAssertEqual(custom.status, 0, custom.stderr)
        let customObject = try JSONSerialization.jsonObject(with: Data(custom.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(customObject["head"] as? Int, 0)
    }

    func testPerLayerTableListsTimmModules() throws {
        let result = try run(["estimate", "mobilenetv2-100", "--per-layer"] + roofline)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("blocks.1.0.conv_dw"))
        XCTAssertTrue(result.stdout.contains("3,504,872"))
        // With --json, the rows are a `layers` array with every shape in full.
        let json = try run(["estimate", "mobilenetv2-100", "--per-layer", "--json"] + roofline)
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["params"] as? Int, 3_504_872)
        let layers = try XCTUnwrap(object["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.map { $0["params"] as? Int ?? 0 }.reduce(0, +), 3_504_872)
        let depthwise = try XCTUnwrap(layers.first { $0["name"] as? String == "blocks.1.0.conv_dw" })
        XCTAssertEqual(depthwise["kind"] as? String, "depthwise")
        XCTAssertEqual(depthwise["in_channels"] as? Int, 96)
        XCTAssertEqual(depthwise["input_size"] as? Int, 112)
        XCTAssertEqual(depthwise["output_size"] as? Int, 56)
        XCTAssertEqual(depthwise["stride"] as? Int, 2)
        XCTAssertEqual(depthwise["activation"] as? String, "relu6")
        XCTAssertNil(layers.first { $0["name"] as? String == "blocks.1.0.conv_pwl" }?["activation"], "a projection has no activation")
    }

    func testBadInputExitsWithStatusTwoAndSaysWhy() throws {
        let cases: [([String], String)] = [
            (["estimate", "resnet50"], "efficientnet-b0"),
            (["estimate", "--arch", "ir_r1_k3_s1_e6_c16;zz_r1"], "unknown block type \"zz\""),
            (["estimate", "--arch", "ir_r1_k3_s1_e6_c16;"], "stage 2 is empty"),
            (["estimate", "--arch", "ir_r1_k4_s1_e6_c16"], "must be odd"),
            (["estimate", "--width", "0"], "width"),
            (["estimate", "--depth", "-1"], "depth"),
            (["estimate", "--resolution", "8"], "at least 17 px"),
            (["estimate", "--width", "abc"], "width"),
            (["estimate", "--batch", "0"], "--batch"),
            (["scale", "--alpha", "0.5"], "alpha"),
            (["scale", "--phi", "x"], "phi"),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments + roofline)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    func testJSONLinesGiveOneResultPerLineInOrder() throws {
        let input = """
        {"arch": "ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25", "width": 0.5, "resolution": 64}
        {}

        {"width": 1.2, "depth": 1.4, "resolution": 300}
        """
        let result = try run(["estimate", "--jsonl", "-"] + roofline, stdin: input)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects[1]["params"] as? Int, 5_288_548)
        XCTAssertEqual(objects[2]["params"] as? Int, 12_233_232)
        XCTAssertEqual(objects[0]["resolution"] as? Int, 64)
    }

    /// Plain lines take the fast reader; escapes, exponents and odd spacing go through JSONSerialization.
    /// Both must give the same answer.
    func testFastAndGeneralJSONReadersAgree() throws {
        let input = """
        {"arch": "ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25", "width": 0.75, "resolution": 96, "classes": 10}
        {"arch":"ds_r1_k3_s1_c16\\u003bir_r2_k3_s2_e6_c24_se0.25","width":7.5e-1,"resolution":9.6E1,"classes":10.0}
        {  "classes" : 10 , "resolution" : 96, "width" : 0.750, "arch" : "ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25"  }
        """
        let result = try run(["estimate", "--jsonl", "-"] + roofline, stdin: input)
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(Set(lines).count, 1, "\(lines)")
        let boolean = try run(["estimate", "--jsonl", "-"] + roofline, stdin: "{\"width\": true}\n")
        XCTAssertEqual(boolean.status, 2)
        XCTAssertTrue(boolean.stderr.contains("width"), boolean.stderr)
    }

    func testMalformedJSONLineNamesTheLine() throws {
        let input = "{\"width\": 1.0}\n{\"width\": 1.0\n{\"width\": 2}\n"
        let result = try run(["estimate", "--jsonl", "-"] + roofline, stdin: input)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("line 2"), result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1, "results before the bad line are kept")
        let unknown = try run(["estimate", "--jsonl", "-"] + roofline, stdin: "{\"widht\": 1.0}\n")
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("line 1") && unknown.stderr.contains("widht"), unknown.stderr)
        let badValue = try run(["estimate", "--jsonl", "-"] + roofline, stdin: "{\"resolution\": \"big\"}\n")
        XCTAssertEqual(badValue.status, 2)
        XCTAssertTrue(badValue.stderr.contains("resolution"), badValue.stderr)
        let missing = try run(["estimate", "--jsonl", "/nonexistent/candidates.jsonl"] + roofline)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/candidates.jsonl"), missing.stderr)
    }

    /// Workers split each batch of a file's lines; the output must not depend on how many there are, and a bad
    /// line must stop the output at the same place. 9,000 lines cross a batch (8,192) and every worker's share.
    func testParallelJobsGiveTheSameLinesInOrder() throws {
        let lines = (0..<9000).map { index in
            "{\"width\": \(0.5 + Double(index % 50) / 50), \"depth\": \(0.8 + Double(index % 7) / 10), \"resolution\": \(96 + 8 * (index % 13))}"
        }
        let file = temporary("jobs.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let one = try run(["estimate", "--jsonl", file, "--jobs", "1"] + roofline)
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.stdout.split(separator: "\n").count, 9000)
        for jobs in ["2", "3"] {
            let parallel = try run(["estimate", "--jsonl", file, "--jobs", jobs] + roofline)
            XCTAssertEqual(parallel.status, 0, parallel.stderr)
            XCTAssertTrue(parallel.stdout == one.stdout, "--jobs \(jobs) changed the output")
        }
        // Line 3 of the first batch, and line 8,500 (in the second batch) are bad in turn.
        let expected = one.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        for bad in [3, 8500] {
            var broken = lines
            broken[bad - 1] = "{\"width\": }"
            try (broken.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            for jobs in ["1", "3"] {
                let result = try run(["estimate", "--jsonl", file, "--jobs", jobs] + roofline)
                XCTAssertEqual(result.status, 2)
                XCTAssertTrue(result.stderr.contains("line \(bad):"), result.stderr)
                XCTAssertEqual(result.stdout.split(separator: "\n").map(String.init), expected.prefix(bad - 1).map(String.init),
                               "--jobs \(jobs): the results before line \(bad), and nothing after")
            }
        }
        let zero = try run(["estimate", "--jsonl", file, "--jobs", "0"] + roofline)
        XCTAssertEqual(zero.status, 2)
        XCTAssertTrue(zero.stderr.contains("--jobs 0"), zero.stderr)
        let alone = try run(["estimate", "efficientnet-b0", "--jobs", "2"] + roofline)
        XCTAssertEqual(alone.status, 2)
        XCTAssertTrue(alone.stderr.contains("--jsonl"), alone.stderr)
    }

    func testScaleShowsRealisedAgainstTargetRatios() throws {
        let result = try run(["scale", "--phi", "0-3", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let objects = try result.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.count, 4)
        XCTAssertEqual(objects[0]["flops_ratio"] as? Double, 1.0)
        XCTAssertEqual(objects[3]["target_ratio"] as? Double, 8.0)
        let ratios = objects.map { $0["flops_ratio"] as! Double }
        XCTAssertEqual(ratios, ratios.sorted(), "FLOPs grow with phi")
        XCTAssertEqual(objects[1]["resolution"] as? Int, 256)
    }

    func testMachineReportsOpenBLAS() throws {
        let result = try run(["machine"] + roofline)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("openblas"), result.stdout)
        XCTAssertFalse(result.stdout.contains("gslcblas"), result.stdout)
    }

    // MARK: - Engine commands

    func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-cli-\(UUID())-\(name)").path
    }

    func writeInput(_ path: String, shape: [Int]) throws {
        let count = shape.reduce(1, *)
        let values = (0..<count).map { Float(sin(0.37 * Double($0)) * 1.5) }
        try values.withUnsafeBufferPointer { buffer in
            try Safetensors.write([("input", Safetensors.Entry(shape: shape, floats: buffer.baseAddress!, count: count))],
                                  metadata: [:], to: URL(fileURLWithPath: path))
        }
    }

    func testInitThenInferWritesLogits() throws {
        let checkpoint = temporary("model.safetensors"), input = temporary("input.safetensors"), output = temporary("logits.safetensors")
        let made = try run(["init", "mnasnet-100", "--width", "0.5", "--classes", "7", "--seed", "3", "--out", checkpoint])
        XCTAssertEqual(made.status, 0, made.stderr)
        try writeInput(input, shape: [2, 3, 40, 40])
        let inferred = try run(["infer", "--checkpoint", checkpoint, "--input", input, "--output", output])
        XCTAssertEqual(inferred.status, 0, inferred.stderr)
        let (tensors, _) = try Safetensors.read(URL(fileURLWithPath: output))
        XCTAssertEqual(tensors["logits"]?.shape, [2, 7])
        XCTAssertTrue(tensors["logits"]!.floats.allSatisfy(\.isFinite))
        // The same seed writes the same checkpoint, byte for byte.
        let again = temporary("again.safetensors")
        XCTAssertEqual(try run(["init", "mnasnet-100", "--width", "0.5", "--classes", "7", "--seed", "3", "--out", again]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), try Data(contentsOf: URL(fileURLWithPath: again)))
    }

    func testInferRejectsBadFiles() throws {
        let checkpoint = temporary("model.safetensors"), input = temporary("input.safetensors"), output = temporary("logits.safetensors")
        XCTAssertEqual(try run(["init", "--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e2_c16", "--classes", "3", "--out", checkpoint]).status, 0)
        try writeInput(input, shape: [1, 4, 16, 16])
        let wrongShape = try run(["infer", "--checkpoint", checkpoint, "--input", input, "--output", output])
        XCTAssertEqual(wrongShape.status, 2)
        XCTAssertTrue(wrongShape.stderr.contains(input) && wrongShape.stderr.contains("[N, 3, H, W]"), wrongShape.stderr)
        try Data("not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: checkpoint))
        try writeInput(input, shape: [1, 3, 16, 16])
        let foreign = try run(["infer", "--checkpoint", checkpoint, "--input", input, "--output", output])
        XCTAssertEqual(foreign.status, 2)
        XCTAssertTrue(foreign.stderr.contains("not a safetensors file"), foreign.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "nothing is written on failure")
    }

    func testOnnxExportsAndRejectsBadInput() throws {
        let checkpoint = temporary("model.safetensors"), model = temporary("model.onnx")
        XCTAssertEqual(try run(["init", "--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e2_c16_se0.25", "--classes", "3", "--resolution", "32", "--out", checkpoint]).status, 0)
        let exported = try run(["onnx", "--checkpoint", checkpoint, "--out", model, "--batch", "dynamic"])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssertTrue(exported.stdout.contains("input [batch, 3, 32, 32]"), exported.stdout)
        XCTAssertGreaterThan((try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? 0, 1000)
        let notCheckpoint = temporary("junk.safetensors")
        try Data("not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: notCheckpoint))
        let cases: [([String], String)] = [
            (["onnx", "--checkpoint", "/nonexistent/model.safetensors", "--out", model], "/nonexistent/model.safetensors"),
            (["onnx", "--checkpoint", notCheckpoint, "--out", model], notCheckpoint),
            (["onnx", "--checkpoint", checkpoint, "--out", "/proc/forbidden/model.onnx"], "/proc/forbidden/model.onnx"),
            (["onnx", "--checkpoint", checkpoint, "--out", model, "--opset", "9"], "--opset"),
            (["onnx", "--checkpoint", checkpoint, "--out", model, "--batch", "0"], "--batch"),
        ]
        for (arguments, expected) in cases {
            let result = try run(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    func testBenchPrintsTheDocumentedJSON() throws {
        let result = try run(["bench", "--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e2_c16", "--resolution", "32", "--classes", "5",
                              "--runs", "3", "--warmup", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        for key in ["median_ms", "p10_ms", "p90_ms", "images_per_second", "gflops", "rounds_differ"] {
            XCTAssertNotNil(object[key] as? Double, key)
        }
        // Three rounds by default, each between series of the reference network; the quietest round's median counts.
        let medians = try XCTUnwrap(object["round_medians_ms"] as? [Double])
        XCTAssertEqual(medians.count, 3)
        XCTAssertEqual(object["median_ms"] as? Double, medians.min())
        XCTAssertEqual((object["reference_ms"] as? [Double])?.count, 3)
        // With --per-layer, each layer's mean time and share as JSON values, in the order the layers ran.
        let perLayer = try run(["bench", "--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e2_c16", "--resolution", "32", "--classes", "5",
                                "--runs", "3", "--warmup", "1", "--rounds", "1", "--per-layer", "--json"])
        XCTAssertEqual(perLayer.status, 0, perLayer.stderr)
        let layers = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(perLayer.stdout.utf8)) as? [String: Any])?["per_layer"] as? [[String: Any]])
        XCTAssertEqual(layers.first?["name"] as? String, "conv_stem")
        XCTAssertEqual(layers.last?["name"] as? String, "classifier")
        XCTAssertTrue(layers.allSatisfy { ($0["ms"] as? Double ?? -1) >= 0 })
        XCTAssertEqual(layers.compactMap { $0["share"] as? Double }.reduce(0, +), 1, accuracy: 1e-9)
        let training = try run(["bench", "--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e2_c16", "--resolution", "32", "--classes", "5",
                                "--batch", "4", "--runs", "2", "--warmup", "1", "--mode", "training", "--json"])
        XCTAssertEqual(training.status, 0, training.stderr)
        XCTAssertEqual(try run(["bench", "--runs", "0"]).status, 2)
        XCTAssertEqual(try run(["bench", "--rounds", "0"]).status, 2)
        XCTAssertEqual(try run(["bench", "--mode", "fast"]).status, 2)
    }

    // MARK: - Training commands

    let tinyTraining = ["--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e3_c16_se0.25", "--stem", "8", "--head", "32",
                        "--dataset", "synthetic:300", "--subset", "120", "--epochs", "2", "--batch", "30", "--threads", "2"]

    func testTrainIsReproducibleAndEvalAgrees() throws {
        let first = temporary("a.safetensors"), second = temporary("b.safetensors")
        let a = try run(["train"] + tinyTraining + ["--seed", "5", "--out", first, "--json"])
        XCTAssertEqual(a.status, 0, a.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as! [String: Any]
        for key in ["val_accuracy", "test_accuracy", "train_seconds", "images_per_second", "epochs", "steps", "status"] {
            XCTAssertNotNil(object[key], key)
        }
        XCTAssertEqual(object["status"] as? String, "done")
        XCTAssertEqual(object["steps"] as? Int, 8)
        let b = try run(["train"] + tinyTraining + ["--seed", "5", "--out", second, "--json"])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: first)), try Data(contentsOf: URL(fileURLWithPath: second)),
                       "the same seed and threads give byte-identical checkpoints")
        let evaluated = try run(["eval", "--checkpoint", first, "--dataset", "synthetic:300", "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        let result = try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(result["accuracy"] as? Double, object["test_accuracy"] as? Double)
        XCTAssertNotNil(result["top5"] as? Double)
        XCTAssertNotNil(result["loss"] as? Double)
    }

    func testTrainingFailuresAreReported() throws {
        let missing = try run(["train", "--dataset", "mnist:/nonexistent/digits"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/digits") && missing.stderr.contains("no such directory"), missing.stderr)
        let tooSmall = try run(["train", "--dataset", "synthetic:300", "--resolution", "8"])
        XCTAssertEqual(tooSmall.status, 2)
        XCTAssertTrue(tooSmall.stderr.contains("resolution"), tooSmall.stderr)
        let out = temporary("diverged.safetensors")
        let diverged = try run(["train"] + tinyTraining + ["--lr", "1e12", "--out", out, "--json"])
        XCTAssertEqual(diverged.status, 3, diverged.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(diverged.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["status"] as? String, "failed")
        XCTAssertTrue((object["reason"] as? String)?.contains("loss became") ?? false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a failed run writes no checkpoint")
    }
}
