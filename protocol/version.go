package protocol

import (
	"fmt"
	"slices"
	"strconv"
)

// Protocol versions. SPEC.md §1 says which a server may select.
const (
	// Version is the newest protocol version, the only one clients
	// offer. Version 3 adds the overlap of an identity key rotation
	// (SPEC.md §2.1).
	Version = 3
	// Subprotocol is the WebSocket subprotocol name of Version.
	Subprotocol = "accountd.v3"
)

// Versions lists the versions this package speaks, the one a server
// prefers first. Version 2 stays for clients deployed before version 3:
// it is not weak, it only lacks the rotation overlap. Version 1 is not
// spoken at all (SPEC.md §1).
var Versions = []int{3, 2}

// SubprotocolOf returns the WebSocket subprotocol name of a version,
// "accountd.v<N>".
func SubprotocolOf(version int) string { return "accountd.v" + strconv.Itoa(version) }

// SelectVersion returns the version a server speaks for the subprotocols
// a client offered: the first of Versions whose name is among them,
// compared exactly. ok is false when the client offered none.
func SelectVersion(offered []string) (version int, ok bool) {
	for _, v := range Versions {
		if slices.Contains(offered, SubprotocolOf(v)) {
			return v, true
		}
	}
	return 0, false
}

// suite is one version's domain-separation strings: every label, info
// and context string names its version, so that nothing computed for one
// version is accepted for another.
type suite struct {
	version          int
	subprotocol      string
	transcriptName   string
	signatureContext string
	// previousContext is the context of the previous identity key's
	// signature; empty for versions without a rotation overlap.
	previousContext string
	labelC2S        string
	labelS2C        string
	infoC2S         string
	infoS2C         string
	packetAAD       []byte
}

var suites = map[int]*suite{
	2: {
		version:          2,
		subprotocol:      "accountd.v2",
		transcriptName:   "accountd.v2 transcript",
		signatureContext: "accountd.v2 server signature",
		labelC2S:         "accountd.v2 client secret",
		labelS2C:         "accountd.v2 server secret",
		infoC2S:          "accountd.v2 c2s",
		infoS2C:          "accountd.v2 s2c",
		packetAAD:        []byte("accountd.v2 packet"),
	},
	3: {
		version:          3,
		subprotocol:      "accountd.v3",
		transcriptName:   "accountd.v3 transcript",
		signatureContext: "accountd.v3 server signature",
		previousContext:  "accountd.v3 previous identity signature",
		labelC2S:         "accountd.v3 client secret",
		labelS2C:         "accountd.v3 server secret",
		infoC2S:          "accountd.v3 c2s",
		infoS2C:          "accountd.v3 s2c",
		packetAAD:        []byte("accountd.v3 packet"),
	},
}

// suiteOf returns the strings of version, or ErrVersion.
func suiteOf(version int) (*suite, error) {
	s, ok := suites[version]
	if !ok {
		return nil, fmt.Errorf("%w: version %d", ErrVersion, version)
	}
	return s, nil
}

// rotates reports whether the version carries a previous identity key.
func (s *suite) rotates() bool { return s.previousContext != "" }

// OAEPLabels returns the RSA-OAEP labels of version's client and server
// secrets, for tests and other implementations; ok is false for a
// version this package does not speak.
func OAEPLabels(version int) (client, server string, ok bool) {
	s, err := suiteOf(version)
	if err != nil {
		return "", "", false
	}
	return s.labelC2S, s.labelS2C, true
}
