import Engine
import Foundation

/// The optimizer's state (momentum, squared averages, step count) in a safetensors file beside the checkpoint
/// (`CKPT.optimizer.safetensors`), so that the checkpoint itself stays a plain timm state dict.
public enum OptimizerState {
    public static func path(beside checkpoint: String) -> String { checkpoint + ".optimizer.safetensors" }

    /// Writes the state after `epoch` epochs beside `checkpoint` (to a temporary name, then renamed).
    public static func save(_ optimizer: Optimizer, beside checkpoint: String, epoch: Int) throws {
        let tensors = optimizer.state.enumerated().map { index, tensor in
            ("state.\(index)", Safetensors.Entry(shape: tensor.shape, floats: tensor.data, count: tensor.count))
        }
        try Safetensors.write(tensors, metadata: ["tensors": "\(tensors.count)", "epoch": "\(epoch)"],
                              to: URL(fileURLWithPath: path(beside: checkpoint)))
    }

    /// Restores the state saved beside `checkpoint` after `epoch` epochs; false when there is no such file (the
    /// optimizer keeps its fresh state). A file that does not fit the optimizer, or was saved after another epoch
    /// (a run stopped between writing the two files), is an error naming it.
    @discardableResult
    public static func load(_ optimizer: Optimizer, parameters: [Parameter], beside checkpoint: String, epoch: Int) throws -> Bool {
        let file = path(beside: checkpoint)
        guard FileManager.default.fileExists(atPath: file) else { return false }
        let (tensors, metadata) = try Safetensors.read(URL(fileURLWithPath: file))
        guard metadata["epoch"] == "\(epoch)" else {
            throw CheckpointError(file: file, message: "saved after epoch \(metadata["epoch"] ?? "(not recorded)") but \(checkpoint) after epoch \(epoch); the two belong to different points of the run")
        }
        guard let count = Int(metadata["tensors"] ?? ""), count == tensors.count else {
            throw CheckpointError(file: file, message: "its metadata says \(metadata["tensors"] ?? "nothing") tensors but it holds \(tensors.count)")
        }
        let state: [Tensor] = try (0..<count).map { index in
            guard let entry = tensors["state.\(index)"] else { throw CheckpointError(file: file, message: "missing tensor state.\(index)") }
            return Tensor(shape: entry.shape, values: entry.floats)
        }
        do { try optimizer.restore(state, parameters: parameters) } catch {
            throw CheckpointError(file: file, message: "\(error)")
        }
        return true
    }
}
