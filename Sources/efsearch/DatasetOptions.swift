import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Training

/// Dataset flags shared by `train` and `eval`.
struct DatasetOptions: ParsableArguments {
    @Option(help: "synthetic (built in), synthetic:N, cifar10:DIR, cifar100:DIR or mnist:DIR (also Fashion-MNIST).")
    var dataset: String = "synthetic"
    @Option(help: "Train on this many images (class-balanced, deterministic).")
    var subset: Int?
    @Option(name: .customLong("subset-fraction"), help: "Train on this fraction of the images (class-balanced, deterministic).")
    var subsetFraction: Double?
    @Option(name: .customLong("validation-fraction"), help: "Share of the training files held out for validation.")
    var validationFraction: Double = 0.1

    func validate() throws {
        if !(validationFraction >= 0 && validationFraction < 1) { throw ValidationError("--validation-fraction \(validationFraction) must be in [0, 1)") }
    }

    func load() throws -> Dataset {
        var spec = try DatasetSpec(parsing: dataset)
        spec.subset = subset
        spec.subsetFraction = subsetFraction
        spec.validationFraction = validationFraction
        return try spec.load()
    }
}
