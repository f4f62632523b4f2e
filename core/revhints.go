package core

import (
	"hash/maphash"
	"sync/atomic"
)

// A read of a resource needs its meta, which names the current revision,
// and then that revision: two round trips on a store behind a network.
// Over a shared store the reader asks for both at once
// (storage.Tx.GetKeys) by guessing the revision's number, and reads it
// again only when the meta names another. Both come from the same
// transaction, so a wrong guess costs a round trip and never a wrong
// answer: the hints below are only guesses. Over a local store (bolt) the
// second read costs less than a wrong guess would, so nothing is guessed.

// hintSlots is the size of a revHints table: a few hundred kilobytes at
// most.
const hintSlots = 4096

// revHint is the current revision a read last found for typ/id.
type revHint struct {
	typ, id string
	n       int
}

// revHints remembers the current revision of recently read resources, in
// a table where a resource overwrites another with the same slot: bounded,
// and without locks. A nil *revHints guesses nothing.
type revHints struct {
	seed  maphash.Seed
	slots [hintSlots]atomic.Pointer[revHint]
}

func newRevHints() *revHints { return &revHints{seed: maphash.MakeSeed()} }

func (h *revHints) slot(typ, id string) *atomic.Pointer[revHint] {
	var hash maphash.Hash
	hash.SetSeed(h.seed)
	hash.WriteString(typ)
	hash.WriteByte(0)
	hash.WriteString(id)
	return &h.slots[hash.Sum64()%hintSlots]
}

// guess is the current revision of typ/id last seen, or 1 (a resource
// never updated); 0, no guess, when h is nil.
func (h *revHints) guess(typ, id string) int {
	if h == nil {
		return 0
	}
	if s := h.slot(typ, id).Load(); s != nil && s.typ == typ && s.id == id {
		return s.n
	}
	return 1
}

// note records that typ/id's current revision is n.
func (h *revHints) note(typ, id string, n int) {
	if h == nil {
		return
	}
	s := h.slot(typ, id)
	if old := s.Load(); old != nil && old.typ == typ && old.id == id && old.n == n {
		return
	}
	s.Store(&revHint{typ: typ, id: id, n: n})
}
