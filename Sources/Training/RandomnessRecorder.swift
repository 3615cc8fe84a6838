import Foundation

/// Writes each training step's randomness as one JSON line: `epoch`, `step`, `indices`, `shifts` ([dy, dx, flip]
/// in output pixels) or `boxes` ([left, top, right, bottom, flip] in source pixels), `dropout`, `drop_path`.
public final class RandomnessRecorder {
    let handle: FileHandle

    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw DatasetError(source: path, message: "cannot create the file to record the randomness in")
        }
        self.handle = handle
    }

    struct Line: Encodable {
        var epoch: Int
        var step: Int
        var indices: [Int]
        var shifts: [[Int]]?
        var boxes: [[Double]]?
        var dropout: [Float]
        var dropPath: [[Float]]
        enum CodingKeys: String, CodingKey { case epoch, step, indices, shifts, boxes, dropout, dropPath = "drop_path" }
    }

    public func write(_ step: TrainingStepRandomness) {
        var line = Line(epoch: step.epoch, step: step.step, indices: step.indices, dropout: step.dropout, dropPath: step.dropPath)
        for plan in step.plans ?? [] {
            switch plan {
            case .shift(let dy, let dx, let flip): line.shifts = (line.shifts ?? []) + [[dy, dx, flip ? 1 : 0]]
            case .box(let box, let flip): line.boxes = (line.boxes ?? []) + [[box.left, box.top, box.right, box.bottom, flip ? 1 : 0]]
            }
        }
        guard let data = try? JSONEncoder().encode(line) else { return }
        handle.write(data + Data("\n".utf8))
    }

    public func close() { try? handle.close() }
}
