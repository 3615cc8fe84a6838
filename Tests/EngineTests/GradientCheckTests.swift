import Architecture
import Engine
import XCTest
import Statistics

/// Finite-difference checks of every backward pass: ops, then each block type inside a small network.
final class GradientCheckTests: XCTestCase {
    override func setUp() { EngineConfiguration.current.with { $0.threads = 2 }.install() }

    func testDenseAndDepthwiseConvolutionUnits() {
        let cases: [(ConvUnit.Kind, Int, Int, Int, Int, Int)] = [
            (.dense, 3, 5, 3, 2, 1), (.dense, 4, 6, 1, 1, 1), (.dense, 4, 3, 1, 2, 1), (.dense, 3, 4, 3, 1, 2),
            (.depthwise, 9, 9, 3, 1, 1), (.depthwise, 8, 8, 5, 2, 1), (.depthwise, 10, 10, 3, 1, 2),
        ]
        for (index, (kind, cin, cout, k, s, d)) in cases.enumerated() {
            let unit = ConvUnit(kind, inChannels: cin, outChannels: cout, kernel: k, stride: s, dilation: d, activation: .silu, eps: 1e-5, momentum: 0.1)
            let w = TestData.values(unit.weight.value.count, seed: UInt64(10 + index), scale: 0.5)
            for i in 0..<w.count { unit.weight.value[i] = w[i] }
            for i in 0..<cout { unit.norm.weight.value[i] = 1 + 0.1 * Float(i % 3); unit.norm.bias.value[i] = 0.05 * Float(i % 4) }
            let x = TestData.tensor([2, 7, 7, cin], seed: UInt64(20 + index))
            let y = unit.forward(x, training: true)
            let projection = TestData.values(y.count, seed: UInt64(30 + index))
            let dY = Tensor(shape: y.shape, values: projection)
            unit.weight.gradient.zero(); unit.norm.weight.gradient.zero(); unit.norm.bias.gradient.zero()
            let dX = unit.backward(dY)!.array
            let loss = { projected(unit.forward(x, training: true), projection) }
            let label = "\(kind) k\(k) s\(s) d\(d)"
            checkGradient(of: x, analytic: dX, label + " dX", loss: loss)
            checkGradient(of: unit.weight.value, analytic: unit.weight.gradient.array, step: 2e-3, label + " dW", loss: loss)
            checkGradient(of: unit.norm.weight.value, analytic: unit.norm.weight.gradient.array, label + " dGamma", loss: loss)
            checkGradient(of: unit.norm.bias.value, analytic: unit.norm.bias.gradient.array, label + " dBeta", loss: loss)
        }
    }

    func testActivationsAwayFromTheirKinks() {
        for kind in Activation.allCases {
            let unit = ConvUnit(.depthwise, inChannels: 8, outChannels: 8, kernel: 1, stride: 1, dilation: 1, activation: kind, eps: 1e-5, momentum: 0.1)
            unit.weight.value.fill(1)
            // Spread the normalised values so none sits within the step of 0 or 6.
            for i in 0..<8 { unit.norm.weight.value[i] = 3; unit.norm.bias.value[i] = Float(i) - 1.5 }
            let x = TestData.tensor([2, 3, 3, 8], seed: 5)
            let y = unit.forward(x, training: true)
            let projection = TestData.values(y.count, seed: 6)
            unit.norm.weight.gradient.zero(); unit.norm.bias.gradient.zero(); unit.weight.gradient.zero()
            _ = unit.backward(Tensor(shape: y.shape, values: projection))
            checkGradient(of: unit.norm.bias.value, analytic: unit.norm.bias.gradient.array, step: 1e-3, "\(kind) dBeta") {
                projected(unit.forward(x, training: true), projection)
            }
        }
    }

    func testSqueezeExcite() {
        let se = SqueezeExcite(channels: 12, reduced: 3, activation: .silu)
        for (index, parameter) in [se.reduceWeight, se.reduceBias, se.expandWeight, se.expandBias].enumerated() {
            let values = TestData.values(parameter.value.count, seed: UInt64(40 + index), scale: 0.7)
            for i in values.indices { parameter.value[i] = values[i] }
        }
        let x = TestData.tensor([2, 4, 4, 12], seed: 3)
        let y = se.forward(x, training: true)
        let projection = TestData.values(y.count, seed: 4)
        let dX = se.backward(Tensor(shape: y.shape, values: projection)).array
        let loss = { projected(se.forward(x, training: true), projection) }
        checkGradient(of: x, analytic: dX, "se dX", loss: loss)
        for (name, parameter) in [("reduce.w", se.reduceWeight), ("reduce.b", se.reduceBias), ("expand.w", se.expandWeight), ("expand.b", se.expandBias)] {
            checkGradient(of: parameter.value, analytic: parameter.gradient.array, "se \(name)", loss: loss)
        }
    }

