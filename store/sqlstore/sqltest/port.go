package sqltest

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a loopback TCP port that is free now, for a program a
// test starts and must tell its port (mariadbd, accountd). It is taken
// from below the kernel's ephemeral range (Linux: ip_local_port_range),
// from 10000 up, at random: a port the kernel handed out for a ":0"
// listener is free again once closed, and the kernel hands it out at
// once to another test's listener or outgoing connection, often before
// the program has bound it. Ports below the range are never handed out
// that way, so only another FreePort caller could take the same one.
func FreePort() (int, error) {
	lo := ephemeralLow()
	for range 200 {
		p := freePortFloor + rand.IntN(lo-freePortFloor)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		return p, nil
	}
	return 0, errors.New("sqltest: no free loopback port below the ephemeral range")
}

// freePortFloor is the lowest port FreePort returns: below it are the
// well-known and registered ports that services on the machine may use.
const freePortFloor = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or
// Linux's default when it cannot be read.
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return linuxDefault
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo < freePortFloor+1000 || lo > 65535 {
		return linuxDefault
	}
	return lo
}
