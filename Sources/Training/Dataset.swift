import Architecture
import Engine
import Foundation
import Statistics

/// A bad dataset: names the file (or the spec) and what was expected.
public struct DatasetError: UserInputError {
    public var source: String
    public var message: String
    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }
    public var description: String { "\(source): \(message)" }
}

/// How a dataset's images become network inputs.
public enum PreprocessingStyle: String, Codable, Sendable {
    /// The built-in sets (synthetic, CIFAR, MNIST): the whole image scaled to the resolution; in training
    /// shifted by up to an eighth of the resolution (zero padding) and flipped where the labels allow.
    case resizeWhole = "resize_whole"
    /// Image folders, as deployed (timm, torchvision): evaluation scales the shorter side to
    /// `round(resolution / cropFraction)` and keeps the centred `resolution` square; training takes
    /// `RandomResizedCrop` boxes and flips.
    case centerCrop = "center_crop"
}

/// How a network's inputs were made in evaluation; a checkpoint records it, so that `infer` feeds new images
/// exactly as the network was validated.
public struct EvaluationPreprocessing: Codable, Sendable, Equatable {
    public var resolution: Int
    public var style: PreprocessingStyle
    public var cropFraction: Double
    public var interpolation: Interpolation
    public var normalization: String
    public var mean: [Float]
    public var std: [Float]
    public var classNames: [String]

    public init(resolution: Int, style: PreprocessingStyle, cropFraction: Double = 0.875, interpolation: Interpolation = .bilinear,
                normalization: String, mean: [Float], std: [Float], classNames: [String]) {
        self.resolution = resolution
        self.style = style
        self.cropFraction = cropFraction
        self.interpolation = interpolation
        self.normalization = normalization
        self.mean = mean
        self.std = std
        self.classNames = classNames
    }
}

extension EvaluationPreprocessing {
    /// The checkpoint metadata key.
    public static let metadataKey = "preprocessing"

    /// `["preprocessing": JSON]`, for a checkpoint's metadata.
    public func metadata() throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return [Self.metadataKey: String(decoding: try encoder.encode(self), as: UTF8.self)]
    }

    /// What a checkpoint recorded, or nil for checkpoints from before efsearch recorded it.
    public init?(metadata: [String: String], source: String) throws {
        guard let text = metadata[Self.metadataKey] else { return nil }
        do { self = try JSONDecoder().decode(EvaluationPreprocessing.self, from: Data(text.utf8)) } catch {
            throw DatasetError(source: source, message: "metadata \"preprocessing\" is not valid: \(error)")
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 }), resolution >= 1, cropFraction > 0, cropFraction <= 1 else {
            throw DatasetError(source: source, message: "metadata \"preprocessing\" has an impossible mean, std, resolution or crop fraction")
        }
    }
}

/// A dataset with its three splits: train, validation (held out from the training files) and test.
public struct Dataset: Sendable {
    public var name: String
    public var classes: Int
    public var train: ImageSet
    public var validation: ImageSet
    public var test: ImageSet
    /// Per-channel mean and standard deviation of the pixel values in [0, 1] (of the fed RGB channels).
    public var mean: [Float]
    public var std: [Float]
    /// Whether horizontal flips keep the label (not for digits).
    public var allowsFlip: Bool
    /// Class names by label (image folders: the folder names; otherwise the label numbers).
    public var classNames: [String] = []
    public var style: PreprocessingStyle = .resizeWhole
    /// `centerCrop` style: the resampling filter and the share of the scaled image that evaluation keeps.
    public var interpolation: Interpolation = .bilinear
    public var cropFraction = 0.875
    /// `centerCrop` style: the range of a training crop's area, as a share of the image.
    public var cropScale: ClosedRange<Double> = 0.08...1
    /// `imagenet` or `dataset` (statistics of the training images).
    public var normalization = "dataset"
    /// Image folders: bad images left out by `--skip-bad-images`, files that are not images, whether this load
    /// decoded the folder (rather than reading the cache), and whether `DIR/val` gave the validation split.
    public var skipped: [SkippedImage] = []
    public var ignoredFiles = 0
    public var decodedNow = false
    public var hasOwnValidation = false

