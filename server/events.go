package server

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// GET /api/events: the change feed as Server-Sent Events (SPEC §8).
//
// A subscriber is not a durable consumer: the client holds its position
// (the id of the last event it got, sent back as Last-Event-ID when it
// reconnects). It reads the same change log as everything else, by seq,
// through core, which decides what its principal may see (and shares the
// reading of recent entries among subscribers: core/feedring.go). It
// waits to be told of entries it may get (Manager.EventsChanged), never on
// a timer, and holds nothing between pages: an idle subscriber costs its
// connection and a goroutine or two.
//
// Memory stays bounded whatever the client does: events are read from the
// log a page at a time (at most about 1 MB of documents) and written to
// the connection, so a client that reads slowly makes the subscriber wait,
// not buffer. A subscriber that falls more than EventsMaxLag changes
// behind the log is sent `event: reset` and closed; one whose writes make
// no progress for RequestTimeout (a client that stopped reading) is
// disconnected.

// Defaults of the events options.
const (
	DefaultEventsHeartbeat = 15 * time.Second
	DefaultEventsMaxLag    = 10000
)

// eventsPage is how many events a subscriber reads from the log at once.
const eventsPage = 100

// events answers GET /api/events.
func (s *Server) events(c *fiber.Ctx) error {
	var f core.EventFilter
	// The stream outlives the handler, and the query sits in a buffer
	// fasthttp reuses: the filter keeps its own copy.
	if v := strings.Clone(c.Query("types")); v != "" {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				f.Types = append(f.Types, t)
			}
		}
	}
	since, resume, err := eventsPosition(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.m.CheckEvents(ctx, f); err != nil {
		return err
	}
	oldest, last, err := s.m.ChangeLogBounds(ctx)
	if err != nil {
		return err
	}
	var reset string
	switch {
	case !resume:
		since = last // a new subscriber gets what commits from now on
	case since > last:
		reset = "unknown_position" // from another server, or a store restored from a backup
	case oldest == 0 && since < last, oldest > 0 && since+1 < oldest:
		reset = "position_gone" // trimmed from the log
	}
	// The stream outlives the request and its deadline: it runs as the
	// principal, under a context of its own.
	sub := &subscriber{s: s, ctx: core.WithPrincipal(context.Background(), core.PrincipalFrom(ctx)),
		filter: f, pos: since, conn: c.Context().Conn()}
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // nginx: pass events through at once
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		s.subscribers.Add(1)
		defer s.subscribers.Add(-1)
		sub.w = w
		if reset != "" {
			sub.reset(reset, last)
			return
		}
		sub.run()
	})
	return nil
}

// eventsPosition is where a subscriber resumes: Last-Event-ID (what an
// EventSource sends when it reconnects) or else ?since. resume is false
// when neither is given.
func eventsPosition(c *fiber.Ctx) (since uint64, resume bool, err error) {
	name, v := "Last-Event-ID", c.Get("Last-Event-ID")
	if v == "" {
		name, v = "since", c.Query("since")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false, badRequest("%s must be a change sequence number, not %q", name, v)
	}
	return n, true, nil
}

// subscriber is one open event stream.
type subscriber struct {
	s      *Server
	ctx    context.Context
	filter core.EventFilter
	pos    uint64 // the last seq read from the log
	// conn is the request's connection, taken while the handler runs: the
	// stream writer runs on after it, when fasthttp may already be
	// resetting the request context (a client that went away), so it must
	// not read the context.
	conn net.Conn
	w    *bufio.Writer
	// setAt is when the connection's write deadline was last set.
	setAt time.Time
}

// run streams events until the client goes, the server drains or the
// Manager closes.
func (sub *subscriber) run() {
	s := sub.s
	// A comment at once, so the client sees the stream open before the
	// first change.
	if !sub.write([]byte(": connected\n\n")) || !sub.flush() {
		return
	}
	heartbeat := time.NewTimer(s.opts.EventsHeartbeat)
	defer heartbeat.Stop()
	for {
		page, err := s.m.Events(sub.ctx, sub.pos, sub.filter, eventsPage)
		if errors.Is(err, core.ErrGone) { // trimmed while the subscriber lagged
			sub.reset("position_gone", s.m.LastSeq())
			return
		}
		if err != nil {
			if !errors.Is(err, core.ErrClosed) {
				// The client resumes from its last event when it
				// reconnects: nothing is lost by ending here.
				s.log.Error("events: read the change log", slog.Uint64("since", sub.pos), slog.Any("err", err))
			}
			return
		}
		if !sub.send(page.Items) {
			return
		}
		sub.pos = page.NextSince
		if len(page.Items) > 0 {
			heartbeat.Reset(s.opts.EventsHeartbeat)
		}
		// Woken once there may be events for this subscription after pos
		// (at once when the page was cut short), not on every commit.
		changed, stop := s.m.EventsChanged(sub.pos, sub.filter)
		beat, end := false, false
		select {
		case <-changed:
		case <-heartbeat.C:
			beat = true
		case <-s.closing:
			end = true
		case <-s.m.Done():
			end = true
		}
		stop()
		if end {
			return
		}
		if beat {
			if !sub.write([]byte(": keep-alive\n\n")) || !sub.flush() {
				return
			}
			heartbeat.Reset(s.opts.EventsHeartbeat)
		}
	}
}

