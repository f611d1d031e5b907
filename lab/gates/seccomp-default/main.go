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
//	seccomp-default --localhost < PROFILE
//
// With --localhost it prints instead the profile containerd's CRI writes for
// a container that asks for a Localhost profile whose file holds the bytes
// on stdin: containerd's own contrib/seccomp.WithProfile, which CRI calls
// with the file's path, run on a sealed memfd holding them. The start gate passes the bytes it
// pinned when it started, so what a rewritten file would give is told apart.
//
// It prints {"containerd": VERSION, "profile": PROFILE}, VERSION being the
// containerd module it was built with, so that a node running another
// containerd is told apart from a changed profile.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func main() {
	var profile *specs.LinuxSeccomp
	if len(os.Args) == 2 && os.Args[1] == "--localhost" {
		profile = localhost()
	} else {
		caps := os.Args[1:]
		if caps == nil {
			caps = []string{}
		}
		spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
		profile = seccomp.DefaultProfile(spec)
	}
	out := struct {
		Containerd string              `json:"containerd"`
		Profile    *specs.LinuxSeccomp `json:"profile"`
	}{containerdVersion(), profile}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}

// localhost runs containerd's WithProfile on a file holding stdin's bytes.
// WithProfile takes a path, and stdin may be a socket, which cannot be opened
// by its /dev/stdin name. The file is a sealed memfd, not one in /tmp: root
// on the node could rewrite a temporary file between its write and
// containerd's read, and so choose the reference; nobody can write a sealed
// memfd.
func localhost() *specs.LinuxSeccomp {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	fd, err := unix.MemfdCreate("seccomp-localhost", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if err == unix.EINVAL {
		// A kernel before 6.3 has no MFD_NOEXEC_SEAL.
		fd, err = unix.MemfdCreate("seccomp-localhost", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		fail(fmt.Errorf("memfd_create: %w", err))
	}
	f := os.NewFile(uintptr(fd), "seccomp-localhost")
	if _, err := f.Write(data); err != nil {
		fail(err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		fail(fmt.Errorf("sealing the profile's memfd: %w", err))
	}
	spec := &specs.Spec{Linux: &specs.Linux{}}
	if err := seccomp.WithProfile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))(context.Background(), nil, nil, spec); err != nil {
		fail(err)
	}
	return spec.Linux.Seccomp
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "seccomp-default: %v\n", err)
	os.Exit(1)
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
