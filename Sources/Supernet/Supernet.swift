import Architecture
import Engine
import Foundation
import Statistics

/// The weights of every candidate of a search space in one set of tensors (once-for-all, Cai et al. 2020): the
/// largest shape of each tensor (`SupernetLayout`), and for every convolution whose kernel is a choice, a learned
/// transform per step down in kernel size (`[m, m]` for m = the smaller kernel's taps, shared by all channels,
/// identity at first). A candidate's weights are leading slices (`load(into:)`); its gradients go back into the
/// same slices and transforms (`accumulateGradients(from:)`), so a training step of any candidate trains the
/// supernet.
public final class Supernet {
    public let layout: SupernetLayout
    /// The tensors by key (`SupernetLayout`), and the kernel transforms by `SupernetLayout.transformKey`.
    public let tensors: [String: Parameter]
    public let transforms: [String: Parameter]

    /// Every learnable tensor in a fixed order (keys sorted, then transforms sorted): the optimizer's order.
    public var parameters: [Parameter] { orderedKeys.map { (tensors[$0] ?? transforms[$0])! } }
    public var orderedKeys: [String] { tensors.keys.sorted() + transforms.keys.sorted() }

    public init(layout: SupernetLayout) {
        self.layout = layout
        var tensors: [String: Parameter] = [:]
        var transforms: [String: Parameter] = [:]
        for (key, entry) in layout.entries {
            let decays = [.dense, .depthwise, .seWeight, .classifierWeight].contains(entry.role)
            tensors[key] = Parameter(shape: entry.shape, decays: decays)
            for step in SupernetLayout.transformSteps(largest: entry.largestKernel, smallest: entry.smallestKernel) {
                let taps = step.to * step.to
                transforms[SupernetLayout.transformKey(key, from: step.from, to: step.to)] = Parameter(shape: [taps, taps], decays: false)
            }
        }
        self.tensors = tensors
        self.transforms = transforms
    }

    /// timm's initialisation (`_init_weight_goog`) at the largest shapes: convolutions N(0, sqrt(2 / fan_out)),
    /// the classifier U(-1/sqrt(classes), 1/sqrt(classes)), norms' weights 1, biases 0; transforms the identity.
    /// One seeded generator, keys in order.
    public func initialize(seed: UInt64) {
        let random = RandomGenerator(seed: seed)
        for key in layout.keys {
            let entry = layout.entries[key]!, value = tensors[key]!.value
            let shape = entry.shape
            switch entry.role {
            case .dense, .depthwise, .seWeight:
                let fanOut = entry.role == .dense ? shape[0] * shape[1] * shape[2] : entry.role == .depthwise ? shape[0] * shape[1] : shape[0]
                let std = (2.0 / Double(fanOut)).squareRoot()
                for index in 0..<value.count { value.data[index] = Float(random.gaussian(sigma: std)) }
            case .classifierWeight:
                let bound = 1 / Double(shape[0]).squareRoot()
                for index in 0..<value.count { value.data[index] = Float((2 * random.uniform() - 1) * bound) }
            case .normWeight:
                value.fill(1)
            case .normBias, .seBias, .classifierBias:
                value.zero()
            }
            tensors[key]!.markModified()
        }
        for (_, transform) in transforms {
            let m = transform.value.shape[0]
            transform.value.zero()
            for index in 0..<m { transform.value.data[index * m + index] = 1 }
            transform.markModified()
        }
    }

    // MARK: - Candidates

    /// Checks that every tensor of `model` is a slice of this supernet: a key it has, no dimension larger, a
    /// kernel it has transforms down to. The error names the tensor and both shapes.
    public func check(_ model: EfficientNetModel, name: String) throws {
        for tensor in SupernetLayout.tensors(of: model) {
            guard let entry = layout.entries[tensor.key] else {
                throw SupernetError("candidate \(name) is outside the supernet's space: the supernet has no tensor \(tensor.key)")
            }
            let shape = tensor.parameter.value.shape
            let fits = shape.count == entry.shape.count && zip(shape, entry.shape).allSatisfy { $0 <= $1 } && entry.role == tensor.role
            let kernelFits = tensor.kernel <= entry.largestKernel && tensor.kernel >= entry.smallestKernel && (entry.largestKernel - tensor.kernel) % 2 == 0
            guard fits && kernelFits else {
                throw SupernetError("candidate \(name) is outside the supernet's space: its \(tensor.name) is \(shape), the supernet's \(entry.shape) (kernels \(entry.smallestKernel)-\(entry.largestKernel))")
            }
        }
    }

