import Architecture
import Engine
import Foundation
import SwiftProtobuf

/// A checkpoint that cannot be exported, or an export that cannot be written: names the file.
public struct ONNXExportError: UserInputError {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// The input's batch dimension: fixed, or symbolic (`batch`) so that any batch size runs.
public enum ONNXBatch: Equatable, Sendable {
    case fixed(Int)
    case dynamic
}

/// Exports a network and its weights (a checkpoint's timm state dict) as a standard ONNX graph:
/// - every convolution with its batch norm folded in (`Conv` with a bias), depthwise ones as grouped `Conv`;
/// - SiLU as `Sigmoid` and `Mul`, ReLU as `Relu`, ReLU6 as `Clip(0, 6)`;
/// - squeeze-excite as `GlobalAveragePool`, two biased 1x1 `Conv`s, `Sigmoid`, `Mul`;
/// - residuals as `Add` (inference: drop-path is off);
/// - the head, `GlobalAveragePool`, `Flatten` and `Gemm` for the classifier (dropout is off in inference).
///
/// Input `input` (N x 3 x H x W, float32, NCHW, normalised), output `logits` (N x classes).
public struct ONNXExporter {
    public var opset: Int
    public var batch: ONNXBatch
    /// Batch-norm epsilon of the engine's models (timm's `BatchNorm2d` default).
    public var batchNormEps: Float = ModelOptions().batchNormEps

    public static let opsets = 13...21

    public init(opset: Int = 17, batch: ONNXBatch = .fixed(1)) {
        self.opset = opset
        self.batch = batch
    }

    /// The ONNX IR version that goes with an opset (as onnx.helper pairs them).
    public static func irVersion(opset: Int) -> Int64 {
        switch opset {
        case ...14: return 7
        case 15...18: return 8
        case 19...20: return 9
        default: return 10
        }
    }

    /// The model for `spec` with weights from `tensors` (timm names and layouts); `metadata` goes into the
    /// model's metadata properties.
    public func model(spec: NetworkSpec, tensors: [String: Safetensors.Entry], metadata: [String: String], file: String) throws -> Onnx_ModelProto {
        let network = try spec.resolve()
        var graph = GraphBuilder(tensors: tensors, eps: batchNormEps, file: file)
        var x = "input"
        x = try graph.conv(x, network.stemUnit, prefix: "")
        for stage in network.stages {
            for block in stage {
                let prefix = block.name + "."
                let blockInput = x
                var h = x
                for part in block.parts {
                    switch part {
                    case .conv(let unit): h = try graph.conv(h, unit, prefix: prefix)
                    case .squeezeExcite(let se): h = try graph.squeezeExcite(h, se, path: prefix + "se")
                    }
                }
                if block.hasResidual { h = graph.node("Add", [h, blockInput], name: prefix + "add") }
                x = h
            }
        }
        if let head = network.headUnit { x = try graph.conv(x, head, prefix: "") }
        x = graph.node("GlobalAveragePool", [x], name: "global_pool")
        x = graph.node("Flatten", [x], name: "flatten", attributes: [GraphBuilder.int("axis", 1)])
        let weight = try graph.initializer("classifier.weight", shape: [network.classes, network.featureChannels])
        let bias = try graph.initializer("classifier.bias", shape: [network.classes])
        _ = graph.node("Gemm", [x, weight, bias], name: "classifier", output: "logits", attributes: [GraphBuilder.int("transB", 1)])

        var proto = Onnx_ModelProto()
        proto.irVersion = ONNXExporter.irVersion(opset: opset)
        proto.producerName = "efsearch"
        proto.producerVersion = metadata["efsearch_version"] ?? ""
        var opsetImport = Onnx_OperatorSetIdProto()
        opsetImport.domain = ""
        opsetImport.version = Int64(opset)
        proto.opsetImport = [opsetImport]
        var graphProto = Onnx_GraphProto()
        graphProto.name = "efsearch"
        graphProto.node = graph.nodes
        graphProto.initializer = graph.initializers
        let batchDimension: Onnx_TensorShapeProto.Dimension = {
            var dimension = Onnx_TensorShapeProto.Dimension()
            switch batch {
            case .fixed(let n): dimension.dimValue = Int64(n)
            case .dynamic: dimension.dimParam = "batch"
            }
            return dimension
        }()
        graphProto.input = [GraphBuilder.valueInfo("input", [batchDimension] + [3, spec.resolution, spec.resolution].map(GraphBuilder.dimension))]
        graphProto.output = [GraphBuilder.valueInfo("logits", [batchDimension, GraphBuilder.dimension(network.classes)])]
        proto.graph = graphProto
        proto.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return proto
    }

