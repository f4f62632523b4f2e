package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// startTimeout bounds the wait for a child's "listening" log line.
	startTimeout = 30 * time.Second
	// stopTimeout bounds a graceful stop before the child is killed.
	stopTimeout = 15 * time.Second
	// tailLines is how much of a child's stderr is kept for error messages.
	tailLines = 40
)

// listenLine matches the log line a server writes once it accepts
// connections: strata's `msg="strata listening" addr=…` and the baseline's
// `msg="baseline listening" addr=…`.
var listenLine = regexp.MustCompile(`listening"? addr=(\S+)`)

// child is a server process started by the bench. Whoever starts a child
// stops it: run defers stop for every child, so they end with the bench,
// on errors and interrupts too.
type child struct {
	name   string
	cmd    *exec.Cmd
	addr   string        // host:port it listens on
	exited chan struct{} // closed once the process has exited
	err    error         // from Wait; read only after exited is closed

	mu   sync.Mutex
	tail []string // the last lines of its stderr
}

// startChild starts cmd and waits until it logs that it listens. The
// child gets its own process group, so a Ctrl-C reaches only the bench,
// which then stops it in order; on Linux it is also killed should the
// bench die first.
func startChild(ctx context.Context, name string, cmd *exec.Cmd) (*child, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	started := make(chan struct{}) // closed once c.addr is set
	// The reader owns stderr until EOF, which comes when the process exits;
	// then it reaps the process and closes exited.
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.remember(line)
			if m := listenLine.FindStringSubmatch(line); m != nil && c.addr == "" {
				c.addr = m[1]
				close(started)
			}
		}
		_, _ = io.Copy(io.Discard, stderr) // keep draining past an overlong line
		c.err = cmd.Wait()
		close(c.exited)
	}()

	if err := c.await(ctx, started); err != nil {
		return nil, err
	}
	return c, nil
}

// await waits until started is closed. If c exits first, or does not
// start within startTimeout, or ctx ends, it fails, and stops c.
func (c *child) await(ctx context.Context, started <-chan struct{}) error {
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-started:
		return nil
	case <-c.exited:
		return fmt.Errorf("%s exited before listening (%v):\n%s", c.name, c.err, c.logs())
	case <-timer.C:
		_ = c.stop()
		return fmt.Errorf("%s did not listen within %v:\n%s", c.name, startTimeout, c.logs())
	case <-ctx.Done():
		_ = c.stop()
		return ctx.Err()
	}
}

func (c *child) remember(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tail) == tailLines {
		c.tail = append(c.tail[:0], c.tail[1:]...)
	}
	c.tail = append(c.tail, line)
}

// logs returns the last lines the child wrote to stderr.
func (c *child) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "  " + strings.Join(c.tail, "\n  ")
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to shut down (SIGTERM), kills it after stopTimeout
// and waits for it to exit. It reports an exit that was not clean. Calling
// stop again, or after the child died, is harmless.
func (c *child) stop() error {
	select {
	case <-c.exited:
		return c.exitError()
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("%s did not stop within %v and was killed:\n%s", c.name, stopTimeout, c.logs())
	}
	return c.exitError()
}

func (c *child) exitError() error {
	if c.err == nil {
		return nil
	}
	var exit *exec.ExitError
	if errors.As(c.err, &exit) {
		return fmt.Errorf("%s exited with %v:\n%s", c.name, exit, c.logs())
	}
	return fmt.Errorf("%s: %w", c.name, c.err)
}