// pageChunk is how much of a page of events a subscriber gathers before
// it writes it to the connection.
const pageChunk = 64 << 10

// pageBufs are the buffers subscribers gather pages in: one is held only
// while a page is written, so an idle subscriber holds none.
var pageBufs = sync.Pool{New: func() any { b := make([]byte, 0, pageChunk); return &b }}

// send writes a page of events and flushes it; false when the stream must
// end (a write failed, or the subscriber fell too far behind and was sent
// a reset). Each event is id = seq, event = action, data = the change
// entry with the resource; subscribers that get the same event from
// core's shared page of the feed share its encoding, built once for all.
// The events are gathered into chunks, so that a page reaches the
// connection in a few writes rather than one per event.
func (sub *subscriber) send(items []core.FeedEvent) bool {
	if len(items) == 0 {
		return true
	}
	s := sub.s
	bp := pageBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 4*pageChunk { // a page of huge documents leaves its buffer to the GC
			*bp = buf[:0]
			pageBufs.Put(bp)
		}
	}()
	for i := range items {
		ev := &items[i]
		if last := s.m.LastSeq(); last > ev.Seq && last-ev.Seq > uint64(s.opts.EventsMaxLag) {
			if sub.write(buf) {
				sub.reset("slow_reader", last)
			}
			return false
		}
		frame, err := ev.Encoded(encodeEvent)
		if err != nil {
			s.log.Error("events: encode", slog.Uint64("seq", ev.Seq), slog.Any("err", err))
			return false
		}
		buf = append(buf, frame...)
		if len(buf) >= pageChunk {
			if !sub.write(buf) {
				return false
			}
			buf = buf[:0]
		}
	}
	return sub.write(buf) && sub.flush()
}

// encodeEvent encodes ev as a whole Server-Sent Event.
func encodeEvent(ev *core.FeedEvent) ([]byte, error) {
	size := 300
	if ev.Resource != nil {
		size += len(ev.Resource.Data) + 400
	}
	b := make([]byte, 0, size)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Action...)
	b = append(b, "\ndata: "...)
	b = ev.AppendJSON(b)
	b = append(b, "\n\n"...)
	return b, nil
}

// reset tells the client its position cannot be served (why: reason)
// and ends the stream. It carries no id, so an EventSource keeps its last
// one; the client resyncs from GET /api/changes (last is the newest seq).
func (sub *subscriber) reset(reason string, last uint64) {
	b := []byte("event: reset\ndata: {\"reason\":\"" + reason + "\",\"since\":" +
		strconv.FormatUint(sub.pos, 10) + ",\"last_seq\":" + strconv.FormatUint(last, 10) + "}\n\n")
	if sub.write(b) {
		sub.flush()
	}
}

// write writes b with a fresh write deadline on the connection: a client
// that reads nothing for that long is disconnected, so a stuck client
// holds no more than the socket's buffers.
func (sub *subscriber) write(b []byte) bool {
	sub.deadline()
	_, err := sub.w.Write(b)
	return err == nil
}

func (sub *subscriber) flush() bool {
	sub.deadline()
	return sub.w.Flush() == nil
}

// deadline moves the connection's write deadline to eventsWriteTimeout
// from now, unless it was set less than a sixteenth of that ago: a page of
// events is many writes, and a deadline that much older changes nothing
// of what it is for.
func (sub *subscriber) deadline() {
	now, timeout := time.Now(), sub.s.eventsWriteTimeout()
	if now.Sub(sub.setAt) < timeout/16 {
		return
	}
	sub.setAt = now
	if sub.conn != nil {
		_ = sub.conn.SetWriteDeadline(now.Add(timeout))
	}
}

// eventsWriteTimeout is how long a write to a subscriber may make no
// progress: RequestTimeout, and at least two heartbeats.
func (s *Server) eventsWriteTimeout() time.Duration {
	return max(s.opts.RequestTimeout, 2*s.opts.EventsHeartbeat)
}
