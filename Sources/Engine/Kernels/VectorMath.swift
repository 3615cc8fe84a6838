/// Vectorised elementwise math on `SIMD8<Float>` (the engine's vector width: one AVX register).

/// exp(x) with a Cephes-style range reduction (to the nearest multiple of ln 2) and polynomial: relative error about 2e-7 over
/// the whole float range; inputs are clamped to [-87.3, 88.3].
@inline(__always)
public func vectorExp(_ input: SIMD8<Float>) -> SIMD8<Float> {
    var x0 = input.replacing(with: -87.3, where: input .< -87.3)
    x0.replace(with: 88.3, where: x0 .> 88.3)
    // n = round(x / ln 2) by adding 1.5 * 2^23: the sum's low mantissa bits hold n, so neither floor nor a
    // float-to-int conversion (which Swift does not vectorise) is needed.
    let shifted = x0 * 1.442_695_040_888_963_4 + 12_582_912
    let n = shifted - 12_582_912
    var x = x0 - n * 0.693_359_375
    x = x + n * 2.121_944_4e-4
    var y = SIMD8<Float>(repeating: 1.398_199_950_7e-3).addingProduct(x, SIMD8(repeating: 1.987_569_150_0e-4))
    y = SIMD8(repeating: 8.333_451_907_3e-3).addingProduct(y, x)
    y = SIMD8(repeating: 4.166_579_589_4e-2).addingProduct(y, x)
    y = SIMD8(repeating: 1.666_666_545_9e-1).addingProduct(y, x)
    y = SIMD8(repeating: 5.000_000_120_1e-1).addingProduct(y, x)
    y = (x + 1).addingProduct(y, x * x)
    let exponent = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

@inline(__always)
public func vectorSigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    1 / (1 + vectorExp(-x))
}

/// Scalar exp with the same approximation, for tails.
@inline(__always)
public func scalarExp(_ x: Float) -> Float { vectorExp(SIMD8(repeating: x))[0] }

@inline(__always)
public func scalarSigmoid(_ x: Float) -> Float { 1 / (1 + scalarExp(-x)) }

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always)
    func loadVector(_ offset: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    func storeVector(_ value: SIMD8<Float>, _ offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: SIMD8<Float>.self)
    }
}

extension UnsafePointer where Pointee == Float {
    @inline(__always)
    func loadVector(_ offset: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
    }
}
