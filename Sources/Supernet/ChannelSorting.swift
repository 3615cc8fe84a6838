import Engine

extension Supernet {
    /// Sorts the hidden channels of every inverted-residual (`ir`) and fused (`er`) block by importance, the L1
    /// norm of the projection's weights that read them (once-for-all's channel sorting), so that a candidate with a
    /// smaller expansion, which takes the first hidden channels, gets the most important ones. The permutation is
    /// applied to every tensor that holds the hidden channels (the expansion's outputs, its norm, the depthwise
    /// convolution and its norm, squeeze-excite's input and output, the projection's inputs): the largest
    /// candidate computes the same function before and after. Optimizer state is not permuted: sort between
    /// phases, with a fresh optimizer.
    public func sortChannelsByImportance() {
        let projections = tensors.keys.filter { ($0.hasPrefix("ir:") || $0.hasPrefix("er:")) && $0.hasSuffix(".conv_pwl.weight") }
        for projection in projections.sorted() {
            let prefix = String(projection.dropLast("conv_pwl.weight".count))
            let weight = tensors[projection]!.value
            let (outputs, hidden) = (weight.shape[0], weight.shape[3])
            var importance = [Double](repeating: 0, count: hidden)
            for o in 0..<outputs { for i in 0..<hidden { importance[i] += Double(abs(weight.data[o * hidden + i])) } }
            let order = (0..<hidden).sorted { importance[$0] > importance[$1] || (importance[$0] == importance[$1] && $0 < $1) }
            guard order != Array(0..<hidden) else { continue }
            let isInverted = prefix.hasPrefix("ir:")
            var moves: [(String, Int)] = [(projection, 3), (prefix + "bn1.weight", 0), (prefix + "bn1.bias", 0),
                                          (prefix + "se.conv_reduce.weight", 1), (prefix + "se.conv_expand.weight", 0), (prefix + "se.conv_expand.bias", 0)]
            if isInverted {
                moves += [(prefix + "conv_pw.weight", 0), (prefix + "conv_dw.weight", 2), (prefix + "bn2.weight", 0), (prefix + "bn2.bias", 0)]
            } else {
                moves += [(prefix + "conv_exp.weight", 0)]
            }
            for (key, dimension) in moves {
                guard let parameter = tensors[key], parameter.value.shape[dimension] == hidden else { continue }
                Supernet.permute(parameter.value, dimension: dimension, order: order)
                parameter.markModified()
            }
        }
    }

    /// Reorders `tensor` along `dimension`: slot j takes what was at `order[j]`.
    static func permute(_ tensor: Tensor, dimension: Int, order: [Int]) {
        let shape = tensor.shape
        let inner = shape[(dimension + 1)...].reduce(1, *), outer = shape[..<dimension].reduce(1, *), size = shape[dimension]
        let copy = tensor.array
        for o in 0..<outer {
            for (j, source) in order.enumerated() {
                let from = (o * size + source) * inner, to = (o * size + j) * inner
                for e in 0..<inner { tensor.data[to + e] = copy[from + e] }
            }
        }
    }
}
