import Architecture
import Cost
import Engine
import Foundation
import Metrics
import Search
import Store
import Training

/// Objectives, constraints and reward of a run, parsed once.
struct Scoring {
    var objectives: [Objective]
    var constraints: [Constraint]
    var reward: Reward?

    /// The plan's objectives, constraints and reward, and the constraints of its space.
    init(_ plan: RunPlan, space: SearchSpace) {
        objectives = plan.objectives
        constraints = plan.constraints + space.constraints
        reward = plan.reward
    }

    /// The zero-cost proxies the objectives, constraints or reward name.
    var proxies: Set<ZeroCostProxy> {
        let metrics = objectives.map(\.metric) + constraints.map(\.metric) + (reward.map { [$0.metric] } ?? [])
        return Set(metrics.compactMap { ZeroCostProxy(rawValue: $0.name) })
    }

    func feasible(_ metrics: MetricValues) -> Bool { constraints.allSatisfy { $0.holds(metrics) } }

    /// Costs to minimise (the reward, when there is one, is one more objective to maximise); nil when infeasible.
    func costs(_ metrics: MetricValues) -> [Double]? {
        feasible(metrics) ? unconstrainedCosts(metrics) : nil
    }

    /// The costs whatever the constraints say; nil when a metric is missing.
    func unconstrainedCosts(_ metrics: MetricValues) -> [Double]? {
        var result: [Double] = []
        for objective in objectives {
            guard let cost = objective.cost(metrics) else { return nil }
            result.append(cost)
        }
        if let reward {
            guard let value = reward.value(metrics) else { return nil }
            result.append(-value)
        }
        return result
    }

    /// One number, higher is better (evolution): the reward, else the first objective.
    func fitness(_ metrics: MetricValues) -> Double? {
        guard feasible(metrics) else { return nil }
        if let reward { return reward.value(metrics) }
        return objectives.first?.cost(metrics).map { -$0 }
    }

    /// The costs as `--strategy bo` sees them. A cost is free when its metric comes from the cost model (or is
    /// `latency` and the run does not measure it) and `probe`, the cost model's figures of one network, has it;
    /// the reward and every other cost are modelled. Constraints on free metrics are checked before modelling.
    func freeObjectives(measuresLatency: Bool, probe: MetricValues, metrics: @escaping (Genotype) -> MetricValues?) -> FreeObjectives {
        let free = { (metric: Metric) in (metric.fromCostModel || (metric == .latency && !measuresLatency)) && probe[metric] != nil }
        let (objectives, reward) = (self.objectives, self.reward)
        let isFree = objectives.map { free($0.metric) } + (reward == nil ? [] : [false])
        let freeConstraints = constraints.filter { free($0.metric) }
        return FreeObjectives(
            isFree: isFree,
            assess: { genotype in
                guard let values = metrics(genotype) else { return nil }
                let costs = objectives.map { $0.cost(values) ?? 0 } + (reward == nil ? [] : [0])
                let features = [Metric.macs, .params].map { log(max(values[$0] ?? 1, 1)) }
                return Assessment(costs: costs, features: features, feasible: freeConstraints.allSatisfy { $0.holds(values) })
            },
            modelled: { [self] values in
                unconstrainedCosts(values).map { costs in costs.indices.filter { !isFree[$0] }.map { costs[$0] } }
            })
    }
}
