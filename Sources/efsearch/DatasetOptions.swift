import ArgumentParser
import Training

/// Dataset flags shared by `train` and `eval`.
struct DatasetOptions: ParsableArguments {
    @Option(help: "synthetic (built in), synthetic:N, cifar10:DIR, cifar100:DIR, mnist:DIR (also Fashion-MNIST) or folder:DIR (DIR/train/<class>/*.jpg|png, optional DIR/val and DIR/test).", transform: DatasetSource.init(parsing:)) var dataset: DatasetSource = .synthetic()
    @Option(help: "Train on this many images (class-balanced, deterministic).") var subset: Int?
    @Option(name: .customLong("subset-fraction"), help: "Train on this fraction of the images (class-balanced, deterministic).") var subsetFraction: Double?
    @Option(name: .customLong("validation-fraction"), help: "Share of the training files held out for validation (image folders with DIR/val: unused).") var validationFraction: Double = 0.1
    @Option(help: "Input normalisation: imagenet (ImageNet's mean and std; the default for image folders) or dataset (the training images' own; the default otherwise).") var normalize: String?
    @Option(help: "Image folders: the resampling filter, bilinear or bicubic (PIL's definitions, antialiased when shrinking).") var interpolation: Interpolation = .bilinear
    @Option(name: .customLong("crop-scale"), help: "Image folders: the area range of training crops (RandomResizedCrop), as LOW,HIGH (default: 0.08,1).", transform: CropScale.init(parsing:)) var cropScale: CropScale = .standard
    @Flag(name: .customLong("no-flip"), help: "No horizontal flips in training (digits, text: where a mirror image changes the class).") var noFlip = false
    @Flag(name: .customLong("skip-bad-images"), help: "Image folders: leave out corrupt or truncated images (counted in the output) instead of stopping.") var skipBadImages = false

    func validate() throws {
        if !(validationFraction >= 0 && validationFraction < 1) { throw ValidationError("--validation-fraction \(validationFraction) must be in [0, 1)") }
        if let normalize { do { try DatasetSpec.checkNormalization(normalize) } catch { throw ValidationError("\(error)") } }
    }

    var isFolder: Bool { dataset.isFolder }

    func spec() throws -> DatasetSpec {
        var spec = DatasetSpec(source: dataset)
        spec.subset = subset
        spec.subsetFraction = subsetFraction
        spec.validationFraction = validationFraction
        spec.normalization = normalize
        spec.interpolation = interpolation
        (spec.cropScaleLow, spec.cropScaleHigh) = (cropScale.low, cropScale.high)
        spec.skipBadImages = skipBadImages
        spec.allowsFlip = !noFlip
        return spec
    }

    /// Loads the dataset; an image folder is decoded (once) for `resolution`, with a progress bar.
    func load(resolution: Int? = nil, quiet: Bool = false) throws -> Dataset {
        let progress = DecodingProgressBar()
        let dataset = try spec().load(resolution: resolution, listener: progress)
        progress.finish()
        if !quiet, let summary = dataset.loadSummary { Console.note(summary) }
        return dataset
    }
}

/// The progress bar of an image folder's first decoding.
final class DecodingProgressBar: ImageDecodingListener {
    private var bar: ProgressBar?

    func decoded(_ done: Int, of total: Int) {
        if bar == nil { bar = ProgressBar("decoding images", total: Double(total)) }
        bar?.update(Double(done), detail: "\(done)/\(total)")
    }

    func finish() { bar?.finish() }
}

extension Interpolation: ExpressibleByArgument {}
