package setup

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// CheckListenFree checks addr with ValidateListen and then that the server
// could listen there now: the port is free and the address is one of this
// machine's. It binds the address for a moment and releases it.
func CheckListenFree(addr string) error {
	if err := ValidateListen(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("setup: %s is in use by another program\nhint: choose another port", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("setup: %s is not an address of this machine\nhint: use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("setup: not allowed to listen on %s (ports below 1024 need privileges)\nhint: choose a port from 1024 up", addr)
	case err != nil:
		return fmt.Errorf("setup: cannot listen on %s: %w", addr, err)
	}
	return ln.Close()
}
