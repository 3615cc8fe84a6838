import Engine
import Foundation
import Statistics

/// Turns images into network inputs: NHWC float tensors at a resolution, normalised, grey images replicated
/// to 3 channels. The dataset's style decides the geometry:
/// - `resizeWhole` (built-in sets): the whole image scaled bilinearly (PyTorch's `interpolate`, half-pixel
///   centres, edges clamped); in training then shifted as torchvision's `RandomCrop(resolution, padding)` with
///   zero padding of an eighth of the resolution (4 px at 32 px), and flipped where the dataset allows it.
/// - `centerCrop` (image folders): evaluation keeps the centre `resolution / round(resolution / cropFraction)`
///   of the image; training takes torchvision's `RandomResizedCrop` box (area share in `cropScale`, aspect
///   ratio 3/4 to 4/3, 10 tries, then the centre) and a flip; both resampled with PIL's filters.
public struct BatchMaker {
    public var mean: [Float]
    public var std: [Float]
    /// Crop padding as a share of the resolution (`resizeWhole`).
    public var cropFraction = 0.125
    public var allowsFlip: Bool
    public var style: PreprocessingStyle
    public var interpolation: Interpolation
    /// `centerCrop`: the share of the scaled image evaluation keeps, and the training crops' area range.
    public var centreFraction: Double
    public var cropScale: ClosedRange<Double>

    public init(dataset: Dataset) {
        mean = dataset.mean
        std = dataset.std
        allowsFlip = dataset.allowsFlip
        style = dataset.style
        interpolation = dataset.interpolation
        centreFraction = dataset.cropFraction
        cropScale = dataset.cropScale
    }

