import Foundation

/// A float32 tensor in the engine's one layout, NHWC: `[batch, height, width, channels]`, channels fastest.
/// Matrices are `[rows, columns]`, row-major. Storage is 64-byte aligned and owned by the tensor.
public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        data.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { data.deallocate() }

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
