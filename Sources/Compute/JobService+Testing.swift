// SPDX-License-Identifier: Apache-2.0

extension JobService {
    /// The pid of the isolated runner's process now serving, if one runs.
    package var runnerProcessID: Int32? { isolated?.statistics.pid }
    /// How many runner processes were started, crashed (ended during a job) and killed at a time-out.
    package var runnerCounts: (starts: Int, crashes: Int, timeouts: Int) {
        let counters = isolated?.statistics ?? IsolatedRunner.Counters()
        return (counters.starts, counters.crashes, counters.timeouts)
    }
}
