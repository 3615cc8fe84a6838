/// Optimizers over `Parameter`s; each keeps its state per parameter (by position in the list it is given,
/// which must be the same list every step). Weight decay applies to parameters whose `decays` is true.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    func step(_ parameters: [Parameter])
    /// The optimizer's state (moments, step count) as tensors, for checkpoints; empty before the first step.
    var state: [Tensor] { get }
    /// Restores `state` saved from an optimizer of the same kind over the same parameters.
    func restore(_ state: [Tensor], parameters: [Parameter]) throws
}

/// A saved optimizer state that does not fit the parameters.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "optimizer state: \(message)" }
}

func restoreTensors(_ state: ArraySlice<Tensor>, like parameters: [Parameter]) throws -> [Tensor] {
    guard state.count == parameters.count else {
        throw OptimizerStateError(message: "\(state.count) tensors for \(parameters.count) parameters")
    }
    return try zip(state, parameters).map { saved, parameter in
        guard saved.count == parameter.value.count else {
            throw OptimizerStateError(message: "a tensor of \(saved.count) values for a parameter of \(parameter.value.count)")
        }
        let tensor = Tensor(shape: parameter.value.shape)
        tensor.copy(from: saved)
        return tensor
    }
}

/// SGD with momentum (PyTorch's form: v = m * v + g; p -= lr * v), optionally Nesterov, with L2 weight decay
/// added to the gradient.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float, nesterov: Bool
    private var velocity: [Tensor] = []

    public var state: [Tensor] { velocity }
    public func restore(_ state: [Tensor], parameters: [Parameter]) throws {
        velocity = try restoreTensors(state[...], like: parameters)
    }

    public init(learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step(_ parameters: [Parameter]) {
        if velocity.isEmpty { velocity = parameters.map { Tensor(shape: $0.value.shape) } }
        for (parameter, v) in zip(parameters, velocity) {
            let (p, g) = (parameter.value, parameter.gradient)
            let decay = parameter.decays ? weightDecay : 0
            for index in 0..<p.count {
                let gradient = g[index] + decay * p[index]
                v[index] = momentum * v[index] + gradient
                p[index] -= learningRate * (nesterov ? gradient + momentum * v[index] : v[index])
            }
            parameter.markModified()
        }
    }
}

/// RMSProp as the EfficientNet paper uses it (TensorFlow's form): ms = rho * ms + (1 - rho) * g^2;
/// mom = m * mom + lr * g / sqrt(ms + eps); p -= mom. Decay 0.9, momentum 0.9, eps 1e-3 by default;
/// the mean square starts at 1, as in TensorFlow.
public final class RMSProp: Optimizer {
    public var learningRate: Float
    public let rho: Float, momentum: Float, eps: Float, weightDecay: Float
    private var meanSquare: [Tensor] = [], moment: [Tensor] = []

    public var state: [Tensor] { meanSquare + moment }
    public func restore(_ state: [Tensor], parameters: [Parameter]) throws {
        guard state.count == 2 * parameters.count else { throw OptimizerStateError(message: "\(state.count) tensors for RMSProp over \(parameters.count) parameters") }
        meanSquare = try restoreTensors(state[0..<parameters.count], like: parameters)
        moment = try restoreTensors(state[parameters.count...], like: parameters)
    }

    public init(learningRate: Float, rho: Float = 0.9, momentum: Float = 0.9, eps: Float = 1e-3, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.rho = rho
        self.momentum = momentum
        self.eps = eps
        self.weightDecay = weightDecay
    }

    public func step(_ parameters: [Parameter]) {
        if meanSquare.isEmpty {
            meanSquare = parameters.map { let t = Tensor(shape: $0.value.shape); t.fill(1); return t }
            moment = parameters.map { Tensor(shape: $0.value.shape) }
        }
        for (index, parameter) in parameters.enumerated() {
            let (p, g, ms, mom) = (parameter.value, parameter.gradient, meanSquare[index], moment[index])
            let decay = parameter.decays ? weightDecay : 0
            for i in 0..<p.count {
                let gradient = g[i] + decay * p[i]
                ms[i] = rho * ms[i] + (1 - rho) * gradient * gradient
                mom[i] = momentum * mom[i] + learningRate * gradient / (ms[i] + eps).squareRoot()
                p[i] -= mom[i]
            }
            parameter.markModified()
        }
    }
}

/// AdamW (decoupled weight decay, Loshchilov & Hutter): p -= lr * (m̂ / (sqrt(v̂) + eps) + wd * p).
public final class AdamW: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    private var first: [Tensor] = [], second: [Tensor] = []
    private var steps = 0

    public var state: [Tensor] {
        first.isEmpty ? [] : first + second + [Tensor(shape: [1], values: [Float(steps)])]
    }
    public func restore(_ state: [Tensor], parameters: [Parameter]) throws {
        guard state.count == 2 * parameters.count + 1 else { throw OptimizerStateError(message: "\(state.count) tensors for AdamW over \(parameters.count) parameters") }
        first = try restoreTensors(state[0..<parameters.count], like: parameters)
        second = try restoreTensors(state[parameters.count..<(2 * parameters.count)], like: parameters)
        steps = Int(state.last![0])
    }

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    public func step(_ parameters: [Parameter]) {
        if first.isEmpty {
            first = parameters.map { Tensor(shape: $0.value.shape) }
            second = parameters.map { Tensor(shape: $0.value.shape) }
        }
        steps += 1
        let correction1 = 1 - pow(beta1, Float(steps)), correction2 = 1 - pow(beta2, Float(steps))
        for (index, parameter) in parameters.enumerated() {
            let (p, g, m, v) = (parameter.value, parameter.gradient, first[index], second[index])
            let decay = parameter.decays ? weightDecay : 0
            for i in 0..<p.count {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                p[i] -= learningRate * ((m[i] / correction1) / ((v[i] / correction2).squareRoot() + eps) + decay * p[i])
            }
            parameter.markModified()
        }
    }
}

/// An exponential moving average of the weights (timm's ModelEmaV2): shadow = d * shadow + (1 - d) * p.
public final class WeightEMA {
    public let decay: Float
    public private(set) var shadow: [Tensor]

    public init(_ parameters: [Parameter], decay: Float = 0.9999) {
        self.decay = decay
        shadow = parameters.map { $0.value.clone() }
    }

    public func update(_ parameters: [Parameter]) {
        for (parameter, copy) in zip(parameters, shadow) {
            for i in 0..<copy.count { copy[i] = decay * copy[i] + (1 - decay) * parameter.value[i] }
        }
    }
}

import Foundation

/// A loss that became NaN or infinite: reported, never trained through.
public struct TrainingDiverged: Error, CustomStringConvertible {
    public var step: Int
    public var loss: Float
    public var description: String { "the loss became \(loss) at step \(step); lower the learning rate or check the data" }

    public init(step: Int, loss: Float) {
        self.step = step
        self.loss = loss
    }
}
