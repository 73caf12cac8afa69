// SPDX-License-Identifier: Apache-2.0
//
// The host's system calls live in the InosSystem target (the one syscall layer, shared with Identity and the
// store plugins); modules above Host reach them through Host, as they did when the calls lived here.
@_exported import InosSystem
