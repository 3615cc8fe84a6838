import Architecture
import Cost
import Engine
import Foundation
import Search
import Training

/// What `efsearch supernet train` did.
public struct SupernetTrainingSummary {
    public var file: String
    public var space: String
    /// Candidates in the space (saturating), and the largest one's parameters (the supernet's own count aside).
    public var candidates: Double
    public var supernetParameters: Int
    public var epochs: Int
    /// Epochs trained by this run (fewer than `epochs` after a resume).
    public var epochsThisRun: Int
    public var seconds: Double
    /// The largest candidate's mean training loss in the last epoch.
    public var loss: Double

    public var json: String {
        var object = JSONObjectWriter()
        object.add("file", file)
        object.add("space", space)
        object.add("candidates", candidates)
        object.add("supernet_parameters", supernetParameters)
        object.add("epochs", epochs)
        object.add("epochs_this_run", epochsThisRun)
        object.add("seconds", seconds)
        object.add("loss", loss)
        return object.finished()
    }

    public var text: String {
        "supernet of \(space) (\(Format.engineering(candidates)) candidates, \(Format.engineering(Double(supernetParameters))) weights): "
            + "\(epochs) epochs (\(epochsThisRun) in this run, \(Format.fixed(seconds, 1)) s), last epoch's loss \(Format.fixed(loss, 4))\nwrote \(file)"
    }
}

/// What `efsearch supernet extract` did: the candidate's score with inherited weights and its file.
public struct SupernetExtraction {
    public var file: String
    public var name: String
    public var score: SupernetScore
    public var parameters: Int, macs: Int

    public var json: String {
        var object = JSONObjectWriter()
        object.add("file", file)
        object.add("arch", name)
        object.add("split", score.split)
        object.add("accuracy", score.evaluation.accuracy)
        object.add("loss", score.evaluation.loss)
        object.add("images", score.evaluation.count)
        object.add("params", parameters)
        object.add("macs", macs)
        object.add("seconds", score.seconds)
        return object.finished()
    }

    public var text: String {
        "\(name): \(score.split) accuracy \(Format.fixed(100 * score.evaluation.accuracy, 2))% (loss \(Format.fixed(score.evaluation.loss, 4)), "
            + "\(score.evaluation.count) images) with the supernet's weights, \(Format.engineering(Double(parameters))) params, "
            + "\(Format.engineering(Double(macs))) MACs\nwrote \(file)"
    }
}

public enum SupernetRun {
    /// Trains a supernet of the space at `spacePath` and writes it to `out` after every epoch. With `resume` and
    /// an existing `out`, continues from it (its recipe; the space must be the same file's text).
    public static func train(spacePath: String, dataset: Dataset, recipe: SupernetRecipe, out: String, resume: Bool,
                             note: (String) -> Void = { _ in }, progress: SupernetProgress? = nil) throws -> SupernetTrainingSummary {
        let text = try SearchSpace.readText(path: spacePath)
        let space = try SearchSpace.parse(text: text, file: spacePath)
        let url = URL(fileURLWithPath: out)
        let trainer: SupernetTrainer
        if resume && FileManager.default.fileExists(atPath: out) {
            let checkpoint = try SupernetCheckpoint.load(url)
            guard checkpoint.spaceText == text else {
                throw SupernetError("supernet \(out) was trained on another space (\(checkpoint.space.name)) than \(spacePath); give its space, or another --out")
            }
            trainer = try SupernetTrainer(checkpoint, dataset: dataset)
            note("continuing \(out) after epoch \(checkpoint.epochs) of \(checkpoint.recipe.epochs) (its recipe)")
        } else {
            trainer = try SupernetTrainer(space: space, spaceText: text, dataset: dataset, recipe: recipe)
        }
        let start = DispatchTime.now().uptimeNanoseconds, first = trainer.checkpoint.epochs
        var loss = Double.nan
        var notes = ["dataset": dataset.name]
        try trainer.run(progress: { epoch, step, steps, mean in
            loss = mean
            progress?(epoch, step, steps, mean)
        }) { checkpoint in
            notes["seconds"] = "\(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)"
            var checkpoint = checkpoint
            checkpoint.notes.merge(notes) { _, new in new }
            try checkpoint.save(to: url)
        }
        let checkpoint = trainer.checkpoint
        return SupernetTrainingSummary(file: out, space: space.name, candidates: space.size,
                                       supernetParameters: checkpoint.supernet.tensors.values.reduce(0) { $0 + $1.value.count },
                                       epochs: checkpoint.epochs, epochsThisRun: checkpoint.epochs - first,
                                       seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, loss: loss)
    }

    /// Scores the candidate that `spec` makes of the space's base network (at the space's first resolution) with
    /// the supernet at `path` (batch norms recalibrated) and writes it as a stand-alone checkpoint (a timm state
    /// dict with its recalibrated statistics) to `out`.
    public static func extract(supernet path: String, spec: (NetworkSpec) throws -> NetworkSpec, name: String, dataset: Dataset,
                               scoring: SupernetScoring, out: String) throws -> SupernetExtraction {
        let checkpoint = try SupernetCheckpoint.load(URL(fileURLWithPath: path))
        var base = checkpoint.space.base
        base.resolution = checkpoint.space.resolution[0]
        var spec = try spec(base)
        spec.classes = checkpoint.classes
        let (model, score) = try checkpoint.scoredModel(spec, name: name, dataset: dataset, scoring: scoring)
        // With how the dataset's evaluation prepares an input, as `train` writes it: `eval`, `infer` and `onnx` read it.
        let preprocessing = try dataset.evaluationPreprocessing(resolution: spec.resolution).metadata()
        try Checkpoint.save(model, spec: spec, to: URL(fileURLWithPath: out), extraMetadata: preprocessing.merging(
            ["supernet": path, "supernet_scoring": scoring.description, "dataset": dataset.name]) { _, new in new })
        let summary = CostModel.summary(of: model.network)
        return SupernetExtraction(file: out, name: name, score: score, parameters: summary.params, macs: summary.macs)
    }
}
