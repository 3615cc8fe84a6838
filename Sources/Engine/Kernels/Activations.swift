import Architecture
import Foundation

/// Elementwise activations, forward and backward side by side. Layout: any; `count` elements.
/// An activation as a type, so that kernels are specialised per activation instead of switching per element.
public protocol VectorActivation {
    static func apply(_ x: SIMD8<Float>) -> SIMD8<Float>
    static func derivative(_ x: SIMD8<Float>) -> SIMD8<Float>
}

public enum SiLUFunction: VectorActivation {
    @inline(__always) public static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x * vectorSigmoid(x) }
    @inline(__always) public static func derivative(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let s = vectorSigmoid(x)
        return s * (1 + x * (1 - s))
    }
}

public enum ReLUFunction: VectorActivation {
    @inline(__always) public static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x.replacing(with: 0, where: x .< 0) }
    @inline(__always) public static func derivative(_ x: SIMD8<Float>) -> SIMD8<Float> { SIMD8(repeating: 1).replacing(with: 0, where: x .<= 0) }
}

public enum ReLU6Function: VectorActivation {
    @inline(__always) public static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        x.replacing(with: 0, where: x .< 0).replacing(with: 6, where: x .> 6)
    }
    @inline(__always) public static func derivative(_ x: SIMD8<Float>) -> SIMD8<Float> {
        SIMD8(repeating: 1).replacing(with: 0, where: (x .<= 0) .| (x .>= 6))
    }
}

public enum IdentityFunction: VectorActivation {
    @inline(__always) public static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x }
    @inline(__always) public static func derivative(_ x: SIMD8<Float>) -> SIMD8<Float> { SIMD8(repeating: 1) }
}

/// Calls `body` specialised for the activation (identity for nil): one switch per kernel call, none per element.
public protocol ActivationSpecialised {
    func run<A: VectorActivation>(_: A.Type)
}

extension ActivationSpecialised {
    @inline(__always)
    public func run(for activation: Activation?) {
        switch activation {
        case .none: run(IdentityFunction.self)
        case .some(.silu): run(SiLUFunction.self)
        case .some(.relu): run(ReLUFunction.self)
        case .some(.relu6): run(ReLU6Function.self)
        }
    }
}

public enum ActivationKernels {
    /// `y = act(x)`; `x` and `y` may be the same buffer.
    public static func forward(_ kind: Activation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        struct Forward: ActivationSpecialised {
            let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int
            func run<A: VectorActivation>(_: A.Type) {
                Parallel.forEachChunk(count / 8, minimumChunk: 4096) { range in
                    for v in range { y.storeVector(A.apply(x.loadVector(v * 8)), v * 8) }
                }
                for index in (count / 8 * 8)..<count { y[index] = A.apply(SIMD8(repeating: x[index]))[0] }
            }
        }
        Forward(x: x, y: y, count: count).run(for: kind)
    }

    /// `dX = dY * act'(x)` where `x` is the activation's input; `dX` may alias `dY`.
    public static func backward(_ kind: Activation, input x: UnsafePointer<Float>, _ dY: UnsafePointer<Float>, _ dX: UnsafeMutablePointer<Float>, count: Int) {
        struct Backward: ActivationSpecialised {
            let x: UnsafePointer<Float>, dY: UnsafePointer<Float>, dX: UnsafeMutablePointer<Float>, count: Int
            func run<A: VectorActivation>(_: A.Type) {
                Parallel.forEachChunk(count / 8, minimumChunk: 4096) { range in
                    for v in range { dX.storeVector(dY.loadVector(v * 8) * A.derivative(x.loadVector(v * 8)), v * 8) }
                }
                for index in (count / 8 * 8)..<count { dX[index] = dY[index] * A.derivative(SIMD8(repeating: x[index]))[0] }
            }
        }
        Backward(x: x, dY: dY, dX: dX, count: count).run(for: kind)
    }

    /// One value through the vector activation (the same bits as the kernels give it).
    @inline(__always)
    public static func apply(_ kind: Activation, _ x: Float) -> Float {
        let v = SIMD8<Float>(repeating: x)
        switch kind {
        case .silu: return SiLUFunction.apply(v)[0]
        case .relu: return ReLUFunction.apply(v)[0]
        case .relu6: return ReLU6Function.apply(v)[0]
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
