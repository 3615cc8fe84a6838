import Architecture
import Engine
import Foundation
import Search
import Statistics
@testable import Supernet
import Training
import XCTest

/// The test fixtures (`scripts/make_supernet_golden.py` writes them).
func fixture(_ name: String) -> URL { Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")! }

/// A small space with every elastic dimension: kernel (3, 5), expansion (3, 6), squeeze-excite, depth (one
/// block less), block type (inverted residual or fused), channels and width, at 32 px (`Fixtures/small.yaml`).
let smallSpaceText = try! String(contentsOf: fixture("small.yaml"), encoding: .utf8)

final class SupernetTests: XCTestCase {
    func space() throws -> SearchSpace { try SearchSpace.parse(text: smallSpaceText, file: "small.yaml") }

    /// A supernet with seeded weights, and norms' weights and biases that are not 1 and 0.
    func supernet(classes: Int = 10, seed: UInt64 = 1) throws -> SupernetCheckpoint {
        let space = try space()
        let supernet = Supernet(layout: try SupernetLayout(space: space, classes: classes))
        supernet.initialize(seed: seed)
        let random = RandomGenerator(seed: seed + 100)
        for (_, parameter) in supernet.tensors where parameter.value.shape.count == 1 {
            for index in 0..<parameter.value.count { parameter.value.data[index] += Float(random.gaussian(sigma: 0.3)) }
        }
        for (_, transform) in supernet.transforms {
            for index in 0..<transform.value.count { transform.value.data[index] += Float(random.gaussian(sigma: 0.1)) }
        }
        return SupernetCheckpoint(supernet: supernet, space: space, spaceText: smallSpaceText, classes: classes, recipe: SupernetRecipe(), epochs: 0)
    }

    /// Genotype with the given choice per named dimension, the rest at the first choice.
    func genotype(_ space: SearchSpace, _ choices: [String: Int]) -> Genotype {
        space.dimensions.map { choices[$0.name] ?? 0 }
    }

    func input(batch: Int = 2, resolution: Int = 32, seed: UInt64 = 5) -> Tensor {
        let random = RandomGenerator(seed: seed)
        return Tensor(shape: [batch, resolution, resolution, 3], values: (0..<(batch * resolution * resolution * 3)).map { _ in Float(random.gaussian()) })
    }

    /// The layout holds every tensor of every candidate at its largest, with both block types of stage 3 apart.
    func testLayoutIsTheLargestOfEveryTensor() throws {
        let space = try space()
        let layout = try SupernetLayout(space: space, classes: 10)
        let dw = try XCTUnwrap(layout.entries["ir:blocks.1.0.conv_dw.weight"])
        XCTAssertEqual(dw.role, .depthwise)
        XCTAssertEqual(dw.shape, [5, 5, 96], "16 in x 6, kernel 5")
        XCTAssertEqual([dw.smallestKernel, dw.largestKernel], [3, 5])
        XCTAssertNotNil(layout.entries["ir:blocks.1.1.conv_pw.weight"], "the second block of stage 2 (depth choice)")
        XCTAssertNotNil(layout.entries["er:blocks.2.0.conv_exp.weight"], "the fused type of stage 3")
        XCTAssertNotNil(layout.entries["ir:blocks.2.0.conv_dw.weight"], "the inverted-residual type of stage 3")
        XCTAssertEqual(layout.entries["er:blocks.2.0.bn2.weight"]?.shape, [40], "a fused block's bn2 is its projection's")
        XCTAssertEqual(layout.entries["ir:blocks.2.0.bn2.weight"]?.shape, [144], "an inverted residual's bn2 is its depthwise's")
        XCTAssertEqual(layout.entries["classifier.weight"]?.shape, [10, 64])
        // Every candidate fits: check a few hundred random ones.
        let supernet = Supernet(layout: layout)
        let random = RandomGenerator(seed: 3)
        for _ in 0..<100 {
            var spec = space.network(for: space.dimensions.map { random.uniformInt($0.count) })
            spec.classes = 10
            XCTAssertNoThrow(try supernet.check(EfficientNetModel(try spec.resolve()), name: "random"))
        }
    }

    /// A candidate's weights, for every elastic dimension, are the supernet's leading slices, and a kernel smaller
    /// than the largest is the largest's centre through the transform: checked against indexing written out
    /// here, then the candidate computes what the same network built alone with those weights computes.
    func testCandidateWeightsAreTheSupernetsSlicesForEveryDimension() throws {
        let checkpoint = try supernet()
        let space = checkpoint.space
        let cases: [(String, [String: Int])] = [
            ("largest", [:].merging(zip(space.dimensions.map(\.name), space.extremeGenotypes(classes: 10).largest)) { a, _ in a }),
            ("kernel 3", ["stage2.kernel": 0, "stage2.expansion": 1]),
            ("expansion 3", ["stage2.kernel": 1, "stage2.expansion": 0]),
            ("no squeeze-excite", ["stage2.se": 0]),
            ("one block less", ["stage2.repeats": 0]),
            ("fused type", ["stage3.type": 1, "stage3.kernel": 0]),
            ("narrower", ["stage3.channels": 0, "width": 0]),
        ]
        for (label, choices) in cases {
            var spec = space.network(for: genotype(space, choices))
            spec.classes = 10
            let model = try checkpoint.model(for: spec, name: label)
            for tensor in SupernetLayout.tensors(of: model) {
                let entry = try XCTUnwrap(checkpoint.supernet.layout.entries[tensor.key])
                let expected = referenceSlice(checkpoint.supernet, key: tensor.key, entry: entry, shape: tensor.parameter.value.shape, kernel: tensor.kernel)
                XCTAssertEqual(tensor.parameter.value.array, expected, "\(label): \(tensor.name)")
            }
            // Built alone from the same weights (through a checkpoint file), it computes the same logits.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("supernet-\(UUID().uuidString).safetensors")
            defer { try? FileManager.default.removeItem(at: file) }
            try Checkpoint.save(model, spec: spec, to: file)
            let alone = try Checkpoint.load(file).model
            let x = input()
            XCTAssertEqual(model.forward(x, training: false).array, alone.forward(x, training: false).array, label)
        }
    }

    /// What `Supernet.load` should give, by plain indexing: leading slices, and for a smaller kernel the centre,
    /// step by step, through each transform (out[a] = sum_b T[a, b] centre[b]).
    func referenceSlice(_ supernet: Supernet, key: String, entry: SupernetLayout.Entry, shape: [Int], kernel: Int) -> [Float] {
        let source = supernet.tensors[key]!.value
        let outer = entry.shape
        func flat(_ index: [Int], _ shape: [Int]) -> Int { zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 } }
        let count = shape.reduce(1, *)
        var result = [Float](repeating: 0, count: count)
        let dims = entry.kernelDimensions
        for linear in 0..<count {
            var index = [Int](repeating: 0, count: shape.count), rest = linear
            for d in stride(from: shape.count - 1, through: 0, by: -1) { index[d] = rest % shape[d]; rest /= shape[d] }
            if dims.isEmpty || kernel == entry.largestKernel {
                result[linear] = source.data[flat(index, outer)]
                continue
            }
            // The kernel of this element's channels, transformed step by step down to `kernel`.
            var k = entry.largestKernel
            var taps: [Float] = (0..<(k * k)).map { t in
                var full = index
                full[dims[0]] = t / k
                full[dims[1]] = t % k
                return source.data[flat(full, outer)]
            }
            while k > kernel {
                let transform = supernet.transforms[SupernetLayout.transformKey(key, from: k, to: k - 2)]!.value
                let m = (k - 2) * (k - 2)
                var centre: [Float] = []
                for y in 1..<(k - 1) { for x in 1..<(k - 1) { centre.append(taps[y * k + x]) } }
                taps = (0..<m).map { a in (0..<m).reduce(Float(0)) { $0 + transform.data[a * m + $1] * centre[$1] } }
                k -= 2
            }
            result[linear] = taps[index[dims[0]] * kernel + index[dims[1]]]
        }
        return result
    }

    /// With identity transforms, a smaller kernel is exactly the centre of the largest.
    func testIdentityTransformsGiveTheCentre() throws {
        let checkpoint = try supernet()
        for (_, transform) in checkpoint.supernet.transforms {
            let m = transform.value.shape[0]
            transform.value.zero()
            for i in 0..<m { transform.value.data[i * m + i] = 1 }
        }
        var spec = checkpoint.space.network(for: genotype(checkpoint.space, ["stage2.kernel": 0, "stage2.expansion": 1, "width": 1]))
        spec.classes = 10
        let model = try checkpoint.model(for: spec, name: "kernel 3")
        let small = try XCTUnwrap(model.convUnits["blocks.1.0.conv_dw.weight"]).weight.value
        let large = try XCTUnwrap(checkpoint.supernet.tensors["ir:blocks.1.0.conv_dw.weight"]).value
        XCTAssertEqual(small.shape, [3, 3, 96])
        for y in 0..<3 { for x in 0..<3 { for c in 0..<96 {
            XCTAssertEqual(small.data[(y * 3 + x) * 96 + c], large.data[((y + 1) * 5 + x + 1) * 96 + c])
        } } }
    }

    /// Sorting hidden channels keeps the largest candidate's function (training-mode passes: batch statistics)
    /// and changes what a smaller expansion gets.
    func testChannelSortingKeepsTheLargestAndReordersTheRest() throws {
        let checkpoint = try supernet()
        let space = checkpoint.space
        var largest = space.network(for: space.extremeGenotypes(classes: 10).largest)
        largest.classes = 10
        var smaller = space.network(for: genotype(space, ["stage2.kernel": 1, "stage2.expansion": 0, "stage3.channels": 1]))
        smaller.classes = 10
        let x = input(batch: 4)
        let before = try checkpoint.model(for: largest, name: "largest").forward(x, training: true).array
        let smallBefore = try checkpoint.model(for: smaller, name: "smaller").forward(x, training: true).array
        checkpoint.supernet.sortChannelsByImportance()
        let after = try checkpoint.model(for: largest, name: "largest").forward(x, training: true).array
        let smallAfter = try checkpoint.model(for: smaller, name: "smaller").forward(x, training: true).array
        for (a, b) in zip(before, after) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(a))) }
        XCTAssertNotEqual(smallBefore, smallAfter, "a smaller expansion takes other channels after sorting")
        // The first hidden channels now have the largest importance.
        let projection = try XCTUnwrap(checkpoint.supernet.tensors["ir:blocks.1.0.conv_pwl.weight"]).value
        let (outputs, hidden) = (projection.shape[0], projection.shape[3])
        let importance = (0..<hidden).map { i in (0..<outputs).reduce(Float(0)) { $0 + abs(projection.data[$1 * hidden + i]) } }
        XCTAssertEqual(importance, importance.sorted(by: >))
    }

    /// Gradients through elastic layers (slices, kernel transforms, two transform steps none here but one) match
    /// central finite differences of the loss in the supernet's own tensors.
    func testGradientsThroughElasticLayersMatchFiniteDifferences() throws {
        let checkpoint = try supernet()
        let supernet = checkpoint.supernet
        var spec = checkpoint.space.network(for: genotype(checkpoint.space, ["stage2.kernel": 0, "stage2.expansion": 0, "stage3.type": 1, "stage3.kernel": 0, "width": 0]))
        spec.classes = 10
        let model = try checkpoint.model(for: spec, name: "small")
        let x = input(batch: 3)
        let random = RandomGenerator(seed: 9)
        let weights = (0..<30).map { _ in Float(random.gaussian()) }
        func loss() -> Double {
            supernet.load(into: model)
            let logits = model.forward(x, training: true)
            return zip(logits.array, weights).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        }
        _ = loss()
        model.zeroGradients()
        model.backward(Tensor(shape: [3, 10], values: weights))
        supernet.zeroGradients()
        supernet.accumulateGradients(from: model)
        let probes: [(String, Int)] = [
            ("ir:blocks.1.0.conv_dw.weight#kernel5to3", 4), ("ir:blocks.1.0.conv_dw.weight#kernel5to3", 10),
            ("ir:blocks.1.0.conv_dw.weight", (2 * 5 + 2) * 96 + 3), ("ir:blocks.1.0.conv_dw.weight", (1 * 5 + 2) * 96 + 7),
            ("er:blocks.2.0.conv_exp.weight#kernel5to3", 0), ("er:blocks.2.0.conv_exp.weight", ((0 * 5 + 2) * 5 + 2) * 24 + 1),
            ("ir:blocks.1.0.conv_pw.weight", 5), ("ir:blocks.1.0.bn1.weight", 2), ("classifier.weight", 3),
        ]
        for (key, index) in probes {
            let parameter = try XCTUnwrap(supernet.tensors[key] ?? supernet.transforms[key], key)
            let saved = parameter.value.data[index]
            let h: Float = 1e-2 * max(0.1, abs(saved))
            parameter.value.data[index] = saved + h
            let plus = loss()
            parameter.value.data[index] = saved - h
            let minus = loss()
            parameter.value.data[index] = saved
            let numeric = (plus - minus) / Double(2 * h)
            let analytic = Double(parameter.gradient.data[index])
            XCTAssertEqual(analytic, numeric, accuracy: 0.03 * max(abs(numeric), 0.05), "\(key)[\(index)]")
        }
        // Channels the candidate does not use get no gradient.
        let dw = try XCTUnwrap(supernet.tensors["ir:blocks.1.0.conv_dw.weight"])
        XCTAssertEqual(dw.gradient.data[(2 * 5 + 2) * 96 + 95], 0, "hidden channel 95 is beyond expansion 3 at width 0.5")
    }

    /// Soft-target cross-entropy's gradient against finite differences.
    func testSoftTargetGradient() {
        let logits = Tensor(shape: [2, 3], values: [0.5, -1, 2, 0.1, 0.3, -0.7])
        let targets: [Float] = [0.2, 0.3, 0.5, 0.6, 0.1, 0.3]
        let gradient = Tensor(shape: [2, 3])
        _ = CrossEntropy.lossAndGradient(logits: logits, targets: targets, gradient: gradient)
        for index in 0..<6 {
            let saved = logits.data[index]
            logits.data[index] = saved + 1e-3
            let plus = CrossEntropy.lossAndGradient(logits: logits, targets: targets, gradient: Tensor(shape: [2, 3]))
            logits.data[index] = saved - 1e-3
            let minus = CrossEntropy.lossAndGradient(logits: logits, targets: targets, gradient: Tensor(shape: [2, 3]))
            logits.data[index] = saved
            XCTAssertEqual(gradient.data[index], (plus - minus) / 2e-3, accuracy: 2e-3)
        }
    }

    /// Bad input names the problem: a candidate outside the space, a file of another space, a corrupt file.
    func testBadInputIsNamed() throws {
        let checkpoint = try supernet()
        var wide = try NetworkSpec(arch: "ds_r1_k3_s1_c16;ir_r2_k7_s2_e6_c24_se0.25;ir_r2_k3_s2_e6_c40")
        (wide.stem, wide.head, wide.classes, wide.resolution) = (16, 64, 10, 32)
        XCTAssertThrowsError(try checkpoint.model(for: wide, name: "k7")) { error in
            XCTAssertTrue("\(error)".contains("outside the supernet's space") && "\(error)".contains("blocks.1.0.conv_dw"), "\(error)")
        }
        var bigger = wide
        bigger.resolution = 64
        XCTAssertThrowsError(try checkpoint.model(for: bigger, name: "64px")) { XCTAssertTrue("\($0)".contains("resolution 64"), "\($0)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("supernet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("s.safetensors")
        try checkpoint.save(to: file)
        XCTAssertNoThrow(try SupernetCheckpoint.load(file))
        // Another space in the metadata than the tensors were made for.
        var (tensors, metadata) = try Safetensors.read(file)
        metadata["space"] = smallSpaceText.replacingOccurrences(of: "expansion: [3, 6]", with: "expansion: [3, 4]")
        let other = directory.appendingPathComponent("other.safetensors")
        try Safetensors.write(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: metadata, to: other)
        XCTAssertThrowsError(try SupernetCheckpoint.load(other)) { XCTAssertTrue("\($0)".contains("its space needs"), "\($0)") }
        // A plain checkpoint is not a supernet.
        tensors = [:]
        try Safetensors.write([], metadata: ["format": "pt"], to: other)
        XCTAssertThrowsError(try SupernetCheckpoint.load(other)) { XCTAssertTrue("\($0)".contains("not an efsearch supernet"), "\($0)") }
        // Truncated.
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(bytes.count / 2).write(to: other)
        XCTAssertThrowsError(try SupernetCheckpoint.load(other)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
    }

    /// Training is a function of the seed, and stopping after an epoch and resuming from the file gives the same
    /// weights as one run; a file round-trips every tensor and the optimizer's state.
    func testTrainingRepeatsAndResumesToTheSameWeights() throws {
        var data = DatasetSpec(source: .synthetic(300))
        data.validationFraction = 0.2
        let dataset = try data.load()
        let space = try space()
        var recipe = SupernetRecipe()
        (recipe.epochs, recipe.largestEpochs, recipe.batch, recipe.seed) = (2, 1, 32, 4)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("supernet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let whole = try SupernetTrainer(space: space, spaceText: smallSpaceText, dataset: dataset, recipe: recipe)
        var losses: [Double] = []
        try whole.run(progress: { _, step, steps, loss in if step == steps { losses.append(loss) } }) { _ in }
        XCTAssertEqual(losses.count, 2)
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        // One epoch, written, read back, and the second.
        let file = directory.appendingPathComponent("s.safetensors")
        let first = try SupernetTrainer(space: space, spaceText: smallSpaceText, dataset: dataset, recipe: recipe)
        struct Stop: Error {}
        XCTAssertThrowsError(try first.run { checkpoint in
            try checkpoint.save(to: file)
            throw Stop()
        })
        let resumed = try SupernetTrainer(try SupernetCheckpoint.load(file), dataset: dataset)
        XCTAssertEqual(resumed.checkpoint.epochs, 1)
        try resumed.run { _ in }
        for key in whole.checkpoint.supernet.orderedKeys {
            let a = (whole.checkpoint.supernet.tensors[key] ?? whole.checkpoint.supernet.transforms[key])!.value.array
            let b = (resumed.checkpoint.supernet.tensors[key] ?? resumed.checkpoint.supernet.transforms[key])!.value.array
            XCTAssertEqual(a, b, key)
        }
        // The transforms were trained (no longer the identity).
        let transform = try XCTUnwrap(whole.checkpoint.supernet.transforms["ir:blocks.1.0.conv_dw.weight#kernel5to3"]).value
        XCTAssertNotEqual(transform.data[1], 0)
    }

    /// A candidate's score equals the evaluation of its extracted checkpoint (the recalibrated statistics are in it).
    func testExtractedCheckpointEvaluatesToTheScore() throws {
        var data = DatasetSpec(source: .synthetic(300))
        data.validationFraction = 0.2
        let dataset = try data.load()
        let checkpoint = try supernet()
        var spec = checkpoint.space.network(for: genotype(checkpoint.space, ["stage2.kernel": 0, "stage3.type": 1]))
        spec.classes = 10
        let scoring = SupernetScoring(batches: 3, batchSize: 32, seed: 0)
        let score = try checkpoint.score(spec, name: "c", dataset: dataset, scoring: scoring)
        XCTAssertEqual(score.split, "val")
        XCTAssertEqual(score.evaluation.count, dataset.validation.count)
        let model = try checkpoint.calibratedModel(for: spec, name: "c", dataset: dataset, scoring: scoring)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("extracted-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try Checkpoint.save(model, spec: spec, to: file)
        let alone = try Checkpoint.load(file).model
        let evaluation = Trainer.evaluate(alone, dataset.validation, batches: BatchMaker(dataset: dataset), resolution: 32, batchSize: 200)
        XCTAssertEqual(evaluation.accuracy, score.evaluation.accuracy)
        XCTAssertEqual(evaluation.loss, score.evaluation.loss, accuracy: 1e-6)
        // The statistics are the recalibrated ones, not the initial 0 and 1.
        let norm = try XCTUnwrap(alone.namedNorms().first { $0.0 == "bn1" }).1
        XCTAssertNotEqual(norm.runningMean.data[0], 0)
    }

    /// A candidate extracted from a trained supernet (`efsearch supernet extract`, committed by
    /// scripts/make_supernet_golden.py after timm's EfficientNet loaded it with strict=True) gives the logits timm
    /// computed, on the engine tests' standard input (x[i] = 1.5 sin(0.37 i) over NCHW).
    func testExtractedCandidateGivesTimmsLogits() throws {
        struct Golden: Decodable { var batch: Int; var resolution: Int; var logits: [Double] }
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: fixture("supernet_golden.json")))
        let model = try Checkpoint.load(fixture("candidate.safetensors")).model
        let r = golden.resolution
        let x = Tensor(shape: [golden.batch, r, r, 3])
        for n in 0..<golden.batch { for c in 0..<3 { for y in 0..<r { for w in 0..<r {
            x.data[((n * r + y) * r + w) * 3 + c] = Float(1.5 * sin(0.37 * Double(((n * 3 + c) * r + y) * r + w)))
        } } } }
        let logits = model.forward(x, training: false).array
        XCTAssertEqual(logits.count, golden.logits.count)
        let scale = golden.logits.map(abs).max() ?? 1
        for (ours, theirs) in zip(logits, golden.logits) { XCTAssertEqual(Double(ours), theirs, accuracy: 1e-4 * scale) }
        // The candidate took its kernel-3 convolution through a transform, and batch norm's statistics are recalibrated.
        XCTAssertEqual(model.convUnits["blocks.1.0.conv_dw.weight"]?.kernel, 3)
        XCTAssertNotEqual(model.namedNorms().first?.1.runningMean.data[0], 0)
    }
}
