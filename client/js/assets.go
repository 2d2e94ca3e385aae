// Package js holds the accountd JavaScript SDK (src/, an ES module on Web
// platform APIs only) and the account console built on it (console/), and
// embeds both so that the server can serve them. The SDK's README.md
// describes its API; protocol/SPEC.md the protocol it speaks.
package js

import (
	"embed"
	"io/fs"
)

//go:embed src/*.js src/*.d.ts console/index.html console/console.js console/console.css
var files embed.FS

// Files returns the embedded files: the SDK under "src/" and the console
// under "console/". The console's index.html holds the placeholder
// FingerprintPlaceholder where the serving server writes its identity
// fingerprint; console.js imports the SDK as "./sdk/index.js", so a server
// serves src/ under sdk/ beside the console. Safe for concurrent use.
func Files() fs.FS { return files }

// FingerprintPlaceholder is the text in console/index.html that the
// server replaces with its identity fingerprint.
const FingerprintPlaceholder = "{{FINGERPRINT}}"
