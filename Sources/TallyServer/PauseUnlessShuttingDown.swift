import ServiceLifecycle

/// Sleeps for `duration` inside a background service; returns false when graceful shutdown (or cancellation) cut
/// the pause short, so a service's loop ends at once instead of holding the shutdown up for a whole interval.
func pauseUnlessShuttingDown(_ duration: Duration) async -> Bool {
    (try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }) != nil
}
