import Engine
import Foundation

/// Turns images into network inputs: NHWC float tensors at a resolution, normalised with the dataset's
/// statistics, grey images replicated to 3 channels; in training with a random crop (zero padding of an
/// eighth of the image side: 4 px for 32 px CIFAR images, 1 px for 8 px digits) and, where the dataset
/// allows it, a horizontal flip.
public struct BatchMaker {
    public var mean: [Float]
    public var std: [Float]
    /// Crop padding as a share of the source image's side.
    public var cropFraction = 0.125
    public var allowsFlip: Bool

    public init(dataset: Dataset) {
        mean = dataset.mean
        std = dataset.std
        allowsFlip = dataset.allowsFlip
    }

    /// `[indices.count, resolution, resolution, 3]` and the labels. `random` (training only) draws each
    /// image's crop offset and flip, in index order.
    public func make(_ set: ImageSet, indices: [Int], resolution: Int, augment random: RandomGenerator?, into tensor: inout Tensor?) -> (Tensor, [Int]) {
        let x = Tensor.reuse(&tensor, shape: [indices.count, resolution, resolution, 3])
        var plans: [(dy: Int, dx: Int, flip: Bool)] = []
        let cropPadding = Int((Double(max(set.height, set.width)) * cropFraction).rounded())
        for _ in indices {
            if let random {
                let dy = random.uniformInt(2 * cropPadding + 1) - cropPadding
                let dx = random.uniformInt(2 * cropPadding + 1) - cropPadding
                let flip = allowsFlip && random.uniform() < 0.5
                plans.append((dy, dx, flip))
            } else {
                plans.append((0, 0, false))
            }
        }
        let (h, w, c) = (set.height, set.width, set.channels)
        let scaleY = Double(h) / Double(resolution), scaleX = Double(w) / Double(resolution)
        let inverseStd = std.map { 1 / $0 }
        set.pixels.withUnsafeBufferPointer { pixels in
            Parallel.forEachChunk(indices.count, minimumChunk: 8) { range in
                for item in range {
                    let image = pixels.baseAddress! + indices[item] * set.imageSize
                    let plan = plans[item]
                    let out = x.data + item * resolution * resolution * 3
                    for oy in 0..<resolution {
                        // Bilinear, half-pixel centres (PyTorch's align_corners=False), then the crop offset.
                        let sy = (Double(oy) + 0.5) * scaleY - 0.5 + Double(plan.dy)
                        let y0 = Int(floor(sy)), fy = Float(sy - floor(sy))
                        for ox in 0..<resolution {
                            var sx = (Double(ox) + 0.5) * scaleX - 0.5
                            if plan.flip { sx = Double(w - 1) - sx }
                            sx += Double(plan.dx)
                            let x0 = Int(floor(sx)), fx = Float(sx - floor(sx))
                            for channel in 0..<3 {
                                let source = c == 3 ? channel : 0
                                func at(_ yy: Int, _ xx: Int) -> Float {
                                    guard yy >= 0 && yy < h && xx >= 0 && xx < w else { return 0 }
                                    return Float(image[(yy * w + xx) * c + source])
                                }
                                let top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
                                let bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
                                let value = (top * (1 - fy) + bottom * fy) / 255
                                out[(oy * resolution + ox) * 3 + channel] = (value - mean[channel]) * inverseStd[channel]
                            }
                        }
                    }
                }
            }
        }
        return (x, indices.map { set.labels[$0] })
    }
}

/// Learning-rate schedules, as functions of the step.
public enum LearningRateSchedule: String, Sendable, CaseIterable {
    /// Linear warm-up, then half a cosine down to 0 at the last step.
    case cosine
    /// EfficientNet's: times 0.97 every 2.4 epochs (after the warm-up).
    case exponential
    case constant

    public func rate(base: Float, step: Int, totalSteps: Int, warmupSteps: Int, stepsPerEpoch: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        switch self {
        case .constant: return base
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return base * Float(0.5 * (1 + cos(Double.pi * min(1, progress))))
        case .exponential:
            let epochs = Double(step - warmupSteps) / Double(max(1, stepsPerEpoch))
            return base * Float(pow(0.97, floor(epochs / 2.4)))
        }
    }
}
