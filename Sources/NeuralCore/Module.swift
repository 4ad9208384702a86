/// A node of a network's module tree, named as PyTorch's `nn.Module` names things: a module
/// holds tensors of its own and named children, and lists every tensor below it under the path
/// of names that leads to it ("encoder.features.0.weight", "decoder.bns.3.running_var"), so the
/// peer's `state_dict` names fall out of the tree instead of being spelt by hand.
///
/// A leaf (a layer) lists its own tensors under their local names ("weight", "bias", "w0",
/// "running_mean", …) and has no children; a container lists its children and gets
/// `parameters` and `buffers` from them, each child's names prefixed with "<child name>.".
/// Order: children in registration order (the peer's), depth first, so the optimiser sees the
/// parameters in the same order as PyTorch's `model.parameters()`.
public protocol Module: AnyObject {
    /// The submodules under their attribute names, in registration order (none for a leaf).
    var children: [(name: String, module: any Module)] { get }
    /// Every trainable tensor of this module and the modules below it, named relative to it.
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// Every non-trainable tensor saved with the weights (BatchNorm running statistics and
    /// batch count), named relative to this module.
    var buffers: [(name: String, tensor: Tensor)] { get }
}

extension Module {
    public var children: [(name: String, module: any Module)] { [] }

    public var parameters: [(name: String, parameter: Parameter)] {
        children.flatMap { child in child.module.parameters.map { (child.name + "." + $0.name, $0.parameter) } }
    }

    public var buffers: [(name: String, tensor: Tensor)] {
        children.flatMap { child in child.module.buffers.map { (child.name + "." + $0.name, $0.tensor) } }
    }

    /// Marks every parameter below as changed (`Parameter.valueDidChange`): call after writing
    /// their values other than through the optimiser, e.g. after loading weights.
    public func parametersDidChange() {
        for (_, p) in parameters { p.valueDidChange() }
    }

    /// Parameters (values) then buffers: everything a PyTorch `state_dict` holds, under the same
    /// names; what checkpoints and exported models store.
    public var stateDict: [(name: String, tensor: Tensor)] {
        parameters.map { ($0.name, $0.parameter.value) } + buffers
    }
}

/// Modules named by their position, as PyTorch's `nn.ModuleList` names them ("ups.0", "ups.1",
/// …); it only names, the owner runs the modules. `indices` gives other positions, e.g. an
/// `nn.Sequential`'s where parameter-free layers (fused here) hold the gaps.
public final class ModuleList: Module {
    public let children: [(name: String, module: any Module)]

    public init(_ modules: [any Module], indices: [Int]? = nil) {
        let indices = indices ?? Array(modules.indices)
        precondition(indices.count == modules.count, "ModuleList: \(indices.count) indices for \(modules.count) modules")
        children = zip(indices, modules).map { (String($0), $1) }
    }
}
