//go:build !unix

package cli

import (
	"os"
	"syscall"
)

func devSysProcAttr() *syscall.SysProcAttr { return nil }

// devSignal kills the daemon: there is no SIGTERM to send here.
func devSignal(p *os.Process, _ syscall.Signal) error { return p.Kill() }