    /// Copies the candidate's weights out of the supernet into `model` (batch-norm statistics untouched).
    public func load(into model: EfficientNetModel) {
        for tensor in SupernetLayout.tensors(of: model) {
            let entry = layout.entries[tensor.key]!, source = tensors[tensor.key]!.value
            let target = tensor.parameter.value
            if tensor.kernel < entry.largestKernel {
                let kernels = KernelSlice(entry: entry, shape: target.shape, kernel: tensor.kernel)
                var matrix = kernels.gather(source)
                for step in SupernetLayout.transformSteps(largest: entry.largestKernel, smallest: tensor.kernel) {
                    let transform = transforms[SupernetLayout.transformKey(tensor.key, from: step.from, to: step.to)]!.value
                    matrix = KernelSlice.shrink(matrix, pairs: kernels.pairs, from: step.from, transform: transform)
                }
                kernels.write(matrix, into: target)
            } else {
                Slicing.copy(from: source, shape: entry.shape, into: target.data, shape: target.shape)
            }
            tensor.parameter.markModified()
        }
    }

    /// Adds the gradients of the candidate `model` (after its backward pass) to the supernet's: into the same
    /// slices, and through the kernel transforms into the largest kernels and the transforms.
    public func accumulateGradients(from model: EfficientNetModel) {
        for tensor in SupernetLayout.tensors(of: model) {
            let entry = layout.entries[tensor.key]!, parameter = tensors[tensor.key]!
            let gradient = tensor.parameter.gradient
            if tensor.kernel < entry.largestKernel {
                let kernels = KernelSlice(entry: entry, shape: gradient.shape, kernel: tensor.kernel)
                let steps = SupernetLayout.transformSteps(largest: entry.largestKernel, smallest: tensor.kernel)
                // The forward chain again, keeping each step's input.
                var inputs = [kernels.gather(parameter.value)]
                for step in steps.dropLast() {
                    let transform = transforms[SupernetLayout.transformKey(tensor.key, from: step.from, to: step.to)]!.value
                    inputs.append(KernelSlice.shrink(inputs.last!, pairs: kernels.pairs, from: step.from, transform: transform))
                }
                var dOutput = kernels.read(gradient)
                for (step, input) in zip(steps, inputs).reversed() {
                    let transform = transforms[SupernetLayout.transformKey(tensor.key, from: step.from, to: step.to)]!
                    dOutput = KernelSlice.shrinkBackward(dOutput, input: input, pairs: kernels.pairs, from: step.from, transform: transform.value,
                                                         dTransform: transform.gradient)
                }
                kernels.scatterAdd(dOutput, into: parameter.gradient)
            } else {
                Slicing.add(gradient.data, shape: gradient.shape, into: parameter.gradient, shape: entry.shape)
            }
        }
    }

    public func zeroGradients() {
        for (_, parameter) in tensors { parameter.gradient.zero() }
        for (_, parameter) in transforms { parameter.gradient.zero() }
    }
}

/// Leading slices of row-major tensors: a smaller tensor is the first elements of a larger one in every dimension.
enum Slicing {
    /// Copies the leading `shape` slice of `source` (of `sourceShape`) into `target`, contiguous.
    static func copy(from source: Tensor, shape sourceShape: [Int], into target: UnsafeMutablePointer<Float>, shape: [Int]) {
        walk(shape: shape, outer: sourceShape) { sourceOffset, targetOffset, run in
            target.advanced(by: targetOffset).update(from: source.data.advanced(by: sourceOffset), count: run)
        }
    }

    /// Adds the contiguous `values` of `shape` into the leading slice of `target` (of `targetShape`).
    static func add(_ values: UnsafeMutablePointer<Float>, shape: [Int], into target: Tensor, shape targetShape: [Int]) {
        walk(shape: shape, outer: targetShape) { outerOffset, innerOffset, run in
            let destination = target.data.advanced(by: outerOffset), source = values.advanced(by: innerOffset)
            for index in 0..<run { destination[index] += source[index] }
        }
    }

    /// Calls `body(offset in the outer tensor, offset in the inner tensor, run length)` for every run of the
    /// innermost dimension of the leading `shape` slice of a tensor of `outer` shape.
    static func walk(shape: [Int], outer: [Int], _ body: (Int, Int, Int) -> Void) {
        precondition(shape.count == outer.count && zip(shape, outer).allSatisfy { $0 <= $1 }, "slice \(shape) of \(outer)")
        let rank = shape.count
        guard rank > 0, shape.allSatisfy({ $0 > 0 }) else { return }
        var outerStrides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { outerStrides[d] = outerStrides[d + 1] * outer[d + 1] }
        var index = [Int](repeating: 0, count: rank)
        var inner = 0
        while true {
            let outerOffset = zip(index, outerStrides).reduce(0) { $0 + $1.0 * $1.1 }
            body(outerOffset, inner, shape[rank - 1])
            inner += shape[rank - 1]
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }
}

/// A convolution weight seen as `pairs` kernels of k x k taps: depthwise `[k, k, C]` has C pairs (channel c,
/// tap t at t * C + c); dense `[Cout, k, k, Cin]` has Cout * Cin (pair o * Cin + i, tap t at (o * k^2 + t) * Cin + i).
/// Matrices are `[pairs, taps]`, row-major.
struct KernelSlice {
    let role: SupernetRole
    /// The supernet's shape, and the candidate's channels (its shape with the largest kernel).
    let outer: [Int]
    let sliced: [Int]
    let largest: Int, kernel: Int
    /// Channels per pair: depthwise (C), dense (Cout, Cin).
    var channels: (Int, Int) { role == .depthwise ? (sliced[2], 1) : (sliced[0], sliced[3]) }
    var pairs: Int { channels.0 * channels.1 }