    /// The native resolution (image folders: the cached square's side).
    public var resolution: Int { train.height }

    /// The class name of `label`.
    public func className(_ label: Int) -> String { label < classNames.count ? classNames[label] : "\(label)" }

    /// What a checkpoint of a network evaluated at `resolution` on this dataset records.
    public func evaluationPreprocessing(resolution: Int) -> EvaluationPreprocessing {
        EvaluationPreprocessing(resolution: resolution, style: style, cropFraction: cropFraction, interpolation: interpolation,
                                normalization: normalization, mean: mean, std: std, classNames: (0..<classes).map(className))
    }
}

/// What `--dataset` says, parsed once: a built-in set, or a kind of files and their folder. Stored as its canonical
/// text (`synthetic`, `synthetic:3000`, `cifar10:data/cifar`, `folder:photos`).
public struct DatasetSource: Sendable, Hashable, CanonicalText {
    public var kind: DatasetSpec.Kind
    /// The folder of the files (every kind but synthetic).
    public var directory: String?
    /// Synthetic: how many images (nil: the default, 6,000).
    public var syntheticCount: Int?

    /// The built-in synthetic set, of `count` images (the default 6,000 when nil).
    public static func synthetic(_ count: Int? = nil) -> DatasetSource { DatasetSource(kind: .synthetic, directory: nil, syntheticCount: count) }

    init(kind: DatasetSpec.Kind, directory: String?, syntheticCount: Int?) {
        self.kind = kind
        self.directory = directory
        // 6,000 is the default: `synthetic` and `synthetic:6000` are one dataset.
        self.syntheticCount = syntheticCount == DatasetSpec.defaultSyntheticCount ? nil : syntheticCount
    }

    /// Parses `synthetic`, `synthetic:8000`, `cifar10:DIR`, `cifar100:DIR`, `mnist:DIR`, `folder:DIR`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let name = parts.first, let kind = DatasetSpec.Kind(rawValue: name.lowercased()) else {
            throw DatasetError(source: "--dataset \(text)", message: "unknown dataset; expected synthetic, synthetic:N, cifar10:DIR, cifar100:DIR, mnist:DIR or folder:DIR")
        }
        if kind == .synthetic {
            var count: Int?
            if parts.count == 2 {
                guard let parsed = Int(parts[1]), parsed >= 100 else {
                    throw DatasetError(source: "--dataset \(text)", message: "synthetic:N needs a whole number N of at least 100")
                }
                count = parsed
            }
            self.init(kind: kind, directory: nil, syntheticCount: count)
        } else {
            guard parts.count == 2, !parts[1].isEmpty else {
                throw DatasetError(source: "--dataset \(text)", message: "\(kind.rawValue) needs a directory, as in \(kind.rawValue):data/\(kind.rawValue)")
            }
            self.init(kind: kind, directory: parts[1], syntheticCount: nil)
        }
    }

    public var isFolder: Bool { kind == .folder }

    /// Canonical: `synthetic`, `synthetic:3000`, `KIND:DIR`.
    public var description: String {
        switch kind {
        case .synthetic: return syntheticCount.map { "synthetic:\($0)" } ?? "synthetic"
        default: return "\(kind.rawValue):\(directory ?? "")"
        }
    }
}

