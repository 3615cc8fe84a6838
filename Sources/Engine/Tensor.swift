import Foundation

/// A float32 tensor in the engine's one layout, NHWC: `[batch, height, width, channels]`, channels fastest.
/// Matrices are `[rows, columns]`, row-major. Storage is 64-byte aligned and owned by the tensor.
public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    /// What owns `data` when this tensor does not (a view into an `InferenceArena` buffer, kept alive by it).
    private let owner: AnyObject?

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        data.initialize(repeating: 0, count: max(count, 1))
        owner = nil
    }

    /// A tensor over `data`, which `owner` owns and keeps alive as long as this tensor; the values are not cleared.
    init(shape: [Int], borrowing data: UnsafeMutablePointer<Float>, owner: AnyObject) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        self.data = data
        self.owner = owner
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { if owner == nil { data.deallocate() } }

    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }

    public func fill(_ value: Float) { data.update(repeating: value, count: count) }
    public func zero() { fill(0) }

    /// Copies `other`'s values (same element count).
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    public func clone() -> Tensor {
        let result = Tensor(shape: shape)
        result.copy(from: self)
        return result
    }

    /// Gives the same storage another shape with the same element count.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// `cached` if it has `shape`, else a new zero tensor stored into `cached`: layers keep their buffers
    /// across steps, so the steady state allocates nothing.
    public static func reuse(_ cached: inout Tensor?, shape: [Int]) -> Tensor {
        if let tensor = cached, tensor.shape == shape { return tensor }
        let tensor = Tensor(shape: shape)
        cached = tensor
        return tensor
    }
}

/// The activations of inference passes, in a few buffers used in turn instead of one buffer per layer (as ONNX
/// Runtime's memory planner does): a layer's output goes to a buffer that a layer shortly before used, which is
/// still in cache, rather than to a buffer last touched a whole pass ago; and a network's activations take three
/// buffers of its largest activation instead of the sum of all of them. A tensor handed out stays valid until a
/// later request that does not name it among the live ones; the buffers grow on demand.
public final class InferenceArena {
    /// One buffer, owned here; the tensors over it keep it alive.
    private final class Storage {
        let data: UnsafeMutablePointer<Float>
        let capacity: Int
        init(capacity: Int) {
            self.capacity = capacity
            data = UnsafeMutableRawPointer.allocate(byteCount: max(capacity, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(capacity, 1))
        }
        deinit { data.deallocate() }
    }

    /// Three: a block's input (for its residual), the current activation and the output being written.
    private var slots: [Storage?] = [nil, nil, nil]
    private var next = 0
    /// Scratch for one operation at a time (a kxk convolution's zero-padded input).
    private var scratchStorage: Storage?

    public init() {}

    /// A tensor of `shape` (values not cleared) in a buffer that holds none of the `live` tensors' data.
    public func tensor(shape: [Int], live: [Tensor?]) -> Tensor {
        let count = shape.reduce(1, *)
        let taken = Set(live.compactMap { $0.map { UnsafeMutableRawPointer($0.data) } })
        for offset in 0..<slots.count {
            let index = (next + offset) % slots.count
            if let storage = slots[index], taken.contains(UnsafeMutableRawPointer(storage.data)) { continue }
            if slots[index] == nil || slots[index]!.capacity < count { slots[index] = Storage(capacity: count) }
            next = (index + 1) % slots.count
            return Tensor(shape: shape, borrowing: slots[index]!.data, owner: slots[index]!)
        }
        preconditionFailure("an inference arena has \(slots.count) buffers; more than \(slots.count - 1) live tensors were named")
    }

    /// Scratch of `count` floats for the operation under way (the next call may hand out the same memory).
    public func scratch(count: Int) -> Tensor {
        if scratchStorage == nil || scratchStorage!.capacity < count { scratchStorage = Storage(capacity: count) }
        return Tensor(shape: [count], borrowing: scratchStorage!.data, owner: scratchStorage!)
    }

    /// The floats held in all buffers.
    public var capacity: Int { slots.reduce(0) { $0 + ($1?.capacity ?? 0) } + (scratchStorage?.capacity ?? 0) }
}

/// A learnable tensor with its gradient.
public final class Parameter: @unchecked Sendable {
    public let value: Tensor
    public let gradient: Tensor
    /// Whether weight decay applies (conv and linear weights; not biases or batch-norm parameters).
    public let decays: Bool
    /// Goes up whenever the values change through `markModified()` (optimizers, loading, initialising), so
    /// that layers can cache derived forms such as packed weights.
    public private(set) var version = 0

    /// Call after changing `value` in place.
    public func markModified() { version &+= 1 }

    public init(shape: [Int], decays: Bool) {
        value = Tensor(shape: shape)
        gradient = Tensor(shape: shape)
        self.decays = decays
    }
}
