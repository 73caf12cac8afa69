// SPDX-License-Identifier: Apache-2.0
import Logging

/// A logger that drops everything, so test output shows results rather than plugin chatter.
public let quietLogger = Logger(label: "inos.test", factory: { _ in SwiftLogNoOpLogHandler() })
