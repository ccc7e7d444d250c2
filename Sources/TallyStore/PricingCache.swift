import Foundation
import TallyCore
import TallyStoreAPI

/// Per-project price tables kept between requests, so the single writer neither re-reads and re-parses a
/// project's models nor re-matches model names on every request (2,000 project models cost a request ~40 ms
/// inside the writer before). Entries are dropped whenever the project's models or pricing settings change in this
/// process; the store is the only writer of those tables.
final class PricingCache: @unchecked Sendable {
    private let lock = NSLock()
    private var tables: [String: ProjectPricing] = [:]
    /// Bumped by every invalidation, so a table loaded before a change is never stored after it.
    private var generation = 0

    func get(_ projectID: String) -> (ProjectPricing?, generation: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (tables[projectID], generation)
    }

    func put(_ projectID: String, _ pricing: ProjectPricing, loadedAt generation: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard generation == self.generation else { return }
        if tables.count >= 10_000 { tables.removeAll() }
        tables[projectID] = pricing
    }

    func invalidate(_ projectID: String) {
        lock.lock()
        defer { lock.unlock() }
        tables[projectID] = nil
        generation += 1
    }
}

extension TallyDatabase {
    /// The project's pricing from the cache, or read (outside the writer) and cached.
    func cachedPricing(projectID: String) async throws -> ProjectPricing {
        let (hit, generation) = pricingCache.get(projectID)
        if let hit { return hit }
        let loaded = try await writer.read { db in try Self.pricing(db, projectID: projectID) }
        pricingCache.put(projectID, loaded, loadedAt: generation)
        return loaded
    }
}
