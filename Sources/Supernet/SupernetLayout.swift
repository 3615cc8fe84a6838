import Architecture
import Engine
import Search

/// A supernet problem a user can fix: a candidate outside the supernet's space, a file from another space, a
/// corrupt file. Names the file or the candidate.
public struct SupernetError: UserInputError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a supernet tensor is, which sets how it is initialised and sliced.
public enum SupernetRole: String, Sendable, Codable {
    /// A convolution's weight: dense `[Cout, k, k, Cin]`, depthwise `[k, k, C]`.
    case dense, depthwise
    case normWeight = "norm_weight", normBias = "norm_bias"
    /// Squeeze-excite's 1x1 convolutions, as `[out, in]`, and their biases.
    case seWeight = "se_weight", seBias = "se_bias"
    case classifierWeight = "classifier_weight", classifierBias = "classifier_bias"
}

/// The tensors of a supernet: for every tensor any candidate of a search space has, the largest shape it takes
/// over the space, its role, and for a convolution the smallest and largest kernel. A candidate's tensor is the
/// leading slice of the supernet's in every dimension (the first output channels, the first input channels, the
/// first blocks of a stage), except a kernel smaller than the largest, which is the largest's centre through a
/// learned transform per kernel size (`Supernet`).
///
/// Keys are timm's state-dict names, with the block type in front for tensors of blocks (`ir:blocks.3.1.bn2.weight`):
/// a stage whose type is a choice holds the tensors of every type it can take, and timm names some of them alike
/// (`bn2` is the depthwise convolution's norm in an inverted residual and the projection's in a fused one).
public struct SupernetLayout: Sendable {
    public struct Entry: Sendable, Equatable {
        public var shape: [Int]
        public var role: SupernetRole
        /// The kernel sizes a convolution takes (equal for a convolution whose kernel is not a choice).
        public var smallestKernel = 1, largestKernel = 1

        /// The dimensions of the kernel in the tensor's layout.
        public var kernelDimensions: [Int] { role == .dense ? [1, 2] : role == .depthwise ? [0, 1] : [] }
    }

    public var entries: [String: Entry]
    /// The keys in a fixed order (sorted), for files and initialisation.
    public var keys: [String] { entries.keys.sorted() }

    /// The key of a candidate's tensor named `name` (timm's) in `model`.
    public static func key(_ name: String, in model: EfficientNetModel) -> String {
        guard name.hasPrefix("blocks.") else { return name }
        let parts = name.split(separator: ".")
        guard parts.count > 3, let stage = Int(parts[1]), let index = Int(parts[2]),
              stage < model.blocks.count, index < model.blocks[stage].count else { return name }
        return "\(model.blocks[stage][index].spec.type.rawValue):\(name)"
    }

    /// Every tensor of `model` with its key, role and kernel.
    public static func tensors(of model: EfficientNetModel) -> [(name: String, key: String, parameter: Parameter, role: SupernetRole, kernel: Int)] {
        let units = model.convUnits
        var norms: [String: BatchNorm] = [:]
        for (path, norm) in model.namedNorms() { norms[path] = norm }
        return model.namedParameters().map { name, parameter in
            let role: SupernetRole
            var kernel = 1
            if let unit = units[name] {
                role = unit.kind == .dense ? .dense : .depthwise
                kernel = unit.kernel
            } else if name == "classifier.weight" {
                role = .classifierWeight
            } else if name == "classifier.bias" {
                role = .classifierBias
            } else if name.contains(".se.") {
                role = name.hasSuffix(".weight") ? .seWeight : .seBias
            } else {
                role = name.hasSuffix(".weight") ? .normWeight : .normBias
            }
            return (name, key(name, in: model), parameter, role, kernel)
        }
    }

    /// The layout of `space` for `classes` classes: the union, tensor by tensor, of the largest shapes of the
    /// networks that take the largest choice (`SearchSpace.extremeGenotypes`) in every dimension but one, and
    /// each choice of that one; and for a stage whose block type is a choice, the same with each type (so every
    /// type's tensors and smallest kernels appear). A tensor's shape grows with every choice but the type, and
    /// the types of different stages do not change each other's tensors, so this union holds every candidate.
    public init(space: SearchSpace, classes: Int) throws {
        let dimensions = space.dimensions
        func network(_ genotype: Genotype) -> Network? {
            var spec = space.network(for: genotype)
            spec.classes = classes
            return try? spec.resolve()
        }
        let largest = space.extremeGenotypes(classes: classes).largest
        var genotypes = [largest]
        func vary(_ base: Genotype, dimensions indices: [Int]) {
            for index in indices {
                for choice in 0..<dimensions[index].count where choice != base[index] {
                    var genotype = base
                    genotype[index] = choice
                    genotypes.append(genotype)
                }
            }
        }
        vary(largest, dimensions: Array(dimensions.indices))
        // A stage's block type changes which tensors its blocks have: each type with each choice of the stage's
        // other dimensions (the smallest kernel of every type, and so on).
        for (typeIndex, dimension) in dimensions.enumerated() where dimension.name.hasSuffix(".type") {
            let stage = dimension.name.dropLast("type".count)
            for choice in 0..<dimension.count where choice != largest[typeIndex] {
                var base = largest
                base[typeIndex] = choice
                genotypes.append(base)
                vary(base, dimensions: dimensions.indices.filter { dimensions[$0].name.hasPrefix(stage) && $0 != typeIndex })
            }
        }
        var entries: [String: Entry] = [:]
        for genotype in genotypes {
            guard let network = network(genotype) else { continue }
            let model = EfficientNetModel(network)
            for tensor in SupernetLayout.tensors(of: model) {
                let shape = tensor.parameter.value.shape
                if var entry = entries[tensor.key] {
                    guard entry.shape.count == shape.count, entry.role == tensor.role else {
                        throw SupernetError("space \(space.name): tensor \(tensor.key) takes incompatible shapes (\(entry.shape) and \(shape))")
                    }
                    entry.shape = zip(entry.shape, shape).map { max($0, $1) }
                    entry.smallestKernel = min(entry.smallestKernel, tensor.kernel)
                    entry.largestKernel = max(entry.largestKernel, tensor.kernel)
                    entries[tensor.key] = entry
                } else {
                    entries[tensor.key] = Entry(shape: shape, role: tensor.role, smallestKernel: tensor.kernel, largestKernel: tensor.kernel)
                }
            }
        }
        guard !entries.isEmpty else { throw SupernetError("space \(space.name): no network of the space resolves") }
        self.entries = entries
    }

    public init(entries: [String: Entry]) { self.entries = entries }

    /// The kernel sizes of the transforms a convolution needs: from its largest kernel down to its smallest, in
    /// steps of 2 (7 to 5, 5 to 3).
    public static func transformSteps(largest: Int, smallest: Int) -> [(from: Int, to: Int)] {
        stride(from: largest, to: smallest, by: -2).map { ($0, $0 - 2) }
    }

    /// The key of a convolution's kernel transform from `from` to `to` taps a side.
    public static func transformKey(_ key: String, from: Int, to: Int) -> String { "\(key)#kernel\(from)to\(to)" }
}