/// How to load a dataset: `synthetic`, `synthetic:N` (N training images), `cifar10:DIR`, `cifar100:DIR`,
/// `mnist:DIR` (also Fashion-MNIST), `folder:DIR` (an image folder), plus a deterministic validation split and
/// optional subsets.
public struct DatasetSpec: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case synthetic, cifar10, cifar100, mnist, folder }

    public var kind: Kind
    public var directory: String?
    public var syntheticCount: Int = DatasetSpec.defaultSyntheticCount
    public static let defaultSyntheticCount = 6000
    /// Share of the training files held out for validation (not when an image folder has `val`).
    public var validationFraction: Double = 0.1
    /// Keep only this many training images (class-balanced), or this fraction of them.
    public var subset: Int?
    public var subsetFraction: Double?
    /// Seed of the split, the subset and the synthetic images; fixed so that `train` and `eval` agree.
    public var seed: UInt64 = 2019
    /// `imagenet` or `dataset`; nil: ImageNet's for image folders, the training images' own otherwise.
    public var normalization: String?
    /// Image folders: the filter, the training crops' area range, and whether bad images are left out.
    public var interpolation: Interpolation = .bilinear
    public var cropScaleLow = 0.08, cropScaleHigh = 1.0
    public var skipBadImages = false
    /// Whether training may flip images (where the dataset's labels allow it at all).
    public var allowsFlip = true
    /// Image folders: where the decoded cache goes.
    public var cacheDirectory: URL = CacheLocation.directory

    public static let normalizations = ["imagenet", "dataset"]

    /// Refuses a `--normalize` value other than `imagenet` or `dataset`.
    public static func checkNormalization(_ name: String) throws {
        guard normalizations.contains(name) else {
            throw DatasetError(source: "--normalize \(name)", message: "not a normalisation; expected imagenet or dataset")
        }
    }


    public init(kind: Kind, directory: String? = nil) {
        self.kind = kind
        self.directory = directory
    }

    /// Parses `synthetic`, `synthetic:8000`, `cifar10:DIR`, `cifar100:DIR`, `mnist:DIR`, `folder:DIR`.
    public init(parsing text: String) throws { self.init(source: try DatasetSource(parsing: text)) }

    /// The dataset `--dataset` names, with every other setting at its default.
    public init(source: DatasetSource) {
        self.init(kind: source.kind, directory: source.directory)
        if let count = source.syntheticCount { syntheticCount = count }
    }

    /// The side of the squares an image folder is cached at for training and evaluating at `resolution`.
    public static func cachedSize(resolution: Int, cropFraction: Double = 0.875) -> Int {
        Int((Double(resolution) / cropFraction).rounded())
    }

    /// Loads the files (or generates the synthetic images) and makes the splits. Image folders need the
    /// largest `resolution` the network will be trained or evaluated at: the cache is made for it.
    public func load(resolution: Int? = nil, listener: ImageDecodingListener? = nil) throws -> Dataset {
        if let subset, subset < 1 { throw DatasetError(source: "--subset", message: "\(subset) must be at least 1") }
        if let subsetFraction, !(subsetFraction > 0 && subsetFraction <= 1) {
            throw DatasetError(source: "--subset-fraction", message: "\(subsetFraction) must be in (0, 1]")
        }
        if let normalization { try Self.checkNormalization(normalization) }
        guard cropScaleLow > 0, cropScaleLow <= cropScaleHigh, cropScaleHigh <= 1 else {
            throw DatasetError(source: "--crop-scale \(cropScaleLow),\(cropScaleHigh)", message: "expected LOW,HIGH with 0 < LOW <= HIGH <= 1")
        }
        var dataset: Dataset
        switch kind {
        case .synthetic:
            dataset = SyntheticShapes.generate(trainCount: syntheticCount, testCount: max(200, syntheticCount / 6), seed: seed)
        case .cifar10, .cifar100:
            dataset = try CIFARLoader.load(directory: directory!, hundred: kind == .cifar100)
        case .mnist:
            dataset = try MNISTLoader.load(directory: directory!)
        case .folder:
            guard let resolution, resolution >= 1 else {
                throw DatasetError(source: "--dataset folder:\(directory!)", message: "an image folder needs the training resolution to size its cache")
            }
            dataset = try ImageFolderLoader.dataset(root: directory!, size: Self.cachedSize(resolution: resolution), cacheDirectory: cacheDirectory,
                                                    skipBadImages: skipBadImages, listener: listener)
            dataset.interpolation = interpolation
            dataset.cropScale = cropScaleLow...cropScaleHigh
        }
        dataset.allowsFlip = dataset.allowsFlip && allowsFlip
        if dataset.classNames.isEmpty { dataset.classNames = (0..<dataset.classes).map { "\($0)" } }
        // Hold out a class-balanced validation split from the training files (unless the folder has its own).
        if !dataset.hasOwnValidation {
            let (trainIndices, validationIndices) = Self.split(labels: dataset.train.labels, classes: dataset.classes,
                                                              heldOut: validationFraction, seed: seed)
            dataset.validation = dataset.train.subset(validationIndices)
            dataset.train = dataset.train.subset(trainIndices)
        }
        if let wanted = subset ?? subsetFraction.map({ max(1, Int((Double(dataset.train.count) * $0).rounded())) }), wanted < dataset.train.count {
            dataset.train = dataset.train.subset(Self.balancedSubset(labels: dataset.train.labels, classes: dataset.classes, count: wanted, seed: seed &+ 1))
        }
        switch normalization ?? (kind == .folder ? "imagenet" : "dataset") {
        case "imagenet":
            (dataset.mean, dataset.std) = (ImageNetStatistics.mean, ImageNetStatistics.std)
            dataset.normalization = "imagenet"
        default:
            if kind == .folder { (dataset.mean, dataset.std) = channelStatistics(dataset.train) }
            dataset.normalization = "dataset"
        }
        return dataset
    }

    /// Indices per class, shuffled with `seed`, split so each class gives `heldOut` of its images.
    static func split(labels: [Int], classes: Int, heldOut: Double, seed: UInt64) -> ([Int], [Int]) {
        let random = RandomGenerator(seed: seed)
        var byClass = [[Int]](repeating: [], count: classes)
        for (index, label) in labels.enumerated() { byClass[label].append(index) }
        var train: [Int] = [], validation: [Int] = []
        for var members in byClass {
            shuffle(&members, random)
            let held = Int((Double(members.count) * heldOut).rounded())
            validation += members.prefix(held)
            train += members.dropFirst(held)
        }
        return (train.sorted(), validation.sorted())
    }

    /// `count` indices spread evenly over the classes (round-robin over per-class shuffles).
    static func balancedSubset(labels: [Int], classes: Int, count: Int, seed: UInt64) -> [Int] {
        let random = RandomGenerator(seed: seed)
        var byClass = [[Int]](repeating: [], count: classes)
        for (index, label) in labels.enumerated() { byClass[label].append(index) }
        for index in byClass.indices { shuffle(&byClass[index], random) }
        var picked: [Int] = []
        var round = 0
        while picked.count < count {
            var added = false
            for members in byClass where round < members.count && picked.count < count {
                picked.append(members[round])
                added = true
            }
            if !added { break }
            round += 1
        }
        return picked.sorted()
    }

    /// Fisher-Yates with the given generator.
    public static func shuffle<T>(_ items: inout [T], _ random: RandomGenerator) {
        guard items.count > 1 else { return }
        for index in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(index, random.uniformInt(index + 1))
        }
    }
}

