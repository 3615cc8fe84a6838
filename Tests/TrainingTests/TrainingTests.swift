import Architecture
import Engine
import Foundation
import Training
import XCTest
import Statistics

final class DatasetTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-data-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    /// CIFAR-10 records: label byte, then 1024 red, 1024 green, 1024 blue bytes.
    func writeCIFAR(_ name: String, labels: [UInt8]) throws {
        var data = Data()
        for (index, label) in labels.enumerated() {
            data.append(label)
            for channel in 0..<3 { data.append(contentsOf: (0..<1024).map { UInt8((index * 7 + channel * 50 + $0) % 256) }) }
        }
        try data.write(to: directory.appendingPathComponent(name))
    }

    func writeIDX(_ name: String, magic: UInt32, dimensions: [Int], body: [UInt8], gzip: Bool = false) throws {
        var data = Data()
        for word in [magic] + dimensions.map(UInt32.init) {
            data.append(contentsOf: [UInt8(word >> 24), UInt8((word >> 16) & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word & 0xFF)])
        }
        data.append(contentsOf: body)
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        if gzip {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/gzip")
            process.arguments = ["-f", url.path]
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0)
        }
    }

    func writeMNIST(count: Int = 40, testCount: Int = 20, gzip: Bool, badLabel: Bool = false) throws {
        let images = (0..<(count * 28 * 28)).map { UInt8($0 % 251) }
        var labels = (0..<count).map { UInt8($0 % 10) }
        if badLabel { labels[3] = 12 }
        try writeIDX("train-images-idx3-ubyte", magic: 0x803, dimensions: [count, 28, 28], body: images, gzip: gzip)
        try writeIDX("train-labels-idx1-ubyte", magic: 0x801, dimensions: [count], body: labels, gzip: gzip)
        try writeIDX("t10k-images-idx3-ubyte", magic: 0x803, dimensions: [testCount, 28, 28], body: Array(images.prefix(testCount * 784)), gzip: gzip)
        try writeIDX("t10k-labels-idx1-ubyte", magic: 0x801, dimensions: [testCount], body: (0..<testCount).map { UInt8($0 % 10) }, gzip: gzip)
    }

    func load(_ text: String) throws -> Dataset { try DatasetSpec(parsing: text).load() }

    /// `--dataset` is parsed once into a value and stored as its canonical text: two spellings of one dataset are
    /// one value (a resume compares values), and the text earlier runs stored reads back as the same value.
    func testDatasetSourceIsCanonical() throws {
        let cases: [(String, String)] = [("synthetic", "synthetic"), ("synthetic:6000", "synthetic"), ("SYNTHETIC:3000", "synthetic:3000"),
                                         ("cifar10:data/cifar", "cifar10:data/cifar"), ("folder:photos:2024", "folder:photos:2024")]
        for (text, canonical) in cases {
            let source = try DatasetSource(parsing: text)
            XCTAssertEqual(source.description, canonical, text)
            XCTAssertEqual(try DatasetSource(parsing: source.description), source, text)
        }
        XCTAssertEqual(try DatasetSource(parsing: "synthetic:6000"), .synthetic())
        XCTAssertEqual(DatasetSpec(source: .synthetic(3000)).syntheticCount, 3000)
        XCTAssertEqual(DatasetSpec(source: try DatasetSource(parsing: "folder:photos")).directory, "photos")
        for bad in ["imagenet", "synthetic:12", "synthetic:x", "folder", "folder:", ""] {
            XCTAssertThrowsError(try DatasetSource(parsing: bad), bad) { XCTAssertTrue("\($0)".hasPrefix("--dataset"), "\($0)") }
        }
        let stored = try JSONDecoder().decode([DatasetSource].self, from: Data(#"["synthetic:3000", "mnist:data/mnist"]"#.utf8))
        XCTAssertEqual(stored.map(\.description), ["synthetic:3000", "mnist:data/mnist"])
        XCTAssertEqual(String(decoding: try JSONEncoder().encode([DatasetSource.synthetic(3000)]), as: UTF8.self), #"["synthetic:3000"]"#)
    }

    func testCIFARLoadsWithSplitsAndChannelOrder() throws {
        for batch in 1...5 { try writeCIFAR("data_batch_\(batch).bin", labels: (0..<20).map { UInt8(($0 + batch) % 10) }) }
        try writeCIFAR("test_batch.bin", labels: (0..<10).map { UInt8($0) })
        let dataset = try load("cifar10:\(directory.path)")
        XCTAssertEqual(dataset.classes, 10)
        XCTAssertEqual(dataset.train.count + dataset.validation.count, 100)
        XCTAssertEqual(dataset.validation.count, 10)  // 10% of each class
        XCTAssertEqual(dataset.test.count, 10)
        // Pixel 0 of test image 0: red = 0, green = 50, blue = 100 (planes become HWC).
        XCTAssertEqual(Array(dataset.test.pixels.prefix(3)), [0, 50, 100])
        XCTAssertTrue(dataset.allowsFlip)
    }

    func testCIFAR100UsesTheFineLabel() throws {
        func write(_ name: String, count: Int) throws {
            var data = Data()
            for index in 0..<count {
                data.append(contentsOf: [UInt8(index % 20), UInt8(index % 100)])  // coarse, fine
                data.append(contentsOf: [UInt8](repeating: UInt8(index % 256), count: 3072))
            }
            try data.write(to: directory.appendingPathComponent(name))
        }
        try write("train.bin", count: 300)
        try write("test.bin", count: 50)
        let dataset = try load("cifar100:\(directory.path)")
        XCTAssertEqual(dataset.classes, 100)
        XCTAssertEqual(dataset.test.labels.prefix(3), [0, 1, 2])
        XCTAssertEqual(dataset.test.labels[99 % 50], 49)
        XCTAssertEqual(dataset.train.count + dataset.validation.count, 300)
        var bad = Data([0, 100])  // fine label out of range
        bad.append(contentsOf: [UInt8](repeating: 0, count: 3072))
        try bad.write(to: directory.appendingPathComponent("test.bin"))
        XCTAssertThrowsError(try load("cifar100:\(directory.path)")) { error in
            XCTAssertTrue("\(error)".contains("test.bin") && "\(error)".contains("label 100"), "\(error)")
        }
    }

    func testMNISTLoadsPlainAndGzip() throws {
        try writeMNIST(gzip: false)
        let plain = try load("mnist:\(directory.path)")
        try FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writeMNIST(gzip: true)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent("train-images-idx3-ubyte.gz").path))
        let compressed = try load("mnist:\(directory.path)")
        XCTAssertEqual(plain.train.pixels, compressed.train.pixels)
        XCTAssertEqual(plain.test.labels, compressed.test.labels)
        XCTAssertEqual(plain.train.channels, 1)
        XCTAssertEqual(plain.resolution, 28)
        XCTAssertFalse(plain.allowsFlip, "digits are not flipped")
    }

    func testBadFilesAreNamed() throws {
        func assertFails(_ text: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try load(text), file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)", file: file, line: line)
            }
        }
        assertFails("mnist:\(directory.path)/absent", "no such directory")
        assertFails("mnist:\(directory.path)", "train-images-idx3-ubyte: no such file")
        try writeMNIST(gzip: false, badLabel: true)
        assertFails("mnist:\(directory.path)", "label 3 is 12")
        try writeIDX("train-images-idx3-ubyte", magic: 0x802, dimensions: [40, 28, 28], body: Array(repeating: 0, count: 40 * 784))
        assertFails("mnist:\(directory.path)", "wrong magic number")
        try writeIDX("train-images-idx3-ubyte", magic: 0x803, dimensions: [40, 28, 28], body: Array(repeating: 0, count: 100))
        assertFails("mnist:\(directory.path)", "truncated")
        try writeCIFAR("data_batch_1.bin", labels: [1, 2])
        let url = directory.appendingPathComponent("data_batch_1.bin")
        try (try Data(contentsOf: url)).prefix(4000).write(to: url)
        assertFails("cifar10:\(directory.path)", "data_batch_1.bin")
        assertFails("imagenet:\(directory.path)", "unknown dataset")
        assertFails("cifar10", "needs a directory")
    }

    func testSyntheticIsDeterministicAndBalanced() throws {
        let first = try load("synthetic:600"), second = try load("synthetic:600")
        XCTAssertEqual(first.train.pixels, second.train.pixels)
        XCTAssertEqual(first.test.pixels, second.test.pixels)
        XCTAssertNotEqual(first.train.pixels, first.test.pixels.prefix(first.train.pixels.count).map { $0 })
        var counts = [Int](repeating: 0, count: 10)
        for label in first.train.labels { counts[label] += 1 }
        XCTAssertEqual(Set(counts), [54])  // 600 images, 10% held out per class
        XCTAssertEqual(first.validation.count, 60)
    }

    func testSubsetsAreClassBalancedAndDeterministic() throws {
        var spec = try DatasetSpec(parsing: "synthetic:1000")
        spec.subset = 200
        let a = try spec.load(), b = try spec.load()
        XCTAssertEqual(a.train.labels, b.train.labels)
        XCTAssertEqual(a.train.count, 200)
        var counts = [Int](repeating: 0, count: 10)
        for label in a.train.labels { counts[label] += 1 }
        XCTAssertEqual(Set(counts), [20])
        spec.subset = nil
        spec.subsetFraction = 0.5
        XCTAssertEqual(try spec.load().train.count, 450)
    }

    func testBatchesNormaliseResizeAndFlip() throws {
        let set = ImageSet(pixels: (0..<(2 * 4 * 4 * 3)).map { UInt8($0 * 2) }, labels: [3, 7], height: 4, width: 4, channels: 3)
        var dataset = try load("synthetic:100")
        dataset.mean = [0.5, 0.5, 0.5]
        dataset.std = [0.25, 0.25, 0.25]
        var maker = BatchMaker(dataset: dataset)
        var scratch: Tensor?
        let (x, labels) = maker.make(set, indices: [1, 0], resolution: 4, augment: nil, into: &scratch)
        XCTAssertEqual(labels, [7, 3])
        // Image 1, pixel (0, 0), red: byte 96 -> (96/255 - 0.5) / 0.25.
        XCTAssertEqual(x[0], (96 / 255 - 0.5) / 0.25, accuracy: 1e-6)
        let (up, _) = maker.make(set, indices: [0], resolution: 8, augment: nil, into: &scratch)
        XCTAssertEqual(up.shape, [1, 8, 8, 3])
        // Flips only: padding 0 and a generator whose draws flip some images.
        maker.cropFraction = 0
        let random = RandomGenerator(seed: 1)
        var flipped = false
        for _ in 0..<10 {
            var buffer: Tensor?
            let (a, _) = maker.make(set, indices: [0], resolution: 4, augment: random, into: &buffer)
            let mirrored = (a[0] - x[(16 + 3) * 3]) == 0 || a[0] == (Float(set.pixels[9]) / 255 - 0.5) / 0.25
            flipped = flipped || mirrored
        }
        XCTAssertTrue(flipped)
    }

    func testSchedules() {
        XCTAssertEqual(LearningRateSchedule.cosine.rate(base: 1, step: 0, totalSteps: 100, warmupSteps: 10, stepsPerEpoch: 10), 0.1, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.cosine.rate(base: 1, step: 10, totalSteps: 110, warmupSteps: 10, stepsPerEpoch: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.cosine.rate(base: 1, step: 60, totalSteps: 110, warmupSteps: 10, stepsPerEpoch: 10), 0.5, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.exponential.rate(base: 1, step: 48, totalSteps: 100, warmupSteps: 0, stepsPerEpoch: 10), 0.97 * 0.97, accuracy: 1e-6)
        XCTAssertEqual(LearningRateSchedule.constant.rate(base: 0.3, step: 77, totalSteps: 100, warmupSteps: 0, stepsPerEpoch: 10), 0.3)
    }
}

