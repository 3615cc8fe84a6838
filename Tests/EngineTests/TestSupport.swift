import Architecture
import Engine
import Foundation
import XCTest
import Statistics

/// Deterministic test data.
enum TestData {
    /// `count` values in [-scale, scale] from a seeded generator.
    static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        let random = RandomGenerator(seed: seed)
        return (0..<count).map { _ in Float(random.uniform() * 2 - 1) * scale }
    }

    static func tensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        Tensor(shape: shape, values: values(shape.reduce(1, *), seed: seed, scale: scale))
    }

    /// The golden scripts' input: x[i] = 1.5 * sin(0.37 * i) over NCHW, returned as NHWC.
    static func goldenInput(batch: Int, resolution: Int) -> Tensor {
        let r = resolution
        let x = Tensor(shape: [batch, r, r, 3])
        for n in 0..<batch { for c in 0..<3 { for y in 0..<r { for w in 0..<r {
            let i = ((n * 3 + c) * r + y) * r + w
            x[((n * r + y) * r + w) * 3 + c] = Float(1.5 * sin(0.37 * Double(i)))
        } } } }
        return x
    }

    static func fixture(_ name: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures")!
    }
}

/// Central finite differences of a scalar function of a tensor, at a few seeded positions.
func checkGradient(
    of tensor: Tensor, analytic: [Float], samples: Int = 12, step: Float = 1e-2, tolerance: Float = 2e-2,
    seed: UInt64 = 99, _ label: String, file: StaticString = #filePath, line: UInt = #line, loss: () -> Double
) {
    let random = RandomGenerator(seed: seed)
    var worst: Float = 0
    for _ in 0..<min(samples, tensor.count) {
        let index = random.uniformInt(tensor.count)
        let original = tensor[index]
        tensor[index] = original + step
        let plus = loss()
        tensor[index] = original - step
        let minus = loss()
        tensor[index] = original
        let numeric = Float((plus - minus) / Double(2 * step))
        let error = abs(numeric - analytic[index]) / max(1e-2, abs(numeric) + abs(analytic[index]))
        worst = max(worst, error)
        XCTAssertLessThanOrEqual(error, tolerance, "\(label)[\(index)]: analytic \(analytic[index]), numeric \(numeric)", file: file, line: line)
    }
    _ = worst
}

/// `sum(y * weights)` in Double: a scalar loss whose gradient with respect to y is `weights`.
func projected(_ y: Tensor, _ weights: [Float]) -> Double {
    var sum: Double = 0
    for index in 0..<y.count { sum += Double(y[index]) * Double(weights[index]) }
    return sum
}
