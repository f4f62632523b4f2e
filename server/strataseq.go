package server

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// Read-your-writes across the nodes sharing one database (SPEC §10). A
// write's answer carries the change-log seq it committed as Strata-Seq; a
// request that sends it back, as a header or as the strata_seq cookie,
// to any node waits until that node has seen it, so its lists and
// searches reflect the write. Which seq a write reached and how long to
// wait are core's (WithSeqNote, WaitSeq); here they are only parsed and
// rendered.

const (
	headerStrataSeq = "Strata-Seq"
	cookieStrataSeq = "strata_seq"
)

// awaitSeq waits until this node has seen the seq the request names, if
// it names one, and sets up the note of the seq its writes reach.
func (s *Server) awaitSeq(c *fiber.Ctx) error {
	v := c.Get(headerStrataSeq)
	if v == "" {
		v = c.Cookies(cookieStrataSeq)
	}
	c.SetUserContext(core.WithSeqNote(c.UserContext()))
	if v == "" {
		return nil
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return badRequest("Strata-Seq %q: want the decimal change-log seq a write answered", v)
	}
	return s.m.WaitSeq(c.UserContext(), seq)
}

// answerSeq sets Strata-Seq on the answer of a request that committed
// writes: the newest seq they reached.
func (s *Server) answerSeq(c *fiber.Ctx) {
	if seq := core.NotedSeq(c.UserContext()); seq > 0 {
		c.Set(headerStrataSeq, strconv.FormatUint(seq, 10))
	}
}
