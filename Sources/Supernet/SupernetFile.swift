import Architecture
import Engine
import Foundation
import Search

/// A supernet checkpoint: one safetensors file holding the supernet's tensors and kernel transforms under their
/// keys, the optimizer's state (`optimizer.N`), and in its metadata the search space (its YAML text), the
/// classes, the recipe and how far training got. Written through a temporary file and a rename.
public struct SupernetCheckpoint {
    public static let format = "efsearch-supernet-1"

    public var supernet: Supernet
    public var space: SearchSpace
    public var spaceText: String
    public var classes: Int
    public var recipe: SupernetRecipe
    /// Epochs finished.
    public var epochs: Int
    public var optimizerState: [Tensor]
    /// Free-form facts kept with the file (dataset, seed, seconds).
    public var notes: [String: String]

    public init(supernet: Supernet, space: SearchSpace, spaceText: String, classes: Int, recipe: SupernetRecipe, epochs: Int,
                optimizerState: [Tensor] = [], notes: [String: String] = [:]) {
        self.supernet = supernet
        self.space = space
        self.spaceText = spaceText
        self.classes = classes
        self.recipe = recipe
        self.epochs = epochs
        self.optimizerState = optimizerState
        self.notes = notes
    }

    public func save(to url: URL) throws {
        var entries: [(String, Safetensors.Entry)] = supernet.orderedKeys.map { key in
            let value = (supernet.tensors[key] ?? supernet.transforms[key])!.value
            return (key, Safetensors.Entry(shape: value.shape, floats: value.data, count: value.count))
        }
        for (index, tensor) in optimizerState.enumerated() {
            entries.append(("optimizer.\(index)", Safetensors.Entry(shape: tensor.shape, floats: tensor.data, count: tensor.count)))
        }
        var metadata = notes
        metadata["format"] = SupernetCheckpoint.format
        metadata["space"] = spaceText
        metadata["space_name"] = space.name
        metadata["classes"] = "\(classes)"
        metadata["recipe"] = recipe.json
        metadata["epochs_done"] = "\(epochs)"
        metadata["optimizer_tensors"] = "\(optimizerState.count)"
        try Safetensors.write(entries, metadata: metadata, to: url)
    }

    /// Reads a supernet file: checks its format, rebuilds the layout from its space and classes, and checks that
    /// every tensor is there with its shape. Any mismatch is an error naming the file.
    public static func load(_ url: URL) throws -> SupernetCheckpoint {
        let file = url.path
        let (tensors, metadata) = try Safetensors.read(url)
        func fail(_ message: String) -> SupernetError { SupernetError("supernet \(file): \(message)") }
        guard metadata["format"] == format else {
            throw fail("not an efsearch supernet (its metadata's format is \(metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(format)\")")
        }
        guard let spaceText = metadata["space"], let classes = Int(metadata["classes"] ?? ""), classes > 0,
              let epochs = Int(metadata["epochs_done"] ?? ""), let recipeText = metadata["recipe"],
              let optimizerCount = Int(metadata["optimizer_tensors"] ?? "") else {
            throw fail("its metadata needs space, classes, recipe, epochs_done and optimizer_tensors")
        }
        let space = try SearchSpace.parse(text: spaceText, file: file + " (its space)")
        let recipe = try SupernetRecipe(json: recipeText, file: file)
        let supernet = Supernet(layout: try SupernetLayout(space: space, classes: classes))
        for key in supernet.orderedKeys {
            let parameter = (supernet.tensors[key] ?? supernet.transforms[key])!
            guard let entry = tensors[key] else { throw fail("tensor \(key) is missing") }
            guard entry.dtype == "F32", entry.shape == parameter.value.shape else {
                throw fail("tensor \(key) is \(entry.dtype) \(entry.shape); its space needs F32 \(parameter.value.shape)")
            }
            let values = entry.floats
            guard values.allSatisfy(\.isFinite) else { throw fail("tensor \(key) holds a value that is not finite") }
            parameter.value.data.update(from: values, count: values.count)
            parameter.markModified()
        }
        let extra = Set(tensors.keys).subtracting(supernet.orderedKeys).filter { !$0.hasPrefix("optimizer.") }
        if let first = extra.sorted().first { throw fail("tensor \(first) belongs to no network of its space") }
        let state: [Tensor] = try (0..<optimizerCount).map { index in
            guard let entry = tensors["optimizer.\(index)"] else { throw fail("tensor optimizer.\(index) is missing") }
            return Tensor(shape: entry.shape, values: entry.floats)
        }
        var notes = metadata
        for key in ["format", "space", "space_name", "classes", "recipe", "epochs_done", "optimizer_tensors"] { notes[key] = nil }
        return SupernetCheckpoint(supernet: supernet, space: space, spaceText: spaceText, classes: classes, recipe: recipe, epochs: epochs,
                                  optimizerState: state, notes: notes)
    }

    /// The candidate `spec` (the space's resolution and this supernet's classes when it does not set them) as a
    /// model with its weights from the supernet; an error names what does not fit.
    public func model(for spec: NetworkSpec, name: String) throws -> EfficientNetModel {
        var spec = spec
        spec.classes = classes
        guard space.resolution.contains(spec.resolution) else {
            throw SupernetError("candidate \(name): resolution \(spec.resolution) px is not one of the supernet's space (\(space.resolution.map(String.init).joined(separator: ", ")) px)")
        }
        let network: Network
        do { network = try spec.resolve() } catch { throw SupernetError("candidate \(name): \(error)") }
        let model = EfficientNetModel(network)
        try supernet.check(model, name: name)
        supernet.load(into: model)
        return model
    }
}
