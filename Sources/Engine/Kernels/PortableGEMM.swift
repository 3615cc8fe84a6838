import Foundation

/// How the engine multiplies matrices, which decides a result's last bits.
public enum Numerics: String, Codable, CaseIterable, Sendable {
    /// OpenBLAS, with the kernels it picks for the CPU (AVX2 on one machine, AVX-512 on another): fastest, and
    /// bitwise reproducible on one machine, but not across machines whose CPUs differ.
    case fast
    /// The engine's own GEMM, whose every output element is one chain of fused multiply-adds in ascending k,
    /// whatever the CPU, the blocking or the thread split: every x86-64 machine with AVX2 and FMA computes
    /// bitwise-identical results (at the same thread count).
    case portable

    /// What a candidate's `machine` column calls the GEMM path.
    public var kernelPath: String {
        switch self {
        case .fast: "OpenBLAS \(BLAS.coreName)"
        case .portable: "engine portable GEMM (AVX2+FMA, fixed order)"
        }
    }
}

/// The portable GEMM: `C = alpha * op(A) * op(B) + beta * C`, row-major, with a fixed summation order.
///
/// Each element of C is `fma(A[i, k-1], B[k-1, j], ... fma(A[i, 1], B[1, j], fma(A[i, 0], B[0, j], 0)))`, then
/// scaled by alpha and added to beta * C with two separate roundings. The blocking (4 x 16 tiles over packed
/// panels, SIMD across the 16 columns) changes where elements are computed, never how; the scalar tail would
/// compute the same values. The code is compiled once for Haswell (AVX2, FMA) and never dispatches on the CPU.
enum PortableGEMM {
    static let rowsPerTile = 4
    static let columnsPerPanel = 16
    /// Rows of A packed at a time (their panel stays in L2 while every column panel passes).
    static let rowsPerBlock = 64

    static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0 && n > 0 else { return }
        let nr = columnsPerPanel, mr = rowsPerTile
        let panels = (n + nr - 1) / nr
        // B as column panels of 16, zero-padded: panel q holds B[p, 16q ..< 16q + 16] at [q][p][0..<16].
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: max(1, panels * k * nr))
        defer { packedB.deallocate() }
        for q in 0..<panels {
            let panel = packedB + q * k * nr
            let j0 = q * nr, width = min(nr, n - j0)
            for p in 0..<k {
                let row = panel + p * nr
                if transposeB {
                    for jj in 0..<width { row[jj] = b[(j0 + jj) * ldb + p] }
                } else {
                    let source = b + p * ldb + j0
                    for jj in 0..<width { row[jj] = source[jj] }
                }
                for jj in width..<nr { row[jj] = 0 }
            }
        }
        let blockRows = min(rowsPerBlock, m)
        let tilesPerBlock = (blockRows + mr - 1) / mr
        let packedA = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tilesPerBlock * k * mr))
        defer { packedA.deallocate() }
        var tile = [Float](repeating: 0, count: mr * nr)
        var i0 = 0
        while i0 < m {
            let rows = min(blockRows, m - i0)
            let tiles = (rows + mr - 1) / mr
            // A's rows i0 ..< i0 + rows as tiles of 4, zero-padded: tile t holds A[i, p] at [t][p][i - 4t].
            for t in 0..<tiles {
                let packed = packedA + t * k * mr
                for r in 0..<mr {
                    let i = i0 + t * mr + r
                    if i < i0 + rows {
                        if transposeA {
                            for p in 0..<k { packed[p * mr + r] = a[p * lda + i] }
                        } else {
                            let source = a + i * lda
                            for p in 0..<k { packed[p * mr + r] = source[p] }
                        }
                    } else {
                        for p in 0..<k { packed[p * mr + r] = 0 }
                    }
                }
            }
            tile.withUnsafeMutableBufferPointer { tile in
                for t in 0..<tiles {
                    for q in 0..<panels {
                        kernel(k: k, a: packedA + t * k * mr, b: packedB + q * k * nr, out: tile.baseAddress!)
                        let rowStart = i0 + t * mr, columnStart = q * nr
                        let tileRows = min(mr, m - rowStart), tileColumns = min(nr, n - columnStart)
                        for r in 0..<tileRows {
                            let destination = c + (rowStart + r) * ldc + columnStart
                            let sums = tile.baseAddress! + r * nr
                            for jj in 0..<tileColumns {
                                var value = sums[jj]
                                if alpha != 1 { value = alpha * value }
                                if beta != 0 { value = value + beta * destination[jj] }
                                destination[jj] = value
                            }
                        }
                    }
                }
            }
            i0 += rows
        }
    }

    /// One 4 x 16 tile: `out[r][j] = sum over p, in order, of a[p][r] * b[p][j]`, each step one fused multiply-add.
    @inline(__always)
    static func kernel(k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        let rawB = UnsafeRawPointer(b)
        for p in 0..<k {
            let b0 = rawB.loadUnaligned(fromByteOffset: p * 64, as: V.self)
            let b1 = rawB.loadUnaligned(fromByteOffset: p * 64 + 32, as: V.self)
            let row = a + p * 4
            let a0 = V(repeating: row[0]), a1 = V(repeating: row[1]), a2 = V(repeating: row[2]), a3 = V(repeating: row[3])
            c00.addProduct(a0, b0)
            c01.addProduct(a0, b1)
            c10.addProduct(a1, b0)
            c11.addProduct(a1, b1)
            c20.addProduct(a2, b0)
            c21.addProduct(a2, b1)
            c30.addProduct(a3, b0)
            c31.addProduct(a3, b1)
        }
        let raw = UnsafeMutableRawPointer(out)
        raw.storeBytes(of: c00, toByteOffset: 0, as: V.self)
        raw.storeBytes(of: c01, toByteOffset: 32, as: V.self)
        raw.storeBytes(of: c10, toByteOffset: 64, as: V.self)
        raw.storeBytes(of: c11, toByteOffset: 96, as: V.self)
        raw.storeBytes(of: c20, toByteOffset: 128, as: V.self)
        raw.storeBytes(of: c21, toByteOffset: 160, as: V.self)
        raw.storeBytes(of: c30, toByteOffset: 192, as: V.self)
        raw.storeBytes(of: c31, toByteOffset: 224, as: V.self)
    }
}
