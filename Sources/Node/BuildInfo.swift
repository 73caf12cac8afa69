// SPDX-License-Identifier: Apache-2.0

/// What this build is: `inos --version`, the API's status, and Prometheus' `inos_build_info`.
public enum BuildInfo {
    /// The release of INOS Mesh (semantic versioning; the wire, plugin ABI and API versions are separate).
    public static let version = "0.16.0"
    /// The control API's version (`/v1/…`).
    public static let apiVersion = "v1"
    /// The Swift compiler this build was made with.
    public static var swift: String {
        #if compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #else
        return "6.1"
        #endif
    }
}
