import Architecture
import Foundation

/// Elementwise activations, forward and backward side by side. Layout: any; `count` elements.
public enum ActivationKernels {
    /// `y = act(x)`; `x` and `y` may be the same buffer.
    public static func forward(_ kind: Activation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachChunk(count / 8, minimumChunk: 4096) { range in
            for v in range {
                let value = x.loadVector(v * 8)
                y.storeVector(apply(kind, value), v * 8)
            }
        }
        for index in (count / 8 * 8)..<count { y[index] = applyScalar(kind, x[index]) }
    }

    /// `dX = dY * act'(x)` where `x` is the activation's input; `dX` may alias `dY`.
    public static func backward(_ kind: Activation, input x: UnsafePointer<Float>, _ dY: UnsafePointer<Float>, _ dX: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachChunk(count / 8, minimumChunk: 4096) { range in
            for v in range {
                dX.storeVector(dY.loadVector(v * 8) * derivative(kind, x.loadVector(v * 8)), v * 8)
            }
        }
        for index in (count / 8 * 8)..<count {
            dX[index] = dY[index] * derivative(kind, SIMD8(repeating: x[index]))[0]
        }
    }

    @inline(__always)
    public static func apply(_ kind: Activation, _ x: SIMD8<Float>) -> SIMD8<Float> {
        switch kind {
        case .silu: return x * vectorSigmoid(x)
        case .relu: return x.replacing(with: 0, where: x .< 0)
        case .relu6: return x.clamped(lowerBound: SIMD8(repeating: 0), upperBound: SIMD8(repeating: 6))
        }
    }

    @inline(__always)
    public static func applyScalar(_ kind: Activation, _ x: Float) -> Float { apply(kind, SIMD8(repeating: x))[0] }

    /// d act / dx at x.
    @inline(__always)
    public static func derivative(_ kind: Activation, _ x: SIMD8<Float>) -> SIMD8<Float> {
        switch kind {
        case .silu:
            let s = vectorSigmoid(x)
            return s * (1 + x * (1 - s))
        case .relu:
            return SIMD8(repeating: 1).replacing(with: 0, where: x .<= 0)
        case .relu6:
            return SIMD8(repeating: 1).replacing(with: 0, where: (x .<= 0) .| (x .>= 6))
        }
    }

    /// The plain definition, for tests.
    public static func reference(_ kind: Activation, _ x: Float) -> Float {
        switch kind {
        case .silu: return Float(Double(x) / (1 + exp(-Double(x))))
        case .relu: return max(0, x)
        case .relu6: return min(6, max(0, x))
        }
    }
}
