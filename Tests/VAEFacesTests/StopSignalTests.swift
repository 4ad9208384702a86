import Foundation
import Testing
import VAEFaces

/// The current handler of `signalNumber` is the default action.
private func isDefaultAction(_ signalNumber: Int32) -> Bool {
    var current = sigaction()
    sigaction(signalNumber, nil, &current)
    #if os(Linux)
    return current.__sigaction_handler.sa_handler == nil  // SIG_DFL is the null handler
    #else
    return current.__sigaction_u.__sa_handler == nil
    #endif
}

/// One test, run start to finish on one thread: raising SIGINT without the handler in place
/// would end the test process.
@Test func stopSignalSetsTheFlagAndASecondSignalWouldTerminate() {
    // Tests run on worker threads that block signals; unblock them here so that `raise`
    // delivers them to this thread before returning (the trainer runs on the main thread).
    StopSignal.withUnblocked {
        StopSignal.install()
        #expect(!StopSignal.requested && StopSignal.signalNumber == nil)
        #expect(!isDefaultAction(SIGINT) && !isDefaultAction(SIGTERM))

        raise(SIGINT)  // the handler runs before raise returns
        #expect(StopSignal.requested && StopSignal.signalNumber == SIGINT)
        // The next Ctrl-C or SIGTERM would terminate the process: default actions are back.
        #expect(isDefaultAction(SIGINT) && isDefaultAction(SIGTERM))
        StopSignal.reset()
        #expect(!StopSignal.requested)

        StopSignal.install()
        raise(SIGTERM)
        #expect(StopSignal.requested && StopSignal.signalNumber == SIGTERM)

        StopSignal.install()  // install clears the flag too
        #expect(!StopSignal.requested)
        StopSignal.restoreDefaults()
        StopSignal.reset()
        #expect(isDefaultAction(SIGINT) && isDefaultAction(SIGTERM))
    }
}
