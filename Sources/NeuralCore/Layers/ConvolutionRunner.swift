/// The knobs of a convolution-type layer's convolutions, for tests and tuning; the defaults are
/// what the model runs.
public struct ConvolutionOptions: Equatable, Sendable {
    /// Output pixels (images × pixels) a group of images aims for on im2col + SGEMM: small maps
    /// batch images so that the SGEMM is wide enough (the other kernels pick their own groups).
    public var groupColumns: Int
    /// Whether the direct kernels (direct 3×3, space-to-depth, Winograd) may run; false: always
    /// im2col + SGEMM.
    public var allowsDirectKernel: Bool

    public init(groupColumns: Int = 256, allowsDirectKernel: Bool = true) {
        self.groupColumns = groupColumns
        self.allowsDirectKernel = allowsDirectKernel
    }
}

/// A layer that runs its convolutions with `ConvolutionOptions`.
public protocol ConvolutionLayer: AnyObject {
    var convolutionOptions: ConvolutionOptions { get set }
    /// The layer's convolutions of its last forward pass, by name, and what runs each of their
    /// passes (`Convolution.kernel(for:)`; empty before the first forward).
    var convolutionDispatch: [(name: String, dispatch: Convolution.Dispatch)] { get }
    /// How many times the layer's convolutions packed their forward weights: once per training
    /// pass, once per change of the weights across inference passes (tests check the cache).
    var forwardWeightPacks: Int { get }
    /// The scratch memory and weight-gradient accumulators its passes run in: the layer's own
    /// unless `Module.shareWorkspace` gave it one shared with other layers.
    var workspace: Workspace { get set }
}

extension Module {
    /// Points every convolution-type layer below at one `Workspace`. A layer uses its workspace
    /// only inside its own forward or backward pass (nothing in it survives from one pass to the
    /// next), and a model's layers run one after another, so a model needs the scratch of its
    /// largest layer instead of the sum of all (the VAE: about 100 MiB less at batch 64).
    /// Only for modules whose layers never run at the same time.
    public func shareWorkspace(_ workspace: Workspace = Workspace()) {
        if let layer = self as? ConvolutionLayer { layer.workspace = workspace }
        for child in children { child.module.shareWorkspace(workspace) }
    }
}

/// One group of consecutive images of a convolution-type layer's pass, as its worker sees it.
struct ConvolutionGroup {
    /// The group's images.
    let images: Range<Int>
    /// The worker's scratch buffers: slot 0 is `work`, the layer's own buffers take slots 1….
    let scratch: ScratchBuffers
    /// Scratch for the layer's convolutions (the largest `scratchCount` of them for this group).
    let work: UnsafeMutablePointer<Float>
    fileprivate let worker: Int
    fileprivate let workspace: Workspace
    fileprivate let parameters: [Parameter]

    var first: Int { images.lowerBound }
    var count: Int { images.count }

    /// Backward: where this group's worker accumulates the gradient of `parameters[index]`.
    func gradient(_ index: Int) -> UnsafeMutablePointer<Float> {
        workspace.accumulator(parameters, index, worker: worker)
    }
}

/// The one setup path of the convolution-type layers (`Conv2d`, `PhaseConvolution`, `PixelDCL`,
/// `IPixelDCL`, and `ConvTranspose2d`'s general path): keeps their convolutions across steps and points them at their weights, cuts
/// the batch into groups of images (`BatchPlan`: one range of images per worker, kept for
/// backward, which must see the same groups), and runs the layer's work for each group on every
/// worker, with scratch memory and, in backward, per-worker weight-gradient accumulators that
/// are reduced at the end (`Workspace`).
///
/// A forward pass: `convolution(_:…)` for each convolution, then `forward(batch:…)`; the backward
/// pass: `backward(accumulating:)`, on the same convolutions and groups.
final class ConvolutionRunner {
    var options = ConvolutionOptions()
    /// The layer's convolutions, in the order `convolution(_:…)` declared them.
    private(set) var convolutions: [Convolution] = []
    private var plan: BatchPlan?
    /// Scratch and accumulators, used only during `forward` and `backward` (see `ConvolutionLayer.workspace`).
    var workspace = Workspace()
    /// The names of the convolutions, in declaration order (for `dispatch`).
    private let names: [String]

    init(names: [String]) { self.names = names }

    /// How many times the convolutions packed their forward weights (tests check the cache).
    var forwardPacks: Int { convolutions.reduce(0) { $0 + $1.forwardPacks } }

    /// The convolutions of the last forward pass by name, and their kernels.
    var dispatch: [(name: String, dispatch: Convolution.Dispatch)] {
        zip(names, convolutions).map { ($0, $1.dispatch) }
    }

    /// Convolution `index` of the layer for this forward pass in `mode` (the last pass's if
    /// unchanged), pointed at its weights W (rows `ldw` apart, default C·kh·kw), which are (a
    /// part of) `parameter`: inference passes pack them only when it changed. The first one sets
    /// the size of the groups.
    func convolution(_ index: Int, geometry: ConvGeometry, outputChannels: Int, weight: UnsafePointer<Float>,
                     ldw: Int? = nil, of parameter: Parameter, mode: Mode) -> Convolution {
        let existing = index < convolutions.count ? convolutions[index] : nil
        let conv = Convolution.reuse(existing, geometry: geometry, outputChannels: outputChannels,
                                     allowDirect: options.allowsDirectKernel)
        if index < convolutions.count { convolutions[index] = conv } else { convolutions.append(conv) }
        conv.setWeights(weight, ldw: ldw, of: parameter, mode: mode)
        return conv
    }

    /// Runs `body` on every group of a batch of `batch` images of `pixelsPerImage` output pixels
    /// (of the first convolution), the workers in parallel. A group holds about `columns` pixels,
    /// by default what the first convolution's kernel asks for.
    func forward(batch: Int, pixelsPerImage: Int, columns: Int? = nil, _ body: (ConvolutionGroup) -> Void) {
        let columns = columns ?? convolutions[0].groupPixels(gemmColumns: options.groupColumns)
        let plan = BatchPlan(batch: batch, pixelsPerImage: pixelsPerImage, columns: columns)
        self.plan = plan
        workspace.prepare(workers: plan.workerRanges.count)
        run(plan, parameters: [], body)
    }

    /// Runs `body` on the groups of the last forward pass, the convolutions' weights packed for
    /// backward; each worker accumulates the gradients of `parameters` at `group.gradient(i)`,
    /// and they are summed into the parameters' gradients at the end.
    func backward(accumulating parameters: [Parameter], _ body: (ConvolutionGroup) -> Void) {
        guard let plan else { preconditionFailure("backward before forward") }
        let workers = plan.workerRanges.count
        workspace.beginAccumulation(parameters, workers: workers)
        for conv in convolutions { conv.setWeightsForBackward() }
        run(plan, parameters: parameters, body)
        workspace.reduce(parameters, workers: workers)
    }

    private func run(_ plan: BatchPlan, parameters: [Parameter], _ body: (ConvolutionGroup) -> Void) {
        let convolutions = convolutions
        plan.run { worker in
            let scratch = workspace.scratch(worker)
            plan.forEachGroup(ofWorker: worker) { images in
                var floats = 0
                for conv in convolutions { floats = max(floats, conv.scratchCount(images: images.count)) }
                body(ConvolutionGroup(images: images, scratch: scratch, work: scratch.buffer(0, count: floats),
                                      worker: worker, workspace: workspace, parameters: parameters))
            }
        }
    }
}
