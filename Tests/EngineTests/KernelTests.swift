import Architecture
import Engine
import XCTest
import Statistics

/// Fast kernels against their plain reference versions.
final class KernelTests: XCTestCase {
    func testVectorExpIsAccurate() {
        var worst: Double = 0
        for step in -2000...2000 {
            let x = Float(step) * 0.04
            let approx = Double(scalarExp(x)), exact = exp(Double(x))
            worst = max(worst, abs(approx - exact) / exact)
        }
        XCTAssertLessThan(worst, 1e-6)
    }

    func testActivationsMatchTheirDefinitions() {
        let x = TestData.values(1003, seed: 1, scale: 8)
        for kind in Activation.allCases {
            var y = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { input in
                y.withUnsafeMutableBufferPointer { out in ActivationKernels.forward(kind, input.baseAddress!, out.baseAddress!, count: x.count) }
            }
            for index in x.indices {
                XCTAssertEqual(y[index], ActivationKernels.reference(kind, x[index]), accuracy: 1e-5 * max(1, abs(x[index])), "\(kind) at \(x[index])")
            }
        }
    }

    func testDenseConvolutionMatchesReference() {
        let cases: [ConvGeometry] = [
            ConvGeometry(batch: 2, height: 7, width: 7, inChannels: 5, outChannels: 6, kernel: 3, stride: 1),
            ConvGeometry(batch: 2, height: 8, width: 8, inChannels: 3, outChannels: 8, kernel: 3, stride: 2),
            ConvGeometry(batch: 1, height: 9, width: 9, inChannels: 4, outChannels: 3, kernel: 5, stride: 2),
            ConvGeometry(batch: 3, height: 5, width: 5, inChannels: 16, outChannels: 9, kernel: 1, stride: 1),
            ConvGeometry(batch: 2, height: 6, width: 6, inChannels: 4, outChannels: 5, kernel: 1, stride: 2),
            ConvGeometry(batch: 1, height: 9, width: 9, inChannels: 3, outChannels: 4, kernel: 3, stride: 1, dilation: 2),
        ]
        for (index, g) in cases.enumerated() {
            let x = TestData.values(g.batch * g.height * g.width * g.inChannels, seed: UInt64(index))
            let w = TestData.values(g.outChannels * g.patch, seed: UInt64(100 + index))
            let expected = ConvolutionKernels.referenceForward(g, x: x, w: w)
            let y = Tensor(shape: [g.rows * g.outChannels])
            let cols = Tensor(shape: [g.rows * g.patch])
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    ConvolutionKernels.forward(g, x: xp.baseAddress!, w: wp.baseAddress!, y: y.data, cols: cols.data)
                }
            }
            for i in 0..<expected.count { XCTAssertEqual(y[i], expected[i], accuracy: 1e-4, "case \(index) at \(i)") }
        }
    }

    func testDepthwiseConvolutionMatchesReference() {
        let cases: [ConvGeometry] = [
            ConvGeometry(batch: 2, height: 7, width: 7, inChannels: 19, outChannels: 19, kernel: 3, stride: 1),
            ConvGeometry(batch: 1, height: 10, width: 10, inChannels: 16, outChannels: 16, kernel: 5, stride: 2),
            ConvGeometry(batch: 2, height: 9, width: 9, inChannels: 8, outChannels: 8, kernel: 3, stride: 1, dilation: 2),
            ConvGeometry(batch: 1, height: 4, width: 4, inChannels: 5, outChannels: 5, kernel: 7, stride: 2),
        ]
        for (index, g) in cases.enumerated() {
            let x = TestData.values(g.batch * g.height * g.width * g.inChannels, seed: UInt64(index))
            let w = TestData.values(g.kernel * g.kernel * g.inChannels, seed: UInt64(50 + index))
            let expected = DepthwiseKernels.referenceForward(g, x: x, w: w)
            let y = Tensor(shape: [expected.count])
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in DepthwiseKernels.forward(g, x: xp.baseAddress!, w: wp.baseAddress!, y: y.data) }
            }
            for i in 0..<expected.count { XCTAssertEqual(y[i], expected[i], accuracy: 1e-5, "case \(index) at \(i)") }
        }
    }

    /// BatchNorm2d against PyTorch (fixture from scripts/make_engine_golden.py): train output, running
    /// statistics after one step (momentum 0.1, unbiased variance), eval output.
    func testBatchNormBehavesAsPyTorch() throws {
        struct Golden: Decodable {
            struct Norm: Decodable {
                var shape: [Int]
                var input: [Float]
                var before: [String: [Float]]
                var after: [String: [Float]]
                var train_output: [Float]
                var eval_output: [Float]
            }
            var batch_norm: Norm
        }
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: TestData.fixture("logits.json"))).batch_norm
        let (n, c, h, w) = (golden.shape[0], golden.shape[1], golden.shape[2], golden.shape[3])
        func nhwc(_ nchw: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: nchw.count)
            for i in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
                out[((i * h + y) * w + x) * c + ch] = nchw[((i * c + ch) * h + y) * w + x]
            } } } }
            return out
        }
        let unit = ConvUnit(.depthwise, inChannels: c, outChannels: c, kernel: 1, stride: 1, dilation: 1, activation: nil, eps: 1e-5, momentum: 0.1)
        unit.weight.value.fill(1)  // identity convolution, so the unit is the batch norm alone
        let norm = unit.norm
        for (tensor, key) in [(norm.weight.value, "weight"), (norm.bias.value, "bias"), (norm.runningMean, "running_mean"), (norm.runningVar, "running_var")] {
            for i in 0..<c { tensor[i] = golden.before[key]![i] }
        }
        let x = Tensor(shape: [n, h, w, c], values: nhwc(golden.input))
        let train = unit.forward(x, training: true).array
        let expectedTrain = nhwc(golden.train_output)
        for i in train.indices { XCTAssertEqual(train[i], expectedTrain[i], accuracy: 1e-5) }
        for i in 0..<c {
            XCTAssertEqual(norm.runningMean[i], golden.after["running_mean"]![i], accuracy: 1e-6)
            XCTAssertEqual(norm.runningVar[i], golden.after["running_var"]![i], accuracy: 1e-5)
        }
        let eval = unit.forward(x, training: false).array
        let expectedEval = nhwc(golden.eval_output)
        for i in eval.indices { XCTAssertEqual(eval[i], expectedEval[i], accuracy: 1e-5) }
    }
    /// The AVX-512 batch-norm training kernels and the Swift ones give the same bits (the same operations in the
    /// same order): forward output, batch and running statistics, and backward's gradients, with dX in place of
    /// dY, on channel counts around the 16-float vector and row counts around the 64-row chunks.
    func testBatchNormTrainingKernelsAgreeBitwiseOnBothInstructionSets() throws {
        guard InferenceKernels.cpuHasAVX512 else { throw XCTSkip("this CPU has no AVX-512") }
        let random = RandomGenerator(seed: 17)
        for (rows, channels) in [(1, 3), (63, 16), (130, 17), (700, 40), (2048, 70), (96, 129)] {
            let x = (0..<rows * channels).map { _ in Float(random.gaussian(sigma: 2) + 0.5) }
            let dY = (0..<rows * channels).map { _ in Float(random.gaussian()) }
            let gamma = (0..<channels).map { _ in Float(1 + random.gaussian(sigma: 0.2)) }
            let beta = (0..<channels).map { _ in Float(random.gaussian(sigma: 0.2)) }
            func run(_ isa: KernelISA) -> [[Float]] { EngineConfiguration.current.with { $0.isa = isa }.apply { runKernels() } }
            func runKernels() -> [[Float]] {
                var y = [Float](repeating: 0, count: rows * channels), dX = dY
                var runningMean = [Float](repeating: 0.1, count: channels), runningVar = [Float](repeating: 0.9, count: channels)
                var mean = [Float](repeating: 0, count: channels), invStd = mean, dGamma = mean, dBeta = mean
                BatchNormKernels.trainForward(x: x, y: &y, rows: rows, channels: channels, gamma: gamma, beta: beta, eps: 1e-5, momentum: 0.1,
                                              runningMean: &runningMean, runningVar: &runningVar, mean: &mean, invStd: &invStd)
                dX.withUnsafeMutableBufferPointer { d in
                    BatchNormKernels.trainBackward(x: x, dY: d.baseAddress!, dX: d.baseAddress!, rows: rows, channels: channels, gamma: gamma,
                                                   mean: mean, invStd: invStd, dGamma: &dGamma, dBeta: &dBeta)
                }
                return [y, runningMean, runningVar, mean, invStd, dX, dGamma, dBeta]
            }
            let swift = run(.avx2), avx512 = run(.avx512)
            for (index, name) in ["y", "running mean", "running var", "mean", "invStd", "dX", "dGamma", "dBeta"].enumerated() {
                XCTAssertEqual(swift[index].map(\.bitPattern), avx512[index].map(\.bitPattern), "\(name), \(rows) x \(channels)")
            }
            if rows > 1 { XCTAssertGreaterThan(swift[5].map { abs($0) }.max()!, 0, "the gradient is not trivially zero") }
        }
    }
}
