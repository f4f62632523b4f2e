//go:build !wasip1

package hookguest

// Log discards msg: outside a wasip1 module there is no host to send it to.
// The wasip1 build sends it to the host's log.
func Log(level Level, msg string) {}
