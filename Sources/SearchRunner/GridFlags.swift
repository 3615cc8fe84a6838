import Architecture
import Foundation

/// The plan flags of `efsearch grid` as given (nil where left out): the new run's plan with the documented
/// defaults (`plan`), the checks of their ranges (`validate`), and the comparison a `--resume` makes (`compare`).
public struct GridFlags: Sendable {
    public var base: String?
    public var phi: Double?
    public var step: Double?
    public var alphaMax: Double?
    public var betaMax: Double?
    public var gammaMax: Double?
    public var tolerance: Double?
    public var proxyWidth: Double?
    public var proxyDepth: Double?
    public var proxyResolution: Int?
    public var fidelity: Fidelity?
    public var seed: UInt64?

    public init() {}

    /// The proxy's learning rate unless `--lr` says otherwise: lower than `nas`'s 0.05, because the grid's points
    /// differ little, and at 0.05 some of them trained unstably (a validation loss of 7.9 after 3 epochs) and two
    /// seeds ranked them unlike each other; at 0.01 the first rung's validation losses agree between seeds
    /// (README, grid section).
    public static let defaultLearningRate: Float = 0.01
    /// Successive halving's rungs unless `--rungs` says otherwise: every point 2 epochs, the best third on to 6,
    /// the best of those to 18. After one epoch (`nas`'s 1,3,9) the losses ordered the points less alike
    /// between seeds (README, grid section); 2,6,18 takes about 2.5 minutes here.
    public static let defaultRungs = [2, 6, 18]

    /// Refuses values out of range.
    public func validate() throws {
        if let step, !(step > 0) { throw FlagError("--step \(step) must be greater than 0") }
        for (name, value) in [("--alpha-max", alphaMax), ("--beta-max", betaMax), ("--gamma-max", gammaMax)] {
            if let value, !(value >= 1) { throw FlagError("\(name) \(value) must be at least 1") }
        }
        if let tolerance, !(tolerance >= 0) { throw FlagError("--tolerance \(tolerance) must be 0 or more") }
        if let phi, !(phi > 0) { throw FlagError("--phi \(phi) must be greater than 0") }
        for (name, value) in [("--proxy-width", proxyWidth), ("--proxy-depth", proxyDepth)] {
            if let value, !(value > 0) { throw FlagError("\(name) \(value) must be greater than 0") }
        }
        if let proxyResolution, proxyResolution < 8 { throw FlagError("--proxy-resolution \(proxyResolution) must be at least 8") }
    }

    /// The grid: step 0.1, alpha up to 1.4, beta and gamma up to 1.3, within 0.1 of alpha * beta^2 * gamma^2 = 2.
    public var axes: GridAxes {
        GridAxes(step: step ?? 0.1, alphaMax: alphaMax ?? 1.4, betaMax: betaMax ?? 1.3, gammaMax: gammaMax ?? 1.3, tolerance: tolerance ?? 0.1)
    }

    /// The plan of a new grid run at `fidelity` (`ProxyFlags.fidelity`), its points enumerated once and stored:
    /// EfficientNet-B0 shrunk to width 0.25, depth 0.25 and 64 px by default, realised at phi 1.
    public func plan(fidelity: Fidelity) throws -> GridPlan {
        if fidelity == .replay || fidelity == .supernet { throw FlagError("--fidelity \(fidelity.rawValue) is for nas; grid trains or estimates its points (its compound-scaled networks are in no supernet's space)") }
        let axes = self.axes
        let points = axes.points
        guard !points.isEmpty else { throw FlagError("no (alpha, beta, gamma) on this grid is within --tolerance \(axes.tolerance) of 2") }
        let plan = GridPlan(base: base ?? "efficientnet-b0", proxyWidth: proxyWidth ?? 0.25, proxyDepth: proxyDepth ?? 0.25,
                            proxyResolution: proxyResolution ?? 64, phi: phi ?? 1, axes: axes, points: points, fidelity: fidelity)
        _ = try plan.proxyNetwork().resolve()
        return plan
    }

    /// Refuses a resume of run `name` whose flags differ from its stored configuration.
    public func compare(with configuration: RunConfiguration, proxy: ProxyFlags, run name: String, store: String) throws {
        guard case .grid(let stored) = configuration.plan else { throw configuration.wrongKind(run: name, store: store) }
        var check = ResumeCheck(configuration, proxy: proxy, seed: seed)
        check.compare("--base", given: base, stored: stored.base)
        check.compare("--phi", given: phi, stored: stored.phi)
        check.compare("--proxy-width", given: proxyWidth, stored: stored.proxyWidth)
        check.compare("--proxy-depth", given: proxyDepth, stored: stored.proxyDepth)
        check.compare("--proxy-resolution", given: proxyResolution, stored: stored.proxyResolution)
        check.compare("--fidelity", given: fidelity, stored: stored.fidelity)
        check.compare("--step", given: step, stored: stored.axes?.step)
        check.compare("--alpha-max", given: alphaMax, stored: stored.axes?.alphaMax)
        check.compare("--beta-max", given: betaMax, stored: stored.axes?.betaMax)
        check.compare("--gamma-max", given: gammaMax, stored: stored.axes?.gammaMax)
        check.compare("--tolerance", given: tolerance, stored: stored.axes?.tolerance)
        try check.verify(store: store, run: name)
    }
}
