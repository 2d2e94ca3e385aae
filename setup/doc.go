// Package setup owns accountd's sealed config file and the first run: it
// creates the database schema, generates the server's master key and
// identity key, and writes them, with the database credentials and the
// server settings, into one file sealed by the admin password.
//
// Run does a non-interactive first run; setup/wizard asks the same questions
// with huh forms and then calls Run, checking each answer first with
// CheckDataDir, CheckMySQL (a live connection test whose errors name the
// answer to fix) and CheckListenFree. Unlock opens the config on later
// runs, and Reseal changes the admin password. RememberDataDir and
// ResolveDataDir let later runs find the data folder without flags.
//
// # The sealed config file
//
// The file is DataDir/accountd.conf, mode 0600, in a data folder of mode
// 0700. It is always replaced atomically (temporary file, fsync, rename,
// fsync of the folder), so a crash leaves either the old or the new file,
// never a mix. Its layout, all integers big-endian:
//
//	offset  size  field
//	0       15    magic "ACCOUNTD-CONFIG"
//	15      1     format version, 1
//	16      1     key derivation function, 1 = Argon2id (version 0x13)
//	17      4     Argon2id time cost t (passes)
//	21      4     Argon2id memory m, in KiB
//	25      1     Argon2id parallelism p
//	26      16    salt (random)
//	42      12    AES-GCM nonce (random)
//	54      n+16  AES-256-GCM ciphertext and tag of the settings
//
// The key is Argon2id(password, salt, t, m, p) with a 32-byte output. The
// additional data of the AEAD is the whole 54-byte header, so a change to
// any header byte, the KDF parameters included, fails decryption like a
// wrong password does. The plaintext is the JSON encoding of Config. Before
// deriving a key, OpenConfig checks the KDF parameters against MaxKDFTime,
// MaxKDFMemoryKiB and MaxKDFThreads (1 ≤ t ≤ 20, 8·p KiB ≤ m ≤ 1 GiB,
// 1 ≤ p ≤ 64), so a hostile file cannot make unlocking exhaust the machine.
// Sealing uses t=3, m=64 MiB, p=4 unless told otherwise (DefaultKDFParams). A fresh salt and nonce are drawn from crypto/rand
// for every seal.
//
// # Concurrency
//
// The functions are safe for concurrent use. UpdateConfig and Reseal hold
// a lock on the data folder's accountd.conf.lock (flock(2)) while they
// read, change and re-seal, so changes from several processes wait for
// each other and none is lost; Run never replaces an existing config.
package setup
