import Architecture
import Engine
import XCTest

/// Bad checkpoints are errors that name the file and the tensor.
final class CheckpointErrorTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-ckpt-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func smallSpec() throws -> NetworkSpec {
        var spec = try NetworkSpec(arch: "ds_r1_k3_s1_c8;ir_r1_k3_s2_e2_c16_se0.25")
        spec.stem = 8; spec.head = 16; spec.classes = 3; spec.resolution = 16
        return spec
    }

    func saved(_ edit: (inout [(String, Safetensors.Entry)], inout [String: String]) -> Void) throws -> URL {
        let spec = try smallSpec()
        let model = EfficientNetModel(try spec.resolve())
        model.initialize(seed: 1)
        var tensors = Checkpoint.stateDict(of: model)
        var metadata = Checkpoint.metadata(for: spec)
        edit(&tensors, &metadata)
        let url = directory.appendingPathComponent("model.safetensors")
        try Safetensors.write(tensors, metadata: metadata, to: url)
        return url
    }

    func assertError(_ url: URL, expected: NetworkSpec? = nil, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Checkpoint.load(url, expected: expected), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(url.path), "\(error)", file: file, line: line)
        }
    }

    func testMissingExtraAndMisshapenTensors() throws {
        assertError(try saved { tensors, _ in tensors.removeAll { $0.0 == "blocks.1.0.conv_dw.weight" } }, contains: "missing tensor blocks.1.0.conv_dw.weight")
        assertError(try saved { tensors, _ in tensors.append(("blocks.9.0.conv.weight", Safetensors.Entry(dtype: "F32", shape: [1], bytes: Data(count: 4)))) },
                    contains: "unexpected tensor(s) blocks.9.0.conv.weight")
        assertError(try saved { tensors, _ in
            let index = tensors.firstIndex { $0.0 == "classifier.bias" }!
            tensors[index].1 = Safetensors.Entry(dtype: "F32", shape: [4], bytes: Data(count: 16))
        }, contains: "tensor classifier.bias has shape [4]; expected [3]")
    }

    func testMetadataThatDoesNotMatchTheGivenNetwork() throws {
        let url = try saved { _, _ in }
        var other = try smallSpec()
        other.classes = 5
        assertError(url, expected: other, contains: "does not match")
        XCTAssertNoThrow(try Checkpoint.load(url, expected: try smallSpec()))
    }

    func testTruncatedAndForeignFiles() throws {
        let url = try saved { _, _ in }
        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 10).write(to: url)
        assertError(url, contains: "truncated")
        try Data("hello, not a checkpoint".utf8).write(to: url)
        assertError(url, contains: "not a safetensors file")
        try Data([1, 2, 3]).write(to: url)
        assertError(url, contains: "not a safetensors file")
        assertError(directory.appendingPathComponent("absent.safetensors"), contains: "no such file")
    }
}
