import Architecture
import Engine
import XCTest
import Statistics

final class DeterminismTests: XCTestCase {
    /// The same seed and thread count give bitwise-identical weights after several training steps
    /// (dropout and drop-path on, so the seeded generator is exercised too).
    func testTrainingStepsAreBitwiseReproducible() throws {
        EngineConfiguration.current.with { $0.threads = 2 }.install()
        var spec = try Presets.named("efficientnet-b0").spec
        spec.width = 0.25; spec.depth = 0.25; spec.resolution = 32; spec.classes = 10
        func train() throws -> [Float] {
            var options = ModelOptions()
            options.dropPathRate = 0.2
            let model = EfficientNetModel(try spec.resolve(), options: options)
            model.initialize(seed: 5)
            let random = RandomGenerator(seed: 6)
            let optimizer = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4)
            let x = TestData.tensor([8, 32, 32, 3], seed: 7)
            let labels = (0..<8).map { $0 % 10 }
            let dLogits = Tensor(shape: [8, 10])
            for _ in 0..<4 {
                model.zeroGradients()
                let logits = model.forward(x, training: true, random: random)
                let loss = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: dLogits)
                XCTAssertTrue(loss.isFinite)
                model.backward(dLogits)
                optimizer.step(model.namedParameters().map(\.1))
            }
            return model.namedParameters().flatMap { $0.1.value.array }
        }
        let first = try train(), second = try train()
        XCTAssertEqual(first.count, second.count)
        XCTAssertTrue(first == second, "weights differ after identical training")
    }

    func testTrainingReducesTheLossOnAFixedBatch() throws {
        var spec = try NetworkSpec(arch: "ds_r1_k3_s1_c8;ir_r1_k3_s2_e3_c16_se0.25")
        spec.stem = 8; spec.head = 32; spec.classes = 3; spec.resolution = 16
        let model = EfficientNetModel(try spec.resolve(), options: { var o = ModelOptions(); o.dropout = 0; return o }())
        model.initialize(seed: 1)
        let x = TestData.tensor([6, 16, 16, 3], seed: 2)
        let labels = [0, 1, 2, 0, 1, 2]
        let dLogits = Tensor(shape: [6, 3])
        let optimizer = AdamW(learningRate: 0.01, weightDecay: 0)
        var losses: [Float] = []
        for _ in 0..<30 {
            model.zeroGradients()
            let logits = model.forward(x, training: true)
            losses.append(CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0, gradient: dLogits))
            model.backward(dLogits)
            optimizer.step(model.namedParameters().map(\.1))
        }
        XCTAssertLessThan(losses.last!, losses.first! * 0.5, "\(losses)")
    }
}
