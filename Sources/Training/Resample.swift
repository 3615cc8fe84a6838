import Foundation

/// Resampling filters, with PIL's definitions (`Image.resize`): weights spread over `support` source pixels
/// at scale 1 and over `support * scale` when shrinking by `scale`, so that downsampling averages (antialiases).
public enum Interpolation: String, Codable, Sendable, CaseIterable {
    case bilinear, bicubic

    var support: Double { self == .bilinear ? 1 : 2 }

    func weight(_ distance: Double) -> Double {
        let x = abs(distance)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5  // PIL's (and Keys's) cubic convolution parameter
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// One axis of a resampling: for each output pixel, the first source pixel it reads and its weights (PIL's
/// `precompute_coeffs`: output pixel `i` is centred at `low + (i + 0.5) * scale` in source coordinates).
struct ResampleAxis {
    var first: [Int] = []
    var count: [Int] = []
    /// `taps` weights per output pixel, zero-padded.
    var weights: [Float] = []
    let taps: Int

    init(sourceSize: Int, low: Double, high: Double, outputSize: Int, filter: Interpolation) {
        let scale = (high - low) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        taps = Int(support.rounded(.up)) * 2 + 1
        weights = [Float](repeating: 0, count: taps * outputSize)
        first.reserveCapacity(outputSize)
        count.reserveCapacity(outputSize)
        var raw = [Double](repeating: 0, count: taps)
        for output in 0..<outputSize {
            let centre = low + (Double(output) + 0.5) * scale
            let start = max(0, Int(centre - support + 0.5))
            let n = max(0, min(min(Int(centre + support + 0.5), sourceSize) - start, taps))
            var total = 0.0
            for tap in 0..<n {
                raw[tap] = filter.weight((Double(start + tap) - centre + 0.5) / filterScale)
                total += raw[tap]
            }
            for tap in 0..<n { weights[output * taps + tap] = Float(total != 0 ? raw[tap] / total : raw[tap]) }
            first.append(start)
            count.append(n)
        }
    }
}

/// A rectangle of a source image in pixel coordinates (edges, not centres): x in [left, right), y in [top, bottom).
public struct CropBox: Equatable, Sendable {
    public var left: Double, top: Double, right: Double, bottom: Double
    public init(left: Double, top: Double, right: Double, bottom: Double) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }
}

/// Separable resampling of a box of an 8-bit image (1 or 3 channels) to `width x height`: horizontal pass
/// first, then vertical, as PIL does.
public enum Resampler {
    /// Writes `height x width x 3` floats, `value / 255 * scale[c] + bias[c]` (grey sources fill all three
    /// channels), mirrored left to right when `flip`.
    public static func resample(
        _ source: UnsafePointer<UInt8>, height sourceHeight: Int, width sourceWidth: Int, channels: Int, box: CropBox,
        to output: UnsafeMutablePointer<Float>, height: Int, width: Int, filter: Interpolation, flip: Bool = false,
        scale: [Float] = [1, 1, 1], bias: [Float] = [0, 0, 0], roundIntermediate: Bool = false
    ) {
        let horizontal = ResampleAxis(sourceSize: sourceWidth, low: box.left, high: box.right, outputSize: width, filter: filter)
        let vertical = ResampleAxis(sourceSize: sourceHeight, low: box.top, high: box.bottom, outputSize: height, filter: filter)
        // Only the source rows the vertical pass reads.
        let firstRow = vertical.first.min() ?? 0
        let lastRow = zip(vertical.first, vertical.count).map { $0 + $1 }.max() ?? 0
        let rows = max(0, lastRow - firstRow)
        var temporary = [Float](repeating: 0, count: rows * width * channels)
        temporary.withUnsafeMutableBufferPointer { buffer in
            let temp = buffer.baseAddress!
            for row in 0..<rows {
                let line = source + (firstRow + row) * sourceWidth * channels
                for x in 0..<width {
                    let start = horizontal.first[x], n = horizontal.count[x]
                    let weights = x * horizontal.taps
                    for c in 0..<channels {
                        var sum: Float = 0
                        for tap in 0..<n { sum += horizontal.weights[weights + tap] * Float(line[(start + tap) * channels + c]) }
                        if roundIntermediate { sum = min(255, max(0, sum.rounded())) }
                        temp[(row * width + x) * channels + c] = sum
                    }
                }
            }
            for y in 0..<height {
                let start = vertical.first[y] - firstRow, n = vertical.count[y]
                let weights = y * vertical.taps
                for x in 0..<width {
                    let target = output + (y * width + (flip ? width - 1 - x : x)) * 3
                    for c in 0..<channels {
                        var sum: Float = 0
                        for tap in 0..<n { sum += vertical.weights[weights + tap] * temp[((start + tap) * width + x) * channels + c] }
                        if channels == 3 {
                            target[c] = sum / 255 * scale[c] + bias[c]
                        } else {
                            for k in 0..<3 { target[k] = sum / 255 * scale[k] + bias[k] }
                        }
                    }
                }
            }
        }
    }

    /// The same into 8-bit RGB, each pass rounded and clamped to 0...255 as PIL does for 8-bit images.
    public static func resampleBytes(
        _ source: UnsafePointer<UInt8>, height sourceHeight: Int, width sourceWidth: Int, channels: Int, box: CropBox,
        to output: UnsafeMutablePointer<UInt8>, height: Int, width: Int, filter: Interpolation
    ) {
        var floats = [Float](repeating: 0, count: height * width * 3)
        floats.withUnsafeMutableBufferPointer { buffer in
            resample(source, height: sourceHeight, width: sourceWidth, channels: channels, box: box, to: buffer.baseAddress!,
                     height: height, width: width, filter: filter, scale: [255, 255, 255], roundIntermediate: true)
        }
        for index in 0..<floats.count { output[index] = UInt8(min(255, max(0, floats[index].rounded()))) }
    }

    /// torchvision's `Resize(size)` then `CenterCrop(crop)` as one box: the shorter side scaled to `size`
    /// (the longer to `int(size * long / short)`), then the centred `crop x crop` square (offsets rounded half
    /// to even, as Python's `round`).
    public static func resizeThenCentreCrop(height: Int, width: Int, size: Int, crop: Int) -> CropBox {
        let (scaledHeight, scaledWidth) = width <= height
            ? (Int(Double(size) * Double(height) / Double(width)), size)
            : (size, Int(Double(size) * Double(width) / Double(height)))
        let top = (Double(scaledHeight - crop) / 2).rounded(.toNearestOrEven)
        let left = (Double(scaledWidth - crop) / 2).rounded(.toNearestOrEven)
        let scaleY = Double(height) / Double(scaledHeight), scaleX = Double(width) / Double(scaledWidth)
        return CropBox(left: left * scaleX, top: top * scaleY, right: (left + Double(crop)) * scaleX, bottom: (top + Double(crop)) * scaleY)
    }
}
