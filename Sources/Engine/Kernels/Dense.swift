/// Small dense layers and pooling on `[N, features]` and NHWC tensors.
public enum LinearKernels {
    /// `y [rows, out] = x [rows, in] · wᵀ + b`, with `w` `[out, in]`.
    public static func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, b: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int) {
        if let b {
            for row in 0..<rows { (y + row * outFeatures).update(from: b, count: outFeatures) }
        }
        Parallel.sgemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x, b: w, beta: b == nil ? 0 : 1, c: y)
    }

    /// `dW += dYᵀ · x`, `dB += sum(dY)`, and `dX = dY · w` (overwritten) when given.
    public static func backward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, dY: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>?,
                                dX: UnsafeMutablePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int) {
        Parallel.sgemm(transposeA: true, m: outFeatures, n: inFeatures, k: rows, a: dY, lda: outFeatures, b: x, beta: 1, c: dW)
        if let dB {
            for row in 0..<rows {
                for o in 0..<outFeatures { dB[o] += dY[row * outFeatures + o] }
            }
        }
        if let dX { Parallel.sgemm(m: rows, n: inFeatures, k: outFeatures, a: dY, b: w, c: dX) }
    }
}

public enum PoolingKernels {
    /// `y[n, c] = mean over pixels of x[n, p, c]`; `x` is `[N, pixels, C]`.
    public static func globalAverage(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pixels: Int, channels: Int) {
        let scale = 1 / Float(pixels)
        Parallel.forEachChunk(batch) { range in
            for n in range {
                let out = y + n * channels
                out.update(repeating: 0, count: channels)
                for p in 0..<pixels {
                    let row = x + (n * pixels + p) * channels
                    var c = 0
                    while c + 8 <= channels { out.storeVector(out.loadVector(c) + row.loadVector(c), c); c += 8 }
                    while c < channels { out[c] += row[c]; c += 1 }
                }
                for c in 0..<channels { out[c] *= scale }
            }
        }
    }

    /// `dX[n, p, c] = dY[n, c] / pixels` (overwrites dX).
    public static func globalAverageBackward(_ dY: UnsafePointer<Float>, _ dX: UnsafeMutablePointer<Float>, batch: Int, pixels: Int, channels: Int) {
        let scale = 1 / Float(pixels)
        Parallel.forEachChunk(batch * pixels, minimumChunk: 64) { range in
            for row in range {
                let n = row / pixels
                for c in 0..<channels { dX[row * channels + c] = dY[n * channels + c] * scale }
            }
        }
    }

    /// `y[n, p, c] = x[n, p, c] * gate[n, c]`.
    public static func scaleChannels(_ x: UnsafePointer<Float>, gate: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pixels: Int, channels: Int) {
        Parallel.forEachChunk(batch * pixels, minimumChunk: 64) { range in
            for row in range {
                let g = gate + (row / pixels) * channels
                let input = x + row * channels, out = y + row * channels
                var c = 0
                while c + 8 <= channels { out.storeVector(input.loadVector(c) * g.loadVector(c), c); c += 8 }
                while c < channels { out[c] = input[c] * g[c]; c += 1 }
            }
        }
    }

    /// `out[n, c] = sum over pixels of a[n, p, c] * b[n, p, c]`.
    public static func channelDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, batch: Int, pixels: Int, channels: Int) {
        Parallel.forEachChunk(batch) { range in
            for n in range {
                let target = out + n * channels
                target.update(repeating: 0, count: channels)
                for p in 0..<pixels {
                    let offset = (n * pixels + p) * channels
                    for c in 0..<channels { target[c] += a[offset + c] * b[offset + c] }
                }
            }
        }
    }
}
