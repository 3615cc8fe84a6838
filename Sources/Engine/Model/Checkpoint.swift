import Architecture
import Foundation

/// timm-compatible checkpoints: tensor names, shapes and layouts of timm's `EfficientNet` state dict
/// (PyTorch's OIHW convolutions), and the network spec in `__metadata__`.
public enum Checkpoint {
    /// The metadata that describes the network.
    public static func metadata(for spec: NetworkSpec) -> [String: String] {
        [
            "format": "efsearch-efficientnet",
            "arch": spec.archString,
            "width": "\(spec.width)",
            "depth": "\(spec.depth)",
            "stem": "\(spec.stem)",
            "head": "\(spec.head)",
            "classes": "\(spec.classes)",
            "resolution": "\(spec.resolution)",
            "activation": spec.activation.rawValue,
            "round_limit": "\(spec.roundLimit)",
            "head_scaling": spec.headScaling.rawValue,
            "dropout": "\(spec.dropout)",
        ]
    }

    /// The spec a checkpoint's metadata describes.
    public static func spec(from metadata: [String: String], file: String) throws -> NetworkSpec {
        func field(_ key: String) throws -> String {
            guard let value = metadata[key] else {
                throw CheckpointError(file: file, message: "metadata has no \"\(key)\"; expected the network spec (arch, width, depth, stem, head, classes, resolution, activation)")
            }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: String, _: T.Type) throws -> T {
            let text = try field(key)
            guard let value = T(text) else { throw CheckpointError(file: file, message: "metadata \"\(key)\" is \"\(text)\"; expected a number") }
            return value
        }
        var spec = try NetworkSpec(arch: try field("arch"))
        spec.width = try number("width", Double.self)
        spec.depth = try number("depth", Double.self)
        spec.stem = try number("stem", Int.self)
        spec.head = try number("head", Int.self)
        spec.classes = try number("classes", Int.self)
        spec.resolution = try number("resolution", Int.self)
        guard let activation = Activation(rawValue: try field("activation")) else {
            throw CheckpointError(file: file, message: "metadata \"activation\" is \"\(metadata["activation"]!)\"; expected silu, relu or relu6")
        }
        spec.activation = activation
        if metadata["round_limit"] != nil { spec.roundLimit = try number("round_limit", Double.self) }
        if let rule = metadata["head_scaling"] {
            guard let scaling = HeadScaling(rawValue: rule) else { throw CheckpointError(file: file, message: "metadata \"head_scaling\" is \"\(rule)\"") }
            spec.headScaling = scaling
        }
        if metadata["dropout"] != nil { spec.dropout = try number("dropout", Double.self) }
        return spec
    }

    /// The model's state dict in timm's order, names and layouts.
    public static func stateDict(of model: EfficientNetModel) -> [(String, Safetensors.Entry)] {
        var result: [(String, Safetensors.Entry)] = []
        let units = model.convUnits
        let norms = Dictionary(uniqueKeysWithValues: model.namedNorms())
        for (name, parameter) in model.namedParameters() {
            result.append((name, torchEntry(name, parameter.value, units)))
            // timm lists a batch norm's buffers right after its bias.
            if name.hasSuffix(".bias"), let norm = norms[String(name.dropLast(5))] {
                let prefix = String(name.dropLast(4))
                result.append((prefix + "running_mean", Safetensors.Entry(shape: [norm.channels], floats: norm.runningMean.data, count: norm.channels)))
                result.append((prefix + "running_var", Safetensors.Entry(shape: [norm.channels], floats: norm.runningVar.data, count: norm.channels)))
                var tracked = norm.batchesTracked.littleEndian
                result.append((prefix + "num_batches_tracked", Safetensors.Entry(dtype: "I64", shape: [], bytes: Data(bytes: &tracked, count: 8))))
            }
        }
        return result
    }

    /// Writes a checkpoint of `model` built from `spec`.
    public static func save(_ model: EfficientNetModel, spec: NetworkSpec, to url: URL, extraMetadata: [String: String] = [:]) throws {
        try Safetensors.write(stateDict(of: model), metadata: metadata(for: spec).merging(extraMetadata) { _, new in new }, to: url)
    }

    /// Loads a checkpoint: builds the network its metadata describes (or checks it against `expected`) and
    /// fills every tensor. Missing, extra or wrongly shaped tensors are errors that name the tensor. The
    /// file's whole metadata comes back too (training adds `epoch`, `seed`, `dataset`).
    public static func load(_ url: URL, expected: NetworkSpec? = nil, options: ModelOptions = ModelOptions()) throws
        -> (model: EfficientNetModel, spec: NetworkSpec, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.read(url)
        let file = url.path
        var spec: NetworkSpec
        if metadata["arch"] != nil {
            spec = try Checkpoint.spec(from: metadata, file: file)
            if let expected {
                let mine = try expected.resolve(), theirs = try spec.resolve()
                if mine.archString != theirs.archString || mine.stemChannels != theirs.stemChannels || mine.headChannels != theirs.headChannels
                    || mine.classes != theirs.classes || mine.activation != theirs.activation {
                    throw CheckpointError(file: file, message: "the checkpoint's network (\(theirs.archString), stem \(theirs.stemChannels), head \(theirs.headChannels), \(theirs.classes) classes, \(theirs.activation.rawValue)) does not match the given one (\(mine.archString), stem \(mine.stemChannels), head \(mine.headChannels), \(mine.classes) classes, \(mine.activation.rawValue))")
                }
                spec.resolution = expected.resolution
            }
        } else if let expected {
            spec = expected  // a plain timm state dict: the caller says what network it is
        } else {
            throw CheckpointError(file: file, message: "no network spec in the metadata; pass the network (preset or --arch ...) it was made from")
        }
        let model = EfficientNetModel(try spec.resolve(), options: options)
        try fill(model, from: tensors, file: file)
        return (model, spec, metadata)
    }

