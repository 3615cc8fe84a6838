import Architecture
import Engine
import Foundation

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

/// Images in memory as bytes, `[count, height, width, channels]` (1 or 3 channels), with integer labels.
public struct ImageSet: Sendable {
    public var pixels: [UInt8]
    public var labels: [Int]
    public let height: Int, width: Int, channels: Int

    public init(pixels: [UInt8], labels: [Int], height: Int, width: Int, channels: Int) {
        precondition(pixels.count == labels.count * height * width * channels, "pixels do not match \(labels.count) images")
        self.pixels = pixels
        self.labels = labels
        self.height = height
        self.width = width
        self.channels = channels
    }

    public var count: Int { labels.count }
    public var imageSize: Int { height * width * channels }

    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> ImageSet {
        var picked = [UInt8]()
        picked.reserveCapacity(indices.count * imageSize)
        for index in indices { picked.append(contentsOf: pixels[(index * imageSize)..<((index + 1) * imageSize)]) }
        return ImageSet(pixels: picked, labels: indices.map { labels[$0] }, height: height, width: width, channels: channels)
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

    /// The native resolution.
    public var resolution: Int { train.height }
}

/// How to load a dataset: `synthetic`, `synthetic:N` (N training images), `cifar10:DIR`, `cifar100:DIR`,
/// `mnist:DIR` (also Fashion-MNIST), plus a deterministic validation split and optional subsets.
public struct DatasetSpec: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case synthetic, cifar10, cifar100, mnist }

    public var kind: Kind
    public var directory: String?
    public var syntheticCount: Int = 6000
    /// Share of the training files held out for validation.
    public var validationFraction: Double = 0.1
    /// Keep only this many training images (class-balanced), or this fraction of them.
    public var subset: Int?
    public var subsetFraction: Double?
    /// Seed of the split, the subset and the synthetic images; fixed so that `train` and `eval` agree.
    public var seed: UInt64 = 2019

    public init(kind: Kind, directory: String? = nil) {
        self.kind = kind
        self.directory = directory
    }

    /// Parses `synthetic`, `synthetic:8000`, `cifar10:DIR`, `cifar100:DIR`, `mnist:DIR`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard let name = parts.first, let kind = Kind(rawValue: name.lowercased()) else {
            throw DatasetError(source: "--dataset \(text)", message: "unknown dataset; expected synthetic, synthetic:N, cifar10:DIR, cifar100:DIR or mnist:DIR")
        }
        self.init(kind: kind)
        if kind == .synthetic {
            if parts.count == 2 {
                guard let count = Int(parts[1]), count >= 100 else {
                    throw DatasetError(source: "--dataset \(text)", message: "synthetic:N needs a whole number N of at least 100")
                }
                syntheticCount = count
            }
        } else {
            guard parts.count == 2, !parts[1].isEmpty else {
                throw DatasetError(source: "--dataset \(text)", message: "\(kind.rawValue) needs a directory, as in \(kind.rawValue):data/\(kind.rawValue)")
            }
            directory = parts[1]
        }
    }

    /// Loads the files (or generates the synthetic images) and makes the splits.
    public func load() throws -> Dataset {
        if let subset, subset < 1 { throw DatasetError(source: "--subset", message: "\(subset) must be at least 1") }
        if let subsetFraction, !(subsetFraction > 0 && subsetFraction <= 1) {
            throw DatasetError(source: "--subset-fraction", message: "\(subsetFraction) must be in (0, 1]")
        }
        var dataset: Dataset
        switch kind {
        case .synthetic:
            dataset = SyntheticShapes.generate(trainCount: syntheticCount, testCount: max(200, syntheticCount / 6), seed: seed)
        case .cifar10, .cifar100:
            dataset = try CIFARLoader.load(directory: directory!, hundred: kind == .cifar100)
        case .mnist:
            dataset = try MNISTLoader.load(directory: directory!)
        }
        // Hold out a class-balanced validation split from the training files.
        let (trainIndices, validationIndices) = Self.split(labels: dataset.train.labels, classes: dataset.classes,
                                                          heldOut: validationFraction, seed: seed)
        var train = dataset.train.subset(trainIndices)
        dataset.validation = dataset.train.subset(validationIndices)
        if let wanted = subset ?? subsetFraction.map({ max(1, Int((Double(train.count) * $0).rounded())) }), wanted < train.count {
            train = train.subset(Self.balancedSubset(labels: train.labels, classes: dataset.classes, count: wanted, seed: seed &+ 1))
        }
        dataset.train = train
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
    let pixels = set.count * set.height * set.width
    for pixel in 0..<pixels {
        for c in 0..<set.channels {
            let value = Double(set.pixels[pixel * set.channels + c]) / 255
            sums[c] += value
            squares[c] += value * value
        }
    }
    let mean = sums.map { $0 / Double(max(1, pixels)) }
    let std = zip(squares, mean).map { max(1e-3, ($0 / Double(max(1, pixels)) - $1 * $1).squareRoot()) }
    let m = mean.map(Float.init), s = std.map(Float.init)
    return set.channels == 3 ? (m, s) : ([m[0], m[0], m[0]], [s[0], s[0], s[0]])
}
