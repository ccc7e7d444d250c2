/// An alert channel write the store refused.
public enum AlertWriteError: Error, Equatable {
    case duplicateChannel(String)
    case unknownChannel(String)
}

/// A budget write the store refused.
public enum BudgetWriteError: Error, Equatable {
    /// The named plan does not exist.
    case unknownPlan(String)
    /// A plan still assigned (to tenants, or as the default) cannot be deleted.
    case planInUse(String, tenants: Int, isDefault: Bool)
}

/// How long a UI session lasts from sign-in: 12 h, in µs (the cookie's Max-Age follows it).
public enum SessionPolicy {
    public static let lifetimeMicros: Int64 = 12 * 3_600 * 1_000_000
}

/// An export sink write the store refused.
public enum ExportSinkWriteError: Error, Equatable {
    case unknownProject
}
