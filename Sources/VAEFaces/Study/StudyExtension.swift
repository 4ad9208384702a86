/// The study's rule for how long a run trains (issue #12): at least `steps`; then, while the val
/// −ELBO fell by more than `threshold` (1 %) over the last `chunk` (1,000) steps, another chunk,
/// up to `cap` steps. The fall at step s compares the validation at s with the last validation at
/// or before s − chunk (validations come at each epoch's end and at the end of every session, so
/// that one lies at most an epoch further back).
///
/// The rule depends only on the run's step and its log, so a study that stopped anywhere (during
/// the first `steps`, or inside a chunk) continues to the same length.
public struct StudyExtension: Equatable, Sendable {
    public var steps: Int
    public var cap: Int
    public var chunk = 1000
    public var threshold = 0.01

    /// The rule for `--steps steps`, capped at twice that.
    public init(steps: Int, cap: Int? = nil) {
        self.steps = steps
        self.cap = cap ?? 2 * steps
    }

    /// (old − new) / old between the val −ELBO at the last validation and the one `chunk` steps
    /// before it; nil without both.
    public func fall(validations: [(step: Int, loss: Double)]) -> Double? {
        guard let last = validations.last,
              let before = validations.last(where: { $0.step <= last.step - chunk }), before.loss > 0 else { return nil }
        return (before.loss - last.loss) / before.loss
    }

    /// The step to train to next from `step`, or nil when the run is long enough.
    /// - `validations`: the run's (step, val −ELBO) in step order, up to `step`.
    public func nextTarget(step: Int, validations: [(step: Int, loss: Double)]) -> Int? {
        if step < steps { return steps }
        if step >= cap { return nil }
        let intoChunk = (step - steps) % chunk
        if intoChunk != 0 { return min(cap, step + chunk - intoChunk) }   // a chunk was interrupted
        guard let fall = fall(validations: validations), fall > threshold else { return nil }
        return min(cap, step + chunk)
    }

    /// Whether the run ended at the cap while the val −ELBO was still falling too fast.
    public func isCapped(step: Int, validations: [(step: Int, loss: Double)]) -> Bool {
        step >= cap && (fall(validations: validations).map { $0 > threshold } ?? false)
    }
}
