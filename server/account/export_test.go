package account

import "time"

// SetSessionViewTTL sets how long the session view keeps an entry, so
// that a test can tell a refusal the feed caused from an entry that aged
// out.
func SetSessionViewTTL(s *Service, d time.Duration) { s.view.ttl = d }

// SetFeedLostAfter sets how old the feed's last read may be before the
// session view stops answering, so that a test about the view's
// coherence is not also a test of how promptly a loaded machine runs the
// poll.
func SetFeedLostAfter(s *Service, d time.Duration) {
	s.feed.mu.Lock()
	s.feed.lostAfter = d
	s.feed.mu.Unlock()
}
