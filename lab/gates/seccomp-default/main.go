// Command seccomp-default prints, as JSON, the seccomp profile containerd's
// CRI writes into a container's spec when the container asks for
// RuntimeDefault: containerd's own contrib/seccomp.DefaultProfile, at the
// version go.mod pins (the node's containerd), for the bounding
// capabilities given as arguments and this machine's architecture and
// kernel. The start gate holds a protected container's recorded profile to
// it (lab/gates/seccomp-reference.ts).
//
// usage: seccomp-default [CAP_NAME ...]
//
// It prints {"containerd": VERSION, "profile": PROFILE}, VERSION being the
// containerd module it was built with, so that a node running another
// containerd is told apart from a changed profile.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	caps := os.Args[1:]
	if caps == nil {
		caps = []string{}
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	out := struct {
		Containerd string              `json:"containerd"`
		Profile    *specs.LinuxSeccomp `json:"profile"`
	}{containerdVersion(), seccomp.DefaultProfile(spec)}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "seccomp-default: %v\n", err)
		os.Exit(1)
	}
}

// containerdVersion is the version of the containerd module this program was built with.
func containerdVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/containerd/containerd/v2" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