/// Per-channel mean and standard deviation over a set, in [0, 1] units, for 3 fed channels.
func channelStatistics(_ set: ImageSet) -> (mean: [Float], std: [Float]) {
    var sums = [Double](repeating: 0, count: set.channels), squares = sums
    let pixelsPerImage = set.height * set.width
    let pixels = set.count * pixelsPerImage
    for index in 0..<set.count {
        let image = set.image(index)
        for pixel in 0..<pixelsPerImage {
            for c in 0..<set.channels {
                let value = Double(image[pixel * set.channels + c]) / 255
                sums[c] += value
                squares[c] += value * value
            }
        }
    }
    let mean = sums.map { $0 / Double(max(1, pixels)) }
    let std = zip(squares, mean).map { max(1e-3, ($0 / Double(max(1, pixels)) - $1 * $1).squareRoot()) }
    let m = mean.map(Float.init), s = std.map(Float.init)
    return set.channels == 3 ? (m, s) : ([m[0], m[0], m[0]], [s[0], s[0], s[0]])
}

/// `--crop-scale LOW,HIGH`: the area range of training crops (torchvision's `RandomResizedCrop` scale),
/// 0 < LOW <= HIGH <= 1; canonical text `0.08,1`.
public struct CropScale: Hashable, Sendable, CanonicalText {
    public var low: Double
    public var high: Double

    /// torchvision's default, 0.08 to 1.
    public static let standard = CropScale(low: 0.08, high: 1)

    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low > 0, low <= high, high <= 1 else {
            throw DatasetError(source: "--crop-scale \(text)", message: "not a crop area range; expected LOW,HIGH with 0 < LOW <= HIGH <= 1, as in 0.08,1")
        }
        self.init(low: low, high: high)
    }

    public var description: String { "\(canonicalNumber(low)),\(canonicalNumber(high))" }
}
