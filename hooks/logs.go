package hooks

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
)

// Caps on what one call may log.
const (
	// maxLogLines is the number of lines kept per call, across hook.log,
	// stdout and stderr.
	maxLogLines = 256
	// maxLogLineBytes is the longest line kept; longer ones are cut.
	maxLogLineBytes = 4 << 10
	// maxStdioBytes is the number of bytes of stdout and stderr together
	// kept per call.
	maxStdioBytes = 64 << 10
)

// Log levels of hook.log; stdout is logged at levelInfo, stderr at
// levelWarn.
const (
	levelDebug = 0
	levelInfo  = 1
	levelWarn  = 2
	levelError = 3
)

// truncatedSuffix marks a line cut at maxLogLineBytes.
const truncatedSuffix = " …[truncated]"

// logCapture collects the lines of one call, within the caps.
type logCapture struct {
	lines        []LogLine
	droppedLines int
	droppedBytes int
	stdioBytes   int
	partial      [2][]byte // unterminated stdout and stderr lines
}

// add keeps one line, cutting it to maxLogLineBytes, or counts it as
// dropped past maxLogLines.
func (c *logCapture) add(level int, msg []byte) {
	if len(c.lines) >= maxLogLines {
		c.droppedLines++
		return
	}
	level = min(max(level, levelDebug), levelError)
	var s string
	if len(msg) > maxLogLineBytes {
		s = string(msg[:maxLogLineBytes]) + truncatedSuffix
	} else {
		s = string(msg)
	}
	c.lines = append(c.lines, LogLine{Level: level, Message: s})
}

// stdio takes bytes written to stdout (stream 0) or stderr (stream 1)
// and splits them into lines.
func (c *logCapture) stdio(stream int, p []byte) {
	if room := maxStdioBytes - c.stdioBytes; len(p) > room {
		c.droppedBytes += len(p) - max(room, 0)
		p = p[:max(room, 0)]
	}
	c.stdioBytes += len(p)
	level := levelInfo + stream
	buf := &c.partial[stream]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			*buf = append(*buf, p...)
			return
		}
		line := p[:i]
		if len(*buf) > 0 {
			*buf = append(*buf, line...)
			line = *buf
		}
		c.add(level, bytes.TrimSuffix(line, []byte{'\r'}))
		*buf = (*buf)[:0]
		p = p[i+1:]
	}
}

// finish flushes unterminated stdio lines, notes what the caps dropped
// and returns the lines.
func (c *logCapture) finish() []LogLine {
	for stream := range c.partial {
		if len(c.partial[stream]) > 0 {
			c.add(levelInfo+stream, c.partial[stream])
			c.partial[stream] = nil
		}
	}
	if c.droppedLines > 0 || c.droppedBytes > 0 {
		c.lines = append(c.lines, LogLine{Level: levelWarn, Message: fmt.Sprintf(
			"hooks: log truncated: %d lines and %d bytes of stdout/stderr dropped (caps: %d lines, %d bytes of stdout/stderr per call)",
			c.droppedLines, c.droppedBytes, maxLogLines, maxStdioBytes)})
		c.droppedLines, c.droppedBytes = 0, 0
	}
	return c.lines
}

// slogLevels maps hook log levels to slog's.
var slogLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// emitLogs sends a call's lines to the logger.
func emitLogs(ctx context.Context, l *slog.Logger, hook, requestID string, lines []LogLine) {
	for _, ln := range lines {
		lvl := slogLevels[ln.Level]
		if !l.Enabled(ctx, lvl) {
			continue
		}
		l.LogAttrs(ctx, lvl, ln.Message, slog.String("hook", hook), slog.String("request_id", requestID))
	}
}
