import Architecture
import ArgumentParser

/// The options that describe a network, shared by every command that takes one.
///
/// A preset gives all values; `--arch` and the other flags override them. Without a preset the defaults
/// are EfficientNet-B0's.
struct NetworkOptions: ParsableArguments {
    @Argument(help: "A preset network (see `efsearch presets`); default efficientnet-b0 unless --arch is given.") var preset: String?
    @Option(help: "A timm arch string: stages separated by ';', block strings in a stage by ','.") var arch: String?
    @Option(help: "Width (channel) multiplier.") var width: Double?
    @Option(help: "Depth (repeats) multiplier.") var depth: Double?
    @Option(help: "Input resolution in pixels.") var resolution: Int?
    @Option(help: "Stem channels before width scaling.") var stem: Int?
    @Option(help: "Head channels before width scaling; 0 for no head convolution.") var head: Int?
    @Option(help: "Number of classes.") var classes: Int?
    @Option(help: "Activation: silu, relu or relu6.") var activation: Activation?

    /// The network these options describe over `base` (default EfficientNet-B0's), checked.
    func spec(base: NetworkSpec = Architecture.Presets.defaultSpec) throws -> NetworkSpec {
        try NetworkSpec(preset: preset, base: base, arch: arch, width: width, depth: depth, resolution: resolution, stem: stem, head: head,
                        classes: classes, activation: activation)
    }

    /// A short name for output: the preset, or "custom".
    var displayName: String {
        if let preset, arch == nil { return preset }
        return preset.map { "\($0) (modified)" } ?? (arch == nil ? "efficientnet-b0" : "custom")
    }
}

extension Activation: ExpressibleByArgument {}
