import Architecture
import Engine
import Foundation
import ONNX
import XCTest

/// The exported graph's structure; numbers against ONNX Runtime are checked by scripts/check_onnx.py.
final class ONNXExportTests: XCTestCase {
    func export(_ arch: String, activation: Activation = .silu, batch: ONNXBatch = .fixed(1)) throws -> (Onnx_ModelProto, Network) {
        var spec = try NetworkSpec(arch: arch)
        spec.stem = 8; spec.head = 32; spec.classes = 5; spec.resolution = 32; spec.activation = activation
        let network = try spec.resolve()
        let model = EfficientNetModel(network)
        model.initialize(seed: 3)
        var tensors: [String: Safetensors.Entry] = [:]
        for (name, entry) in Checkpoint.stateDict(of: model) { tensors[name] = entry }
        let proto = try ONNXExporter(opset: 17, batch: batch).model(spec: spec, tensors: tensors, metadata: ["resolution": "32"], file: "test")
        // It survives a round trip through the wire format.
        return (try Onnx_ModelProto(serializedBytes: try proto.serializedData()), network)
    }

    func testGraphHasOneFoldedConvPerUnitAndTheDocumentedOperators() throws {
        let (model, network) = try export("ds_r1_k3_s1_c8_se0.25;ir_r2_k5_s2_e3_c16_se0.25;er_r1_k3_s2_e2_c24;cn_r1_k3_s1_c24_skip")
        let ops = model.graph.node.map(\.opType)
        let units = network.blocks.reduce(0) { count, block in count + block.parts.filter { if case .conv = $0 { return true } else { return false } }.count }
        let seBlocks = network.blocks.filter { $0.seChannels > 0 }.count
        XCTAssertEqual(ops.filter { $0 == "Conv" }.count, units + 2 + 2 * seBlocks, "stem, head, every unit, two per squeeze-excite")
        XCTAssertEqual(ops.filter { $0 == "Add" }.count, network.blocks.filter(\.hasResidual).count)
        XCTAssertEqual(ops.filter { $0 == "Gemm" }.count, 1)
        XCTAssertFalse(ops.contains("BatchNormalization"), "batch norms are folded")
        XCTAssertEqual(model.graph.input.map(\.name), ["input"])
        XCTAssertEqual(model.graph.output.map(\.name), ["logits"])
        XCTAssertEqual(model.graph.input[0].type.tensorType.shape.dim.map(\.dimValue), [1, 3, 32, 32])
        XCTAssertEqual(model.graph.output[0].type.tensorType.shape.dim.map(\.dimValue), [1, 5])
        XCTAssertEqual(model.opsetImport.first?.version, 17)
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.metadataProps.first { $0.key == "resolution" }?.value, "32")
        // Depthwise convolutions are grouped by their channel count.
        let depthwise = model.graph.node.filter { $0.name.hasSuffix("conv_dw") }
        XCTAssertFalse(depthwise.isEmpty)
        for node in depthwise {
            XCTAssertGreaterThan(node.attribute.first { $0.name == "group" }?.i ?? 0, 1, node.name)
        }
    }

    func testActivationsAndDynamicBatch() throws {
        let (relu6, _) = try export("ir_r1_k3_s1_e2_c8", activation: .relu6, batch: .dynamic)
        XCTAssertTrue(relu6.graph.node.contains { $0.opType == "Clip" && $0.input.count == 3 })
        XCTAssertFalse(relu6.graph.node.contains { $0.opType == "Sigmoid" })
        XCTAssertEqual(relu6.graph.input[0].type.tensorType.shape.dim[0].dimParam, "batch")
        let (relu, _) = try export("ir_r1_k3_s1_e2_c8", activation: .relu)
        XCTAssertTrue(relu.graph.node.contains { $0.opType == "Relu" })
    }

    /// Folding: w' = w * gamma / sqrt(var + eps) and b' = beta - mean * gamma / sqrt(var + eps), by hand.
    func testBatchNormIsFoldedIntoTheConvolution() throws {
        var spec = try NetworkSpec(arch: "cn_r1_k1_s1_c8")
        spec.stem = 8; spec.head = 0; spec.classes = 2; spec.resolution = 8; spec.activation = .relu
        let model = EfficientNetModel(try spec.resolve())
        model.initialize(seed: 1)
        var tensors: [String: Safetensors.Entry] = [:]
        for (name, entry) in Checkpoint.stateDict(of: model) { tensors[name] = entry }
        let weight = tensors["blocks.0.0.conv.weight"]!.floats  // [8, 8, 1, 1]
        let c = 8
        let gamma = (0..<c).map { 0.5 + Float($0) * 0.25 }, beta = (0..<c).map { Float($0) * 0.1 - 0.3 }
        let mean = (0..<c).map { Float($0 % 3) * 0.2 - 0.2 }, variance = (0..<c).map { 0.5 + Float($0) * 0.4 }
        func entry(_ values: [Float]) -> Safetensors.Entry { values.withUnsafeBufferPointer { Safetensors.Entry(shape: [c], floats: $0.baseAddress!, count: c) } }
        tensors["blocks.0.0.bn1.weight"] = entry(gamma)
        tensors["blocks.0.0.bn1.bias"] = entry(beta)
        tensors["blocks.0.0.bn1.running_mean"] = entry(mean)
        tensors["blocks.0.0.bn1.running_var"] = entry(variance)
        let proto = try ONNXExporter().model(spec: spec, tensors: tensors, metadata: [:], file: "test")
        func initializer(_ name: String) -> [Float] {
            let data = proto.graph.initializer.first { $0.name == name }!.rawData
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let folded = initializer("blocks.0.0.conv.weight_folded"), bias = initializer("blocks.0.0.conv.bias_folded")
        XCTAssertEqual(folded.count, c * c)
        for o in 0..<c {
            let scale = gamma[o] / (variance[o] + 1e-5).squareRoot()
            for i in 0..<c { XCTAssertEqual(folded[o * c + i], weight[o * c + i] * scale, accuracy: 1e-6) }
            XCTAssertEqual(bias[o], beta[o] - mean[o] * scale, accuracy: 1e-6)
        }
    }

    func testMissingOrMisshapenTensorsNameThemselves() throws {
        var spec = try NetworkSpec(arch: "cn_r1_k3_s1_c8")
        spec.stem = 8; spec.head = 0; spec.classes = 2; spec.resolution = 8
        let model = EfficientNetModel(try spec.resolve())
        var tensors: [String: Safetensors.Entry] = [:]
        for (name, entry) in Checkpoint.stateDict(of: model) { tensors[name] = entry }
        var missing = tensors
        missing["blocks.0.0.bn1.running_var"] = nil
        XCTAssertThrowsError(try ONNXExporter().model(spec: spec, tensors: missing, metadata: [:], file: "ckpt.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("ckpt.safetensors") && "\(error)".contains("blocks.0.0.bn1.running_var"), "\(error)")
        }
        var wrong = tensors
        wrong["classifier.bias"] = tensors["blocks.0.0.bn1.bias"]
        XCTAssertThrowsError(try ONNXExporter().model(spec: spec, tensors: wrong, metadata: [:], file: "ckpt.safetensors")) { error in
            XCTAssertTrue("\(error)".contains("classifier.bias has shape [8]; expected [2]"), "\(error)")
        }
    }
}