    /// Writes the model to `path` (a temporary name, then renamed).
    /// Exports the checkpoint `file` to `path` (loading checks every tensor's name and shape against the spec in its
    /// metadata); its metadata, the spec, `version` and the input and output descriptions go into the model's
    /// metadata properties. Returns a line saying what was written.
    public func export(checkpoint file: String, to path: String, version: String = EfsearchVersion.current) throws -> String {
        let url = URL(fileURLWithPath: file)
        let (_, spec, _) = try Checkpoint.load(url)
        let (tensors, metadata) = try Safetensors.read(url)
        var properties = metadata.merging(Checkpoint.metadata(for: spec)) { _, new in new }
        properties["efsearch_version"] = version
        properties["input"] = "input: float32 NCHW [N, 3, \(spec.resolution), \(spec.resolution)], normalised per channel as in training"
        properties["output"] = "logits: float32 [N, \(spec.classes)]"
        let model = try self.model(spec: spec, tensors: tensors, metadata: properties, file: file)
        try ONNXExporter.write(model, to: path)
        let batchText: String
        switch batch {
        case .fixed(let n): batchText = "\(n)"
        case .dynamic: batchText = "batch"
        }
        return "wrote \(path): opset \(opset), \(model.graph.node.count) nodes, input [\(batchText), 3, \(spec.resolution), \(spec.resolution)]"
    }

    public static func write(_ model: Onnx_ModelProto, to path: String) throws {
        let data: Data
        do { data = try model.serializedData() } catch {
            throw ONNXExportError(file: path, message: "cannot serialise the model: \(error)")
        }
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ONNXExportError(file: path, message: "cannot write the file: \(error.localizedDescription); expected a writable path")
        }
    }
}

/// Nodes and initializers of a graph under construction, with unique tensor names.
struct GraphBuilder {
    let tensors: [String: Safetensors.Entry]
    let eps: Float
    let file: String
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var count = 0

    init(tensors: [String: Safetensors.Entry], eps: Float, file: String) {
        self.tensors = tensors
        self.eps = eps
        self.file = file
    }

