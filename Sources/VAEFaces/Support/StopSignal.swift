import Foundation

/// The signal number of the first SIGINT/SIGTERM received since `install`/`reset`, 0 if none.
/// Written only by the signal handler (a plain store of a `sig_atomic_t`, which is what a
/// handler may safely do) and by `StopSignal` outside any handler.
nonisolated(unsafe) private var receivedSignal: sig_atomic_t = 0

/// Ctrl-C (SIGINT) and SIGTERM as a polite request to stop: the trainer polls
/// `StopSignal.requested` between steps, saves a checkpoint and exits cleanly.
///
/// The first signal only sets the flag and puts the default action back for both signals, so a
/// second Ctrl-C (or `kill`) ends the process at once, for a user who does not want to wait.
///
///     StopSignal.install()
///     for step in … {
///         …
///         if StopSignal.requested { saveCheckpoint(); break }
///     }
public enum StopSignal {
    /// Installs the handlers for SIGINT and SIGTERM and clears the flag.
    ///
    /// Also unblocks both signals on the calling thread (call it from the main thread): a process
    /// inherits its parent's signal mask, and one started from a thread that blocks them (a
    /// Dispatch worker, e.g. Foundation's `Process` in a test) would otherwise never see them.
    public static func install() {
        receivedSignal = 0
        var set = signals
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { received in
                // Async-signal-safe only: a store, and signal(2).
                receivedSignal = received
                signal(SIGINT, SIG_DFL)
                signal(SIGTERM, SIG_DFL)
            }
        }
    }

    /// SIGINT and SIGTERM, as a signal set.
    private static var signals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }

    /// Runs `body` with SIGINT and SIGTERM unblocked on the calling thread, then puts the thread's
    /// signal mask back. A process started meanwhile inherits them unblocked, as from a shell
    /// (threads of a test runner or a Dispatch pool block them).
    public static func withUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var set = signals, previous = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &set, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    /// Whether a SIGINT or SIGTERM arrived since `install` or `reset`.
    public static var requested: Bool { receivedSignal != 0 }

    /// The signal that arrived (SIGINT or SIGTERM), if any.
    public static var signalNumber: Int32? { receivedSignal == 0 ? nil : Int32(receivedSignal) }

    /// Clears the flag (the handlers are not reinstalled: call `install` again for that).
    public static func reset() {
        receivedSignal = 0
    }

    /// Puts the default actions back for SIGINT and SIGTERM (terminate the process).
    public static func restoreDefaults() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
