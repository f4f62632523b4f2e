package server

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/strata-dev/strata/core"
)

// GET /api/events: the change feed as Server-Sent Events (SPEC §8).
//
// A subscriber is not a durable consumer: the client holds its position
// (the id of the last event it got, sent back as Last-Event-ID when it
// reconnects). It reads the same change log as everything else, by seq,
// through core, which decides what its principal may see. It waits on the
// Manager's commit signal, never on a timer, and holds nothing between
// pages: an idle subscriber costs its connection and a goroutine or two.
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
	if v := c.Query("types"); v != "" {
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
		filter: f, pos: since, fctx: c.Context()}
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
	fctx   *fasthttp.RequestCtx
	w      *bufio.Writer
	buf    []byte // the event being written; nil while idle
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
		changed := s.m.Changed()
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
		for _, ev := range page.Items {
			if last := s.m.LastSeq(); last > ev.Seq && last-ev.Seq > uint64(s.opts.EventsMaxLag) {
				sub.reset("slow_reader", last)
				return
			}
			if !sub.event(ev) {
				return
			}
		}
		sub.pos = page.NextSince
		sub.buf = nil // an idle subscriber holds no buffer
		if len(page.Items) > 0 {
			if !sub.flush() {
				return
			}
			heartbeat.Reset(s.opts.EventsHeartbeat)
		}
		if sub.pos < s.m.LastSeq() {
			continue // the page was cut short: more is committed
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			if !sub.write([]byte(": keep-alive\n\n")) || !sub.flush() {
				return
			}
			heartbeat.Reset(s.opts.EventsHeartbeat)
		case <-s.closing:
			return
		case <-s.m.Done():
			return
		}
	}
}

// event writes one event: id = seq, event = action, data = the change
// entry with the resource.
func (sub *subscriber) event(ev core.FeedEvent) bool {
	data, err := marshalJSON(ev)
	if err != nil {
		sub.s.log.Error("events: encode", slog.Uint64("seq", ev.Seq), slog.Any("err", err))
		return false
	}
	b := sub.buf[:0]
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Action...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	sub.buf = b
	return sub.write(b)
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

func (sub *subscriber) deadline() {
	if conn := sub.fctx.Conn(); conn != nil {
		_ = conn.SetWriteDeadline(time.Now().Add(sub.s.eventsWriteTimeout()))
	}
}

// eventsWriteTimeout is how long a write to a subscriber may make no
// progress: RequestTimeout, and at least two heartbeats.
func (s *Server) eventsWriteTimeout() time.Duration {
	return max(s.opts.RequestTimeout, 2*s.opts.EventsHeartbeat)
}
