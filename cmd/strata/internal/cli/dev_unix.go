//go:build unix && !linux

package cli

import (
	"os"
	"syscall"
)

// devSysProcAttr puts a daemon in its own process group, so that the
// terminal's Ctrl-C reaches strata dev only, which then stops the daemons
// in order.
func devSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// devSignal signals a daemon's process group: the daemon and anything it
// started.
func devSignal(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}
