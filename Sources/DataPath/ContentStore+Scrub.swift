// SPDX-License-Identifier: Apache-2.0
import Content

extension ContentStore {
    /// The outcome of checking every object in the store.
    public struct ScrubReport: Sendable {
        public var checked: Int
        /// Objects whose bytes do not match their ID (removed from the store).
        public var damaged: [ContentID]
    }

    /// Checks every stored object against its ID: chunks by hash (after decoding their stored form),
    /// manifests by hash and structure. Damaged objects are removed so parity or a peer can replace them.
    public func scrub() throws(DataPathError) -> ScrubReport {
        var report = ScrubReport(checked: 0, damaged: [])
        for id in try calls.keys() {
            report.checked += 1
            switch id.codec {
            case .manifest:
                do throws(DataPathError) { _ = try manifest(for: id) } catch { report.damaged.append(id) }
            default:
                let walk = try verify(id)
                if !walk.isHealthy { report.damaged.append(id) }
            }
        }
        return report
    }
}