    /// A float32 checkpoint tensor of the given shape.
    func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let entry = tensors[name] else { throw ONNXExportError(file: file, message: "missing tensor \(name) (expected shape \(shape))") }
        guard entry.shape == shape else { throw ONNXExportError(file: file, message: "tensor \(name) has shape \(entry.shape); expected \(shape)") }
        guard entry.dtype == "F32" else { throw ONNXExportError(file: file, message: "tensor \(name) is \(entry.dtype); expected F32") }
        return entry.floats
    }

    /// Adds a float32 initializer and returns its name.
    mutating func constant(_ name: String, shape: [Int], values: [Float]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian, as ONNX requires (x86-64, ARM64)
        initializers.append(tensor)
        return name
    }

    /// A checkpoint tensor as an initializer (same name).
    mutating func initializer(_ name: String, shape: [Int]) throws -> String {
        constant(name, shape: shape, values: try floats(name, shape: shape))
    }

    /// Adds a node; returns its output's name.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], name: String, output: String? = nil, attributes: [Onnx_AttributeProto] = []) -> String {
        count += 1
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        let result = output ?? "\(name).\(op.lowercased())"
        node.output = [result]
        node.attribute = attributes
        nodes.append(node)
        return result
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    static func dimension(_ value: Int) -> Onnx_TensorShapeProto.Dimension {
        var dimension = Onnx_TensorShapeProto.Dimension()
        dimension.dimValue = Int64(value)
        return dimension
    }

    static func valueInfo(_ name: String, _ dimensions: [Onnx_TensorShapeProto.Dimension]) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var shape = Onnx_TensorShapeProto()
        shape.dim = dimensions
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        info.type = type
        return info
    }

    /// A convolution unit with its batch norm folded in, then its activation. Weights are timm's (OIHW, depthwise
    /// `[C, 1, k, k]`): w' = w * gamma / sqrt(var + eps) per output channel, b' = beta - mean * gamma / sqrt(var + eps).
    mutating func conv(_ x: String, _ unit: ConvUnitSpec, prefix: String) throws -> String {
        let path = prefix + unit.name, norm = prefix + unit.norm
        let cout = unit.outChannels, k = unit.kernel
        let perOutput = unit.kind == .depthwise ? k * k : unit.inChannels * k * k
        let shape = unit.kind == .depthwise ? [cout, 1, k, k] : [cout, unit.inChannels, k, k]
        var weight = try floats(path + ".weight", shape: shape)
        let gamma = try floats(norm + ".weight", shape: [cout]), beta = try floats(norm + ".bias", shape: [cout])
        let mean = try floats(norm + ".running_mean", shape: [cout]), variance = try floats(norm + ".running_var", shape: [cout])
        var bias = [Float](repeating: 0, count: cout)
        for o in 0..<cout {
            // In double, as PyTorch's reference folding would be exact to float rounding.
            let scale = Double(gamma[o]) / (Double(variance[o]) + Double(eps)).squareRoot()
            for i in 0..<perOutput { weight[o * perOutput + i] = Float(Double(weight[o * perOutput + i]) * scale) }
            bias[o] = Float(Double(beta[o]) - Double(mean[o]) * scale)
        }
        let w = constant(path + ".weight_folded", shape: shape, values: weight)
        let b = constant(path + ".bias_folded", shape: [cout], values: bias)
        let pad = (k / 2) * unit.dilation
        let y = node("Conv", [x, w, b], name: path, attributes: [
            GraphBuilder.ints("kernel_shape", [k, k]), GraphBuilder.ints("strides", [unit.stride, unit.stride]),
            GraphBuilder.ints("pads", [pad, pad, pad, pad]), GraphBuilder.ints("dilations", [unit.dilation, unit.dilation]),
            GraphBuilder.int("group", unit.kind == .depthwise ? cout : 1),
        ])
        guard let activation = unit.activation else { return y }
        return activate(y, activation, name: path)
    }

    /// SiLU as x * sigmoid(x), ReLU, ReLU6 as Clip(0, 6) (min and max as inputs, opset 11 on).
    mutating func activate(_ x: String, _ activation: Activation, name: String) -> String {
        switch activation {
        case .silu:
            let gate = node("Sigmoid", [x], name: name + ".act_sigmoid")
            return node("Mul", [x, gate], name: name + ".act")
        case .relu:
            return node("Relu", [x], name: name + ".act")
        case .relu6:
            let low = initializers.contains { $0.name == "relu6.min" } ? "relu6.min" : constant("relu6.min", shape: [], values: [0])
            let high = initializers.contains { $0.name == "relu6.max" } ? "relu6.max" : constant("relu6.max", shape: [], values: [6])
            return node("Clip", [x, low, high], name: name + ".act")
        }
    }

    /// Squeeze-excite: pool, reduce (biased 1x1 conv), activation, expand (biased 1x1 conv), sigmoid, scale.
    mutating func squeezeExcite(_ x: String, _ se: SqueezeExciteSpec, path: String) throws -> String {
        let pooled = node("GlobalAveragePool", [x], name: path + ".pool")
        let reduceWeight = try initializer(path + ".conv_reduce.weight", shape: [se.reduced, se.channels, 1, 1])
        let reduceBias = try initializer(path + ".conv_reduce.bias", shape: [se.reduced])
        var reduced = node("Conv", [pooled, reduceWeight, reduceBias], name: path + ".conv_reduce", attributes: [GraphBuilder.ints("kernel_shape", [1, 1])])
        reduced = activate(reduced, se.activation, name: path + ".conv_reduce")
        let expandWeight = try initializer(path + ".conv_expand.weight", shape: [se.channels, se.reduced, 1, 1])
        let expandBias = try initializer(path + ".conv_expand.bias", shape: [se.channels])
        let expanded = node("Conv", [reduced, expandWeight, expandBias], name: path + ".conv_expand", attributes: [GraphBuilder.ints("kernel_shape", [1, 1])])
        let gate = node("Sigmoid", [expanded], name: path + ".gate")
        return node("Mul", [x, gate], name: path + ".scale")
    }
}