    init(entry: SupernetLayout.Entry, shape: [Int], kernel: Int) {
        role = entry.role
        outer = entry.shape
        largest = entry.largestKernel
        self.kernel = kernel
        var sliced = shape
        for d in entry.kernelDimensions { sliced[d] = entry.largestKernel }
        self.sliced = sliced
    }

    /// The offset of pair p, tap t in a tensor of `shape` with `k` taps a side.
    func offset(pair p: Int, tap t: Int, shape: [Int], k: Int) -> Int {
        if role == .depthwise { return t * shape[2] + p }
        let (o, i) = (p / channels.1, p % channels.1)
        return (o * k * k + t) * shape[3] + i
    }

    /// The candidate's channels of the largest kernels, as `[pairs, largest^2]`.
    func gather(_ tensor: Tensor) -> [Float] {
        let taps = largest * largest
        var matrix = [Float](repeating: 0, count: pairs * taps)
        for p in 0..<pairs { for t in 0..<taps { matrix[p * taps + t] = tensor.data[offset(pair: p, tap: t, shape: outer, k: largest)] } }
        return matrix
    }

    /// Adds `[pairs, largest^2]` into the candidate's channels of a tensor of the supernet's shape.
    func scatterAdd(_ matrix: [Float], into tensor: Tensor) {
        let taps = largest * largest
        for p in 0..<pairs { for t in 0..<taps { tensor.data[offset(pair: p, tap: t, shape: outer, k: largest)] += matrix[p * taps + t] } }
    }

    /// Writes `[pairs, kernel^2]` into the candidate's tensor.
    func write(_ matrix: [Float], into tensor: Tensor) {
        let taps = kernel * kernel
        for p in 0..<pairs { for t in 0..<taps { tensor.data[offset(pair: p, tap: t, shape: tensor.shape, k: kernel)] = matrix[p * taps + t] } }
    }

    /// Reads the candidate's `[pairs, kernel^2]` (its gradient).
    func read(_ tensor: Tensor) -> [Float] {
        let taps = kernel * kernel
        var matrix = [Float](repeating: 0, count: pairs * taps)
        for p in 0..<pairs { for t in 0..<taps { matrix[p * taps + t] = tensor.data[offset(pair: p, tap: t, shape: tensor.shape, k: kernel)] } }
        return matrix
    }

    /// The taps of the centre (k - 2) x (k - 2) of a k x k kernel, in order.
    static func centre(_ k: Int) -> [Int] {
        (1..<(k - 1)).flatMap { y in (1..<(k - 1)).map { x in y * k + x } }
    }

    /// One step down: the centre of each k x k kernel, times the transform: out[p, a] = sum_b centre[p, b] T[a, b].
    static func shrink(_ matrix: [Float], pairs: Int, from k: Int, transform: Tensor) -> [Float] {
        let centre = centre(k), m = centre.count, taps = k * k
        var result = [Float](repeating: 0, count: pairs * m)
        for p in 0..<pairs {
            for a in 0..<m {
                var sum: Float = 0
                for b in 0..<m { sum += matrix[p * taps + centre[b]] * transform.data[a * m + b] }
                result[p * m + a] = sum
            }
        }
        return result
    }

    /// The gradient of `shrink`: from dOut `[pairs, m]` to d(input) `[pairs, k^2]` (zero outside the centre),
    /// adding dT[a, b] = sum_p dOut[p, a] centre[p, b] into `dTransform`.
    static func shrinkBackward(_ dOutput: [Float], input: [Float], pairs: Int, from k: Int, transform: Tensor, dTransform: Tensor) -> [Float] {
        let centre = centre(k), m = centre.count, taps = k * k
        var dInput = [Float](repeating: 0, count: pairs * taps)
        for p in 0..<pairs {
            for a in 0..<m {
                let g = dOutput[p * m + a]
                guard g != 0 else { continue }
                for b in 0..<m {
                    dInput[p * taps + centre[b]] += g * transform.data[a * m + b]
                    dTransform.data[a * m + b] += g * input[p * taps + centre[b]]
                }
            }
        }
        return dInput
    }
}
