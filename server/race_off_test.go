//go:build !race

package server_test

// raceEnabled reports whether the test binary runs under the race
// detector, which multiplies the memory every goroutine and buffer costs.
const raceEnabled = false
