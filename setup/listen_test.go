package setup

import (
	"net"
	"strings"
	"testing"
)

func TestCheckListenFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := ln.Addr().String()
	if err := CheckListenFree(busy); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("busy port: %v", err)
	}
	ln.Close()
	if err := CheckListenFree(busy); err != nil {
		t.Errorf("freed port: %v", err)
	}
	// It released the port again.
	ln, err = net.Listen("tcp", busy)
	if err != nil {
		t.Fatalf("CheckListenFree kept the port: %v", err)
	}
	ln.Close()
	for addr, want := range map[string]string{
		"":                "empty",
		"8080":            "not host:port",
		"127.0.0.1:99999": "port must be",
		"192.0.2.1:8080":  "not an address of this machine",
		"127.0.0.1:http":  "port must be",
	} {
		if err := CheckListenFree(addr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckListenFree(%q) = %v, want %q", addr, err, want)
		}
	}
}