    func testCrossEntropyWithLabelSmoothing() {
        let logits = TestData.tensor([3, 5], seed: 8, scale: 3)
        let labels = [1, 4, 0]
        let gradient = Tensor(shape: [3, 5])
        _ = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: gradient)
        let scratch = Tensor(shape: [3, 5])
        checkGradient(of: logits, analytic: gradient.array, samples: 15, step: 1e-3, "cross-entropy") {
            Double(CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: scratch))
        }
        // Uniform logits: the loss is log(classes) whatever the smoothing.
        let uniform = Tensor(shape: [1, 5])
        XCTAssertEqual(CrossEntropy.lossAndGradient(logits: uniform, labels: [2], smoothing: 0.3, gradient: scratch), log(5), accuracy: 1e-6)
    }

    /// Every block type (ds, ir, er, cn; SE, residuals, skip flags, strides) inside a network, through
    /// the classifier and the loss: each parameter tensor of each block is checked.
    func testEveryBlockTypeInsideANetwork() throws {
        let arch = "cn_r2_k3_s1_c8_skip;ds_r1_k3_s1_c8_se0.25;er_r2_k3_s2_e2_c16_se0.25;ir_r2_k3_s1_e3_c16_se0.25;ir_r1_k5_s2_e2_c24_noskip"
        var spec = try NetworkSpec(arch: arch)
        spec.stem = 8
        spec.head = 32
        spec.classes = 4
        spec.resolution = 12
        let network = try spec.resolve()
        let model = EfficientNetModel(network)
        model.initialize(seed: 3)
        let x = TestData.tensor([3, 12, 12, 3], seed: 9)
        let labels = [0, 3, 1]
        let dLogits = Tensor(shape: [3, 4])
        func loss() -> Double {
            let logits = model.forward(x, training: true)
            return Double(CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: Tensor(shape: [3, 4])))
        }
        model.zeroGradients()
        let logits = model.forward(x, training: true)
        _ = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: dLogits)
        model.backward(dLogits)
        let parameters = model.namedParameters()
        let analytic = Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, $0.1.gradient.array) })
        for (name, parameter) in parameters {
            checkGradient(of: parameter.value, analytic: analytic[name]!, samples: 4, step: 1e-2, tolerance: 3e-2, name, loss: loss)
        }
    }

    /// Dropout and drop-path: the same seed gives the same masks, so finite differences see one function.
    func testDropoutAndDropPath() throws {
        var spec = try NetworkSpec(arch: "ds_r1_k3_s1_c8;ir_r2_k3_s1_e2_c8_se0.25")
        spec.stem = 8; spec.head = 16; spec.classes = 3; spec.resolution = 8
        var options = ModelOptions()
        options.dropPathRate = 0.6
        options.dropout = 0.4
        let model = EfficientNetModel(try spec.resolve(), options: options)
        model.initialize(seed: 2)
        let x = TestData.tensor([4, 8, 8, 3], seed: 3)
        let labels = [0, 1, 2, 1]
        func loss() -> Double {
            let logits = model.forward(x, training: true, random: RandomGenerator(seed: 5))
            return Double(CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0, gradient: Tensor(shape: [4, 3])))
        }
        model.zeroGradients()
        let logits = model.forward(x, training: true, random: RandomGenerator(seed: 5))
        let dLogits = Tensor(shape: [4, 3])
        _ = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0, gradient: dLogits)
        model.backward(dLogits)
        // The masks really drop something (and keep something), so the check below covers both paths.
        let dropout = model.dropoutMask, dropPath = model.blocks[1][1].dropPathScales
        XCTAssertEqual(dropout.count, 4 * 16)
        XCTAssertTrue(dropout.contains(0) && dropout.contains { $0 > 1 }, "dropout mask \(dropout)")
        XCTAssertEqual(dropPath.count, 4)
        XCTAssertTrue(dropPath.contains(0) && dropPath.contains { $0 > 1 }, "drop-path scales \(dropPath)")
        let parameters = model.namedParameters()
        let analytic = Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, $0.1.gradient.array) })
        for (name, parameter) in parameters where name.contains("blocks.1.1") || name.hasPrefix("classifier") || name.hasPrefix("conv_head") {
            checkGradient(of: parameter.value, analytic: analytic[name]!, samples: 4, step: 1e-2, tolerance: 3e-2, name, loss: loss)
        }
    }
}
