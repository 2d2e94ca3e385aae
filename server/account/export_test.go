package account

import "time"

// SetSessionViewTTL sets how long the session view keeps an entry, so
// that a test can tell a refusal the feed caused from an entry that aged
// out.
func SetSessionViewTTL(s *Service, d time.Duration) { s.view.ttl = d }