final class TrainerTests: XCTestCase {
    /// A tiny network on 128 synthetic images, with progressive resizing and drop-path on.
    func tinyTrainer(epochs: Int, lr: Float, seed: UInt64, model existing: EfficientNetModel? = nil,
                     arch: String = "ds_r1_k3_s1_c8_se0.25;ir_r1_k3_s2_e3_c16_se0.25;er_r1_k3_s2_e2_c24") throws -> Trainer {
        EngineConfiguration.current.with { $0.threads = 2 }.install()
        var data = try DatasetSpec(parsing: "synthetic:300")
        data.subset = 128
        let dataset = try data.load()
        var spec = try NetworkSpec(arch: arch)
        spec.stem = 8; spec.head = 32; spec.classes = 10; spec.resolution = 24
        var config = TrainingConfig()
        config.epochs = epochs
        config.batch = 32
        config.learningRate = lr
        config.resolution = 24
        config.progressiveStart = 16
        config.seed = seed
        let model = try existing ?? EfficientNetModel(spec.resolve(), options: tinyOptions)
        if existing == nil { model.initialize(seed: seed) }
        return Trainer(model: model, spec: spec, dataset: dataset, config: config)
    }

    /// Drop-path on, as in the tiny runs.
    var tinyOptions: ModelOptions {
        var options = ModelOptions()
        options.dropPathRate = 0.1
        return options
    }

