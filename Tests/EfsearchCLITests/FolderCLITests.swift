import Foundation
import Training
import XCTest

/// `--dataset folder:DIR` through the command line: training, bad images, `infer --image`, a search.
final class FolderCLITests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-folder-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func run(_ arguments: [String]) throws -> CLITests.Result { try CLITests.execute(arguments, in: root) }

    /// Two classes: a bright square on black, and black on a bright field, at various sizes.
    func makeFolder() throws -> URL {
        let folder = root.appendingPathComponent("pictures")
        for (label, name) in ["dark", "light"].enumerated() {
            let directory = folder.appendingPathComponent("train").appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for index in 0..<12 {
                let (h, w) = (24 + index, 30 - index)
                var pixels = [UInt8](repeating: label == 0 ? 0 : 220, count: h * w * 3)
                for y in (h / 4)..<(3 * h / 4) { for x in (w / 4)..<(3 * w / 4) { for c in 0..<3 { pixels[(y * w + x) * 3 + c] = label == 0 ? 200 : 10 } } }
                try ImageDecoder.write(DecodedImage(pixels: pixels, height: h, width: w),
                                       to: directory.appendingPathComponent("\(index).\(index % 2 == 0 ? "png" : "jpg")").path)
            }
        }
        return folder
    }

    let network = ["--arch", "ds_r1_k3_s1_c8;ir_r1_k3_s2_e4_c16", "--resolution", "16"]

    func testTrainOnAFolderRecordsItsPreprocessingAndInferUsesIt() throws {
        let folder = try makeFolder()
        let checkpoint = root.appendingPathComponent("net.safetensors").path
        let trained = try run(["train"] + network + ["--dataset", "folder:\(folder.path)", "--epochs", "4", "--batch", "8", "--optimizer", "adamw",
                                                    "--lr", "0.01", "--normalize", "dataset", "--out", checkpoint, "--json"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(trained.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["skipped_images"] as? Int, 0)
        XCTAssertEqual(summary["resolution"] as? Int, 16)

        // eval prepares the validation images as training did (the recorded normalisation, not the folder default):
        // the same accuracy and loss as the last epoch's validation.
        let evaluated = try run(["eval", "--checkpoint", checkpoint, "--dataset", "folder:\(folder.path)", "--split", "val", "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(scores["accuracy"] as? Double), try XCTUnwrap(summary["val_accuracy"] as? Double), accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(scores["loss"] as? Double), try XCTUnwrap(summary["val_loss"] as? Double), accuracy: 1e-4)
        let noTest = try run(["eval", "--checkpoint", checkpoint, "--dataset", "folder:\(folder.path)", "--split", "test"])
        XCTAssertEqual(noTest.status, 2)
        XCTAssertTrue(noTest.stderr.contains("no test folder"), noTest.stderr)

        let image = folder.appendingPathComponent("train/light/3.jpg").path
        let inferred = try run(["infer", "--checkpoint", checkpoint, "--image", image, "--json"])
        XCTAssertEqual(inferred.status, 0, inferred.stderr)
        let output = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inferred.stdout.utf8)) as? [String: Any])
        let result = try XCTUnwrap((output["results"] as? [[String: Any]])?.first)
        let top = try XCTUnwrap(result["top"] as? [[String: Any]])
        XCTAssertEqual(top.count, 2, "two classes")
        XCTAssertEqual(Set(top.compactMap { $0["class"] as? String }), ["dark", "light"], "class names from the checkpoint")
        let probabilities = top.compactMap { $0["probability"] as? Double }
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertGreaterThanOrEqual(probabilities[0], probabilities[1])

        let text = try run(["infer", "--checkpoint", checkpoint, "--image", image])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("% "), text.stdout)

        // A checkpoint without a preprocessing record (from `init`) cannot guess how to prepare images.
        let bare = root.appendingPathComponent("bare.safetensors").path
        XCTAssertEqual(try run(["init"] + network + ["--out", bare]).status, 0)
        let refused = try run(["infer", "--checkpoint", bare, "--image", image])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("records no preprocessing"), refused.stderr)
        // Neither or both of --image and --input.
        XCTAssertEqual(try run(["infer", "--checkpoint", checkpoint]).status, 2)
    }

    func testBadImagesStopTheRunUnlessSkipped() throws {
        let folder = try makeFolder()
        let bad = folder.appendingPathComponent("train/dark/broken.png")
        try Data("not a png".utf8).write(to: bad)
        let arguments = ["train"] + network + ["--dataset", "folder:\(folder.path)", "--epochs", "1", "--batch", "8"]
        let stopped = try run(arguments)
        XCTAssertEqual(stopped.status, 2)
        XCTAssertTrue(stopped.stderr.contains(bad.path), stopped.stderr)
        let skipped = try run(arguments + ["--skip-bad-images", "--json"])
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(skipped.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["skipped_images"] as? Int, 1)
        XCTAssertTrue(try run(arguments + ["--skip-bad-images"]).stderr.contains("1 bad image skipped"))

        for (flag, value) in [("--normalize", "imagenette"), ("--crop-scale", "0.5"), ("--crop-scale", "0.9,0.2")] {
            let refused = try run(arguments + [flag, value])
            XCTAssertEqual(refused.status, 2, "\(flag) \(value)")
            XCTAssertTrue(refused.stderr.contains(flag), refused.stderr)
        }
        let missing = try run(["train"] + network + ["--dataset", "folder:\(root.appendingPathComponent("nowhere").path)"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("nowhere"), missing.stderr)
    }

    func testSearchTrainsCandidatesOnAFolder() throws {
        let folder = try makeFolder()
        let space = root.appendingPathComponent("space.yaml")
        try """
        name: folder-test
        base: efficientnet-b0
        arch: "ds_r1_k3_s1_c8; ir_r1_k3_s2_e4_c16"
        stem: 8
        head: 32
        stages:
          - null
          - {kernel: [3, 5]}
        resolution: [16, 24]
        width: [0.5, 1.0]
        depth: [1.0]
        """.write(to: space, atomically: true, encoding: .utf8)
        let result = try run(["nas", "--space", space.path, "--fidelity", "train", "--dataset", "folder:\(folder.path)", "--epochs", "1",
                              "--budget", "3", "--store", root.appendingPathComponent("runs.sqlite").path, "--seed", "2", "--keep-checkpoints",
                              "--crop-scale", "0.5,1", "--no-flip"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("generation 1: 3/3 candidates (3 done, 0 failed)"), result.stderr)
    }
}
