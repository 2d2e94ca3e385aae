package menu

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// lineReader hands out at most one line per Read. huh's accessible
// prompts wrap the input in a new bufio.Scanner for every answer; served
// whole, a piped script would be swallowed by the first prompt's buffer.
type lineReader struct {
	r       *bufio.Reader
	mu      sync.Mutex
	pending []byte
	eof     bool
}

func newLineReader(r io.Reader) *lineReader { return &lineReader{r: bufio.NewReader(r)} }

func (l *lineReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		line, err := l.r.ReadBytes('\n')
		if len(line) == 0 {
			if errors.Is(err, io.EOF) {
				l.eof = true
			}
			return 0, err
		}
		if line[len(line)-1] != '\n' {
			// The last line has no line end: give it one, so that
			// the prompt reading it does not read again and meet EOF.
			line = append(line, '\n')
		}
		l.pending = line
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// ended reports whether a prompt met the end of the input.
func (l *lineReader) ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.eof
}