    func tinyRun(epochs: Int = 2, lr: Float = 0.05, seed: UInt64 = 3, startEpoch: Int = 0, model existing: EfficientNetModel? = nil,
                 optimizerState: [Tensor]? = nil) throws -> (EfficientNetModel, TrainingOutcome, Trainer) {
        let trainer = try tinyTrainer(epochs: epochs, lr: lr, seed: seed, model: existing)
        if let optimizerState { try trainer.optimizer.restore(optimizerState, parameters: trainer.parameters) }
        return (trainer.model, trainer.run(startEpoch: startEpoch), trainer)
    }

    func weights(_ model: EfficientNetModel) -> [Float] { model.namedParameters().flatMap { $0.1.value.array } }

    func testSameSeedGivesTheSameModelAndMetrics() throws {
        let (a, outcomeA, _) = try tinyRun()
        let (b, outcomeB, _) = try tinyRun()
        XCTAssertEqual(outcomeA.status, .done)
        XCTAssertTrue(weights(a) == weights(b))
        XCTAssertEqual(outcomeA.test?.accuracy, outcomeB.test?.accuracy)
        XCTAssertEqual(outcomeA.history.map(\.resolution), [16, 24], "progressive resizing ramps to the final resolution")
        let (c, _, _) = try tinyRun(seed: 4)
        XCTAssertFalse(weights(a) == weights(c))
    }

