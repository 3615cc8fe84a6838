import CEngineKernels
import Foundation

/// Batch normalisation over the rows of `[M, C]` (M = N * H * W in NHWC), forward and backward.
public enum BatchNormKernels {
    /// Training forward: batch statistics (biased variance for normalising), `y = gamma * xhat + beta`,
    /// and the running statistics updated with `momentum` (PyTorch convention: new = (1 - m) * old + m * batch,
    /// with the unbiased variance). Writes the batch mean and 1/sqrt(var + eps) for backward.
    public static func trainForward(
        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int, channels: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float, momentum: Float,
        runningMean: UnsafeMutablePointer<Float>, runningVar: UnsafeMutablePointer<Float>,
        mean: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>
    ) {
        let sums: [Double], squares: [Double]
        if usesAVX512 {
            sums = chunkedSums(rows: rows, channels: channels) { range, out in efk_bn_sums_avx512(x, nil, out[0], range.lowerBound, range.upperBound, channels) }[0]
            for c in 0..<channels { mean[c] = Float(sums[c] / Double(rows)) }
            squares = chunkedSums(rows: rows, channels: channels) { range, out in
                efk_bn_sums_avx512(x, mean, out[0], range.lowerBound, range.upperBound, channels)
            }[0]
        } else {
            sums = columnSums(rows: rows, channels: channels) { row, channel in Double(x[row * channels + channel]) }
            for c in 0..<channels { mean[c] = Float(sums[c] / Double(rows)) }
            squares = columnSums(rows: rows, channels: channels) { row, channel in
                let d = Double(x[row * channels + channel] - mean[channel])
                return d * d
            }
        }
        for c in 0..<channels {
            let variance = squares[c] / Double(rows)
            invStd[c] = Float(1 / (variance + Double(eps)).squareRoot())
            let unbiased = rows > 1 ? squares[c] / Double(rows - 1) : variance
            runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c]
            runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
        }
        Parallel.forEachChunk(rows, minimumChunk: 64) { range in
            if usesAVX512 {
                efk_bn_normalize_avx512(x, y, mean, invStd, gamma, beta, range.lowerBound, range.upperBound, channels)
                return
            }
            for row in range {
                for c in 0..<channels {
                    let index = row * channels + c
                    y[index] = (x[index] - mean[c]) * invStd[c] * gamma[c] + beta[c]
                }
            }
        }
    }

    /// Backward of the training forward: `dGamma += sum(dY * xhat)`, `dBeta += sum(dY)`,
    /// `dX = gamma * invStd / M * (M * dY - sum(dY) - xhat * sum(dY * xhat))`. `dX` may alias `dY`.
    public static func trainBackward(
        x: UnsafePointer<Float>, dY: UnsafePointer<Float>, dX: UnsafeMutablePointer<Float>, rows: Int, channels: Int,
        gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
        dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>
    ) {
        let sumDY: [Double], sumDYXhat: [Double]
        if usesAVX512 {
            let both = chunkedSums(rows: rows, channels: channels, arrays: 2) { range, out in
                efk_bn_backward_sums_avx512(x, dY, mean, invStd, out[0], out[1], range.lowerBound, range.upperBound, channels)
            }
            (sumDY, sumDYXhat) = (both[0], both[1])
        } else {
            sumDY = columnSums(rows: rows, channels: channels) { row, c in Double(dY[row * channels + c]) }
            sumDYXhat = columnSums(rows: rows, channels: channels) { row, c in
                Double(dY[row * channels + c]) * Double((x[row * channels + c] - mean[c]) * invStd[c])
            }
        }
        var a = [Float](repeating: 0, count: channels), b = a, cTerm = a
        let m = Float(rows)
        for c in 0..<channels {
            dGamma[c] += Float(sumDYXhat[c])
            dBeta[c] += Float(sumDY[c])
            a[c] = gamma[c] * invStd[c]
            b[c] = Float(sumDY[c]) / m
            cTerm[c] = Float(sumDYXhat[c]) / m
        }
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                cTerm.withUnsafeBufferPointer { cTerm in
                    Parallel.forEachChunk(rows, minimumChunk: 64) { range in
                        if usesAVX512 {
                            efk_bn_backward_avx512(x, dY, dX, mean, invStd, a.baseAddress!, b.baseAddress!, cTerm.baseAddress!,
                                                   range.lowerBound, range.upperBound, channels)
                            return
                        }
                        for row in range {
                            for c in 0..<channels {
                                let index = row * channels + c
                                let xhat = (x[index] - mean[c]) * invStd[c]
                                dX[index] = a[c] * (dY[index] - b[c] - xhat * cTerm[c])
                            }
                        }
                    }
                }
            }
        }
    }

    /// Inference: the per-channel scale and shift that fold batch norm into the convolution before it.
    public static func fold(
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, runningMean: UnsafePointer<Float>,
        runningVar: UnsafePointer<Float>, eps: Float, channels: Int,
        scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>
    ) {
        for c in 0..<channels {
            scale[c] = gamma[c] / (runningVar[c] + eps).squareRoot()
            shift[c] = beta[c] - runningMean[c] * scale[c]
        }
    }

    /// Whether the AVX-512 kernels run (`InferenceKernels.isa`): the same arithmetic, operation for operation, so
    /// the same bits as the Swift loops here.
    static var usesAVX512: Bool { InferenceKernels.isa == .avx512 }

    /// Per-column sums in Double over fixed chunks of rows: `fill(rows, partials)` adds one chunk's rows into
    /// `arrays` partial sums at once (each `[channels]`, zero on entry), and the chunks' partials are added in
    /// chunk order, so the result is the same at every run with the same thread count.
    static func chunkedSums(rows: Int, channels: Int, arrays: Int = 1,
                            _ fill: (Range<Int>, [UnsafeMutablePointer<Double>]) -> Void) -> [[Double]] {
        let chunks = max(1, min(Parallel.threads, rows / 64))
        var partials = [Double](repeating: 0, count: arrays * chunks * channels)
        partials.withUnsafeMutableBufferPointer { partials in
            let base = partials.baseAddress!
            Parallel.forEachChunk(chunks) { chunkRange in
                for chunk in chunkRange {
                    let targets = (0..<arrays).map { base + ($0 * chunks + chunk) * channels }
                    fill((rows * chunk / chunks)..<(rows * (chunk + 1) / chunks), targets)
                }
            }
        }
        return (0..<arrays).map { array in
            var sums = [Double](repeating: 0, count: channels)
            for chunk in 0..<chunks {
                for c in 0..<channels { sums[c] += partials[(array * chunks + chunk) * channels + c] }
            }
            return sums
        }
    }

    /// Per-column sums of `value(row, channel)` in Double: rows are split into fixed chunks whose partial
    /// sums are added in order, so the result is the same at every run with the same thread count.
    static func columnSums(rows: Int, channels: Int, _ value: (Int, Int) -> Double) -> [Double] {
        chunkedSums(rows: rows, channels: channels) { range, out in
            let target = out[0]
            for row in range {
                for c in 0..<channels { target[c] += value(row, c) }
            }
        }[0]
    }
}