    static func fill(_ model: EfficientNetModel, from tensors: [String: Safetensors.Entry], file: String) throws {
        let units = model.convUnits
        var expectedNames = Set<String>()
        for (name, parameter) in model.namedParameters() {
            expectedNames.insert(name)
            let entry = try tensor(name, in: tensors, shape: torchShape(name, parameter.value, units), file: file)
            fromTorchLayout(name, entry.floats, into: parameter.value, units)
            parameter.markModified()
        }
        for (prefix, norm) in model.namedNorms() {
            for (suffix, target) in [("running_mean", norm.runningMean), ("running_var", norm.runningVar)] {
                let name = prefix + "." + suffix
                expectedNames.insert(name)
                let values = try tensor(name, in: tensors, shape: [norm.channels], file: file).floats
                values.withUnsafeBufferPointer { target.data.update(from: $0.baseAddress!, count: norm.channels) }
            }
            norm.markStatisticsModified()
            let trackedName = prefix + ".num_batches_tracked"
            expectedNames.insert(trackedName)
            if let entry = tensors[trackedName] {
                guard entry.dtype == "I64", entry.bytes.count == 8 else {
                    throw CheckpointError(file: file, message: "tensor \(trackedName) is \(entry.dtype) \(entry.shape); expected an I64 scalar")
                }
                norm.batchesTracked = entry.bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
            } else {
                throw CheckpointError(file: file, message: "missing tensor \(trackedName)")
            }
        }
        let extra = Set(tensors.keys).subtracting(expectedNames)
        if !extra.isEmpty {
            throw CheckpointError(file: file, message: "unexpected tensor(s) \(extra.sorted().prefix(5).joined(separator: ", ")) for this network")
        }
    }

    static func tensor(_ name: String, in tensors: [String: Safetensors.Entry], shape: [Int], file: String) throws -> Safetensors.Entry {
        guard let entry = tensors[name] else { throw CheckpointError(file: file, message: "missing tensor \(name) (expected shape \(shape))") }
        guard entry.shape == shape else { throw CheckpointError(file: file, message: "tensor \(name) has shape \(entry.shape); expected \(shape)") }
        guard entry.dtype == "F32" else { throw CheckpointError(file: file, message: "tensor \(name) is \(entry.dtype); expected F32") }
        return entry
    }

    // MARK: - Layouts

    /// PyTorch's shape of a parameter: convolutions are `[out, in / groups, kh, kw]`.
    static func torchShape(_ name: String, _ value: Tensor, _ units: [String: ConvUnit]) -> [Int] {
        if let unit = units[name] {
            return unit.kind == .dense ? [unit.outChannels, unit.inChannels, unit.kernel, unit.kernel] : [unit.outChannels, 1, unit.kernel, unit.kernel]
        }
        if name.hasSuffix("se.conv_reduce.weight") || name.hasSuffix("se.conv_expand.weight") { return value.shape + [1, 1] }
        return value.shape
    }

    /// The parameter as a tensor entry in PyTorch's shape and layout.
    static func torchEntry(_ name: String, _ value: Tensor, _ units: [String: ConvUnit]) -> Safetensors.Entry {
        let shape = torchShape(name, value, units)
        guard let unit = units[name] else { return Safetensors.Entry(shape: shape, floats: value.data, count: value.count) }
        let converted = Tensor(shape: [value.count])
        let k2 = unit.kernel * unit.kernel
        switch unit.kind {
        case .dense:  // OHWI -> OIHW
            let (o, i) = (unit.outChannels, unit.inChannels)
            for out in 0..<o { for tap in 0..<k2 { for input in 0..<i {
                converted[(out * i + input) * k2 + tap] = value[(out * k2 + tap) * i + input]
            } } }
        case .depthwise:  // [kh, kw, C] -> [C, 1, kh, kw]
            let c = unit.outChannels
            for tap in 0..<k2 { for channel in 0..<c { converted[channel * k2 + tap] = value[tap * c + channel] } }
        }
        return Safetensors.Entry(shape: shape, floats: converted.data, count: converted.count)
    }

    static func fromTorchLayout(_ name: String, _ values: [Float], into value: Tensor, _ units: [String: ConvUnit]) {
        guard let unit = units[name] else {
            values.withUnsafeBufferPointer { value.data.update(from: $0.baseAddress!, count: value.count) }
            return
        }
        let k2 = unit.kernel * unit.kernel
        switch unit.kind {
        case .dense:
            let (o, i) = (unit.outChannels, unit.inChannels)
            for out in 0..<o { for tap in 0..<k2 { for input in 0..<i {
                value[(out * k2 + tap) * i + input] = values[(out * i + input) * k2 + tap]
            } } }
        case .depthwise:
            let c = unit.outChannels
            for tap in 0..<k2 { for channel in 0..<c { value[tap * c + channel] = values[channel * k2 + tap] } }
        }
    }
}