    func testResumingContinuesExactly() throws {
        let (full, _, _) = try tinyRun(epochs: 2)
        // The first epoch of the same two-epoch run, then the second from its model and optimizer state.
        let (first, firstTrainer) = try tinyRunFirstEpoch()
        let state = firstTrainer.optimizer.state
        let (resumed, outcome, _) = try tinyRun(epochs: 2, startEpoch: 1, model: first, optimizerState: state)
        XCTAssertEqual(outcome.steps, 8)
        XCTAssertTrue(weights(full) == weights(resumed), "a resumed run ends with the same weights")
    }

    /// The first epoch of the two-epoch run (the schedule sees two epochs).
    func tinyRunFirstEpoch() throws -> (EfficientNetModel, Trainer) {
        let trainer = try tinyTrainer(epochs: 2, lr: 0.05, seed: 3)
        struct Stop: Error {}
        do {
            _ = try trainer.run { epoch in if epoch == 1 { throw Stop() } }
        } catch is Stop {}
        return (trainer.model, trainer)
    }

    /// `train --save-every-epoch` then `train --resume FILE`: the checkpoint and the optimizer state go through
    /// their files (as the command does) and the resumed run ends with the uninterrupted run's weights.
    func testResumingFromFilesContinuesExactly() throws {
        let (full, _, _) = try tinyRun(epochs: 2)
        let (first, firstTrainer) = try tinyRunFirstEpoch()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-resume-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("tiny.safetensors").path
        try Checkpoint.save(first, spec: firstTrainer.spec, to: URL(fileURLWithPath: path), extraMetadata: ["epoch": "1"])
        try OptimizerState.save(firstTrainer.optimizer, beside: path, epoch: 1)

        let (loaded, _, metadata) = try Checkpoint.load(URL(fileURLWithPath: path), expected: firstTrainer.spec, options: tinyOptions)
        XCTAssertEqual(metadata["epoch"], "1")
        let trainer = try tinyTrainer(epochs: 2, lr: 0.05, seed: 3, model: loaded)
        XCTAssertTrue(try OptimizerState.load(trainer.optimizer, parameters: trainer.parameters, beside: path, epoch: 1))
        XCTAssertTrue(trainer.optimizer.state.map(\.array) == firstTrainer.optimizer.state.map(\.array), "the optimizer state round-trips")
        XCTAssertTrue(trainer.optimizer.state.contains { $0.array.contains { $0 != 0 } }, "momentum is not all zero after an epoch")
        let outcome = trainer.run(startEpoch: 1)
        XCTAssertEqual(outcome.steps, 8)
        XCTAssertTrue(weights(full) == weights(trainer.model), "a run resumed from files ends with the same weights")

        // A state saved after another epoch than the checkpoint is refused, naming the file.
        XCTAssertThrowsError(try OptimizerState.load(trainer.optimizer, parameters: trainer.parameters, beside: path, epoch: 2)) { error in
            XCTAssertTrue("\(error)".contains(OptimizerState.path(beside: path)) && "\(error)".contains("epoch 1"), "\(error)")
        }
        // No state file: false, and the optimizer is left alone.
        XCTAssertFalse(try OptimizerState.load(trainer.optimizer, parameters: trainer.parameters, beside: path + ".missing", epoch: 1))
        // A state for another network is refused.
        let other = try tinyTrainer(epochs: 2, lr: 0.05, seed: 3, arch: "ds_r1_k3_s1_c8")
        XCTAssertThrowsError(try OptimizerState.load(other.optimizer, parameters: other.parameters, beside: path, epoch: 1))
    }

    func testDivergingLossFailsTheRun() throws {
        let (_, outcome, _) = try tinyRun(epochs: 3, lr: 1e9)
        XCTAssertEqual(outcome.status, .failed)
        XCTAssertTrue(outcome.reason?.contains("the loss became") ?? false, outcome.reason ?? "")
    }
}

/// SHA-256 through libcrypto against FIPS 180-2's test vectors (a stored search space's digest depends on it).
final class SHA256Tests: XCTestCase {
    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func testKnownDigests() {
        XCTAssertEqual(hex(SHA256.hash(data: Data("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(SHA256.hash(data: Data())), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Fed in pieces: the same digest as in one piece.
        var hasher = SHA256()
        hasher.update(data: Data("abcdbcdecdefdefgefghfghighij".utf8))
        hasher.update(data: Data())
        hasher.update(data: Data("hijkijkljklmklmnlmnomnopnopq".utf8))
        XCTAssertEqual(hex(hasher.finalize()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
