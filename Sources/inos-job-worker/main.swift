// SPDX-License-Identifier: Apache-2.0
//
// inos-job-worker: an isolated job runner. A JobService (isolated: true, or isolation = "process" in the
// plugin's manifest entry) starts it with the node's arena memfd and a job channel; it is not run by hand.
import Compute
import Foundation

exit(JobWorkerMain.main(Array(CommandLine.arguments.dropFirst())))