    /// Evaluation of the whole image (the built-in sets' style), with the given normalisation.
    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
        allowsFlip = false
        style = .resizeWhole
        interpolation = .bilinear
        centreFraction = 0.875
        cropScale = 0.08...1
    }

    /// One image's augmentation, drawn in `make` before the parallel work so that it depends only on the generator.
    public enum Plan: Equatable, Sendable {
        case shift(dy: Int, dx: Int, flip: Bool)
        case box(CropBox, flip: Bool)
    }

    /// The training plans for `count` images, drawn from `random` in order.
    /// Shifts are in output pixels (`resolution`); boxes in source pixels (`height x width`).
    public func plans(count: Int, height: Int, width: Int, resolution: Int, random: RandomGenerator) -> [Plan] {
        (0..<count).map { _ in
            switch style {
            case .resizeWhole:
                let cropPadding = Int((Double(resolution) * cropFraction).rounded())
                let dy = random.uniformInt(2 * cropPadding + 1) - cropPadding
                let dx = random.uniformInt(2 * cropPadding + 1) - cropPadding
                return .shift(dy: dy, dx: dx, flip: allowsFlip && random.uniform() < 0.5)
            case .centerCrop:
                let box = randomResizedCrop(height: height, width: width, random: random)
                return .box(box, flip: allowsFlip && random.uniform() < 0.5)
            }
        }
    }

    /// torchvision's `RandomResizedCrop.get_params` with ratio 3/4 to 4/3.
    func randomResizedCrop(height: Int, width: Int, random: RandomGenerator) -> CropBox {
        let area = Double(height * width)
        let logLow = log(3.0 / 4), logHigh = log(4.0 / 3)
        for _ in 0..<10 {
            let target = area * (cropScale.lowerBound + (cropScale.upperBound - cropScale.lowerBound) * random.uniform())
            let aspect = exp(logLow + (logHigh - logLow) * random.uniform())
            let w = Int((target * aspect).squareRoot().rounded()), h = Int((target / aspect).squareRoot().rounded())
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = random.uniformInt(height - h + 1), left = random.uniformInt(width - w + 1)
                return CropBox(left: Double(left), top: Double(top), right: Double(left + w), bottom: Double(top + h))
            }
        }
        let ratio = Double(width) / Double(height)
        var (w, h) = (width, height)
        if ratio < 3.0 / 4 { h = Int((Double(w) / (3.0 / 4)).rounded()) } else if ratio > 4.0 / 3 { w = Int((Double(h) * 4 / 3).rounded()) }
        let top = (height - h) / 2, left = (width - w) / 2
        return CropBox(left: Double(left), top: Double(top), right: Double(left + w), bottom: Double(top + h))
    }

    /// The evaluation box of a `centerCrop` image of side `side` at `resolution`: the share of it that the
    /// deployed pipeline (shorter side to `round(resolution / centreFraction)`, centre crop) keeps.
    public func evaluationBox(height: Int, width: Int, resolution: Int) -> CropBox {
        let scaled = DatasetSpec.cachedSize(resolution: resolution, cropFraction: centreFraction)
        return Resampler.resizeThenCentreCrop(height: height, width: width, size: scaled, crop: resolution)
    }

    /// `[indices.count, resolution, resolution, 3]` and the labels. `random` (training only) draws each
    /// image's augmentation, in index order.
    public func make(_ set: ImageSet, indices: [Int], resolution: Int, augment random: RandomGenerator?, into tensor: inout Tensor?) -> (Tensor, [Int]) {
        let drawn = random.map { self.plans(count: indices.count, height: set.height, width: set.width, resolution: resolution, random: $0) }
        return make(set, indices: indices, resolution: resolution, plans: drawn, into: &tensor)
    }

    /// The same with given plans (nil: evaluation).
    public func make(_ set: ImageSet, indices: [Int], resolution: Int, plans: [Plan]?, into tensor: inout Tensor?) -> (Tensor, [Int]) {
        let x = Tensor.reuse(&tensor, shape: [indices.count, resolution, resolution, 3])
        let (h, w, c) = (set.height, set.width, set.channels)
        // (value - mean) / std as value * scale + bias; the zero padding is raw 0, that is `bias`.
        let scale = std.map { 1 / $0 }
        let bias = (0..<3).map { -mean[$0] * scale[$0] }
        let evaluationBox = style == .centerCrop ? self.evaluationBox(height: h, width: w, resolution: resolution) : nil
        Parallel.forEachChunk(indices.count, minimumChunk: 8) { range in
            for item in range {
                let image = set.image(indices[item])
                let out = x.data + item * resolution * resolution * 3
                let plan = plans?[item]
                if case .box(let box, let flip)? = plan {
                    Resampler.resample(image, height: h, width: w, channels: c, box: box, to: out, height: resolution, width: resolution,
                                       filter: interpolation, flip: flip, scale: scale, bias: bias)
                    continue
                }
                if let evaluationBox {
                    Resampler.resample(image, height: h, width: w, channels: c, box: evaluationBox, to: out, height: resolution, width: resolution,
                                       filter: interpolation, scale: scale, bias: bias)
                    continue
                }
                var (dy, dx, flip) = (0, 0, false)
                if case .shift(let shiftY, let shiftX, let flipped)? = plan { (dy, dx, flip) = (shiftY, shiftX, flipped) }
                let scaleY = Float(h) / Float(resolution), scaleX = Float(w) / Float(resolution)
                // Where output column `ox` reads the scaled image: flipped after the crop, as torchvision's
                // RandomCrop then RandomHorizontalFlip; nil in the zero padding.
                let columns: [(x0: Int, x1: Int, fx: Float)?] = (0..<resolution).map { ox in
                    let rx = (flip ? resolution - 1 - ox : ox) + dx
                    guard rx >= 0 && rx < resolution else { return nil }
                    let sx = max(0, (Float(rx) + 0.5) * scaleX - 0.5)
                    let x0 = min(Int(sx), w - 1)
                    return (x0, min(x0 + 1, w - 1), sx - Float(x0))
                }
                for oy in 0..<resolution {
                    let ry = oy + dy
                    let row = out + oy * resolution * 3
                    guard ry >= 0 && ry < resolution else {
                        for k in 0..<(resolution * 3) { row[k] = bias[k % 3] }
                        continue
                    }
                    let sy = max(0, (Float(ry) + 0.5) * scaleY - 0.5)
                    let y0 = min(Int(sy), h - 1), y1 = min(y0 + 1, h - 1), fy = sy - Float(y0)
                    for ox in 0..<resolution {
                        guard let (x0, x1, fx) = columns[ox] else {
                            for channel in 0..<3 { row[ox * 3 + channel] = bias[channel] }
                            continue
                        }
                        for channel in 0..<3 {
                            let source = c == 3 ? channel : 0
                            let top = Float(image[(y0 * w + x0) * c + source]) * (1 - fx) + Float(image[(y0 * w + x1) * c + source]) * fx
                            let bottom = Float(image[(y1 * w + x0) * c + source]) * (1 - fx) + Float(image[(y1 * w + x1) * c + source]) * fx
                            let value = (top * (1 - fy) + bottom * fy) / 255
                            row[ox * 3 + channel] = (value - mean[channel]) * scale[channel]
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

/// Preparing single images for a network, as its evaluation prepared them.
public enum Preprocess {
    /// `resolution x resolution x 3` normalised floats (NHWC) for one decoded image. Image-folder networks:
    /// shorter side to `round(resolution / cropFraction)` and the centred square (one resampling with PIL's
    /// filter, each pass rounded to 8 bits as PIL does); built-in-set networks: the whole image scaled bilinearly.
    public static func evaluationInput(_ image: DecodedImage, _ recorded: EvaluationPreprocessing) -> [Float] {
        let r = recorded.resolution
        var out = [Float](repeating: 0, count: r * r * 3)
        image.pixels.withUnsafeBufferPointer { source in
            switch recorded.style {
            case .centerCrop:
                let scaled = DatasetSpec.cachedSize(resolution: r, cropFraction: recorded.cropFraction)
                let box = Resampler.resizeThenCentreCrop(height: image.height, width: image.width, size: scaled, crop: r)
                var bytes = [UInt8](repeating: 0, count: r * r * 3)
                bytes.withUnsafeMutableBufferPointer { target in
                    Resampler.resampleBytes(source.baseAddress!, height: image.height, width: image.width, channels: 3, box: box,
                                            to: target.baseAddress!, height: r, width: r, filter: recorded.interpolation)
                }
                for index in 0..<bytes.count {
                    let c = index % 3
                    out[index] = (Float(bytes[index]) / 255 - recorded.mean[c]) / recorded.std[c]
                }
            case .resizeWhole:
                let set = ImageSet(pixels: image.pixels, labels: [0], height: image.height, width: image.width, channels: 3)
                let maker = BatchMaker(mean: recorded.mean, std: recorded.std)
                var tensor: Tensor?
                let (x, _) = maker.make(set, indices: [0], resolution: r, plans: nil, into: &tensor)
                for index in 0..<out.count { out[index] = x[index] }
            }
        }
        return out
    }
}
